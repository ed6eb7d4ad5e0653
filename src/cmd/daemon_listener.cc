#include "cmd/daemon_listener.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "base/file_system.h"

namespace hoist::cmd {

Result<DaemonAddr> ParseDaemonAddr(const std::string& addr) {
  if (addr.starts_with("unix://")) {
    DaemonAddr a{.kind = DaemonAddr::Kind::kUnix, .path = addr.substr(7)};
    if (a.path.empty() || a.path[0] != '/') {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("invalid address {}: a unix socket needs an absolute path", addr));
    }
    return a;
  }
  if (addr == "fd://" || addr.starts_with("fd://")) return DaemonAddr{.kind = DaemonAddr::Kind::kFd};
  if (addr.starts_with("tcp://")) {
    DaemonAddr a{.kind = DaemonAddr::Kind::kTcp, .hostport = addr.substr(6)};
    if (a.hostport.find(':') == std::string::npos) {
      return MakeError(Code::kInvalidArgument, fmt::format("invalid address {}: needs a port", addr));
    }
    return a;
  }
  return MakeError(Code::kInvalidArgument,
                   fmt::format("invalid address {}: use unix:///PATH, tcp://HOST:PORT or fd://",
                               addr));
}

namespace {

Result<gid_t> GroupId(const std::string& group) {
  if (group.empty()) return ::getegid();
  char* end = nullptr;
  long n = std::strtol(group.c_str(), &end, 10);
  if (*end == '\0' && n >= 0) return static_cast<gid_t>(n);
  std::vector<char> buf(16384);
  struct group g {};
  struct group* found = nullptr;
  if (::getgrnam_r(group.c_str(), &g, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return MakeError(Code::kNotFound, fmt::format("group {} not found", group));
  }
  return found->gr_gid;
}

bool SomeoneListens(const sockaddr_un& sa) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return false;
  return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0;
}

}  // namespace

Result<UniqueFd> ListenUnix(const std::string& path, const std::string& group) {
  HOIST_ASSIGN_OR_RETURN(gid_t gid, GroupId(group));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) {
    return MakeError(Code::kInvalidArgument, fmt::format("socket path {} is too long", path));
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (const size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
    HOIST_TRY(PosixFileSystem()->MakeDirs(path.substr(0, slash), 0711));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return MakeError(Code::kAlreadyExists,
                       fmt::format("{} exists and is not a socket; not replacing it", path));
    }
    if (SomeoneListens(sa)) {
      return MakeError(Code::kAlreadyExists,
                       fmt::format("another daemon is listening on {}", path));
    }
    ::unlink(path.c_str());
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Unexpected(ErrnoError(errno, "socket"));
  // Created 0660 from the start: no moment where others could connect.
  const mode_t old = ::umask(0117);
  const int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  const int bind_errno = errno;
  ::umask(old);
  if (rc != 0) return Unexpected(ErrnoError(bind_errno, "bind " + path));
  if (::chown(path.c_str(), ::geteuid(), gid) != 0 || ::chmod(path.c_str(), 0660) != 0) {
    const int e = errno;
    ::unlink(path.c_str());
    return Unexpected(ErrnoError(e, "set owner and mode of " + path));
  }
  if (::listen(fd.get(), 128) != 0) return Unexpected(ErrnoError(errno, "listen " + path));
  return fd;
}

Result<std::vector<UniqueFd>> ActivationSockets() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (pid == nullptr || fds == nullptr || std::atol(pid) != ::getpid() || std::atoi(fds) <= 0) {
    return MakeError(Code::kFailedPrecondition,
                     "fd:// needs sockets from systemd socket activation (LISTEN_FDS)");
  }
  std::vector<UniqueFd> out;
  for (int i = 0; i < std::atoi(fds); ++i) {
    const int fd = 3 + i;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    out.emplace_back(fd);
  }
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  return out;
}

}  // namespace hoist::cmd
