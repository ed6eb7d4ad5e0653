#include "executor/spec.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace hoist::executor {
namespace {

using Json = nlohmann::json;

SpecInput BasicInput() {
  SpecInput in;
  in.rootfs_path = "rootfs";
  in.args = {"/bin/sh", "-c", "true"};
  in.env = {kDefaultPathEnv};
  in.cwd = "/work";
  in.user = ResolvedUser{1000, 1000, {27, 100}};
  in.hostname = "buildkitsandbox";
  in.host_capabilities = ~uint64_t{0};
  in.seccomp_arch = "amd64";
  in.kernel = {6, 1};
  return in;
}

// The syscall rules of the spec's seccomp section that name `syscall`.
std::vector<Json> RulesFor(const Json& spec, std::string_view syscall) {
  std::vector<Json> out;
  for (const Json& r : spec["linux"]["seccomp"]["syscalls"]) {
    const Json& names = r["names"];
    if (std::find(names.begin(), names.end(), syscall) != names.end()) out.push_back(r);
  }
  return out;
}

Json Generate(const SpecInput& in) {
  auto text = GenerateSpec(in);
  EXPECT_TRUE(text.has_value()) << text.error().message();
  return text ? Json::parse(*text) : Json();
}

const Json* FindMount(const Json& spec, std::string_view dest) {
  for (const Json& m : spec["mounts"]) {
    if (m["destination"] == dest) return &m;
  }
  return nullptr;
}

bool HasNamespace(const Json& spec, std::string_view type) {
  for (const Json& ns : spec["linux"]["namespaces"]) {
    if (ns["type"] == type) return true;
  }
  return false;
}

TEST(GenerateSpec, ProcessFields) {
  Json spec = Generate(BasicInput());
  EXPECT_EQ(spec["ociVersion"], "1.0.2-dev");
  EXPECT_EQ(spec["process"]["args"], Json({"/bin/sh", "-c", "true"}));
  EXPECT_EQ(spec["process"]["cwd"], "/work");
  EXPECT_EQ(spec["process"]["user"]["uid"], 1000);
  EXPECT_EQ(spec["process"]["user"]["gid"], 1000);
  EXPECT_EQ(spec["process"]["user"]["additionalGids"], Json({27, 100}));
  EXPECT_EQ(spec["process"]["terminal"], false);
  EXPECT_EQ(spec["process"]["noNewPrivileges"], false);
  EXPECT_FALSE(spec["process"].contains("rlimits"));
  EXPECT_EQ(spec["root"]["path"], "rootfs");
  EXPECT_EQ(spec["root"]["readonly"], false);
  EXPECT_EQ(spec["hostname"], "buildkitsandbox");
}

TEST(GenerateSpec, DefaultMountsInOrder) {
  Json spec = Generate(BasicInput());
  std::vector<std::string> dests;
  for (const Json& m : spec["mounts"]) dests.push_back(m["destination"]);
  EXPECT_EQ(dests, (std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/dev/shm",
                                             "/dev/mqueue", "/sys", "/sys/fs/cgroup"}));
  EXPECT_EQ((*FindMount(spec, "/proc"))["type"], "proc");
  EXPECT_EQ((*FindMount(spec, "/dev/pts"))["options"],
            Json({"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}));
  EXPECT_EQ((*FindMount(spec, "/sys"))["options"], Json({"nosuid", "noexec", "nodev", "ro"}));
}

TEST(GenerateSpec, SandboxNamespacesCapabilitiesAndMaskedPaths) {
  SpecInput in = BasicInput();
  in.network = NetworkMode::kNone;
  Json spec = Generate(in);
  for (const char* ns : {"pid", "ipc", "uts", "mount", "network"}) {
    EXPECT_TRUE(HasNamespace(spec, ns)) << ns;
  }
  const Json& caps = spec["process"]["capabilities"]["effective"];
  EXPECT_EQ(caps.size(), 14u);
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_CHOWN"), caps.end());
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "CAP_SYS_ADMIN"), caps.end());
  EXPECT_EQ(spec["process"]["capabilities"]["bounding"], caps);
  const Json& masked = spec["linux"]["maskedPaths"];
  EXPECT_NE(std::find(masked.begin(), masked.end(), "/proc/kcore"), masked.end());
  EXPECT_NE(std::find(masked.begin(), masked.end(), "/proc/interrupts"), masked.end());
  const Json& ro = spec["linux"]["readonlyPaths"];
  EXPECT_NE(std::find(ro.begin(), ro.end(), "/proc/sys"), ro.end());
  EXPECT_EQ(spec["linux"]["resources"]["devices"][0]["allow"], false);
}

TEST(GenerateSpec, HostAndDefaultNetworkShareTheHostNamespace) {
  for (NetworkMode mode : {NetworkMode::kHost, NetworkMode::kDefault}) {
    SpecInput in = BasicInput();
    in.network = mode;
    Json spec = Generate(in);
    EXPECT_FALSE(HasNamespace(spec, "network"));
    EXPECT_TRUE(HasNamespace(spec, "pid"));
  }
}

TEST(GenerateSpec, InsecureGrantsHostCapabilitiesAndUnmasks) {
  SpecInput in = BasicInput();
  in.security = SecurityMode::kInsecure;
  in.host_capabilities = ~(uint64_t{1} << 24);  // no CAP_SYS_RESOURCE on this host
  Json spec = Generate(in);
  const Json& caps = spec["process"]["capabilities"]["effective"];
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_SYS_ADMIN"), caps.end());
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "CAP_SYS_RESOURCE"), caps.end());
  EXPECT_FALSE(spec["linux"].contains("maskedPaths"));
  EXPECT_FALSE(spec["linux"].contains("readonlyPaths"));
  EXPECT_EQ((*FindMount(spec, "/sys"))["options"], Json({"nosuid", "noexec", "nodev", "rw"}));
  EXPECT_EQ(spec["linux"]["resources"]["devices"][0]["allow"], true);
}

TEST(GenerateSpec, SandboxCapabilitiesLimitedToHostSet) {
  SpecInput in = BasicInput();
  in.host_capabilities = ~(uint64_t{1} << 13);  // no CAP_NET_RAW
  Json spec = Generate(in);
  const Json& caps = spec["process"]["capabilities"]["permitted"];
  EXPECT_EQ(caps.size(), 13u);
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "CAP_NET_RAW"), caps.end());
}

TEST(GenerateSpec, UlimitsClampedToHostHardLimits) {
  SpecInput in = BasicInput();
  in.ulimits = {{"nofile", 1048576, 1048576}, {"nproc", 100, 200}, {"core", 0, 0}};
  in.host_hard_limits = {{"nofile", 20000}, {"nproc", 500000}};
  Json spec = Generate(in);
  const Json& r = spec["process"]["rlimits"];
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0], Json({{"type", "RLIMIT_NOFILE"}, {"hard", 20000}, {"soft", 20000}}));
  EXPECT_EQ(r[1], Json({{"type", "RLIMIT_NPROC"}, {"hard", 200}, {"soft", 100}}));
  EXPECT_EQ(r[2], Json({{"type", "RLIMIT_CORE"}, {"hard", 0}, {"soft", 0}}));
}

TEST(GenerateSpec, BadUlimits) {
  SpecInput in = BasicInput();
  in.ulimits = {{"nofiles", 1, 1}};
  auto r = GenerateSpec(in);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "ulimit \"nofiles\": unknown resource (known: nofile, nproc, core, ...)");
  in.ulimits = {{"nofile", 10, 5}};
  r = GenerateSpec(in);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "ulimit \"nofile\": soft limit 10 is above the hard limit 5");
  in.ulimits = {{"nofile", -1, 5}};
  r = GenerateSpec(in);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "ulimit \"nofile\": negative limit -1:5");
}

TEST(GenerateSpec, BadProcessAndMounts) {
  SpecInput in = BasicInput();
  in.args.clear();
  auto r = GenerateSpec(in);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "process args: empty (nothing to run)");
  in = BasicInput();
  in.cwd = "work";
  r = GenerateSpec(in);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "process cwd \"work\": must be an absolute path");
  in = BasicInput();
  in.mounts = {{"cache", "bind", "/x", {"rbind"}}};
  r = GenerateSpec(in);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "mount destination \"cache\": must be an absolute path");
}

TEST(GenerateSpec, ExtraMountsFollowDefaultsAndOptionsKept) {
  SpecInput in = BasicInput();
  in.rootfs_read_only = true;
  in.no_new_privileges = true;
  in.cgroups_path = "/hoist/abc";
  in.mounts = {{"/etc/hosts", "bind", "/b/hosts", {"rbind", "ro"}},
               {"/tmp", "tmpfs", "tmpfs", {"nosuid", "size=1024"}}};
  Json spec = Generate(in);
  EXPECT_EQ(spec["mounts"].size(), 9u);
  EXPECT_EQ(spec["mounts"][7]["destination"], "/etc/hosts");
  EXPECT_EQ(spec["mounts"][7]["source"], "/b/hosts");
  EXPECT_EQ(spec["mounts"][8]["options"], Json({"nosuid", "size=1024"}));
  EXPECT_EQ(spec["root"]["readonly"], true);
  EXPECT_EQ(spec["process"]["noNewPrivileges"], true);
  EXPECT_EQ(spec["linux"]["cgroupsPath"], "/hoist/abc");
}

TEST(GenerateSpec, SandboxGetsTheDefaultSeccompProfile) {
  Json spec = Generate(BasicInput());
  const Json& seccomp = spec["linux"]["seccomp"];
  EXPECT_EQ(seccomp["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(seccomp["defaultErrnoRet"], 1);
  EXPECT_EQ(seccomp["architectures"],
            Json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  {
    // A kernel that runs no x32 program: the filter leaves x32 out, nothing else changes.
    SpecInput no_x32 = BasicInput();
    no_x32.x32 = false;
    Json without = Generate(no_x32);
    EXPECT_EQ(without["linux"]["seccomp"]["architectures"],
              Json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}));
    without["linux"]["seccomp"]["architectures"] = seccomp["architectures"];
    EXPECT_EQ(without, spec);
  }
  // Ordinary work is allowed outright.
  for (const char* name : {"read", "openat", "execve", "fork", "wait4", "chown", "mknod",
                           "setuid", "kill", "arch_prctl", "chroot"}) {
    std::vector<Json> rules = RulesFor(spec, name);
    ASSERT_EQ(rules.size(), 1u) << name;
    EXPECT_EQ(rules[0]["action"], "SCMP_ACT_ALLOW") << name;
    EXPECT_FALSE(rules[0].contains("args")) << name;
  }
  // What reaches beyond the container needs a capability the sandbox does not grant.
  for (const char* name : {"mount", "umount2", "unshare", "setns", "bpf", "keyctl", "add_key",
                           "reboot", "init_module", "settimeofday", "syslog", "acct",
                           "open_by_handle_at", "iopl", "vhangup", "mbind", "kcmp"}) {
    EXPECT_TRUE(RulesFor(spec, name).empty()) << name;
  }
  // clone without namespace flags; clone3 answers ENOSYS so that libcs use clone.
  std::vector<Json> clone = RulesFor(spec, "clone");
  ASSERT_EQ(clone.size(), 1u);
  EXPECT_EQ(clone[0]["args"], Json::parse(R"([{"index": 0, "value": 2114060288, "valueTwo": 0,
                                               "op": "SCMP_CMP_MASKED_EQ"}])"));
  std::vector<Json> clone3 = RulesFor(spec, "clone3");
  ASSERT_EQ(clone3.size(), 1u);
  EXPECT_EQ(clone3[0]["action"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(clone3[0]["errnoRet"], 38);
  // personality only for the harmless personas, socket for all families but AF_ALG and AF_VSOCK.
  std::vector<uint64_t> personas;
  for (const Json& r : RulesFor(spec, "personality")) personas.push_back(r["args"][0]["value"]);
  EXPECT_EQ(personas, (std::vector<uint64_t>{0, 8, 0x20000, 0x20008, 0xffffffff}));
  std::vector<Json> socket = RulesFor(spec, "socket");
  ASSERT_EQ(socket.size(), 3u);
  EXPECT_EQ(socket[0]["args"][0]["op"], "SCMP_CMP_LT");
  EXPECT_EQ(socket[0]["args"][0]["value"], 38);
  // ptrace of one's own processes is safe from Linux 4.8 on.
  EXPECT_EQ(RulesFor(spec, "ptrace").size(), 1u);
}

TEST(GenerateSpec, SeccompRulesFollowTheGrantedCapabilities) {
  // A host whose bounding set lacks CAP_SYS_CHROOT: the sandbox cannot grant it, so chroot
  // stays blocked too.
  SpecInput in = BasicInput();
  in.host_capabilities = ~(uint64_t{1} << 18);
  Json spec = Generate(in);
  EXPECT_TRUE(RulesFor(spec, "chroot").empty());
  // An old kernel: no ptrace without CAP_SYS_PTRACE.
  in = BasicInput();
  in.kernel = {4, 4};
  EXPECT_TRUE(RulesFor(Generate(in), "ptrace").empty());
}

TEST(DefaultSeccompProfile, CapabilitiesOpenTheirSyscalls) {
  SeccompInput in{.capabilities = {"CAP_CHOWN"}, .arch = "amd64", .kernel = {6, 1}};
  auto names = [](const SeccompProfile& p) {
    std::vector<std::string> all;
    for (const SeccompRule& r : p.syscalls) {
      if (r.action == "SCMP_ACT_ALLOW" && r.args.empty()) {
        all.insert(all.end(), r.names.begin(), r.names.end());
      }
    }
    return all;
  };
  auto has = [](const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  std::vector<std::string> plain = names(DefaultSeccompProfile(in));
  EXPECT_FALSE(has(plain, "mount"));
  EXPECT_FALSE(has(plain, "reboot"));
  EXPECT_FALSE(has(plain, "kcmp"));
  EXPECT_EQ(plain.size(), std::set<std::string>(plain.begin(), plain.end()).size());

  in.capabilities = {"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_PTRACE", "CAP_SYS_TIME"};
  SeccompProfile admin = DefaultSeccompProfile(in);
  std::vector<std::string> opened = names(admin);
  for (const char* s : {"mount", "unshare", "setns", "clone", "clone3", "reboot", "kcmp",
                        "clock_settime"}) {
    EXPECT_TRUE(has(opened, s)) << s;
  }
  // With CAP_SYS_ADMIN, clone and clone3 have no restricting rule.
  for (const SeccompRule& r : admin.syscalls) {
    EXPECT_FALSE(r.action == "SCMP_ACT_ERRNO") << r.names[0];
    if (!r.args.empty()) {
      EXPECT_NE(r.names[0], "clone");
    }
  }
}

TEST(DefaultSeccompProfile, ArchitecturesAndArchSpecificRules) {
  SeccompProfile arm = DefaultSeccompProfile({.arch = "arm64", .kernel = {6, 1}});
  EXPECT_EQ(arm.architectures, (std::vector<std::string>{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
  bool set_tls = false, arch_prctl = false;
  for (const SeccompRule& r : arm.syscalls) {
    for (const std::string& n : r.names) {
      set_tls |= n == "set_tls";
      arch_prctl |= n == "arch_prctl";
    }
  }
  EXPECT_TRUE(set_tls);
  EXPECT_FALSE(arch_prctl);
  // s390 passes clone's flags second.
  SeccompProfile s390 = DefaultSeccompProfile({.arch = "s390x", .kernel = {6, 1}});
  for (const SeccompRule& r : s390.syscalls) {
    if (r.names[0] == "clone") {
      EXPECT_EQ(r.args.at(0).index, 1u);
    }
  }
  // An architecture without a family: the filter names none (the runtime's native one).
  EXPECT_TRUE(DefaultSeccompProfile({.arch = "ppc64le"}).architectures.empty());
  EXPECT_FALSE(NativeSeccompArch().empty());
  EXPECT_GT(HostKernelVersion().major, 2);
}

TEST(GenerateSpec, HostMaskedPathsJoinTheFixedOnes) {
  SpecInput in = BasicInput();
  in.host_masked_paths = {"/sys/devices/system/cpu/cpu0/thermal_throttle"};
  Json masked = Generate(in)["linux"]["maskedPaths"];
  EXPECT_EQ(masked.back(), "/sys/devices/system/cpu/cpu0/thermal_throttle");
  EXPECT_NE(std::find(masked.begin(), masked.end(), "/proc/kcore"), masked.end());
  in.security = SecurityMode::kInsecure;
  EXPECT_FALSE(Generate(in)["linux"].contains("maskedPaths"));
  for (const std::string& p : HostMaskedPaths()) EXPECT_TRUE(p.ends_with("/thermal_throttle")) << p;
}

TEST(GenerateSpec, InsecureRunsWithoutSeccomp) {
  SpecInput in = BasicInput();
  in.security = SecurityMode::kInsecure;
  EXPECT_FALSE(Generate(in)["linux"].contains("seccomp"));
}

TEST(GenerateSpec, StepLimitsBecomeCgroupResources) {
  SpecInput in = BasicInput();
  Json none = Generate(in)["linux"]["resources"];
  EXPECT_FALSE(none.contains("memory"));
  EXPECT_FALSE(none.contains("pids"));
  in.memory_limit_bytes = 64 << 20;
  in.pids_limit = 100;
  Json r = Generate(in)["linux"]["resources"];
  EXPECT_EQ(r["memory"], Json({{"limit", 64 << 20}, {"swap", 64 << 20}}));
  EXPECT_EQ(r["pids"], Json({{"limit", 100}}));
  in.swap_limit_supported = false;
  EXPECT_EQ(Generate(in)["linux"]["resources"]["memory"], Json({{"limit", 64 << 20}}));
  in.pids_limit = -1;
  auto bad = GenerateSpec(in);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "pids limit -1: must not be negative");
}

TEST(GenerateSpec, Deterministic) {
  EXPECT_EQ(*GenerateSpec(BasicInput()), *GenerateSpec(BasicInput()));
}

TEST(HostLimits, NofileIsKnown) {
  auto limits = HostHardLimits();
  EXPECT_TRUE(limits.count("nofile"));
  EXPECT_EQ(UlimitNames().size(), limits.size());
  EXPECT_NE(HostCapabilities(), 0u);
}

}  // namespace
}  // namespace hoist::executor
