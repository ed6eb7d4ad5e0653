#include "session/ssh_forward.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/temp_dir.h"

namespace hoist::session {
namespace {

// The agent protocol (draft-miller-ssh-agent): uint32 length, then the message, whose first
// byte is its type.
constexpr uint8_t kAgentFailure = 5;
constexpr uint8_t kRequestIdentities = 11;
constexpr uint8_t kSignRequest = 13;
constexpr uint32_t kMaxAgentMessage = 256 << 10;

bool ReadFull(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// One message (length prefix included) into *out; false at the end or on a bad length.
bool ReadMessage(int fd, std::string* out) {
  unsigned char len[4];
  if (!ReadFull(fd, len, 4)) return false;
  const uint32_t n = (uint32_t{len[0]} << 24) | (uint32_t{len[1]} << 16) |
                     (uint32_t{len[2]} << 8) | uint32_t{len[3]};
  if (n == 0 || n > kMaxAgentMessage) return false;
  out->assign(reinterpret_cast<const char*>(len), 4);
  out->resize(4 + n);
  return ReadFull(fd, out->data() + 4, n);
}

Result<UniqueFd> ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return MakeError(Code::kInvalidArgument, "ssh agent: socket path too long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Unexpected(ErrnoError(errno, "ssh agent: socket"));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Unexpected(ErrnoError(errno, "ssh agent: connect"));
  }
  return fd;
}

}  // namespace

Status ServeReadOnlyAgent(UniqueFd engine, const std::string& agent_socket) {
  HOIST_ASSIGN_OR_RETURN(UniqueFd agent, ConnectUnix(agent_socket));
  std::string msg, reply;
  static constexpr unsigned char kFailure[5] = {0, 0, 0, 1, kAgentFailure};
  while (ReadMessage(engine.get(), &msg)) {
    const uint8_t type = static_cast<uint8_t>(msg[4]);
    if (type != kRequestIdentities && type != kSignRequest) {
      if (!WriteFull(engine.get(), kFailure, sizeof(kFailure))) break;
      continue;
    }
    if (!WriteFull(agent.get(), msg.data(), msg.size())) {
      return MakeError(Code::kUnavailable, "ssh agent: write failed");
    }
    if (!ReadMessage(agent.get(), &reply)) {
      return MakeError(Code::kUnavailable, "ssh agent: no answer");
    }
    if (!WriteFull(engine.get(), reply.data(), reply.size())) break;
  }
  return OkStatus();
}

void JoinSockets(int a, int b) {
  struct Side {
    int from, to;
    bool open = true;
  };
  Side sides[2] = {{a, b}, {b, a}};
  char buf[32 << 10];
  while (sides[0].open || sides[1].open) {
    pollfd fds[2];
    int n = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (!sides[i].open) continue;
      fds[n] = {sides[i].from, POLLIN, 0};
      which[n++] = i;
    }
    if (::poll(fds, static_cast<nfds_t>(n), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int k = 0; k < n; ++k) {
      if (fds[k].revents == 0) continue;
      Side& s = sides[which[k]];
      ssize_t r = ::recv(s.from, buf, sizeof(buf), 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || !WriteFull(s.to, buf, static_cast<size_t>(r))) {
        if (r != 0) return;  // broken: both directions end with the sockets
        s.open = false;
        ::shutdown(s.to, SHUT_WR);
      }
    }
  }
}

struct AgentSocket::State {
  UniqueFd listener;
  UniqueFd stop_read, stop_write;
  AgentSocket::Connect connect;
  std::mutex mu;
  std::vector<int> conns;  // both ends of the connections being served, shut down to stop them
  std::vector<std::thread> threads;
  std::thread acceptor;
  bool stopping = false;  // set by the destructor: no connection starts being served after
};

Result<std::unique_ptr<AgentSocket>> AgentSocket::Listen(const std::string& parent_dir,
                                                         uint32_t uid, uint32_t gid,
                                                         uint32_t mode, Connect connect) {
  std::unique_ptr<AgentSocket> s(new AgentSocket());
  HOIST_ASSIGN_OR_RETURN(TempDir dir, TempDir::Create("ssh-", parent_dir));
  if (::chmod(dir.path().c_str(), 0711) != 0) {
    return Unexpected(ErrnoError(errno, "ssh socket directory"));
  }
  s->path_ = dir.path() + "/ssh_auth_sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (s->path_.size() >= sizeof(addr.sun_path)) {
    return MakeError(Code::kInvalidArgument, "ssh socket path too long: " + s->path_);
  }
  std::memcpy(addr.sun_path, s->path_.c_str(), s->path_.size() + 1);
  auto state = std::make_shared<State>();
  state->connect = std::move(connect);
  state->listener.Reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!state->listener) return Unexpected(ErrnoError(errno, "ssh socket"));
  if (::bind(state->listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(state->listener.get(), 16) != 0) {
    return Unexpected(ErrnoError(errno, "ssh socket: listen"));
  }
  if (::chown(s->path_.c_str(), uid, gid) != 0 || ::chmod(s->path_.c_str(), mode & 07777) != 0) {
    return Unexpected(ErrnoError(errno, "ssh socket: set owner and mode"));
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Unexpected(ErrnoError(errno, "pipe"));
  state->stop_read.Reset(pipe_fds[0]);
  state->stop_write.Reset(pipe_fds[1]);
  state->acceptor = std::thread([st = state.get()] {
    for (;;) {
      pollfd fds[2] = {{st->listener.get(), POLLIN, 0}, {st->stop_read.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      UniqueFd conn(::accept4(st->listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) continue;
      std::lock_guard lock(st->mu);
      st->conns.push_back(conn.get());
      st->threads.emplace_back([st, c = std::move(conn)]() mutable {
        const int fd = c.get();
        auto upstream = st->connect();
        // A connection the client cannot serve is closed: ssh reports the agent as absent.
        bool serve = false;
        if (upstream) {
          std::lock_guard lock(st->mu);
          serve = !st->stopping;
          if (serve) st->conns.push_back(upstream->get());
        }
        if (serve) JoinSockets(fd, upstream->get());
        std::lock_guard lock(st->mu);
        std::erase(st->conns, fd);
        if (upstream) std::erase(st->conns, upstream->get());
      });
    }
  });
  s->dir_ = dir.Release();
  s->state_ = std::move(state);
  return s;
}

AgentSocket::~AgentSocket() {
  if (!state_) return;
  (void)!::write(state_->stop_write.get(), "x", 1);
  if (state_->acceptor.joinable()) state_->acceptor.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
    for (int fd : state_->conns) ::shutdown(fd, SHUT_RDWR);
    threads = std::move(state_->threads);
  }
  for (std::thread& t : threads) t.join();
  (void)RemoveAll(dir_);
}

}  // namespace hoist::session
