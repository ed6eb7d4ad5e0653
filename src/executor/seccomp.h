// The seccomp filter of a sandboxed RUN: Docker's default profile (the allowlist moby ships
// and BuildKit applies to every step it does not run with security.insecure), kept here as
// hoist's own table of kernel syscall names and turned into the `linux.seccomp` section of a
// runtime spec for the capabilities the spec grants, as moby does:
//
//   - anything not listed fails with EPERM (SCMP_ACT_ERRNO, errno 1);
//   - the filter covers the native architecture and the ones its processes may also execute
//     (x86_64 with x86 and x32, aarch64 with arm, ...); x32 only on a kernel that runs x32
//     programs (SeccompInput::x32);
//   - a rule may hold only for some architectures, for a kernel from some version on, when the
//     process holds a capability in its bounding set, or unless it holds one. The syscalls that
//     act beyond the container (mount, unshare, setns, bpf, ptrace of other users' processes,
//     module loading, reboot, the clock...) are allowed only with the capability that the
//     kernel would check anyway; without CAP_SYS_ADMIN, clone may not create namespaces and
//     clone3 (whose flags a filter cannot read) fails with ENOSYS so that libcs fall back to
//     clone.
//
// The profile is data and a pure function of its input; nothing here touches the kernel.
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hoist::executor {

// A syscall argument comparison (the spec's linux.seccomp.syscalls[].args[]).
struct SeccompArg {
  uint32_t index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  std::string op;  // "SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ", ...

  bool operator==(const SeccompArg&) const = default;
};

struct SeccompRule {
  std::vector<std::string> names;
  std::string action;               // "SCMP_ACT_ALLOW" or "SCMP_ACT_ERRNO"
  std::optional<uint32_t> errno_ret;  // with SCMP_ACT_ERRNO
  std::vector<SeccompArg> args;     // all must hold
};

// The spec's linux.seccomp.
struct SeccompProfile {
  std::string default_action;
  uint32_t default_errno = 0;
  std::vector<std::string> architectures;  // "SCMP_ARCH_X86_64", ...
  std::vector<SeccompRule> syscalls;
};

struct KernelVersion {
  int major = 0;
  int minor = 0;
};

struct SeccompInput {
  // The capabilities in the process's bounding set ("CAP_SYS_ADMIN", ...).
  std::vector<std::string> capabilities;
  // The native architecture as libseccomp names it ("amd64", "arm64", "x86", "arm", ...);
  // NativeSeccompArch() for the engine's own.
  std::string arch;
  // The host kernel; 0.0 (unknown) leaves out the rules that need some version.
  KernelVersion kernel;
  // Whether the kernel runs x32 programs (HostRunsX32()). Many do not (Debian's kernels boot
  // with x32 off): there no x32 program can even start, so the filter leaves x32 out, and runc
  // compiles it in a third less time at every RUN (about 10 ms here). An x32 system call made
  // by an x86_64 program then kills it instead of failing with ENOSYS.
  bool x32 = true;
};

// Docker's default profile for `input`.
SeccompProfile DefaultSeccompProfile(const SeccompInput& input);

// The architecture this binary was built for, in libseccomp's names.
std::string_view NativeSeccompArch();

// The running kernel's version (uname); 0.0 when it cannot be read.
KernelVersion HostKernelVersion();

// Whether the running kernel serves x32 system calls (an x32 getpid answered rather than
// ENOSYS); false off x86_64.
bool HostRunsX32();

}  // namespace hoist::executor
