#include "session/session_server.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/server_posix.h>

#include <cerrno>
#include <mutex>

#include "session/internal/session_services.h"

namespace hoist::session {

namespace {
constexpr char kSessionIdKey[] = "x-docker-expose-session-uuid";
constexpr char kSessionNameKey[] = "x-docker-expose-session-name";
constexpr char kSessionSharedKeyKey[] = "x-docker-expose-session-sharedkey";
constexpr char kSessionMethodKey[] = "x-docker-expose-session-grpc-method";
}  // namespace

struct SessionServer::Impl {
  std::shared_ptr<internal::SessionLender> lender;
  std::vector<std::unique_ptr<grpc::Service>> services;
  std::unique_ptr<grpc::Server> server;
  std::once_flag shutdown;
};

SessionServer::SessionServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SessionServer::~SessionServer() { Shutdown(); }

Result<std::unique_ptr<SessionServer>> SessionServer::Start(std::shared_ptr<ClientSession> session,
                                                            UniqueFd fd) {
  if (!fd) return MakeError(Code::kInvalidArgument, "session server: no connection");
  auto impl = std::make_unique<Impl>();
  impl->lender = std::make_shared<internal::SessionLender>(std::move(session));
  impl->services = internal::MakeSessionServices(impl->lender);
  grpc::ServerBuilder builder;
  for (auto& s : impl->services) builder.RegisterService(s.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server) return MakeError(Code::kInternal, "session server: gRPC refused to start");
  // gRPC's poller needs a non-blocking socket and does not make it one itself.
  int flags = fcntl(fd.get(), F_GETFL);
  if (flags < 0 || fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return Unexpected(ErrnoError(errno, "session server: set up the connection"));
  }
  grpc::AddInsecureChannelFromFd(impl->server.get(), fd.Release());
  return std::unique_ptr<SessionServer>(new SessionServer(std::move(impl)));
}

bool SessionServer::Release(std::chrono::milliseconds wait) {
  return impl_->lender->TakeBack(wait);
}

void SessionServer::Shutdown(std::chrono::milliseconds grace) {
  std::call_once(impl_->shutdown, [&] {
    impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
    impl_->server->Wait();
  });
}

std::vector<std::pair<std::string, std::string>> SessionMetadata(const ClientSession& session,
                                                                 std::string_view name) {
  std::vector<std::pair<std::string, std::string>> md;
  md.emplace_back(kSessionIdKey, session.id());
  md.emplace_back(kSessionNameKey, std::string(name));
  md.emplace_back(kSessionSharedKeyKey, session.shared_key());
  for (std::string& m : internal::ExposedMethods(session)) {
    md.emplace_back(kSessionMethodKey, std::move(m));
  }
  return md;
}

}  // namespace hoist::session
