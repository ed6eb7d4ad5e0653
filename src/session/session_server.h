// SessionServer: the client's end of a session over gRPC, BuildKit's way round. The client
// opens Control.Session on the engine (a bidirectional stream of bytes) sending the metadata
// SessionMetadata() gives; over that byte stream the CLIENT serves gRPC (HTTP/2 server side)
// and the engine calls it. SessionServer is that gRPC server, serving one ClientSession over a
// connected socket whose other end the caller pumps to and from the Control.Session stream (or,
// in tests, a RemoteSession holds directly).
//
// Served: file sync (local dirs), file send (outputs), the content service (OCI stores and the
// export store), secrets, health. Not yet: registry credentials (BuildKit's Auth service), SSH
// forwarding, uploads; a client that needs them cannot use this transport yet.
//
// Privacy: nothing it sends names a client path (see ClientSession).
//
// Thread-safety: thread-safe. The server runs on gRPC's own threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "session/client_session.h"

namespace hoist::session {

class SessionServer {
 public:
  // Starts serving `session` on `fd`, a connected stream socket (the engine's HTTP/2 client
  // is at the other end). The server owns the socket from here on.
  static Result<std::unique_ptr<SessionServer>> Start(std::shared_ptr<ClientSession> session,
                                                      UniqueFd fd);
  // Shuts down (see Shutdown).
  ~SessionServer();

  SessionServer(const SessionServer&) = delete;
  SessionServer& operator=(const SessionServer&) = delete;

  // Stops serving: new calls are refused, calls in progress get `grace` to finish and are then
  // cancelled. Idempotent.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::seconds(1));
  // Lets the session go without stopping the server, once every call using it has returned
  // (waiting up to `wait`; false, and nothing changes, if one has not): for a client done with
  // the engine whose connection is closed. Stopping a gRPC server waits for its threads (about
  // a millisecond); a released server costs nothing until it is destroyed, and calls that
  // still reach it answer UNAVAILABLE.
  bool Release(std::chrono::milliseconds wait);

 private:
  struct Impl;
  explicit SessionServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The gRPC metadata a client sends with Control.Session, as BuildKit's session.Run does (gRPC
// lowercases the keys): x-docker-expose-session-uuid (the session ID),
// x-docker-expose-session-name (`name`, BuildKit's client uses its working directory's base
// name), x-docker-expose-session-sharedkey, and one x-docker-expose-session-grpc-method per
// method served ("/moby.filesync.v1.FileSync/DiffCopy"...) for what the session has attached.
// Attach everything before calling this.
std::vector<std::pair<std::string, std::string>> SessionMetadata(const ClientSession& session,
                                                                 std::string_view name);

}  // namespace hoist::session
