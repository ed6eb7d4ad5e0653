// hoistd: the daemon. One engine under one root, serving BuildKit's Control API (so buildctl,
// docker buildx's remote driver and `hoist --addr` build through it) on unix sockets, systemd
// activation sockets and TLS-protected TCP.
//
// SIGTERM or SIGINT: stop accepting, cancel running builds, finish, release the root.
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <optional>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>
#include <grpcpp/server_posix.h>

#include "base/background_queue.h"
#include "base/file_system.h"
#include "base/log.h"
#include "base/mount.h"
#include "cmd/daemon_listener.h"
#include "cmd/engine.h"
#include "cmd/engine_flags.h"
#include "control/control_service.h"
#include "control/controller.h"
#include "control/direct_sessions.h"
#include "control/gateway_builds.h"
#include "control/progress_hub.h"
#include "session/direct_session.h"
#include "session/rpc_runtime.h"

namespace hoist::cmd {
namespace {

struct DaemonArgs {
  std::vector<std::string> addrs;
  std::string root;
  std::string config;
  std::string group;
  std::string runtime;
  std::string snapshotter;
  std::string layer_memory;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::vector<std::string> insecure_entitlements;  // --allow-insecure-entitlement
};


// How long a new connection on a unix socket may stay silent before it is taken for gRPC (whose
// clients speak first, at once).
constexpr auto kFirstBytesWait = std::chrono::milliseconds(100);

// Hands every connection accepted on `listener` to the gRPC server, or, on a unix socket, to
// `direct` when it offers a direct session (session/direct_session.h).
void AcceptLoop(int listener, grpc::Server* server, control::DirectSessions* direct,
                std::atomic<bool>* stopping) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  const bool local = ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
                     addr.ss_family == AF_UNIX;
  for (;;) {
    // gRPC's poller needs non-blocking sockets and does not make them so itself.
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (stopping->load()) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EINVAL || errno == EBADF) return;  // shut down
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (stopping->load()) {
      ::close(fd);
      return;
    }
    if (local && session::IsDirectSessionOffer(fd, kFirstBytesWait)) {
      direct->Serve(UniqueFd(fd));
      continue;
    }
    grpc::AddInsecureChannelFromFd(server, fd);
  }
}

Status RunDaemon(const DaemonArgs& args) {
  std::vector<std::string> addrs = args.addrs;
  if (addrs.empty()) addrs.push_back("unix:///run/hoist/hoistd.sock");
  std::vector<DaemonAddr> parsed;
  for (const std::string& a : addrs) {
    HOIST_ASSIGN_OR_RETURN(DaemonAddr d, ParseDaemonAddr(a));
    if (d.kind == DaemonAddr::Kind::kTcp &&
        (args.tls_ca.empty() || args.tls_cert.empty() || args.tls_key.empty())) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("{}: tcp addresses need TLS with client certificates: give "
                                   "--tlscacert, --tlscert and --tlskey",
                                   a));
    }
    parsed.push_back(std::move(d));
  }
  // Signals are taken by sigwait on this thread only.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  HOIST_ASSIGN_OR_RETURN(int64_t layer_memory, ParseLayerMemory(args.layer_memory));
  // As buildkitd: the flag, when given, replaces the configuration file's list.
  std::optional<std::vector<std::string>> insecure;
  if (!args.insecure_entitlements.empty()) insecure = args.insecure_entitlements;
  HOIST_ASSIGN_OR_RETURN(auto engine, Engine::Open({.root = args.root,
                                                    .runtime = args.runtime,
                                                    .snapshotter = args.snapshotter,
                                                    .layer_memory = layer_memory,
                                                    .config_file = args.config,
                                                    .insecure_entitlements = insecure,
                                                    .daemon_addrs = addrs}));
  // Export clean-ups run after each build has answered; the queue empties before the engine
  // closes.
  BackgroundQueue cleanup;
  control::EngineParts parts = engine->parts();
  parts.cleanup = &cleanup;
  control::Controller controller(parts);
  control::ProgressHub hub;
  control::GatewayBuilds gateway_builds;
  auto shutdown = CancelContext::Background();
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  const control::ServiceOptions service_options{.controller = &controller,
                                                .progress = &hub,
                                                .gateway = &gateway_builds,
                                                .worker_id = std::string(host),
                                                .hostname = std::string(host),
                                                .shutdown = shutdown};
  auto control_service = control::NewControlService(service_options);
  auto gateway_service = control::NewGatewayService(service_options);
  auto health_service = control::NewHealthService();

  // Listeners first: a bad address fails before anything is served.
  std::vector<UniqueFd> listeners;
  std::vector<std::string> socket_files;
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  builder.RegisterService(control_service.get());
  builder.RegisterService(gateway_service.get());
  builder.RegisterService(health_service.get());
  for (const DaemonAddr& d : parsed) {
    if (d.kind == DaemonAddr::Kind::kUnix) {
      HOIST_ASSIGN_OR_RETURN(UniqueFd fd, ListenUnix(d.path, args.group));
      listeners.push_back(std::move(fd));
      socket_files.push_back(d.path);
    } else if (d.kind == DaemonAddr::Kind::kFd) {
      HOIST_ASSIGN_OR_RETURN(auto fds, ActivationSockets());
      for (auto& fd : fds) listeners.push_back(std::move(fd));
    } else {
      grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      HOIST_ASSIGN_OR_RETURN(ssl.pem_root_certs, PosixFileSystem()->ReadFile(args.tls_ca));
      grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
      HOIST_ASSIGN_OR_RETURN(pair.cert_chain, PosixFileSystem()->ReadFile(args.tls_cert));
      HOIST_ASSIGN_OR_RETURN(pair.private_key, PosixFileSystem()->ReadFile(args.tls_key));
      ssl.pem_key_cert_pairs.push_back(std::move(pair));
      builder.AddListeningPort(d.hostport, grpc::SslServerCredentials(ssl));
    }
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    for (const std::string& f : socket_files) ::unlink(f.c_str());
    return MakeError(Code::kUnavailable, "hoistd: the gRPC server did not start (address in use?)");
  }
  std::atomic<bool> stopping{false};
  control::DirectSessions direct(engine->parts().sessions);
  std::vector<std::thread> acceptors;
  for (const UniqueFd& l : listeners) {
    acceptors.emplace_back(AcceptLoop, l.get(), server.get(), &direct, &stopping);
  }
  std::string joined;
  for (const std::string& a : addrs) joined += (joined.empty() ? "" : ", ") + a;
  std::fprintf(stderr, "hoistd serving %s (root %s)\n", joined.c_str(), engine->root().c_str());
  if (const auto names = engine->config().insecure_entitlements.Names(); !names.empty()) {
    std::fprintf(stderr, "hoistd: builds may ask for %s\n",
                 fmt::format("{}", fmt::join(names, ", ")).c_str());
  }

  int sig = 0;
  sigwait(&sigs, &sig);
  std::fprintf(stderr, "hoistd: %s, shutting down\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  stopping = true;
  for (const UniqueFd& l : listeners) ::shutdown(l.get(), SHUT_RDWR);
  for (std::thread& t : acceptors) t.join();
  for (const std::string& f : socket_files) ::unlink(f.c_str());
  shutdown->Cancel("the daemon is shutting down");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  server->Wait();
  direct.Shutdown();
  return OkStatus();
}

}  // namespace
}  // namespace hoist::cmd

int main(int argc, char** argv) {
  // Before any thread: the engine's mounts stay in this process's own namespace
  // (engine.h, "Several processes on one root").
  if (::geteuid() == 0) (void)hoist::EnterPrivateMountNamespace();
  hoist::session::ConfigureRpcRuntime();
  CLI::App app{"hoistd serves hoist's build engine over BuildKit's API", "hoistd"};
  app.set_version_flag("--version", "hoistd version 0.1.0");
  hoist::cmd::DaemonArgs args;
  app.add_flag_callback(
      "-D,--debug", [] { hoist::SetLogLevel(hoist::LogLevel::kDebug); }, "Enable debug logging");
  app.add_option("--addr", args.addrs,
                 "Listening address, repeatable: unix:///PATH (default "
                 "unix:///run/hoist/hoistd.sock), tcp://HOST:PORT (TLS), fd:// (systemd)");
  app.add_option("--root", args.root, "Engine state directory (default: $HOIST_ROOT, /var/lib/hoist)")
      ->envname("HOIST_ROOT");
  app.add_option("--config", args.config, "Registry configuration file (hoist.toml)");
  app.add_option("--group", args.group, "Group owning the unix sockets (name or ID)");
  app.add_option("--runtime", args.runtime, "OCI runtime: runc, crun or a path (default: probe)");
  hoist::cmd::AddEngineStorageFlags(app, "", &args.snapshotter, &args.layer_memory);
  app.add_option("--allow-insecure-entitlement", args.insecure_entitlements,
                 "Let builds ask for an entitlement, repeatable: network.host, security.insecure "
                 "(replaces insecure-entitlements of the configuration file)");
  app.add_option("--tlscacert", args.tls_ca, "CA certificate that client certificates must chain to");
  app.add_option("--tlscert", args.tls_cert, "Server certificate");
  app.add_option("--tlskey", args.tls_key, "Server key");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  hoist::Status st = hoist::cmd::RunDaemon(args);
  if (!st) {
    std::fprintf(stderr, "ERROR: %s\n", st.error().message().c_str());
    return 1;
  }
  return 0;
}
