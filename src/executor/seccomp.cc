#include "executor/seccomp.h"

#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <span>

namespace hoist::executor {
namespace {

using Names = std::span<const char* const>;

// Syscalls every process may make, grouped by what they are for.
constexpr const char* kFiles[] = {
    "access", "cachestat", "chdir", "chmod", "chown", "chown32", "close", "close_range",
    "copy_file_range", "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown",
    "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "flock", "fstat", "fstat64",
    "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futimesat",
    "getcwd", "getdents", "getdents64", "ioctl", "lchown", "lchown32", "link", "linkat",
    "listmount", "_llseek", "lseek", "lstat", "lstat64", "mkdir", "mkdirat", "mknod", "mknodat",
    "name_to_handle_at", "newfstatat", "open", "openat", "openat2", "pipe", "pipe2", "pread64",
    "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "rename", "renameat", "renameat2", "rmdir", "sendfile", "sendfile64",
    "splice", "stat", "stat64", "statfs", "statfs64", "statmount", "statx", "symlink",
    "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate", "truncate64", "umask",
    "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vmsplice", "write",
    "writev",
};
constexpr const char* kExtendedAttributes[] = {
    "fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "getxattrat",
    "lgetxattr", "listxattr", "listxattrat", "llistxattr", "lremovexattr", "lsetxattr",
    "removexattr", "removexattrat", "setxattr", "setxattrat",
};
constexpr const char* kWaitingForEvents[] = {
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "fanotify_mark",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "_newselect",
    "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select", "signalfd",
    "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64",
};
constexpr const char* kAsyncIo[] = {
    "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
    "io_setup", "io_submit", "ioprio_get", "ioprio_set",
};
constexpr const char* kMemory[] = {
    "brk", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret",
    "mincore", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap", "mseal",
    "msync", "munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect",
    "process_mrelease", "remap_file_pages",
};
constexpr const char* kProcesses[] = {
    "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "futex",
    "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "getcpu",
    "get_robust_list", "get_thread_area", "getpgid", "getpgrp", "getpid", "getppid",
    "getpriority", "getrandom", "getrlimit", "getrusage", "getsid", "gettid",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "pidfd_open",
    "pidfd_send_signal", "prctl", "prlimit64", "restart_syscall", "riscv_hwprobe", "rseq",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "set_robust_list", "set_thread_area",
    "set_tid_address", "setpgid", "setpriority", "setrlimit", "setsid", "sysinfo", "times",
    "ugetrlimit", "uname", "uretprobe", "vfork", "wait4", "waitid", "waitpid",
};
constexpr const char* kIdentity[] = {
    "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
    "getgroups32", "getresgid", "getresgid32", "getresuid", "getresuid32", "getuid", "getuid32",
    "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
    "setgroups32", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32",
};
constexpr const char* kSignals[] = {
    "alarm", "kill", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
    "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn",
    "tgkill", "tkill",
};
// Reading clocks and timers; adjtimex and clock_adjtime only read without CAP_SYS_TIME.
constexpr const char* kTime[] = {
    "adjtimex", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
    "getitimer", "gettimeofday", "nanosleep", "setitimer", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64",
};
// socket(2) itself has its own rules below.
constexpr const char* kSockets[] = {
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
    "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send",
    "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socketcall", "socketpair",
};
constexpr const char* kIpc[] = {
    "ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt",
    "shmget",
};

// Syscalls that only some architectures have, or need there.
constexpr const char* kPpc64le[] = {"swapcontext", "sync_file_range2"};
constexpr const char* kArm[] = {
    "arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls",
    "sync_file_range2",
};
constexpr const char* kX86_64[] = {"arch_prctl"};
constexpr const char* kX86[] = {"modify_ldt"};
constexpr const char* kS390[] = {"s390_pci_mmio_read", "s390_pci_mmio_write",
                                 "s390_runtime_instr"};
constexpr const char* kRiscv[] = {"riscv_flush_icache"};

// Syscalls whose effect reaches beyond the container: each is allowed only with the
// capability the kernel checks for it.
constexpr const char* kSysAdmin[] = {
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
    "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
    "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
    "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
};
constexpr const char* kDacReadSearch[] = {"open_by_handle_at"};
constexpr const char* kSysBoot[] = {"reboot"};
constexpr const char* kSysChroot[] = {"chroot"};
constexpr const char* kSysModule[] = {"delete_module", "finit_module", "init_module"};
constexpr const char* kSysPacct[] = {"acct"};
constexpr const char* kSysPtrace[] = {"kcmp", "pidfd_getfd", "process_madvise",
                                      "process_vm_readv", "process_vm_writev", "ptrace"};
constexpr const char* kSysRawio[] = {"ioperm", "iopl"};
constexpr const char* kSysTime[] = {"clock_settime", "clock_settime64", "settimeofday",
                                    "stime"};
constexpr const char* kSysTtyConfig[] = {"vhangup"};
constexpr const char* kSysNice[] = {"get_mempolicy", "mbind", "set_mempolicy",
                                    "set_mempolicy_home_node"};
constexpr const char* kSyslog[] = {"syslog"};
constexpr const char* kBpf[] = {"bpf"};
constexpr const char* kPerfmon[] = {"perf_event_open"};
// From Linux 4.8 on, ptrace cannot bypass the seccomp filter of the process it traces, so
// tracing one's own processes is safe.
constexpr const char* kPtrace[] = {"process_vm_readv", "process_vm_writev", "ptrace"};

constexpr const char* kClone[] = {"clone"};
constexpr const char* kClone3[] = {"clone3"};
constexpr const char* kPersonality[] = {"personality"};
constexpr const char* kSocket[] = {"socket"};

// Kernel ABI numbers the rules compare arguments with.
constexpr uint64_t kCloneNamespaceFlags = 0x00020000    // CLONE_NEWNS
                                          | 0x02000000  // CLONE_NEWCGROUP
                                          | 0x04000000  // CLONE_NEWUTS
                                          | 0x08000000  // CLONE_NEWIPC
                                          | 0x10000000  // CLONE_NEWUSER
                                          | 0x20000000  // CLONE_NEWPID
                                          | 0x40000000;  // CLONE_NEWNET
constexpr uint64_t kAfAlg = 38;    // AF_ALG: the kernel's crypto API
constexpr uint64_t kAfVsock = 40;  // AF_VSOCK: host/guest sockets
// personality(2) values that change nothing dangerous: PER_LINUX, PER_LINUX32,
// UNAME26 (0x20000) with each, and 0xffffffff (a query).
constexpr uint64_t kPersonalities[] = {0x0, 0x0008, 0x20000, 0x20008, 0xffffffff};
constexpr uint32_t kEperm = 1;
constexpr uint32_t kEnosys = 38;

struct Filter {
  Names arches;  // libseccomp's native names
  Names caps;
  KernelVersion min_kernel;  // 0.0: any
};

struct TableRule {
  Names names;
  Filter includes;  // all given parts must hold
  Filter excludes;  // the rule is dropped when any given part holds
};

constexpr const char* kArchAmd64AndX32[] = {"amd64", "x32"};
constexpr const char* kArchX86Family[] = {"amd64", "x32", "x86"};
constexpr const char* kArchArm[] = {"arm", "arm64"};
constexpr const char* kArchS390[] = {"s390", "s390x"};
constexpr const char* kArchRiscv[] = {"riscv64"};
constexpr const char* kArchPpc64le[] = {"ppc64le"};

constexpr const char* kCapSysAdmin[] = {"CAP_SYS_ADMIN"};
constexpr const char* kCapDacReadSearch[] = {"CAP_DAC_READ_SEARCH"};
constexpr const char* kCapSysBoot[] = {"CAP_SYS_BOOT"};
constexpr const char* kCapSysChroot[] = {"CAP_SYS_CHROOT"};
constexpr const char* kCapSysModule[] = {"CAP_SYS_MODULE"};
constexpr const char* kCapSysPacct[] = {"CAP_SYS_PACCT"};
constexpr const char* kCapSysPtrace[] = {"CAP_SYS_PTRACE"};
constexpr const char* kCapSysRawio[] = {"CAP_SYS_RAWIO"};
constexpr const char* kCapSysTime[] = {"CAP_SYS_TIME"};
constexpr const char* kCapSysTtyConfig[] = {"CAP_SYS_TTY_CONFIG"};
constexpr const char* kCapSysNice[] = {"CAP_SYS_NICE"};
constexpr const char* kCapSyslog[] = {"CAP_SYSLOG"};
constexpr const char* kCapBpf[] = {"CAP_BPF"};
constexpr const char* kCapPerfmon[] = {"CAP_PERFMON"};

// Unconditional allowances: every group above.
constexpr Names kAllowed[] = {kFiles,  kExtendedAttributes, kWaitingForEvents, kAsyncIo,
                              kMemory, kProcesses,          kIdentity,         kSignals,
                              kTime,   kSockets,            kIpc};

// Conditional allowances, in the order the spec lists them.
constexpr TableRule kConditional[] = {
    {kPtrace, {.min_kernel = {4, 8}}, {}},
    {kPpc64le, {.arches = kArchPpc64le}, {}},
    {kArm, {.arches = kArchArm}, {}},
    {kX86_64, {.arches = kArchAmd64AndX32}, {}},
    {kX86, {.arches = kArchX86Family}, {}},
    {kS390, {.arches = kArchS390}, {}},
    {kRiscv, {.arches = kArchRiscv}, {}},
    {kDacReadSearch, {.caps = kCapDacReadSearch}, {}},
    {kSysAdmin, {.caps = kCapSysAdmin}, {}},
    {kSysBoot, {.caps = kCapSysBoot}, {}},
    {kSysChroot, {.caps = kCapSysChroot}, {}},
    {kSysModule, {.caps = kCapSysModule}, {}},
    {kSysPacct, {.caps = kCapSysPacct}, {}},
    {kSysPtrace, {.caps = kCapSysPtrace}, {}},
    {kSysRawio, {.caps = kCapSysRawio}, {}},
    {kSysTime, {.caps = kCapSysTime}, {}},
    {kSysTtyConfig, {.caps = kCapSysTtyConfig}, {}},
    {kSysNice, {.caps = kCapSysNice}, {}},
    {kSyslog, {.caps = kCapSyslog}, {}},
    {kBpf, {.caps = kCapBpf}, {}},
    {kPerfmon, {.caps = kCapPerfmon}, {}},
};

// The native architecture and the others its processes can run, by the spec's names.
struct ArchFamily {
  const char* native;  // libseccomp's name
  const char* arches[3];
};
constexpr ArchFamily kArchFamilies[] = {
    {"amd64", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
    {"arm64", {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", nullptr}},
    {"mips64", {"SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"}},
    {"mips64n32", {"SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"}},
    {"mipsel64", {"SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"}},
    {"mipsel64n32", {"SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"}},
    {"s390x", {"SCMP_ARCH_S390X", "SCMP_ARCH_S390", nullptr}},
    {"riscv64", {"SCMP_ARCH_RISCV64", nullptr, nullptr}},
    {"loongarch64", {"SCMP_ARCH_LOONGARCH64", nullptr, nullptr}},
};

bool Contains(Names set, std::string_view name) {
  return std::find(set.begin(), set.end(), name) != set.end();
}

bool Holds(const std::vector<std::string>& caps, std::string_view cap) {
  return std::find(caps.begin(), caps.end(), cap) != caps.end();
}

bool AtLeast(KernelVersion have, KernelVersion want) {
  return have.major > want.major || (have.major == want.major && have.minor >= want.minor);
}

bool Applies(const TableRule& rule, const SeccompInput& in) {
  const Filter& inc = rule.includes;
  if (!inc.arches.empty() && !Contains(inc.arches, in.arch)) return false;
  for (const char* cap : inc.caps) {
    if (!Holds(in.capabilities, cap)) return false;
  }
  if ((inc.min_kernel.major != 0 || inc.min_kernel.minor != 0) &&
      !AtLeast(in.kernel, inc.min_kernel)) {
    return false;
  }
  const Filter& exc = rule.excludes;
  if (!exc.arches.empty() && Contains(exc.arches, in.arch)) return false;
  for (const char* cap : exc.caps) {
    if (Holds(in.capabilities, cap)) return false;
  }
  return true;
}

SeccompRule Allow(Names names, std::vector<SeccompArg> args = {}) {
  SeccompRule r;
  r.names.assign(names.begin(), names.end());
  r.action = "SCMP_ACT_ALLOW";
  r.args = std::move(args);
  return r;
}

}  // namespace

SeccompProfile DefaultSeccompProfile(const SeccompInput& in) {
  SeccompProfile p;
  p.default_action = "SCMP_ACT_ERRNO";
  p.default_errno = kEperm;
  for (const ArchFamily& family : kArchFamilies) {
    if (in.arch != family.native) continue;
    for (const char* a : family.arches) {
      if (a == nullptr || (!in.x32 && std::string_view(a) == "SCMP_ARCH_X32")) continue;
      p.architectures.emplace_back(a);
    }
  }

  SeccompRule allowed;
  allowed.action = "SCMP_ACT_ALLOW";
  for (Names group : kAllowed) allowed.names.insert(allowed.names.end(), group.begin(), group.end());
  std::sort(allowed.names.begin(), allowed.names.end());
  p.syscalls.push_back(std::move(allowed));

  // socket(2) for every address family but AF_ALG and AF_VSOCK (the one between them is
  // fine): three ranges, any of which allows.
  p.syscalls.push_back(Allow(kSocket, {{.index = 0, .value = kAfAlg, .op = "SCMP_CMP_LT"}}));
  p.syscalls.push_back(Allow(kSocket, {{.index = 0, .value = kAfAlg + 1, .op = "SCMP_CMP_EQ"}}));
  p.syscalls.push_back(Allow(kSocket, {{.index = 0, .value = kAfVsock, .op = "SCMP_CMP_GT"}}));
  for (uint64_t persona : kPersonalities) {
    p.syscalls.push_back(Allow(kPersonality, {{.index = 0, .value = persona,
                                               .op = "SCMP_CMP_EQ"}}));
  }

  for (const TableRule& rule : kConditional) {
    if (Applies(rule, in)) p.syscalls.push_back(Allow(rule.names));
  }

  if (!Holds(in.capabilities, "CAP_SYS_ADMIN")) {
    // clone without namespace flags; s390 passes the flags second.
    const bool s390 = Contains(kArchS390, in.arch);
    p.syscalls.push_back(Allow(kClone, {{.index = s390 ? 1u : 0u,
                                         .value = kCloneNamespaceFlags,
                                         .value_two = 0,
                                         .op = "SCMP_CMP_MASKED_EQ"}}));
    SeccompRule clone3;
    clone3.names.assign(std::begin(kClone3), std::end(kClone3));
    clone3.action = "SCMP_ACT_ERRNO";
    clone3.errno_ret = kEnosys;
    p.syscalls.push_back(std::move(clone3));
  }
  return p;
}

std::string_view NativeSeccompArch() {
#if defined(__x86_64__) && defined(__ILP32__)
  return "x32";
#elif defined(__x86_64__)
  return "amd64";
#elif defined(__i386__)
  return "x86";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#elif defined(__loongarch64)
  return "loongarch64";
#else
  return "";
#endif
}

KernelVersion HostKernelVersion() {
  struct utsname u;
  if (::uname(&u) != 0) return {};
  KernelVersion v;
  if (std::sscanf(u.release, "%d.%d", &v.major, &v.minor) != 2) return {};
  return v;
}

bool HostRunsX32() {
#if defined(__x86_64__) && !defined(__ILP32__)
  constexpr long kX32SyscallBit = 0x40000000;
  return ::syscall(SYS_getpid | kX32SyscallBit) >= 0;
#else
  return false;
#endif
}

}  // namespace hoist::executor
