// Child processes for the executor: spawning a program with chosen stdio fds, and running one
// to completion with its output captured. Internal to src/executor.
// Thread-safety: ChildProcess is not thread-safe; the functions are.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace hoist::executor::internal {

// Owns a running child: the destructor kills (SIGKILL) and reaps it if it was not waited for.
class ChildProcess {
 public:
  ChildProcess() = default;
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ~ChildProcess();
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Non-blocking: the wait status once the child exited (then the child is reaped).
  std::optional<int> TryWait();
  // Blocks until the child exits; its wait status.
  int Wait();
  void Kill(int signal);
  // An fd that poll(2) reports readable once the child has exited (a pidfd), so a caller can
  // wait for its exit and for other fds at once; invalid when the kernel has no pidfds (before
  // 5.3) or the child was already reaped. The child stays this object's to reap.
  UniqueFd ExitFd() const;

 private:
  pid_t pid_ = -1;
};

// Starts argv[0] (a path) with stdin/stdout/stderr set to the given fds (-1: /dev/null).
Result<ChildProcess> Spawn(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd,
                           int stderr_fd);

struct Captured {
  int exit_code = 0;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs argv to completion, capturing stdout and stderr.
Result<Captured> RunCapture(const std::vector<std::string>& argv);

// The exit code of a wait status: the code, or 128+signal.
int ExitCodeOf(int wait_status);

}  // namespace hoist::executor::internal
