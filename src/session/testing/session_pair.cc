#include "session/testing/session_pair.h"

#include <grpc/grpc.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdlib>

namespace hoist::session::testing {

std::string TransportName(Transport t) {
  switch (t) {
    case Transport::kInProcess:
      return "InProcess";
    case Transport::kGrpc:
      return "Grpc";
    case Transport::kGrpcBuildKitMethods:
      return "GrpcBuildKitMethods";
  }
  return "?";
}

SessionPair::SessionPair(Transport t, std::shared_ptr<ClientSession> client)
    : transport_(t), client_(client ? std::move(client) : std::make_shared<ClientSession>()) {
  // gRPC stays initialised for the rest of the test binary, as it does for hoistd's life:
  // otherwise the last gRPC object of each test shuts the library down, which can wait
  // seconds for a poller thread to notice.
  static const bool held = (grpc_init(), true);
  (void)held;
}

SessionPair::~SessionPair() {
  // The engine's calls end first, then the server.
  remote_.reset();
  if (server_) server_->Shutdown();
}

Session& SessionPair::engine() {
  if (transport_ == Transport::kInProcess) return *client_;
  if (!remote_) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
    auto server = SessionServer::Start(client_, UniqueFd(fds[0]));
    if (!server) {
      ADD_FAILURE() << server.error().message();
      std::abort();
    }
    server_ = std::move(*server);
    auto info = ParseSessionMetadata(SessionMetadata(*client_, "test"));
    if (!info) std::abort();
    if (transport_ == Transport::kGrpcBuildKitMethods) {
      std::erase_if(info->methods, [](const std::string& m) { return m.starts_with("/hoist."); });
    }
    auto remote = RemoteSession::Connect(std::move(*info), UniqueFd(fds[1]));
    if (!remote) {
      ADD_FAILURE() << remote.error().message();
      std::abort();
    }
    remote_ = std::move(*remote);
  }
  return *remote_;
}

RemoteSession* SessionPair::remote() {
  if (transport_ == Transport::kInProcess) return nullptr;
  engine();
  return remote_.get();
}

}  // namespace hoist::session::testing
