// ClientSession: the client's side of a session, holding what the client attached (OCI layout
// directories and tarballs as stores, local directories, secrets, where outputs go, where its
// registry credentials come from), and serving the engine through the Session interface. With the in-process transport the engine holds this
// object (as a Session) directly; over gRPC a SessionServer serves it to a RemoteSession.
//
// Attach before handing the session to the engine; attaching later is allowed (it is
// thread-safe) but the engine may already have looked and found nothing.
//
// Privacy: the client's paths are kept here and never appear in what Session methods return;
// store errors are scrubbed of them (they read `oci:<id>` instead). Registry credentials are
// handed only to the engine that asks, never written to an error.
//
// Thread-safety: thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/file_system.h"
#include "content/content_store.h"
#include "content/oci_layout.h"
#include "session/session.h"

namespace hoist::session {

class ClientSession final : public Session {
 public:
  // A session with a random ID.
  explicit ClientSession(std::string shared_key = "");
  ClientSession(std::string id, std::string shared_key);
  ~ClientSession() override;

  // --- client side: attaching ---

  // Attaches the OCI layout at `path` (a directory, or an uncompressed tarball read in place)
  // read-only as `oci:<store_id>`. Nothing is locked or written, so read-only mounts work.
  // Errors here are the client's own and may name the path; a duplicate ID is kAlreadyExists.
  Status AttachOciLayout(const std::string& store_id, const std::string& path,
                         FileSystem* fs = PosixFileSystem());
  // The same for a layout the caller already opened from `path` (which is only kept to be
  // scrubbed from errors). REQUIRES: layout != nullptr.
  Status AttachOpenedLayout(const std::string& store_id, std::unique_ptr<content::OciLayout> layout,
                            const std::string& path);
  // Attaches any store as `oci:<store_id>`; `private_strings` (paths) are scrubbed from its
  // errors. The store is wrapped read-only and verifying.
  Status AttachOciStore(const std::string& store_id, std::shared_ptr<content::ContentStore> store,
                        std::vector<std::string> private_strings);
  // Attaches the directory at `path` under `name`.
  Status AttachLocalDir(const std::string& name, const std::string& path);
  // Secrets: read when the engine asks, from a file or an environment variable.
  Status AttachSecretFile(const std::string& id, const std::string& path);
  Status AttachSecretEnv(const std::string& id, const std::string& env_name);
  // SSH agent forwarding: the agent listening at `socket_path` is served (read-only) as `id`.
  Status AttachSSHAgent(const std::string& id, const std::string& socket_path);
  // Registry credentials: `lookup` answers Credentials(host) for the engine (the client's docker
  // config, wired in src/cmd/). Its errors must name neither a secret nor a client path; they
  // reach the engine as they are. Without it the session lends no credentials.
  using CredentialsLookup =
      std::function<Result<std::optional<RegistryCredentials>>(std::string_view host)>;
  Status AttachRegistryCredentials(CredentialsLookup lookup);

  // Outputs (BuildKit's client attaches one of the first two per export).
  // Where a single-file export (tar, oci, docker) goes: a file, replaced only by a complete
  // export, or "-" for standard output (the caller checks it is not a terminal).
  Status AttachOutputFile(const std::string& path);
  // The directory a `local` export is merged into (created when missing).
  Status AttachOutputDir(const std::string& path);
  // The OCI layout directory (created when missing) whose store an `oci` export with
  // tar=false writes blobs into; the client then tags the result with output_layout()->Put.
  Status AttachOutputLayout(const std::string& path, FileSystem* fs = PosixFileSystem());
  std::shared_ptr<content::OciLayout> output_layout() const;

  // Build caches (`--cache-to`/`--cache-from type=local`, BuildKit's stores `local:<key>`):
  // attaches `layout`, opened from `path` (kept only to be scrubbed from errors), under `key`.
  // Writable for an export: the engine adds blobs, each verified at Commit, and the client names
  // the result in the layout's index itself once the build is done. Otherwise read-only and
  // verifying. A duplicate key is kAlreadyExists; an empty key or a read-only layout asked to be
  // writable is kInvalidArgument.
  Status AttachCacheLayout(const std::string& key, std::shared_ptr<content::OciLayout> layout,
                           const std::string& path, bool writable);

  // What is attached, for the transport to advertise.
  std::vector<std::string> StoreIds() const;  // sorted
  bool HasLocalDirs() const;
  bool HasSecrets() const;
  bool HasSSH() const;
  bool HasRegistryCredentials() const;
  bool HasOutputFileOrDir() const;
  bool HasCacheStores() const;

  // --- engine side: Session ---
  const std::string& id() const override { return id_; }
  const std::string& shared_key() const override { return shared_key_; }
  Result<std::shared_ptr<content::ContentStore>> OciStore(std::string_view store_id) override;
  Result<std::shared_ptr<ClientDir>> LocalDir(std::string_view name) override;
  Result<std::string> Secret(std::string_view id) override;
  Result<std::optional<RegistryCredentials>> Credentials(std::string_view host) override;
  Status CheckSSH(std::string_view id) override;
  // In process: a socketpair whose far end a thread relays to the agent (ServeReadOnlyAgent).
  Result<UniqueFd> ForwardSSH(std::string_view id) override;
  // In process: the export goes to the attached file. One is written at a time: a second
  // waits a few seconds for the first (say, an aborted one still being cleaned up), then fails.
  Result<std::unique_ptr<OutputFile>> OpenOutputTar(
      const std::map<std::string, std::string>& exporter_metadata) override;
  // In process: `dir` is copied with the same confinement a remote export gets.
  Status SendOutputDir(const std::string& dir, CancelContext* cancel = nullptr) override;
  Result<std::shared_ptr<content::ContentStore>> OutputStore() override;
  Result<std::shared_ptr<content::ContentStore>> CacheStore(std::string_view key,
                                                            bool writable) override;

  // The attached output directory ("" when none); for the transport's receiver.
  std::string output_dir() const;

 private:
  struct SecretSource {
    std::string file;  // one of these two
    std::string env;
  };

  const std::string id_;
  const std::string shared_key_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<content::ContentStore>, std::less<>> stores_;
  std::map<std::string, std::shared_ptr<ClientDir>, std::less<>> dirs_;
  std::map<std::string, SecretSource, std::less<>> secrets_;
  std::map<std::string, std::string, std::less<>> ssh_agents_;  // ID → socket path
  CredentialsLookup credentials_;
  std::string output_file_;
  // Whether an OutputFile is being written; shared with it, since it may outlive a call.
  struct OutputFileGate {
    std::mutex mu;
    std::condition_variable cv;
    bool busy = false;
  };
  std::shared_ptr<OutputFileGate> output_gate_ = std::make_shared<OutputFileGate>();
  std::string output_dir_;
  std::shared_ptr<content::OciLayout> output_layout_;
  std::shared_ptr<content::ContentStore> output_store_;
  // A cache's store as the engine reads it, and (exports only) as it writes it.
  struct CacheStores {
    std::shared_ptr<content::ContentStore> reader;
    std::shared_ptr<content::ContentStore> writer;
  };
  std::map<std::string, CacheStores, std::less<>> cache_stores_;
};

}  // namespace hoist::session
