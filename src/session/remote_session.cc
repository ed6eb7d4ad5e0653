#include "session/remote_session.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <thread>

#include "api/fsutil/wire.pb.h"
#include "api/session/auth.grpc.pb.h"
#include "api/session/batch.grpc.pb.h"
#include "api/session/filesync.grpc.pb.h"
#include "api/session/secrets.grpc.pb.h"
#include "api/session/sshforward.grpc.pb.h"
#include "session/byte_pump.h"
#include "session/ssh_forward.h"
#include "session/attached_store.h"
#include "session/internal/fs_client_dir.h"
#include "session/internal/fsutil_send.h"
#include "session/internal/grpc_glue.h"
#include "session/internal/packet_stream.h"
#include "session/internal/remote_connection.h"

namespace hoist::session {
namespace {

namespace fs = moby::filesync::v1;
namespace hfs = ::hoist::filesync::v1;
namespace sec = moby::buildkit::secrets::v1;

// File chunks of an output tarball go out in messages of this size.
constexpr size_t kOutputChunk = 1 << 20;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// gRPC's rule for metadata keys (it aborts on others).
bool ValidKey(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

// The engine's end of FileSend.DiffCopy carrying a file.
class RemoteOutputFile final : public OutputFile {
 public:
  RemoteOutputFile(std::shared_ptr<const internal::RemoteConnection> conn,
                   const std::map<std::string, std::string>& metadata)
      : conn_(std::move(conn)), stub_(fs::FileSend::NewStub(conn_->channel)) {
    // Values gRPC cannot carry are left out: they only inform the client.
    for (const auto& [k, v] : metadata) {
      std::string key = internal::kExporterMetaPrefix + Lower(k);
      if (internal::MetadataSafe(v) && ValidKey(key)) context_.AddMetadata(key, v);
    }
    context_.AddMetadata(internal::kOutputKindKey, "file");
    stream_ = stub_->DiffCopy(&context_);
  }

  ~RemoteOutputFile() override {
    if (finished_) return;
    // Cancelled: the client keeps nothing.
    context_.TryCancel();
    for (fs::BytesMessage m; stream_->Read(&m);) {
    }
    (void)stream_->Finish();
  }

  Status Write(std::string_view data) override {
    if (finished_) return MakeError(Code::kFailedPrecondition, "the output file is closed");
    while (!data.empty()) {
      size_t n = std::min(data.size(), kOutputChunk - buf_.size());
      buf_.append(data.data(), n);
      data.remove_prefix(n);
      if (buf_.size() == kOutputChunk) HOIST_TRY(Flush());
    }
    return OkStatus();
  }

  Status Commit() override {
    if (finished_) return MakeError(Code::kFailedPrecondition, "the output file is closed");
    HOIST_TRY(Flush());
    // The end marker: an empty message, which BuildKit's clients write as nothing.
    if (!stream_->Write(fs::BytesMessage())) {
      Status st = End();
      if (st) return MakeError(Code::kUnavailable, "the client stopped taking the output file");
      return st;
    }
    stream_->WritesDone();
    return End();
  }

 private:
  Status Flush() {
    if (buf_.empty()) return OkStatus();
    fs::BytesMessage m;
    m.set_data(std::move(buf_));
    buf_.clear();
    if (!stream_->Write(m)) {
      Status st = End();
      if (st) return MakeError(Code::kUnavailable, "the client stopped taking the output file");
      return st;
    }
    return OkStatus();
  }

  // Waits for the client to be done and returns its verdict.
  Status End() {
    for (fs::BytesMessage m; stream_->Read(&m);) {
    }
    finished_ = true;
    grpc::Status s = stream_->Finish();
    if (!s.ok()) return Unexpected(internal::FromGrpcStatus(s));
    return OkStatus();
  }

  std::shared_ptr<const internal::RemoteConnection> conn_;
  std::unique_ptr<fs::FileSend::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<fs::BytesMessage, fs::BytesMessage>> stream_;
  std::string buf_;
  bool finished_ = false;
};

}  // namespace

namespace internal {

bool RemoteConnection::Supports(std::string_view method) const {
  return methods.count(Lower(method)) != 0;
}

bool RemoteConnection::TakeKeptBytes(size_t n, size_t limit) const {
  for (size_t have = kept_bytes.load(); have + n <= limit;) {
    if (kept_bytes.compare_exchange_weak(have, have + n)) return true;
  }
  return false;
}

}  // namespace internal

Result<RemoteSessionInfo> ParseSessionMetadata(
    const std::vector<std::pair<std::string, std::string>>& metadata) {
  RemoteSessionInfo info;
  bool have_id = false;
  for (const auto& [key, value] : metadata) {
    const std::string k = Lower(key);
    if (k == "x-docker-expose-session-uuid") {
      if (!have_id) info.id = value;
      have_id = true;
    } else if (k == "x-docker-expose-session-name") {
      info.name = value;
    } else if (k == "x-docker-expose-session-sharedkey") {
      info.shared_key = value;
    } else if (k == "x-docker-expose-session-grpc-method") {
      // One value per method; HTTP/1 peers may have joined them with commas.
      for (size_t start = 0; start <= value.size();) {
        size_t comma = value.find(',', start);
        if (comma == std::string::npos) comma = value.size();
        std::string m = value.substr(start, comma - start);
        m.erase(0, m.find_first_not_of(' '));
        m.erase(m.find_last_not_of(' ') + 1);
        if (!m.empty()) info.methods.push_back(std::move(m));
        start = comma + 1;
      }
    }
  }
  if (info.id.empty()) {
    return MakeError(Code::kInvalidArgument,
                     "session: no session ID (x-docker-expose-session-uuid) in the request");
  }
  return info;
}

RemoteSession::RemoteSession(std::shared_ptr<internal::RemoteConnection> conn)
    : conn_(std::move(conn)) {}

RemoteSession::~RemoteSession() = default;

Result<std::shared_ptr<RemoteSession>> RemoteSession::Connect(RemoteSessionInfo info, UniqueFd fd) {
  if (!fd) return MakeError(Code::kInvalidArgument, "session " + info.id + ": no connection");
  auto conn = std::make_shared<internal::RemoteConnection>();
  for (const std::string& m : info.methods) conn->methods.insert(Lower(m));
  conn->info = std::move(info);
  // gRPC's poller needs a non-blocking socket and does not make it one itself.
  int flags = fcntl(fd.get(), F_GETFL);
  if (flags < 0 || fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return Unexpected(ErrnoError(errno, "session " + info.id + ": set up the connection"));
  }
  grpc::ChannelArguments args;
  // Everything travels over this one connection; there is nothing to reconnect to.
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 16 << 20);
  conn->channel = grpc::CreateCustomInsecureChannelFromFd("localhost", fd.Release(), args);
  if (!conn->channel) {
    return MakeError(Code::kInternal, "session " + conn->info.id + ": cannot make a channel");
  }
  return std::shared_ptr<RemoteSession>(new RemoteSession(std::move(conn)));
}

const std::string& RemoteSession::id() const { return conn_->info.id; }
const std::string& RemoteSession::shared_key() const { return conn_->info.shared_key; }
const std::string& RemoteSession::name() const { return conn_->info.name; }
bool RemoteSession::Supports(std::string_view method) const { return conn_->Supports(method); }

Result<std::shared_ptr<content::ContentStore>> RemoteSession::OciStore(std::string_view store_id) {
  const std::string id(store_id);
  const std::string store = internal::kOciStorePrefix + id;
  if (!internal::MetadataSafe(store)) {
    return MakeError(Code::kInvalidArgument,
                     "store oci:" + id + ": only IDs in printable ASCII can be sent to a client");
  }
  {
    std::lock_guard lock(mu_);
    if (auto it = oci_stores_.find(id); it != oci_stores_.end()) return it->second;
  }
  // The client is not asked whether it has the store: the first call on it says so (a client
  // answers for an unknown store that it is unknown), which saves a round trip per store.
  if (!conn_->Supports(internal::kContentInfo) || !conn_->Supports(internal::kContentRead)) {
    return MakeError(Code::kNotFound,
                     "unknown store oci:" + id +
                         " (the client attached no OCI layout store: attach one with "
                         "--oci-layout ID=DIR or --build-context NAME=oci-layout://PATH)");
  }
  auto attached = std::shared_ptr<content::ContentStore>(std::make_shared<AttachedStore>(
      id, internal::MakeRemoteContentStore(conn_, store), std::vector<std::string>{}));
  std::lock_guard lock(mu_);
  return oci_stores_.emplace(id, std::move(attached)).first->second;
}

Result<std::shared_ptr<ClientDir>> RemoteSession::LocalDir(std::string_view name_view) {
  const std::string name(name_view);
  if (!conn_->Supports(internal::kFileSyncDiffCopy)) {
    return MakeError(Code::kNotFound, "unknown local dir " + name);
  }
  if (!internal::MetadataSafe(name)) {
    return MakeError(Code::kInvalidArgument, "local dir \"" + name +
                                                 "\": only names in printable ASCII can be sent "
                                                 "to a client");
  }
  // The client is not asked whether it has the directory: its first transfer says so.
  return internal::MakeRemoteClientDir(conn_, name);
}

Result<std::string> RemoteSession::Secret(std::string_view id_view) {
  const std::string id(id_view);
  auto stub = sec::Secrets::NewStub(conn_->channel);
  grpc::ClientContext ctx;
  sec::GetSecretRequest req;
  req.set_id(id);
  sec::GetSecretResponse resp;
  grpc::Status s = stub->GetSecret(&ctx, req, &resp);
  if (s.ok()) return std::move(*resp.mutable_data());
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED ||
      (s.error_code() == grpc::StatusCode::NOT_FOUND && s.error_message().empty())) {
    return MakeError(Code::kNotFound, "secret " + id + " not found");
  }
  return Unexpected(internal::FromGrpcStatus(s));
}

Status RemoteSession::CheckSSH(std::string_view id_view) {
  const std::string id(id_view);
  auto stub = moby::sshforward::v1::SSH::NewStub(conn_->channel);
  grpc::ClientContext ctx;
  moby::sshforward::v1::CheckAgentRequest req;
  req.set_id(id);
  moby::sshforward::v1::CheckAgentResponse resp;
  grpc::Status s = stub->CheckAgent(&ctx, req, &resp);
  // No service, or the client's refusal: either way no agent is forwarded as `id`.
  if (!s.ok()) return Unexpected(SSHNotForwarded(id));
  return OkStatus();
}

Result<UniqueFd> RemoteSession::ForwardSSH(std::string_view id_view) {
  HOIST_TRY(CheckSSH(id_view));
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Unexpected(ErrnoError(errno, "socketpair"));
  }
  UniqueFd near(fds[0]);
  // The call lives as long as the connection: it ends when the engine closes its end, or when
  // the client (or the session) goes.
  std::thread([conn = conn_, far = UniqueFd(fds[1]), id = std::string(id_view)]() mutable {
    using Msg = moby::sshforward::v1::BytesMessage;
    auto stub = moby::sshforward::v1::SSH::NewStub(conn->channel);
    grpc::ClientContext ctx;
    ctx.AddMetadata(std::string(kSSHIDMetadataKey), id);
    auto stream = stub->ForwardAgent(&ctx);
    // The connection's end ends the call: BuildKit's clients keep a forwarded connection open
    // until its call is cancelled, as BuildKit's engine does, rather than on a half-close.
    GrpcBytesStream<Msg, grpc::ClientReaderWriter<Msg, Msg>> adapter(stream.get(), [&] {
      stream->WritesDone();
      ctx.TryCancel();
    });
    (void)PumpBytes(std::move(far), adapter);
    (void)stream->Finish();
  }).detach();
  return near;
}

Result<std::optional<RegistryCredentials>> RemoteSession::Credentials(std::string_view host_view) {
  using None = std::optional<RegistryCredentials>;
  if (!conn_->Supports(internal::kAuthCredentials)) return None();
  const std::string host(host_view);
  auto stub = fs::Auth::NewStub(conn_->channel);
  grpc::ClientContext ctx;
  fs::CredentialsRequest req;
  req.set_host(host);
  fs::CredentialsResponse resp;
  grpc::Status s = stub->Credentials(&ctx, req, &resp);
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) return None();
  if (!s.ok()) return Unexpected(internal::FromGrpcStatus(s));
  if (resp.username().empty() && resp.secret().empty()) return None();
  return None(RegistryCredentials{.username = std::move(*resp.mutable_username()),
                                  .secret = std::move(*resp.mutable_secret())});
}

Result<std::unique_ptr<OutputFile>> RemoteSession::OpenOutputTar(
    const std::map<std::string, std::string>& exporter_metadata) {
  if (!conn_->Supports(internal::kFileSendDiffCopy)) {
    return MakeError(Code::kFailedPrecondition, "the client attached no output file");
  }
  return std::unique_ptr<OutputFile>(std::make_unique<RemoteOutputFile>(conn_, exporter_metadata));
}

Status RemoteSession::SendOutputDir(const std::string& dir, CancelContext* cancel) {
  if (!conn_->Supports(internal::kFileSendDiffCopy)) {
    return MakeError(Code::kFailedPrecondition, "the client attached no output directory");
  }
  HOIST_ASSIGN_OR_RETURN(auto source, internal::FsClientDir::Open("output", dir));
  grpc::ClientContext ctx;
  Status sent = OkStatus();
  grpc::Status s;
  // Sends the tree over `packets` (on `stream`), then ends the call: the tree's last packet
  // (FIN) leaves nothing waiting in a batch.
  auto send = [&](auto& stream, internal::PacketStream& packets, auto message) {
    sent = internal::SendTree(packets, *source, {}, cancel);
    stream->WritesDone();
    while (stream->Read(&message)) {
    }
    s = stream->Finish();
  };
  // hoist's client takes the tree in batches of packets; BuildKit's one packet per message.
  if (conn_->Supports(internal::kBatchedFileSend)) {
    auto stub = hfs::BatchedFileSend::NewStub(conn_->channel);
    auto stream = stub->DiffCopy(&ctx);
    internal::BatchedPacketStream<grpc::ClientReaderWriter<hfs::PacketBatch, hfs::PacketBatch>,
                                  grpc::ClientContext, hfs::PacketBatch>
        packets(stream.get(), &ctx);
    send(stream, packets, hfs::PacketBatch());
  } else {
    auto stub = fs::FileSend::NewStub(conn_->channel);
    ctx.AddMetadata(internal::kOutputKindKey, "dir");
    auto stream = stub->DiffCopy(&ctx);
    internal::GrpcBytesPacketStream<grpc::ClientReaderWriter<fs::BytesMessage, fs::BytesMessage>,
                                    grpc::ClientContext, fs::BytesMessage>
        packets(stream.get(), &ctx);
    send(stream, packets, fs::BytesMessage());
  }
  if (!sent) {
    // The client's status says more than "it stopped" or its ERR text.
    bool theirs = internal::IsBrokenStream(sent.error()) ||
                  sent.error().message().rfind("error from receiver: ", 0) == 0;
    if (theirs && !s.ok()) return Unexpected(internal::FromGrpcStatus(s));
    return sent;
  }
  if (!s.ok()) return Unexpected(internal::FromGrpcStatus(s));
  return OkStatus();
}

Result<std::shared_ptr<content::ContentStore>> RemoteSession::OutputStore() {
  Status probe = internal::ProbeRemoteStore(*conn_, internal::kExportStoreId);
  if (!probe) {
    Code c = probe.error().code();
    if (c == Code::kNotFound || c == Code::kUnimplemented) {
      return MakeError(Code::kFailedPrecondition, "the client attached no output OCI layout");
    }
    return Unexpected(std::move(probe).error());
  }
  return std::shared_ptr<content::ContentStore>(AttachedStore::ForExport(
      internal::MakeRemoteContentStore(conn_, internal::kExportStoreId), {}));
}

Result<std::shared_ptr<content::ContentStore>> RemoteSession::CacheStore(std::string_view key,
                                                                         bool writable) {
  if (key.empty()) return MakeError(Code::kInvalidArgument, "empty cache store key");
  const std::string store = internal::kCacheStorePrefix + std::string(key);
  if (!internal::MetadataSafe(store)) {
    return MakeError(Code::kInvalidArgument,
                     "a cache store key that is not printable ASCII cannot be sent to the client");
  }
  // The key may be the client's path (buildctl's): whatever the client says is scrubbed of it.
  std::vector<std::string> private_strings{store};
  if (key.size() >= 8) private_strings.emplace_back(key);
  Status probe = internal::ProbeRemoteStore(*conn_, store);
  if (!probe) {
    Error e = std::move(probe).error();
    if (e.code() == Code::kNotFound || e.code() == Code::kUnimplemented) {
      return Unexpected(UnknownCacheStore());
    }
    return MakeError(e.code(), "local cache: the client's store is not available (" +
                                   std::string(CodeName(e.code())) + ")");
  }
  return std::shared_ptr<content::ContentStore>(AttachedStore::ForCache(
      internal::MakeRemoteContentStore(conn_, store), std::move(private_strings), writable));
}

}  // namespace hoist::session
