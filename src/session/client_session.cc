#include "session/client_session.h"

#include <sys/socket.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <thread>
#include <utility>

#include "content/oci_layout.h"
#include "session/attached_store.h"
#include "session/internal/dir_receiver.h"
#include "session/internal/fs_client_dir.h"
#include "session/internal/local_output_file.h"
#include "session/ssh_forward.h"

namespace hoist::session {
namespace {

// How long a second output file waits for the first to be done.
constexpr std::chrono::seconds kOutputFileWait{10};

// BuildKit's limit on a secret's size.
constexpr uint64_t kMaxSecretSize = 500 * 1024;

// The path as given and as the kernel resolves it: either may show up in an error.
std::vector<std::string> PathForms(const std::string& path) {
  std::vector<std::string> forms{path};
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) != nullptr && forms[0] != buf) forms.emplace_back(buf);
  return forms;
}

}  // namespace

ClientSession::ClientSession(std::string shared_key)
    : ClientSession(NewRandomId(), std::move(shared_key)) {}

ClientSession::ClientSession(std::string id, std::string shared_key)
    : id_(std::move(id)), shared_key_(std::move(shared_key)) {}

ClientSession::~ClientSession() = default;

Status ClientSession::AttachOciLayout(const std::string& store_id, const std::string& path,
                                      FileSystem* fs) {
  HOIST_ASSIGN_OR_RETURN(auto layout, content::OciLayout::Open(fs, path, /*read_only=*/true));
  return AttachOpenedLayout(store_id, std::move(layout), path);
}

Status ClientSession::AttachOpenedLayout(const std::string& store_id,
                                         std::unique_ptr<content::OciLayout> layout,
                                         const std::string& path) {
  std::shared_ptr<content::OciLayout> owner(std::move(layout));
  // The store lives inside the layout object: share ownership of the whole.
  std::shared_ptr<content::ContentStore> store(owner, &owner->store());
  return AttachOciStore(store_id, std::move(store), PathForms(path));
}

Status ClientSession::AttachOciStore(const std::string& store_id,
                                     std::shared_ptr<content::ContentStore> store,
                                     std::vector<std::string> private_strings) {
  if (store_id.empty()) return MakeError(Code::kInvalidArgument, "empty OCI store ID");
  auto attached =
      std::make_shared<AttachedStore>(store_id, std::move(store), std::move(private_strings));
  std::lock_guard lock(mu_);
  if (!stores_.emplace(store_id, std::move(attached)).second) {
    return MakeError(Code::kAlreadyExists, "OCI store " + store_id + " is attached twice");
  }
  return {};
}

Status ClientSession::AttachLocalDir(const std::string& name, const std::string& path) {
  if (name.empty()) return MakeError(Code::kInvalidArgument, "empty local dir name");
  HOIST_ASSIGN_OR_RETURN(auto dir, internal::FsClientDir::Open(name, path));
  std::lock_guard lock(mu_);
  if (!dirs_.emplace(name, std::move(dir)).second) {
    return MakeError(Code::kAlreadyExists, "local dir " + name + " is attached twice");
  }
  return {};
}

Status ClientSession::AttachSecretFile(const std::string& id, const std::string& path) {
  if (id.empty()) return MakeError(Code::kInvalidArgument, "empty secret ID");
  std::lock_guard lock(mu_);
  if (!secrets_.emplace(id, SecretSource{path, ""}).second) {
    return MakeError(Code::kAlreadyExists, "secret " + id + " is attached twice");
  }
  return {};
}

Status ClientSession::AttachSecretEnv(const std::string& id, const std::string& env_name) {
  if (id.empty()) return MakeError(Code::kInvalidArgument, "empty secret ID");
  std::lock_guard lock(mu_);
  if (!secrets_.emplace(id, SecretSource{"", env_name}).second) {
    return MakeError(Code::kAlreadyExists, "secret " + id + " is attached twice");
  }
  return {};
}

Status ClientSession::AttachSSHAgent(const std::string& id, const std::string& socket_path) {
  if (id.empty()) return MakeError(Code::kInvalidArgument, "empty SSH ID");
  std::lock_guard lock(mu_);
  if (!ssh_agents_.emplace(id, socket_path).second) {
    return MakeError(Code::kAlreadyExists, "SSH ID " + id + " is given twice");
  }
  return {};
}

bool ClientSession::HasSSH() const {
  std::lock_guard lock(mu_);
  return !ssh_agents_.empty();
}

Status ClientSession::CheckSSH(std::string_view id) {
  std::lock_guard lock(mu_);
  if (!ssh_agents_.contains(id)) return Unexpected(SSHNotForwarded(id));
  return {};
}

Result<UniqueFd> ClientSession::ForwardSSH(std::string_view id) {
  std::string path;
  {
    std::lock_guard lock(mu_);
    auto it = ssh_agents_.find(id);
    if (it == ssh_agents_.end()) return Unexpected(SSHNotForwarded(id));
    path = it->second;
  }
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Unexpected(ErrnoError(errno, "socketpair"));
  }
  UniqueFd near(fds[0]);
  // The relay ends when the engine closes its end; it owns nothing of this session's.
  std::thread([far = UniqueFd(fds[1]), path]() mutable {
    (void)ServeReadOnlyAgent(std::move(far), path);
  }).detach();
  return near;
}

Status ClientSession::AttachRegistryCredentials(CredentialsLookup lookup) {
  if (!lookup) return MakeError(Code::kInvalidArgument, "no registry credentials lookup");
  std::lock_guard lock(mu_);
  if (credentials_) {
    return MakeError(Code::kAlreadyExists, "registry credentials are attached twice");
  }
  credentials_ = std::move(lookup);
  return {};
}

Status ClientSession::AttachOutputFile(const std::string& path) {
  if (path.empty()) return MakeError(Code::kInvalidArgument, "empty output file path");
  std::lock_guard lock(mu_);
  if (!output_file_.empty() || !output_dir_.empty()) {
    return MakeError(Code::kAlreadyExists, "the session already has an output file or directory");
  }
  output_file_ = path;
  return {};
}

Status ClientSession::AttachOutputDir(const std::string& path) {
  if (path.empty()) return MakeError(Code::kInvalidArgument, "empty output directory path");
  std::lock_guard lock(mu_);
  if (!output_file_.empty() || !output_dir_.empty()) {
    return MakeError(Code::kAlreadyExists, "the session already has an output file or directory");
  }
  output_dir_ = path;
  return {};
}

Status ClientSession::AttachOutputLayout(const std::string& path, FileSystem* fs) {
  HOIST_TRY(fs->MakeDirs(path, 0755));
  HOIST_ASSIGN_OR_RETURN(auto opened, content::OciLayout::CreateOrOpen(fs, path));
  std::shared_ptr<content::OciLayout> layout(std::move(opened));
  std::shared_ptr<content::ContentStore> inner(layout, &layout->store());
  std::lock_guard lock(mu_);
  if (output_layout_) {
    return MakeError(Code::kAlreadyExists, "the session already has an output layout");
  }
  output_layout_ = layout;
  output_store_ = AttachedStore::ForExport(std::move(inner), PathForms(path));
  return {};
}

Status ClientSession::AttachCacheLayout(const std::string& key,
                                        std::shared_ptr<content::OciLayout> layout,
                                        const std::string& path, bool writable) {
  if (key.empty()) return MakeError(Code::kInvalidArgument, "empty cache store key");
  if (writable && layout->read_only()) {
    return MakeError(Code::kInvalidArgument, "a cache to export into needs a writable layout");
  }
  std::shared_ptr<content::ContentStore> inner(layout, &layout->store());
  CacheStores stores;
  stores.reader = AttachedStore::ForCache(inner, PathForms(path), /*writable=*/false);
  if (writable) stores.writer = AttachedStore::ForCache(inner, PathForms(path), /*writable=*/true);
  std::lock_guard lock(mu_);
  if (!cache_stores_.emplace(key, std::move(stores)).second) {
    return MakeError(Code::kAlreadyExists, "cache store " + key + " is attached twice");
  }
  return {};
}

bool ClientSession::HasCacheStores() const {
  std::lock_guard lock(mu_);
  return !cache_stores_.empty();
}

Result<std::shared_ptr<content::ContentStore>> ClientSession::CacheStore(std::string_view key,
                                                                         bool writable) {
  std::lock_guard lock(mu_);
  auto it = cache_stores_.find(key);
  if (it == cache_stores_.end()) return Unexpected(UnknownCacheStore());
  if (!writable) return it->second.reader;
  if (!it->second.writer) {
    return MakeError(Code::kPermissionDenied,
                     "store local cache is read-only: the client attached it to import from");
  }
  return it->second.writer;
}

std::shared_ptr<content::OciLayout> ClientSession::output_layout() const {
  std::lock_guard lock(mu_);
  return output_layout_;
}

std::string ClientSession::output_dir() const {
  std::lock_guard lock(mu_);
  return output_dir_;
}

bool ClientSession::HasLocalDirs() const {
  std::lock_guard lock(mu_);
  return !dirs_.empty();
}

bool ClientSession::HasSecrets() const {
  std::lock_guard lock(mu_);
  return !secrets_.empty();
}

bool ClientSession::HasRegistryCredentials() const {
  std::lock_guard lock(mu_);
  return static_cast<bool>(credentials_);
}

bool ClientSession::HasOutputFileOrDir() const {
  std::lock_guard lock(mu_);
  return !output_file_.empty() || !output_dir_.empty();
}

Result<std::unique_ptr<OutputFile>> ClientSession::OpenOutputTar(
    const std::map<std::string, std::string>&) {
  std::string path;
  {
    std::lock_guard lock(mu_);
    if (output_file_.empty()) {
      return MakeError(Code::kFailedPrecondition, "the client attached no output file");
    }
    path = output_file_;
  }
  {
    std::unique_lock lock(output_gate_->mu);
    if (!output_gate_->cv.wait_for(lock, kOutputFileWait, [&] { return !output_gate_->busy; })) {
      return MakeError(Code::kFailedPrecondition, "the client's output file is being written");
    }
    output_gate_->busy = true;
  }
  return internal::OpenLocalOutputFile(path, [gate = output_gate_] {
    std::lock_guard lock(gate->mu);
    gate->busy = false;
    gate->cv.notify_all();
  });
}

Status ClientSession::SendOutputDir(const std::string& dir, CancelContext* cancel) {
  const std::string dest = output_dir();
  if (dest.empty()) {
    return MakeError(Code::kFailedPrecondition, "the client attached no output directory");
  }
  HOIST_ASSIGN_OR_RETURN(auto source, internal::FsClientDir::Open("output", dir));
  HOIST_ASSIGN_OR_RETURN(auto writer, internal::ConfinedDirWriter::Open(dest));
  return internal::CopyTree(*source, *writer, cancel);
}

Result<std::shared_ptr<content::ContentStore>> ClientSession::OutputStore() {
  std::lock_guard lock(mu_);
  if (!output_store_) {
    return MakeError(Code::kFailedPrecondition, "the client attached no output OCI layout");
  }
  return output_store_;
}

std::vector<std::string> ClientSession::StoreIds() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, store] : stores_) ids.push_back(id);
  return ids;
}

Result<std::shared_ptr<content::ContentStore>> ClientSession::OciStore(std::string_view store_id) {
  std::lock_guard lock(mu_);
  auto it = stores_.find(store_id);
  if (it != stores_.end()) return it->second;
  std::string msg = "unknown store oci:" + std::string(store_id);
  if (stores_.empty()) {
    msg +=
        " (the client attached no OCI layout store: attach one with --oci-layout ID=DIR or "
        "--build-context NAME=oci-layout://PATH)";
  }
  return MakeError(Code::kNotFound, std::move(msg));
}

Result<std::shared_ptr<ClientDir>> ClientSession::LocalDir(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = dirs_.find(name);
  if (it == dirs_.end()) {
    return MakeError(Code::kNotFound, "unknown local dir " + std::string(name));
  }
  return it->second;
}

Result<std::optional<RegistryCredentials>> ClientSession::Credentials(std::string_view host) {
  CredentialsLookup lookup;
  {
    std::lock_guard lock(mu_);
    lookup = credentials_;
  }
  if (!lookup) return std::optional<RegistryCredentials>();
  // A helper may take its time (a passphrase prompt): the lookup runs without the lock.
  Result<std::optional<RegistryCredentials>> creds = lookup(host);
  if (creds && creds->has_value() && (*creds)->username.empty() && (*creds)->secret.empty()) {
    return std::optional<RegistryCredentials>();
  }
  return creds;
}

Result<std::string> ClientSession::Secret(std::string_view id) {
  SecretSource source;
  {
    std::lock_guard lock(mu_);
    auto it = secrets_.find(id);
    if (it == secrets_.end()) {
      return MakeError(Code::kNotFound, "secret " + std::string(id) + " not found");
    }
    source = it->second;
  }
  if (!source.env.empty()) {
    const char* v = std::getenv(source.env.c_str());
    if (v == nullptr) return MakeError(Code::kNotFound, "secret " + std::string(id) + " not found");
    return std::string(v);
  }
  auto data = PosixFileSystem()->ReadFile(source.file, kMaxSecretSize + 1);
  if ((!data && data.error().code() == Code::kResourceExhausted) ||
      (data && data->size() > kMaxSecretSize)) {
    return MakeError(Code::kResourceExhausted, "secret " + std::string(id) + " is larger than " +
                                                   std::to_string(kMaxSecretSize) + " bytes");
  }
  if (!data) {
    // The message would name the client's file; say what went wrong without it.
    return MakeError(data.error().code(), "secret " + std::string(id) + ": cannot read its file: " +
                                              std::string(CodeName(data.error().code())));
  }
  return std::move(*data);
}

}  // namespace hoist::session
