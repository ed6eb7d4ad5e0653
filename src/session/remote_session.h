// RemoteSession: the engine's end of a session over gRPC (hoistd). The client opened
// Control.Session with metadata naming the session and the methods it serves (see
// ParseSessionMetadata); the byte stream of that call carries HTTP/2 on which the CLIENT is the
// server. The caller pumps those bytes to and from a connected socket and hands the other end
// here: RemoteSession is a gRPC client over it and implements Session by calling the client's
// services:
//   OciStore(id)      containerd's Content service, store `oci:<id>`; read-only and verified
//                     here as it streams (AttachedStore), whatever the client does; one store
//                     per ID for the session, keeping small verified blobs (manifests, configs)
//   LocalDir(name)    FileSync.DiffCopy: a Walk is one transfer whose files ReadFile then asks
//                     for on the same stream; reads without a walk use a transfer of their own
//                     (fsutil follow paths of just that file). Patterns travel as gRPC metadata,
//                     which carries printable ASCII only: others are widened or dropped so the
//                     client sends at least what they select, and such a walk may report more
//                     (LocalSync filters again). Such dir names and store IDs are refused.
//   Secret(id)        Secrets.GetSecret
//   Credentials(host) Auth.Credentials, when the client says it serves it (else none; an
//                     Unimplemented answer is none too, as in BuildKit)
//   OpenOutputTar     FileSend.DiffCopy with file chunks
//   SendOutputDir     FileSend.DiffCopy as fsutil's sender
//   OutputStore       the Content service, store `export`
//   CacheStore(key)   the Content service, store `local:<key>`; reads verified here, writes
//                     verified by the client at Commit. Keys that are not printable ASCII
//                     cannot travel in gRPC metadata and are refused before any call.
// Everything the client sends is untrusted: paths, order and hard links of walks are checked,
// blobs verified against their digests.
//
// Thread-safety: thread-safe; what it returns is documented in session.h.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "session/session.h"

namespace hoist::session {

namespace internal {
struct RemoteConnection;
}

// What the client said about its session in Control.Session's metadata.
struct RemoteSessionInfo {
  std::string id;
  std::string name;
  std::string shared_key;
  // Method URLs the client serves ("/moby.filesync.v1.FileSync/DiffCopy"), as sent.
  std::vector<std::string> methods;
};

// Reads the x-docker-expose-session-* keys (any case; several method values or comma lists).
// kInvalidArgument when the session ID is missing.
Result<RemoteSessionInfo> ParseSessionMetadata(
    const std::vector<std::pair<std::string, std::string>>& metadata);

class RemoteSession final : public Session {
 public:
  // A session calling the client over `fd`, a connected stream socket whose other end is the
  // client's HTTP/2 server. The session owns the socket.
  static Result<std::shared_ptr<RemoteSession>> Connect(RemoteSessionInfo info, UniqueFd fd);
  ~RemoteSession() override;

  const std::string& id() const override;
  const std::string& shared_key() const override;
  const std::string& name() const;
  // Whether the client said it serves `method` (compared without case, as BuildKit does).
  bool Supports(std::string_view method) const;

  Result<std::shared_ptr<content::ContentStore>> OciStore(std::string_view store_id) override;
  Result<std::shared_ptr<ClientDir>> LocalDir(std::string_view name) override;
  Result<std::string> Secret(std::string_view id) override;
  Result<std::optional<RegistryCredentials>> Credentials(std::string_view host) override;
  Status CheckSSH(std::string_view id) override;
  // A socketpair whose far end a thread pumps to a ForwardAgent call on the client.
  Result<UniqueFd> ForwardSSH(std::string_view id) override;
  Result<std::unique_ptr<OutputFile>> OpenOutputTar(
      const std::map<std::string, std::string>& exporter_metadata) override;
  Status SendOutputDir(const std::string& dir, CancelContext* cancel = nullptr) override;
  Result<std::shared_ptr<content::ContentStore>> OutputStore() override;
  Result<std::shared_ptr<content::ContentStore>> CacheStore(std::string_view key,
                                                            bool writable) override;

 private:
  explicit RemoteSession(std::shared_ptr<internal::RemoteConnection> conn);

  std::shared_ptr<internal::RemoteConnection> conn_;
  std::mutex mu_;
  // The OCI stores asked for, each kept with what it learnt (sizes, small blobs) for the
  // session.
  std::map<std::string, std::shared_ptr<content::ContentStore>> oci_stores_;  // guarded by mu_
};

}  // namespace hoist::session
