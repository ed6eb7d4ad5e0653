// Test fixture: a ClientSession and the engine's view of it through either transport, so that
// one test body checks both: in process (the engine holds the ClientSession itself) or over
// gRPC (a SessionServer serves it on one end of a socketpair, a RemoteSession calls it from the
// other). Test code only.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "session/client_session.h"
#include "session/remote_session.h"
#include "session/session.h"
#include "session/session_server.h"

namespace hoist::session::testing {

// kGrpcBuildKitMethods: over gRPC, the engine seeing only the methods a BuildKit client
// serves (hoist's own, such as the batched file sync, left out of the session's metadata).
enum class Transport { kInProcess, kGrpc, kGrpcBuildKitMethods };

std::string TransportName(Transport t);
inline void PrintTo(Transport t, std::ostream* os) { *os << TransportName(t); }

class SessionPair {
 public:
  explicit SessionPair(Transport t, std::shared_ptr<ClientSession> client = nullptr);
  ~SessionPair();

  ClientSession& client() { return *client_; }
  std::shared_ptr<ClientSession> client_ptr() { return client_; }
  // The engine's side. Over gRPC the connection is made at the first call, so attach first
  // (what the client advertises is computed then).
  Session& engine();
  // The RemoteSession (connecting first), or null in process.
  RemoteSession* remote();

 private:
  Transport transport_;
  std::shared_ptr<ClientSession> client_;
  std::unique_ptr<SessionServer> server_;
  std::shared_ptr<RemoteSession> remote_;
};

}  // namespace hoist::session::testing
