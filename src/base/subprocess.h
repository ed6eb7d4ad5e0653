// Running a helper program to completion: argv, an environment, a working directory and bytes
// for its stdin in; exit code, stdout and stderr out. Used for docker's credential helpers and
// for git.
//
// The child starts with default signal dispositions, nothing blocked, and no descriptor beyond
// stdio (whatever the parent left without CLOEXEC). Its output is bounded (more is
// kResourceExhausted and the child is killed); so is its time (kDeadlineExceeded, killed). A
// cancelled context kills it too (kCancelled). Writing its stdin never raises SIGPIPE in this
// process. Errors name the program as `name`.
//
// Thread-safety: RunSubprocess may be called from any thread, concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"

namespace hoist {

struct SubprocessOptions {
  std::vector<std::string> argv;  // argv[0] is the program's path
  // The child's whole environment ("KEY=VALUE"); nullopt inherits this process's.
  std::optional<std::vector<std::string>> env;
  std::string cwd;    // empty: this process's
  std::string input;  // written to its stdin, which is then closed
  std::chrono::milliseconds timeout{std::chrono::minutes(1)};
  size_t max_output = 1 << 20;  // per stream
  CancelContext* cancel = nullptr;
  std::string name;  // for messages; default: argv[0]'s base name
};

struct SubprocessResult {
  int exit_code = 0;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs the program to completion. A program that cannot be started is an error (with exec's
// errno); one that runs and fails is a result with its exit code.
Result<SubprocessResult> RunSubprocess(const SubprocessOptions& options);

}  // namespace hoist
