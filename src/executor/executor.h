// Executor: runs one process in a container whose root filesystem is given as mounts, the
// interface the solver's exec op calls (BuildKit's executor.Executor). Implementations:
// RuncExecutor (runc_executor.h), which drives an OCI runtime (runc or crun).
//
// A RunRequest is plain data: the root filesystem as mounts (an overlay from a snapshotter, or
// a bind of a directory), extra mounts, the process and its sandbox. Run() blocks until the
// process exits or the CancelContext is cancelled; either way the container is gone and
// nothing stays mounted when it returns.
//
// Network modes (BuildKit's pb.NetMode): kNone gives the process a new network namespace
// holding only the loopback interface; kHost shares the host's. kDefault means host: hoist has
// no CNI provider, and BuildKit without CNI falls back to the host network the same way.
//
// Thread-safety: implementations are thread-safe; Run() may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "base/mount.h"

namespace hoist::executor {

enum class NetworkMode { kDefault, kHost, kNone };
enum class SecurityMode { kSandbox, kInsecure };

// A mount inside the container at `destination`. Exactly one source kind applies:
struct ExecMount {
  enum class Kind {
    kMounts,  // `mounts` (e.g. another snapshot's overlay) mounted for the run, then bound in
    kBind,    // the host directory or file `source`, bound in
    kTmpfs,   // a fresh tmpfs of at most `tmpfs_size_bytes` (0: the kernel's default)
    kSecret,  // a file holding `secret_data`, owned by uid/gid with `mode`; kept in memory only
  };
  Kind kind = Kind::kBind;
  std::string destination;  // absolute path in the container
  bool read_only = false;   // secrets are always read-only

  std::vector<Mount> mounts;        // kMounts
  std::string source;               // kBind
  uint64_t tmpfs_size_bytes = 0;    // kTmpfs
  std::string secret_data;          // kSecret
  uint32_t uid = 0, gid = 0;        // kSecret
  uint32_t mode = 0400;             // kSecret
};

struct HostEntry {
  std::string host;
  std::string ip;
};

// A resource limit in the container, as `docker run --ulimit name=soft:hard` (name without
// the RLIMIT_ prefix, lower case: "nofile", "nproc", "core", ...).
struct Ulimit {
  std::string name;
  int64_t soft = 0;
  int64_t hard = 0;
};

struct ProcessSpec {
  std::vector<std::string> args;  // args[0] is looked up in PATH of `env` if not absolute
  std::vector<std::string> env;   // "KEY=value"; PATH gets BuildKit's default when absent
  std::string cwd = "/";
  // "", "uid", "uid:gid", "name", "name:group" (names looked up in the rootfs's /etc/passwd
  // and /etc/group); "" means root.
  std::string user;
  std::vector<std::string> additional_groups;  // group names or numeric ids
};

// Receives output as it arrives, in chunks (not lines). Called from Run()'s thread.
using OutputSink = std::function<void(std::string_view chunk)>;

struct RunRequest {
  std::vector<Mount> rootfs;  // mounted in order on the container's root
  bool rootfs_read_only = false;
  std::vector<ExecMount> mounts;
  ProcessSpec process;
  // Environment variables set from secrets: "KEY=value" (never written to disk by hoist).
  std::vector<std::string> secret_env;
  std::string hostname = "buildkitsandbox";
  NetworkMode network = NetworkMode::kDefault;
  SecurityMode security = SecurityMode::kSandbox;
  std::vector<HostEntry> extra_hosts;
  std::vector<Ulimit> ulimits;
  // Exit codes that count as success; empty means {0}.
  std::vector<int> valid_exit_codes;
  OutputSink stdout_sink;
  OutputSink stderr_sink;
};

struct ExitStatus {
  int exit_code = 0;
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs the process to completion. An exit code outside valid_exit_codes is an error
  // (kUnknown): `process "/bin/sh -c false" did not complete successfully: exit code: 1`.
  // Cancellation kills the container and returns kCancelled.
  virtual Result<ExitStatus> Run(const RunRequest& request, CancelContext* cancel) = 0;
};

// BuildKit's wording for a failed process: `process "ARGS" did not complete successfully:
// exit code: N`, ARGS joined by spaces.
Error ExitCodeError(const std::vector<std::string>& args, int exit_code);

}  // namespace hoist::executor
