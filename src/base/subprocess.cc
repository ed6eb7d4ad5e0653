#include "base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "base/unique_fd.h"

extern char** environ;

namespace hoist {
namespace {

// Reaps the child on every path out of RunSubprocess; kills it first if it still runs.
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;

  // The wait status once the child has exited (it is then reaped).
  std::optional<int> TryWait() {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      return 0;
    }
    return std::nullopt;
  }
  int Wait() {
    int status = 0;
    while (pid_ > 0) {
      const pid_t r = ::waitpid(pid_, &status, 0);
      if (r == pid_ || (r < 0 && errno != EINTR)) pid_ = -1;
    }
    return status;
  }
  void Kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }

 private:
  pid_t pid_;
};

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

// A pipe whose ends are CLOEXEC and above stdio, so that the child's dup2 onto 0..2 never
// clobbers another of its pipes.
Status MakePipe(UniqueFd* read_end, UniqueFd* write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Unexpected(ErrnoError(errno, "pipe"));
  UniqueFd ends[2] = {UniqueFd(fds[0]), UniqueFd(fds[1])};
  for (UniqueFd& end : ends) {
    if (end.get() <= STDERR_FILENO) {
      const int moved = ::fcntl(end.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
      if (moved < 0) return Unexpected(ErrnoError(errno, "fcntl"));
      end.Reset(moved);
    }
  }
  *read_end = std::move(ends[0]);
  *write_end = std::move(ends[1]);
  return OkStatus();
}

Status SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Unexpected(ErrnoError(errno, "fcntl"));
  }
  return OkStatus();
}

// write() that turns a closed reader into EPIPE without raising SIGPIPE in this process
// (whatever its disposition): SIGPIPE is blocked for this thread around the call and a
// SIGPIPE it caused is consumed.
ssize_t WriteWithoutSigpipe(int fd, const char* data, size_t n) {
  sigset_t pending;
  sigemptyset(&pending);
  ::sigpending(&pending);
  const bool already_pending = sigismember(&pending, SIGPIPE) == 1;
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  if (!already_pending) ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t r = ::write(fd, data, n);
  const int saved = errno;
  if (!already_pending) {
    if (r < 0 && saved == EPIPE) {
      const struct timespec zero = {0, 0};
      while (::sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  errno = saved;
  return r;
}

}  // namespace

Result<SubprocessResult> RunSubprocess(const SubprocessOptions& options) {
  if (options.argv.empty()) return MakeError(Code::kInvalidArgument, "run: no program");
  const std::string& program = options.argv[0];
  const std::string name =
      options.name.empty() ? program.substr(program.rfind('/') + 1) : options.name;
  std::string_view input = options.input;
  UniqueFd in_r, in_w, out_r, out_w, err_r, err_w, exec_r, exec_w;
  HOIST_TRY(MakePipe(&in_r, &in_w));
  HOIST_TRY(MakePipe(&out_r, &out_w));
  HOIST_TRY(MakePipe(&err_r, &err_w));
  HOIST_TRY(MakePipe(&exec_r, &exec_w));

  // Everything the child touches is prepared before fork: after it, only async-signal-safe
  // calls.
  std::vector<char*> argv;
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  if (options.env) {
    for (const std::string& e : *options.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
  }
  char** const child_env = options.env ? envp.data() : environ;
  const char* const child_cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  const int child_in = in_r.get(), child_out = out_w.get(), child_err = err_w.get();
  const int child_status = exec_w.get();

  // Signals stay blocked across fork, so the child runs no handler of ours before exec.
  sigset_t all, old_mask;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::dup2(child_in, STDIN_FILENO) < 0 || ::dup2(child_out, STDOUT_FILENO) < 0 ||
        ::dup2(child_err, STDERR_FILENO) < 0) {
      const int e = errno;
      (void)!::write(child_status, &e, sizeof(e));
      ::_exit(127);
    }
    // Dispositions the helper should start with: default for every signal (an ignored
    // SIGPIPE would otherwise be inherited), nothing blocked. No descriptor beyond stdio
    // survives exec, including ones that other code opened without CLOEXEC.
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC);
    if (child_cwd != nullptr && ::chdir(child_cwd) != 0) {
      const int e = errno;
      (void)!::write(child_status, &e, sizeof(e));
      ::_exit(127);
    }
    ::execve(program.c_str(), argv.data(), child_env);
    const int e = errno;
    (void)!::write(child_status, &e, sizeof(e));
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (pid < 0) return Unexpected(ErrnoError(fork_errno, "fork for " + name));
  ChildGuard child(pid);
  in_r.Reset();
  out_w.Reset();
  err_w.Reset();
  exec_w.Reset();

  // The status pipe closes on exec (CLOEXEC) or carries exec's errno.
  int exec_errno = 0;
  ssize_t got;
  do {
    got = ::read(exec_r.get(), &exec_errno, sizeof(exec_errno));
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof(exec_errno))) {
    child.Wait();
    return Unexpected(ErrnoError(exec_errno, "run " + name));
  }
  exec_r.Reset();

  HOIST_TRY(SetNonBlocking(in_w.get()));
  HOIST_TRY(SetNonBlocking(out_r.get()));
  HOIST_TRY(SetNonBlocking(err_r.get()));
  if (input.empty()) in_w.Reset();

  SubprocessResult run;
  const auto timeout = options.timeout;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto timed_out = [&]() -> Error {
    child.Kill();
    child.Wait();
    const int64_t ms = timeout.count();
    return Error(
        Code::kDeadlineExceeded,
        fmt::format("{}: no answer after {} (killed)", name,
                    ms % 1000 == 0 ? fmt::format("{} s", ms / 1000) : fmt::format("{} ms", ms)));
  };
  // Reads what is available; false at end of file. kResourceExhausted beyond the bound.
  auto drain = [&](UniqueFd& fd, std::string& sink) -> Result<bool> {
    char buf[8192];
    while (true) {
      const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n > 0) {
        if (sink.size() + static_cast<size_t>(n) > options.max_output) {
          child.Kill();
          return MakeError(
              Code::kResourceExhausted,
              fmt::format("{}: more than {} bytes of output", name, options.max_output));
        }
        sink.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      return Unexpected(ErrnoError(errno, fmt::format("read from {}", name)));
    }
  };

  std::optional<int> status;
  while (true) {
    if (!status) status = child.TryWait();
    if (status) {
      // It exited: take what it left in the pipes and stop, even if a process it started
      // still holds them open.
      if (out_r) HOIST_TRY(drain(out_r, run.out));
      if (err_r) HOIST_TRY(drain(err_r, run.err));
      break;
    }
    if (options.cancel != nullptr && options.cancel->cancelled()) {
      child.Kill();
      child.Wait();
      return Unexpected(options.cancel->Check().error());
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return Unexpected(timed_out());
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    // Woken by output or end of file; the child's exit itself is checked at least this often.
    const int wait_ms = static_cast<int>(std::min<int64_t>(left.count() + 1, 50));

    struct pollfd fds[3];
    int nfds = 0;
    int in_index = -1, out_index = -1, err_index = -1;
    if (in_w) {
      in_index = nfds;
      fds[nfds++] = {in_w.get(), POLLOUT, 0};
    }
    if (out_r) {
      out_index = nfds;
      fds[nfds++] = {out_r.get(), POLLIN, 0};
    }
    if (err_r) {
      err_index = nfds;
      fds[nfds++] = {err_r.get(), POLLIN, 0};
    }
    const int ready = ::poll(nfds > 0 ? fds : nullptr, static_cast<nfds_t>(nfds), wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, "poll"));
    }
    if (in_index >= 0 && fds[in_index].revents != 0) {
      if (fds[in_index].revents & (POLLERR | POLLHUP)) {
        in_w.Reset();  // it closed its stdin: it has read what it wants
      } else {
        const ssize_t n = WriteWithoutSigpipe(in_w.get(), input.data(), input.size());
        if (n > 0) {
          input.remove_prefix(static_cast<size_t>(n));
          if (input.empty()) in_w.Reset();
        } else if (n < 0 && errno != EINTR && errno != EAGAIN) {
          in_w.Reset();
        }
      }
    }
    if (out_index >= 0 && fds[out_index].revents != 0) {
      HOIST_ASSIGN_OR_RETURN(bool open, drain(out_r, run.out));
      if (!open) out_r.Reset();
    }
    if (err_index >= 0 && fds[err_index].revents != 0) {
      HOIST_ASSIGN_OR_RETURN(bool open, drain(err_r, run.err));
      if (!open) err_r.Reset();
    }
  }
  run.exit_code = ExitCodeOf(*status);
  return run;
}

}  // namespace hoist
