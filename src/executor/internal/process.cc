#include "executor/internal/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include <fmt/format.h>

#include "base/unique_fd.h"

extern char** environ;

namespace hoist::executor::internal {

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    Kill(SIGKILL);
    Wait();
  }
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0) {
      Kill(SIGKILL);
      Wait();
    }
    pid_ = std::exchange(o.pid_, -1);
  }
  return *this;
}

std::optional<int> ChildProcess::TryWait() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return status;
  }
  return std::nullopt;
}

int ChildProcess::Wait() {
  int status = 0;
  while (pid_ > 0) {
    pid_t r = ::waitpid(pid_, &status, 0);
    if (r == pid_ || (r < 0 && errno != EINTR)) pid_ = -1;
  }
  return status;
}

void ChildProcess::Kill(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

UniqueFd ChildProcess::ExitFd() const {
  if (pid_ <= 0) return UniqueFd();
#ifdef SYS_pidfd_open
  // Race-free while the child is unreaped: its pid cannot be reused before we wait for it.
  // pidfd_open's fds are always close-on-exec.
  return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
#else
  return UniqueFd();
#endif
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

Result<ChildProcess> Spawn(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd,
                           int stderr_fd) {
  if (argv.empty()) return MakeError(Code::kInvalidArgument, "spawn: empty argv");
  UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) return Unexpected(ErrnoError(errno, "open /dev/null"));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int fds[3] = {stdin_fd, stdout_fd, stderr_fd};
  for (int i = 0; i < 3; ++i) {
    posix_spawn_file_actions_adddup2(&actions, fds[i] >= 0 ? fds[i] : null_fd.get(), i);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A fresh signal mask and default handlers: the runtime forwards signals to the container.
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0].c_str(), &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Unexpected(ErrnoError(rc, fmt::format("start {}", argv[0])));
  return ChildProcess(pid);
}

Result<Captured> RunCapture(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Unexpected(ErrnoError(errno, "pipe"));
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return Unexpected(ErrnoError(errno, "pipe"));
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);
  HOIST_ASSIGN_OR_RETURN(ChildProcess child, Spawn(argv, -1, out_w.get(), err_w.get()));
  out_w.Reset();
  err_w.Reset();
  Captured c;
  struct pollfd pfds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&c.out, &c.err};
  int open_count = 2;
  char buf[8192];
  while (open_count > 0) {
    if (::poll(pfds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, "poll"));
    }
    for (int i = 0; i < 2; ++i) {
      if (pfds[i].fd < 0 || pfds[i].revents == 0) continue;
      ssize_t n = ::read(pfds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        pfds[i].fd = -1;
        --open_count;
      }
    }
  }
  c.exit_code = ExitCodeOf(child.Wait());
  return c;
}

}  // namespace hoist::executor::internal
