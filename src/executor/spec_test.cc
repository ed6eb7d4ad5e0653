#include "executor/spec.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

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
  return in;
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
