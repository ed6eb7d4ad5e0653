// OCI runtime spec generation: the config.json a runtime (runc, crun) reads from a bundle,
// with BuildKit's defaults (executor/oci): new mount, pid, ipc and uts namespaces and a network
// namespace unless the host network is used; /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue,
// /sys and the cgroup mounts; containerd's default capability set; masked and read-only
// kernel paths; a device cgroup that denies all but the runtime's default devices.
// The sandbox also gets Docker's default seccomp profile (seccomp.h) for the capabilities it
// grants. SecurityMode::kInsecure grants every capability the host's bounding set holds, runs
// without a seccomp filter, unmasks the paths and mounts /sys and cgroups read-write
// (BuildKit's security.insecure entitlement).
//
// Step limits: a memory limit becomes linux.resources.memory (limit, and swap equal to it where
// the host can limit swap, so the step cannot swap past it), a pids limit linux.resources.pids; the runtime writes them to
// the step's cgroup (cgroup v1: memory.limit_in_bytes, memory.memsw.limit_in_bytes when the
// kernel accounts swap, pids.max; v2: memory.max, memory.swap.max, pids.max).
//
// no_new_privileges defaults to false as in BuildKit (`oci.WithNewPrivileges`: RUN steps use
// setuid programs such as su and sudo); set it for stricter sandboxes.
//
// Rlimits: like BuildKit the spec sets none by default, so the process inherits the runtime's
// (the host's) limits. Requested ulimits are clamped to the host's hard limit for each (passed
// in as data): without CAP_SYS_RESOURCE a runtime cannot raise a hard limit (these hosts cap
// RLIMIT_NOFILE at 20000), and the container would fail to start.
//
// The generator is a pure function of its input: no file or kernel access.
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "executor/executor.h"
#include "executor/seccomp.h"

namespace hoist::executor {

// An OCI spec mount entry.
struct SpecMount {
  std::string destination;
  std::string type;
  std::string source;
  std::vector<std::string> options;
};

// A user resolved to numeric ids (see user.h).
struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;

  bool operator==(const ResolvedUser&) const = default;
};

struct SpecInput {
  std::string rootfs_path;  // root.path: absolute, or relative to the bundle
  bool rootfs_read_only = false;
  std::vector<std::string> args;
  std::vector<std::string> env;  // complete: PATH default and secret env already merged
  std::string cwd = "/";
  ResolvedUser user;
  std::string hostname;
  NetworkMode network = NetworkMode::kDefault;
  SecurityMode security = SecurityMode::kSandbox;
  std::vector<Ulimit> ulimits;
  // Mounts after the defaults (rootfs-relative order: parents first).
  std::vector<SpecMount> mounts;
  // The host's hard limits by ulimit name ("nofile", ...); a name absent here is not clamped.
  std::map<std::string, uint64_t> host_hard_limits;
  std::string cgroups_path;  // "" leaves the runtime's default
  bool no_new_privileges = false;
  // The capabilities the host can grant (its bounding set, bit i = capability i); kInsecure
  // grants these, the sandbox grants containerd's defaults among these.
  uint64_t host_capabilities = ~uint64_t{0};
  // The seccomp profile's architecture (libseccomp's name) and the host kernel (for rules that
  // need a version; 0.0 leaves them out).
  std::string seccomp_arch = std::string(NativeSeccompArch());
  KernelVersion kernel;
  bool x32 = true;  // SeccompInput::x32
  // Per-step limits; 0 means none.
  int64_t memory_limit_bytes = 0;
  int64_t pids_limit = 0;
  // Whether the host's cgroups can limit swap (v2, or v1 with swap accounting); without, the
  // memory limit comes without a swap limit, which the runtime could not write.
  bool swap_limit_supported = true;
  // Host paths the sandbox masks besides the fixed list, as Docker does with each CPU's
  // /sys/devices/system/cpu/cpuN/thermal_throttle where the host has it (HostMaskedPaths()).
  std::vector<std::string> host_masked_paths;
};

// BuildKit's default PATH for processes whose env has none.
inline constexpr char kDefaultPathEnv[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Returns config.json's text. Errors (kInvalidArgument) name the bad field: an unknown ulimit
// name, a soft limit above the hard one, empty args, a relative cwd or mount destination, a
// negative limit.
Result<std::string> GenerateSpec(const SpecInput& input);

// The ulimit names GenerateSpec knows ("core", "cpu", ..., "nofile", "nproc", ...).
const std::vector<std::string>& UlimitNames();

// This process's bounding capability set (from /proc/self/status), or all bits if unknown.
uint64_t HostCapabilities();

// The host-dependent paths Docker also masks: /sys/devices/system/cpu/cpuN/thermal_throttle
// for each CPU that has one.
std::vector<std::string> HostMaskedPaths();

// This process's hard limits for every name in UlimitNames() (getrlimit).
std::map<std::string, uint64_t> HostHardLimits();

// Whether the host's cgroups can limit swap: v2 can (memory.swap.max, which runc leaves alone
// where swap is off), v1 only with swap accounting (memory.memsw.*).
bool SwapLimitSupported();

// A SpecInput holding only this host's facts, as an executor gathers them: this process's
// capabilities and hard limits, the kernel's version, whether it runs x32 programs, whether
// cgroups limit swap, and the paths Docker also masks here. Reads /proc and /sys.
SpecInput HostSpecInput();

}  // namespace hoist::executor
