#include "client/remote_engine.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "api/control/control.grpc.pb.h"
#include "base/file_system.h"
#include "client/inline_dockerfile.h"
#include "session/byte_pump.h"
#include "session/direct_session.h"
#include "session/session_server.h"

namespace hoist::client {
namespace {

namespace pb = ::moby::buildkit::v1;

Error FromGrpc(const grpc::Status& st, std::string_view what) {
  return Error(static_cast<Code>(st.error_code()),
               what.empty() ? st.error_message() : fmt::format("{}: {}", what, st.error_message()));
}

progress::Time ToTime(const google::protobuf::Timestamp& t) {
  return progress::Time(std::chrono::duration_cast<progress::Clock::duration>(
      std::chrono::seconds(t.seconds()) + std::chrono::nanoseconds(t.nanos())));
}

progress::SolveStatus FromProto(const pb::StatusResponse& r) {
  progress::SolveStatus s;
  for (const pb::Vertex& v : r.vertexes()) {
    progress::Vertex out{.digest = v.digest(), .name = v.name()};
    out.inputs.assign(v.inputs().begin(), v.inputs().end());
    if (v.has_started()) out.started = ToTime(v.started());
    if (v.has_completed()) out.completed = ToTime(v.completed());
    out.cached = v.cached();
    out.error = v.error();
    s.vertexes.push_back(std::move(out));
  }
  for (const pb::VertexStatus& st : r.statuses()) {
    progress::VertexStatus out{.id = st.id(), .vertex = st.vertex(), .name = st.name(),
                               .current = st.current(), .total = st.total()};
    if (st.has_timestamp()) out.timestamp = ToTime(st.timestamp());
    if (st.has_started()) out.started = ToTime(st.started());
    if (st.has_completed()) out.completed = ToTime(st.completed());
    s.statuses.push_back(std::move(out));
  }
  for (const pb::VertexLog& l : r.logs()) {
    s.logs.push_back({.vertex = l.vertex(), .stream = static_cast<int>(l.stream()),
                      .data = l.msg(),
                      .timestamp = l.has_timestamp() ? ToTime(l.timestamp()) : progress::Time{}});
  }
  for (const pb::VertexWarning& w : r.warnings()) {
    progress::VertexWarning out{.vertex = w.vertex(), .level = static_cast<int>(w.level()),
                                .short_message = w.short_(), .url = w.url()};
    out.detail.assign(w.detail().begin(), w.detail().end());
    s.warnings.push_back(std::move(out));
  }
  return s;
}


UsageRecord FromProto(const pb::UsageRecord& u) {
  auto ns = [](const google::protobuf::Timestamp& t) {
    return t.seconds() * 1000000000 + t.nanos();
  };
  return {.id = u.id(), .size = u.size(), .created_ns = ns(u.createdat()),
          .last_used_ns = ns(u.lastusedat()), .description = u.description(),
          .in_use = u.inuse()};
}

}  // namespace

std::string DaemonAddress(const std::string& addr_flag) {
  if (!addr_flag.empty()) return addr_flag;
  for (const char* env : {"HOIST_HOST", "BUILDKIT_HOST"}) {
    if (const char* v = std::getenv(env); v != nullptr && *v != '\0') return v;
  }
  return "";
}

struct RemoteEngine::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Control::Stub> stub;
  // A unix socket's path, where a direct session may be offered (session/direct_session.h).
  std::string unix_path;
  // Whether the daemon is hoistd (Control.Info, asked while the client prepares its session).
  std::future<bool> is_hoistd;
  bool hoistd = false;  // its answer, once taken
  // The servers of sessions that ended, released rather than stopped (SessionServer::Release):
  // stopped when the engine is destroyed, which a command-line client never waits for.
  std::mutex released_mu;
  std::vector<std::unique_ptr<session::SessionServer>> released;
};

namespace {

// How long hoistd may take to answer a session offer.
constexpr auto kOfferTimeout = std::chrono::seconds(10);

// Asks the daemon what it is; true for hoistd.
bool AskIsHoistd(pb::Control::Stub* stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::InfoRequest req;
  pb::InfoResponse resp;
  return stub->Info(&ctx, req, &resp).ok() && resp.buildkitversion().package() == "hoist";
}

// Whether the process listening at the other end of `fd` is named hoistd (its /proc comm, which
// anyone may read). Only a hint of what to try first, answered without a round trip: a daemon
// started by socket activation, or in another PID namespace, is asked with Control.Info instead.
bool PeerNamedHoistd(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) return false;
  UniqueFd comm(::open(fmt::format("/proc/{}/comm", cred.pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!comm) return false;
  char name[32] = {};
  const ssize_t n = ::read(comm.get(), name, sizeof(name) - 1);
  return n > 0 && std::string_view(name, static_cast<size_t>(n)) == "hoistd\n";
}

Result<UniqueFd> ConnectUnix(const std::string& path) {
  sockaddr_un sa{};
  if (path.size() >= sizeof(sa.sun_path)) {
    return MakeError(Code::kInvalidArgument, "the daemon's socket path is too long");
  }
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Unexpected(ErrnoError(errno, "session: socket"));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return MakeError(Code::kUnavailable, "session: cannot connect to the daemon's socket");
  }
  return fd;
}

// A connection to hoistd's unix socket at `path` offered as the session: `named_hoistd` when the
// caller has one whose peer is named hoistd, else a new one once `is_hoistd` says so.
// kUnavailable when the daemon is not hoistd or did not take it.
Result<UniqueFd> ConnectDirect(const std::string& path, UniqueFd named_hoistd,
                               const session::ClientSession& s,
                               const std::function<bool()>& is_hoistd) {
  UniqueFd fd = std::move(named_hoistd);
  if (!fd) {
    // hoistd takes a connection that stays silent for gRPC's: connect again once it is known.
    if (!is_hoistd()) return MakeError(Code::kUnavailable, "the daemon is not hoistd");
    HOIST_ASSIGN_OR_RETURN(fd, ConnectUnix(path));
  }
  HOIST_TRY(session::OfferDirectSession(fd.get(), session::SessionMetadata(s, "hoist"),
                                        kOfferTimeout));
  return fd;
}

}  // namespace

RemoteEngine::RemoteEngine(std::string addr, std::unique_ptr<Impl> impl)
    : addr_(std::move(addr)), impl_(std::move(impl)) {}
RemoteEngine::~RemoteEngine() = default;

void KeepUntilExit::operator()(RemoteEngine* engine) const {
  static std::mutex mu;
  // Held by a global, so that leak checkers see them as reachable.
  static auto* kept = new std::vector<RemoteEngine*>;
  std::lock_guard lock(mu);
  kept->push_back(engine);
}

Result<std::unique_ptr<RemoteEngine>> RemoteEngine::Connect(const std::string& addr,
                                                            const TlsFiles& tls,
                                                            std::chrono::milliseconds timeout) {
  HOIST_ASSIGN_OR_RETURN(auto engine, Dial(addr, tls));
  HOIST_TRY(engine->WaitReady(timeout));
  return engine;
}

Result<std::unique_ptr<RemoteEngine>> RemoteEngine::Dial(const std::string& addr,
                                                         const TlsFiles& tls) {
  std::string target;
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  if (addr.starts_with("unix://")) {
    target = "unix:" + addr.substr(7);
  } else if (addr.starts_with("tcp://")) {
    target = addr.substr(6);
    if (!tls.ca_cert.empty() || !tls.cert.empty()) {
      grpc::SslCredentialsOptions o;
      if (!tls.ca_cert.empty()) {
        HOIST_ASSIGN_OR_RETURN(o.pem_root_certs, PosixFileSystem()->ReadFile(tls.ca_cert));
      }
      if (!tls.cert.empty()) {
        HOIST_ASSIGN_OR_RETURN(o.pem_cert_chain, PosixFileSystem()->ReadFile(tls.cert));
      }
      if (!tls.key.empty()) {
        HOIST_ASSIGN_OR_RETURN(o.pem_private_key, PosixFileSystem()->ReadFile(tls.key));
      }
      creds = grpc::SslCredentials(o);
      if (!tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
    }
  } else {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("invalid daemon address {}: use unix:///PATH or tcp://HOST:PORT",
                                 addr));
  }
  auto impl = std::make_unique<Impl>();
  impl->channel = grpc::CreateCustomChannel(target, creds, args);
  (void)impl->channel->GetState(/*try_to_connect=*/true);
  impl->stub = pb::Control::NewStub(impl->channel);
  // HOIST_DIRECT_SESSION=0 keeps the session inside Control.Session, as BuildKit's clients do.
  const char* direct = std::getenv("HOIST_DIRECT_SESSION");
  if (addr.starts_with("unix://") && (direct == nullptr || std::string_view(direct) != "0")) {
    impl->unix_path = addr.substr(7);
    impl->is_hoistd = std::async(std::launch::async, AskIsHoistd, impl->stub.get());
  }
  return std::unique_ptr<RemoteEngine>(new RemoteEngine(addr, std::move(impl)));
}

Status RemoteEngine::WaitReady(std::chrono::milliseconds timeout) {
  if (!impl_->channel->WaitForConnected(std::chrono::system_clock::now() + timeout)) {
    return MakeError(Code::kUnavailable,
                     fmt::format("cannot reach the daemon at {}: not answering", addr_));
  }
  return OkStatus();
}

Result<std::map<std::string, std::string>> RemoteEngine::Solve(
    const control::SolveRequest& request, std::shared_ptr<session::ClientSession> session,
    progress::ProgressWriter* progress, CancelContext* cancel, RemoteFailure* failure) {
  // The session: over a connection of its own to hoistd on this machine (a direct session),
  // else Control.Session's byte stream pumped to a socket our gRPC server speaks on.
  std::unique_ptr<session::SessionServer> server;
  UniqueFd pump_control;
  UniqueFd direct_control;  // a duplicate of a direct session's connection, to end it
  std::unique_ptr<grpc::ClientContext> session_ctx;
  std::unique_ptr<grpc::ClientReaderWriter<pb::BytesMessage, pb::BytesMessage>> stream;
  std::unique_ptr<session::MessageStream> adapter;
  std::thread pumping;
  grpc::ClientContext solve_ctx;
  // The direct session's connection is made first: the process at its other end says whether
  // the daemon is hoistd before the request is written (hoistd gets the Dockerfile with it).
  UniqueFd named_hoistd;
  if (!impl_->unix_path.empty()) {
    if (auto fd = ConnectUnix(impl_->unix_path); fd && PeerNamedHoistd(fd->get())) {
      named_hoistd = std::move(*fd);
    }
  }
  const std::optional<llb::Definition> inline_dockerfile =
      named_hoistd ? InlineDockerfile(request, *session) : std::nullopt;
  // Set up while the Solve call travels (below).
  auto set_up = [&]() -> Status {
    if (!impl_->unix_path.empty()) {
      auto direct = ConnectDirect(impl_->unix_path, std::move(named_hoistd), *session, [&] {
        if (impl_->is_hoistd.valid()) impl_->hoistd = impl_->is_hoistd.get();
        return impl_->hoistd;
      });
      if (direct) {
        direct_control = UniqueFd(::fcntl(direct->get(), F_DUPFD_CLOEXEC, 0));
        HOIST_ASSIGN_OR_RETURN(server, session::SessionServer::Start(session, std::move(*direct)));
        return OkStatus();
      }
      if (direct.error().code() != Code::kUnavailable) return Unexpected(std::move(direct).error());
    }
    session_ctx = std::make_unique<grpc::ClientContext>();
    for (const auto& [k, v] : session::SessionMetadata(*session, "hoist")) {
      session_ctx->AddMetadata(k, v);
    }
    stream = impl_->stub->Session(session_ctx.get());
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return Unexpected(ErrnoError(errno, "socketpair"));
    }
    UniqueFd pump(fds[0]);
    pump_control = UniqueFd(::fcntl(pump.get(), F_DUPFD_CLOEXEC, 0));
    HOIST_ASSIGN_OR_RETURN(server, session::SessionServer::Start(session, UniqueFd(fds[1])));
    using Bytes = pb::BytesMessage;
    auto* st = stream.get();
    adapter = std::make_unique<
        session::GrpcBytesStream<Bytes, grpc::ClientReaderWriter<Bytes, Bytes>>>(
        st, [st] { st->WritesDone(); });
    pumping = std::thread(
        [&, p = std::move(pump)]() mutable { (void)session::PumpBytes(std::move(p), *adapter); });
    return OkStatus();
  };
  // Ends the session, the connection first: the daemon may still hold calls open on it (a
  // directory's last transfer), which end with it instead of holding the server's shutdown up.
  auto end_session = [&] {
    if (direct_control) ::shutdown(direct_control.get(), SHUT_RDWR);
    if (stream) {
      session_ctx->TryCancel();
      if (pump_control) ::shutdown(pump_control.get(), SHUT_RDWR);
      if (pumping.joinable()) pumping.join();
    }
    if (server) {
      if (server->Release(std::chrono::milliseconds(200))) {
        std::lock_guard lock(impl_->released_mu);
        impl_->released.push_back(std::move(server));
      } else {
        server->Shutdown(std::chrono::milliseconds(200));
      }
    }
    if (stream) (void)stream->Finish();
  };
  // The solve goes first: the daemon starts on it (reading the context's metadata, the
  // Dockerfile it carries) while this side sets its session up; the daemon waits for the
  // session a build names. The main thread then waits for the answer, checking for
  // cancellation meanwhile.
  HOIST_TRY(WaitReady());
  pb::SolveRequest req;
  req.set_ref(request.ref);
  req.set_frontend(request.frontend);
  for (const auto& [k, v] : request.frontend_attrs) (*req.mutable_frontendattrs())[k] = v;
  for (const auto& [name, def] : request.frontend_inputs) {
    (*req.mutable_frontendinputs())[name].ParseFromString(def.Serialize());
  }
  if (inline_dockerfile) {
    (*req.mutable_frontendinputs())["dockerfile"].ParseFromString(inline_dockerfile->Serialize());
  }
  if (!request.exporters.empty()) {
    req.set_exporter(request.exporters[0].type);
    for (const auto& [k, v] : request.exporters[0].attrs) (*req.mutable_exporterattrs())[k] = v;
  }
  for (const auto& e : request.cache_exports) {
    auto* c = req.mutable_cache()->add_exports();
    c->set_type(e.type);
    for (const auto& [k, v] : e.attrs) (*c->mutable_attrs())[k] = v;
  }
  for (const auto& e : request.cache_imports) {
    auto* c = req.mutable_cache()->add_imports();
    c->set_type(e.type);
    for (const auto& [k, v] : e.attrs) (*c->mutable_attrs())[k] = v;
  }
  req.set_session(session->id());
  for (const auto& e : request.entitlements) req.add_entitlements(e);
  grpc::CompletionQueue cq;
  pb::SolveResponse resp;
  grpc::Status st;
  auto call = impl_->stub->AsyncSolve(&solve_ctx, req, &cq);
  call->Finish(&resp, &st, &resp);

  // The session, then progress.
  Status session_up = set_up();
  // The daemon would wait for a session that never comes.
  if (!session_up) solve_ctx.TryCancel();
  grpc::ClientContext status_ctx;
  pb::StatusRequest sreq;
  sreq.set_ref(request.ref);
  std::thread status_thread([&] {
    auto status_stream = impl_->stub->Status(&status_ctx, sreq);
    pb::StatusResponse r;
    while (status_stream->Read(&r)) {
      if (progress != nullptr) progress->Write(FromProto(r));
    }
    (void)status_stream->Finish();
  });

  void* tag = nullptr;
  bool ok = false;
  for (bool cancelled = false;
       cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(50)) !=
       grpc::CompletionQueue::GOT_EVENT;) {
    if (!cancelled && cancel != nullptr && !cancel->Check()) {
      solve_ctx.TryCancel();
      cancelled = true;
    }
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  // The daemon ends the status stream when the build's progress closes; don't wait on a
  // daemon that went away (or a build whose session could not be set up).
  if (!st.ok() || !session_up) status_ctx.TryCancel();
  status_thread.join();
  end_session();
  if (!session_up) return Unexpected(std::move(session_up).error());
  if (!st.ok()) {
    if (failure != nullptr) {
      auto md = solve_ctx.GetServerTrailingMetadata();
      if (auto it = md.find("hoist-dockerfile-excerpt-bin"); it != md.end()) {
        failure->excerpt.assign(it->second.data(), it->second.size());
      }
    }
    if (st.error_code() == grpc::StatusCode::CANCELLED && cancel != nullptr && !cancel->Check()) {
      return MakeError(Code::kCancelled, "context canceled");
    }
    return Unexpected(FromGrpc(st, ""));
  }
  return std::map<std::string, std::string>(resp.exporterresponse().begin(),
                                            resp.exporterresponse().end());
}

Result<std::vector<UsageRecord>> RemoteEngine::DiskUsage() {
  grpc::ClientContext ctx;
  pb::DiskUsageRequest req;
  pb::DiskUsageResponse resp;
  grpc::Status st = impl_->stub->DiskUsage(&ctx, req, &resp);
  if (!st.ok()) return Unexpected(FromGrpc(st, "disk usage"));
  std::vector<UsageRecord> out;
  for (const auto& r : resp.record()) out.push_back(FromProto(r));
  return out;
}

Result<std::vector<UsageRecord>> RemoteEngine::Prune(bool all, std::optional<int64_t> keep_bytes) {
  grpc::ClientContext ctx;
  pb::PruneRequest req;
  req.set_all(all);
  if (keep_bytes) req.set_keepbytes(*keep_bytes);
  auto reader = impl_->stub->Prune(&ctx, req);
  std::vector<UsageRecord> out;
  pb::UsageRecord r;
  while (reader->Read(&r)) out.push_back(FromProto(r));
  grpc::Status st = reader->Finish();
  if (!st.ok()) return Unexpected(FromGrpc(st, "prune"));
  return out;
}

}  // namespace hoist::client
