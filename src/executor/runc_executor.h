// RuncExecutor: runs processes with an OCI runtime that speaks runc's command line (runc, crun).
//
// For each Run() it makes a bundle directory `<state_dir>/bundles/<id>/` holding config.json,
// the rootfs mount point (the request's rootfs mounts are mounted there with MountAll), the
// generated hosts/resolv.conf/hostname files, mount points for kMounts mounts and a tmpfs for
// secret files (secrets never reach a disk). The runtime keeps its own state under
// `<state_dir>/runtime` (its --root), so `runc --root <state_dir>/runtime list` shows only
// hoist's containers. `<runtime> run --bundle B <id>` runs the process with /dev/null as stdin
// and pipes for stdout and stderr; cancellation sends SIGKILL to the container (`kill <id>
// KILL`). `run` deletes the container when its process exits; if the runtime still holds state
// for it afterwards (it was killed or failed half-way), `delete --force <id>` does. Then
// everything under the bundle is unmounted and the bundle removed. A RUN thus costs one
// runtime start, and the runtime's exit is noticed at once (its pidfd), not at a poll interval.
//
// Bundles and the runtime's state live only as long as a container: both directories are
// tmpfs mounts the executor makes at construction and unmounts when destroyed (on disk, each
// RUN's few files cost milliseconds to create and remove on a busy ext4). Where tmpfs cannot
// be mounted they stay plain directories.
//
// Step limits: the runtime applies them to the container's cgroup (v1 or v2, whichever the host
// has). With a memory limit, runc keeps the container after its process exits (`run --keep`)
// so that its cgroup can be asked whether the kernel's OOM killer struck (`oom_kill` in
// memory.oom_control on v1, memory.events on v2; the cgroup is found in runc's state.json);
// then `delete` removes it: a RUN with a memory limit costs a second runtime start. A step
// the OOM killer struck fails saying so. crun has no `--keep`: with it, a step killed at its
// limit fails with its exit code and a note that it may have run out of memory.
//
// A crash of hoist can leave bundles behind: construction deletes every container under the
// runtime root, unmounts whatever is still mounted under `<state_dir>/bundles` and removes the
// bundles, so the next start begins clean (and mounts fresh tmpfs; the runtime root's is kept
// when a stale container could not be deleted, so that its state is not lost).
// REQUIRES: one RuncExecutor per state dir.
//
// Thread-safety: Run() may be called concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/mount.h"
#include "executor/executor.h"
#include "executor/spec.h"

namespace hoist::executor {

struct RuncExecutorOptions {
  std::string runtime = "runc";  // "runc", "crun", or a path to a runc-compatible binary
  std::string state_dir;         // created if missing; e.g. <root>/executor
  // The host's /etc/resolv.conf, read at each Run().
  std::string host_resolv_conf = "/etc/resolv.conf";
  // Limits on every container's cgroup (spec.h); 0: none.
  int64_t memory_limit_bytes = 0;
  int64_t pids_limit = 0;
};

class RuncExecutor final : public Executor {
 public:
  // Finds the runtime, creates the state dir and cleans up after a previous crash.
  static Result<std::unique_ptr<RuncExecutor>> Create(RuncExecutorOptions options);

  Result<ExitStatus> Run(const RunRequest& request, CancelContext* cancel) override;

  const std::string& runtime_path() const { return runtime_path_; }
  const std::string& runtime_root() const { return runtime_root_; }
  const std::string& bundles_dir() const { return bundles_dir_; }

 private:
  RuncExecutor(RuncExecutorOptions options, std::string runtime_path);
  Status CleanupStale();
  // Mounts a fresh tmpfs on `dir` (REQUIRES: nothing under it is needed any more); a failure is
  // logged and leaves the directory as it is.
  void MountScratch(const std::string& dir, ScopedMount* mount);

  RuncExecutorOptions options_;
  std::string runtime_path_;
  // This host's facts for every spec (HostSpecInput()), gathered once; Run reads this
  // process's capabilities and hard limits again, as they may change.
  SpecInput host_;
  // crun is given each container's cgroup (cgroupsPath): <crun_cgroup_parent_>/<id>.
  std::optional<std::string> crun_cgroup_parent_;
  std::string runtime_root_;
  std::string bundles_dir_;
  ScopedMount runtime_mount_;
  ScopedMount bundles_mount_;
};

// "runc"/"crun" (or any name) looked up in PATH; a name with a '/' is taken as a path. The
// result is an absolute path to an executable, or kNotFound naming what was looked for.
Result<std::string> FindRuntime(const std::string& name);

// Checks that `runtime` really runs containers here: runs `/bin/true` in a container whose
// rootfs is a read-only bind of the host's `/`, with no network. The error carries the
// runtime's own message (crun 1.8 on a hybrid cgroup host says `cgroups in hybrid mode not
// supported, drop all controllers from cgroupv2`).
Status ProbeRuntime(const std::string& runtime, const std::string& state_dir);

// The runtimes DefaultRuntime tries, best first: crun starts a container in about half the
// time runc takes; runc first for steps with a memory limit, as only runc can keep a container
// so that its cgroup tells whether the OOM killer struck.
std::vector<std::string> RuntimePreference(bool memory_limit);

// The first runtime of `order` (names looked up in PATH) that passes ProbeRuntime; the error
// lists each one's failure. A probe's outcome, pass or failure, is remembered per runtime in
// `<state_dir>/probe-<file name>.json` and, since it is a fact about this boot of the host
// rather than about one root, in `<host_dir>/runtime-probe-<file name>.json` too (`/run/hoist`;
// "" for none), so later processes on this root or on any other skip the probe (a container
// start, about 50 ms):
//   {"format": "hoist.runtime-probe", "version": 2, "runtime": "/usr/bin/crun",
//    "identity": "<boot ID> <path> <inode> <size> <mtime>", "passed": false,
//    "error": "runtime crun probe: ..."}
// A record holds only while the machine has not rebooted and the runtime binary is the same
// file; otherwise (or when it is unreadable) the probe runs again.
Result<std::string> DefaultRuntime(const std::string& state_dir, const std::string& host_dir,
                                   const std::vector<std::string>& order);

}  // namespace hoist::executor
