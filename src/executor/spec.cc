#include "executor/spec.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hoist::executor {
namespace {

using Json = nlohmann::ordered_json;

// Capability names by number (linux/capability.h).
constexpr const char* kCapabilityNames[] = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE",    "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",          "CAP_KILL",            "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",       "CAP_NET_RAW",         "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",       "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",       "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",        "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",           "CAP_AUDIT_WRITE",     "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",       "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",      "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
constexpr int kCapabilityCount = sizeof(kCapabilityNames) / sizeof(kCapabilityNames[0]);

// containerd's default set, which BuildKit's sandbox uses.
constexpr const char* kDefaultCapabilities[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",  "CAP_FOWNER",           "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",  "CAP_SETFCAP",          "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
};

constexpr const char* kMaskedPaths[] = {
    "/proc/acpi",          "/proc/asound",     "/proc/interrupts",  "/proc/kcore",
    "/proc/keys",          "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug",   "/sys/firmware",    "/proc/scsi",        "/sys/devices/virtual/powercap",
};
constexpr const char* kReadonlyPaths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

struct RlimitName {
  const char* name;
  const char* oci_type;
  int resource;
};
constexpr RlimitName kRlimits[] = {
    {"as", "RLIMIT_AS", RLIMIT_AS},
    {"core", "RLIMIT_CORE", RLIMIT_CORE},
    {"cpu", "RLIMIT_CPU", RLIMIT_CPU},
    {"data", "RLIMIT_DATA", RLIMIT_DATA},
    {"fsize", "RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"locks", "RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"memlock", "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"msgqueue", "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"nice", "RLIMIT_NICE", RLIMIT_NICE},
    {"nofile", "RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"nproc", "RLIMIT_NPROC", RLIMIT_NPROC},
    {"rss", "RLIMIT_RSS", RLIMIT_RSS},
    {"rtprio", "RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"rttime", "RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"sigpending", "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"stack", "RLIMIT_STACK", RLIMIT_STACK},
};

const RlimitName* FindRlimit(std::string_view name) {
  for (const RlimitName& r : kRlimits) {
    if (name == r.name) return &r;
  }
  return nullptr;
}

Json MountJson(std::string_view destination, std::string_view type, std::string_view source,
               std::vector<std::string> options) {
  Json m;
  m["destination"] = destination;
  m["type"] = type;
  m["source"] = source;
  m["options"] = std::move(options);
  return m;
}

std::vector<std::string> GrantedCapabilities(const SpecInput& in) {
  std::vector<std::string> caps;
  if (in.security == SecurityMode::kInsecure) {
    for (int i = 0; i < kCapabilityCount; ++i) {
      if (in.host_capabilities & (uint64_t{1} << i)) caps.emplace_back(kCapabilityNames[i]);
    }
  } else {
    for (const char* name : kDefaultCapabilities) {
      for (int i = 0; i < kCapabilityCount; ++i) {
        if (std::string_view(kCapabilityNames[i]) == name &&
            (in.host_capabilities & (uint64_t{1} << i))) {
          caps.emplace_back(name);
        }
      }
    }
  }
  return caps;
}

Json Capabilities(const std::vector<std::string>& caps) {
  Json c;
  c["bounding"] = caps;
  c["effective"] = caps;
  c["permitted"] = caps;
  return c;
}

Json Seccomp(const SeccompProfile& profile) {
  Json out;
  out["defaultAction"] = profile.default_action;
  out["defaultErrnoRet"] = profile.default_errno;
  out["architectures"] = profile.architectures;
  Json syscalls = Json::array();
  for (const SeccompRule& rule : profile.syscalls) {
    Json r;
    r["names"] = rule.names;
    r["action"] = rule.action;
    if (rule.errno_ret) r["errnoRet"] = *rule.errno_ret;
    if (!rule.args.empty()) {
      Json args = Json::array();
      for (const SeccompArg& a : rule.args) {
        args.push_back({{"index", a.index},
                        {"value", a.value},
                        {"valueTwo", a.value_two},
                        {"op", a.op}});
      }
      r["args"] = std::move(args);
    }
    syscalls.push_back(std::move(r));
  }
  out["syscalls"] = std::move(syscalls);
  return out;
}

Result<Json> Rlimits(const SpecInput& in) {
  Json out = Json::array();
  for (const Ulimit& u : in.ulimits) {
    const RlimitName* r = FindRlimit(u.name);
    if (r == nullptr) {
      return MakeError(Code::kInvalidArgument, fmt::format("ulimit \"{}\": unknown resource "
                                                           "(known: nofile, nproc, core, ...)",
                                                           u.name));
    }
    if (u.soft < 0 || u.hard < 0) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("ulimit \"{}\": negative limit {}:{}", u.name, u.soft, u.hard));
    }
    if (u.soft > u.hard) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("ulimit \"{}\": soft limit {} is above the hard limit {}",
                                   u.name, u.soft, u.hard));
    }
    uint64_t soft = static_cast<uint64_t>(u.soft);
    uint64_t hard = static_cast<uint64_t>(u.hard);
    auto host = in.host_hard_limits.find(u.name);
    if (host != in.host_hard_limits.end()) {
      hard = std::min(hard, host->second);
      soft = std::min(soft, hard);
    }
    Json j;
    j["type"] = r->oci_type;
    j["hard"] = hard;
    j["soft"] = soft;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

const std::vector<std::string>& UlimitNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const RlimitName& r : kRlimits) v.emplace_back(r.name);
    return v;
  }();
  return names;
}

std::map<std::string, uint64_t> HostHardLimits() {
  std::map<std::string, uint64_t> out;
  for (const RlimitName& r : kRlimits) {
    struct rlimit lim;
    if (::getrlimit(r.resource, &lim) == 0) out[r.name] = lim.rlim_max;
  }
  return out;
}

std::vector<std::string> HostMaskedPaths() {
  std::vector<std::string> out;
  for (int cpu = 0; cpu < 4096; ++cpu) {
    const std::string dir = fmt::format("/sys/devices/system/cpu/cpu{}", cpu);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) break;
    const std::string path = dir + "/thermal_throttle";
    if (::stat(path.c_str(), &st) == 0) out.push_back(path);
  }
  return out;
}

uint64_t HostCapabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapBnd:", 0) == 0) {
      return std::stoull(line.substr(7), nullptr, 16);
    }
  }
  return ~uint64_t{0};
}

bool SwapLimitSupported() {
  struct stat st;
  if (::stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0) return true;  // v2 only
  return ::stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", &st) == 0;
}

SpecInput HostSpecInput() {
  SpecInput in;
  in.host_hard_limits = HostHardLimits();
  in.host_capabilities = HostCapabilities();
  in.kernel = HostKernelVersion();
  in.x32 = HostRunsX32();
  in.swap_limit_supported = SwapLimitSupported();
  in.host_masked_paths = HostMaskedPaths();
  return in;
}

Result<std::string> GenerateSpec(const SpecInput& in) {
  if (in.args.empty()) {
    return MakeError(Code::kInvalidArgument, "process args: empty (nothing to run)");
  }
  if (in.cwd.empty() || in.cwd[0] != '/') {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("process cwd \"{}\": must be an absolute path", in.cwd));
  }
  const bool insecure = in.security == SecurityMode::kInsecure;
  if (in.memory_limit_bytes < 0) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("memory limit {}: must not be negative", in.memory_limit_bytes));
  }
  if (in.pids_limit < 0) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("pids limit {}: must not be negative", in.pids_limit));
  }

  Json spec;
  spec["ociVersion"] = "1.0.2-dev";

  Json process;
  process["terminal"] = false;
  Json user;
  user["uid"] = in.user.uid;
  user["gid"] = in.user.gid;
  if (!in.user.additional_gids.empty()) user["additionalGids"] = in.user.additional_gids;
  process["user"] = std::move(user);
  process["args"] = in.args;
  process["env"] = in.env;
  process["cwd"] = in.cwd;
  const std::vector<std::string> caps = GrantedCapabilities(in);
  process["capabilities"] = Capabilities(caps);
  HOIST_ASSIGN_OR_RETURN(Json rlimits, Rlimits(in));
  if (!rlimits.empty()) process["rlimits"] = std::move(rlimits);
  process["noNewPrivileges"] = in.no_new_privileges;
  spec["process"] = std::move(process);

  Json root;
  root["path"] = in.rootfs_path;
  root["readonly"] = in.rootfs_read_only;
  spec["root"] = std::move(root);
  spec["hostname"] = in.hostname;

  Json mounts = Json::array();
  mounts.push_back(MountJson("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(MountJson("/dev", "tmpfs", "tmpfs",
                             {"nosuid", "strictatime", "mode=755", "size=65536k"}));
  mounts.push_back(MountJson("/dev/pts", "devpts", "devpts",
                             {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                              "gid=5"}));
  mounts.push_back(MountJson("/dev/shm", "tmpfs", "shm",
                             {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}));
  mounts.push_back(MountJson("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}));
  std::vector<std::string> sys_options = {"nosuid", "noexec", "nodev"};
  sys_options.push_back(insecure ? "rw" : "ro");
  mounts.push_back(MountJson("/sys", "sysfs", "sysfs", sys_options));
  std::vector<std::string> cgroup_options = {"nosuid", "noexec", "nodev", "relatime"};
  cgroup_options.push_back(insecure ? "rw" : "ro");
  mounts.push_back(MountJson("/sys/fs/cgroup", "cgroup", "cgroup", cgroup_options));
  for (const SpecMount& m : in.mounts) {
    if (m.destination.empty() || m.destination[0] != '/') {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("mount destination \"{}\": must be an absolute path",
                                   m.destination));
    }
    mounts.push_back(MountJson(m.destination, m.type, m.source, m.options));
  }
  spec["mounts"] = std::move(mounts);

  Json linux_section;
  Json namespaces = Json::array();
  for (const char* ns : {"pid", "ipc", "uts", "mount"}) namespaces.push_back({{"type", ns}});
  if (in.network == NetworkMode::kNone) namespaces.push_back({{"type", "network"}});
  linux_section["namespaces"] = std::move(namespaces);
  Json resources;
  // The sandbox denies every device but those the runtime always allows (null, zero, tty...).
  resources["devices"] = Json::array({{{"allow", insecure}, {"access", "rwm"}}});
  if (in.memory_limit_bytes > 0) {
    Json memory;
    memory["limit"] = in.memory_limit_bytes;
    if (in.swap_limit_supported) memory["swap"] = in.memory_limit_bytes;
    resources["memory"] = std::move(memory);
  }
  if (in.pids_limit > 0) resources["pids"] = {{"limit", in.pids_limit}};
  linux_section["resources"] = std::move(resources);
  if (!in.cgroups_path.empty()) linux_section["cgroupsPath"] = in.cgroups_path;
  if (!insecure) {
    Json masked = kMaskedPaths;
    for (const std::string& p : in.host_masked_paths) masked.push_back(p);
    linux_section["maskedPaths"] = std::move(masked);
    linux_section["readonlyPaths"] = kReadonlyPaths;
    linux_section["seccomp"] = Seccomp(DefaultSeccompProfile(
        {.capabilities = caps, .arch = in.seccomp_arch, .kernel = in.kernel, .x32 = in.x32}));
  }
  spec["linux"] = std::move(linux_section);
  return spec.dump(2);
}

}  // namespace hoist::executor
