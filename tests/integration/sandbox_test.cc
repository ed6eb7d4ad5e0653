// The sandbox of RUN steps end to end, on the embedded engine and (HOIST_ITEST_DAEMON=1)
// through hoistd: Docker's default seccomp profile, the entitlements that lift the sandbox
// (the engine allows, the build asks), and the per-step memory and pids limits of the
// engine's configuration file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "harness.h"

namespace hoist::itest {
namespace {

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root (overlayfs, runc)";
    ASSERT_EQ(MakeBaseImage(s_ / "base", "busybox:1.36").size(), 71u);
    std::filesystem::create_directories(s_ / "ctx");
    Config("");
  }

  // `hoist --root R --config hoist.toml build` of the context with the base, files to out/.
  RunResult Build(const std::string& args) {
    std::filesystem::remove_all(s_ / "out");
    return Hoist("--root " + Quote(s_ / "root") + " --config " + Quote(config_) +
                 " build --progress=plain --build-context base=oci-layout://" +
                 Quote(s_ / "base:1.36") + " -o type=local,dest=" + Quote(s_ / "out") + " " +
                 args + " " + Quote(s_ / "ctx"));
  }
  void Dockerfile(const std::string& text) { WriteFile(s_ / "ctx/Dockerfile", text); }
  // A new file each time: through hoistd, a new configuration file is a daemon restarted with it.
  void Config(const std::string& text) {
    config_ = s_ / ("hoist-" + std::to_string(configs_++) + ".toml");
    WriteFile(config_, text);
  }
  std::string Out(const std::string& file) { return ReadFileOrEmpty(s_ / ("out/" + file)); }

  Scratch s_;
  std::string config_;
  int configs_ = 0;
};

TEST_F(SandboxTest, SeccompRefusesWhatTheDefaultProfileForbids) {
  // unshare(CLONE_NEWUSER) needs no capability, so only the seccomp profile stops it; chroot
  // needs CAP_SYS_CHROOT, which the sandbox grants, and the profile allows with it.
  Dockerfile(
      "FROM base\n"
      "RUN unshare -U true 2>/unshare.err; echo $? >/unshare.rc\n"
      "RUN chroot / true && echo chroot >/chroot && sh -c 'echo forked' >/forked && "
      "grep -E '^Seccomp:' /proc/self/status >/seccomp\n");
  RunResult r = Build("--no-cache");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Out("unshare.rc"), "1\n");
  EXPECT_NE(Out("unshare.err").find("Operation not permitted"), std::string::npos)
      << Out("unshare.err");
  EXPECT_EQ(Out("chroot"), "chroot\n");
  EXPECT_EQ(Out("forked"), "forked\n");
  EXPECT_EQ(Out("seccomp"), "Seccomp:\t2\n");  // filter mode
}

// `hoist debug runtime-spec` prints the spec a step gets, and runc runs it: the same sandbox
// (the seccomp profile refuses unshare(CLONE_NEWUSER) there too).
TEST_F(SandboxTest, TheRuntimeSpecOfAStepIsPrintedAndRuns) {
  RunResult r = Hoist("debug runtime-spec -- /bin/sh -c 'unshare -U true; echo rc=$?'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json spec = nlohmann::json::parse(r.out);
  EXPECT_EQ(spec["process"]["args"],
            nlohmann::json::array({"/bin/sh", "-c", "unshare -U true; echo rc=$?"}));
  EXPECT_EQ(spec["root"]["path"], "rootfs");
  EXPECT_EQ(spec["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  const nlohmann::json& caps = spec["process"]["capabilities"]["bounding"];
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "CAP_SYS_ADMIN"), caps.end()) << caps;
  auto has_netns = [](const nlohmann::json& s) {
    for (const auto& ns : s["linux"]["namespaces"]) {
      if (ns["type"] == "network") return true;
    }
    return false;
  };
  EXPECT_FALSE(has_netns(spec));

  // runc runs it as printed, on the base's files.
  const std::filesystem::path bundle = s_ / "bundle";
  std::filesystem::create_directories(bundle);
  RunResult u = Hoist("unpack " + Quote(s_ / "base:1.36") + " " + Quote(bundle / "rootfs"));
  ASSERT_EQ(u.exit_code, 0) << u.err;
  WriteFile(bundle / "config.json", r.out);
  RunResult run = Sh("runc --root " + Quote(s_ / "runc") + " run --bundle " + Quote(bundle) +
                     " hoist-itest-spec-" + std::to_string(::getpid()) + " </dev/null");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("rc=1"), std::string::npos) << run.out << run.err;
  EXPECT_NE(run.err.find("Operation not permitted"), std::string::npos) << run.err;

  RunResult none = Hoist("debug runtime-spec --network none");
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_TRUE(has_netns(nlohmann::json::parse(none.out)));
  EXPECT_EQ(nlohmann::json::parse(none.out)["process"]["args"],
            nlohmann::json::array({"/bin/true"}));
  RunResult insecure = Hoist("debug runtime-spec --security insecure");
  ASSERT_EQ(insecure.exit_code, 0) << insecure.err;
  EXPECT_FALSE(nlohmann::json::parse(insecure.out)["linux"].contains("seccomp"));

  RunResult bad = Hoist("debug runtime-spec --network bridge");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--network \"bridge\": must be default, none or host"), std::string::npos)
      << bad.err;
}

TEST_F(SandboxTest, InsecureNeedsTheEngineToAllowAndTheBuildToAsk) {
  Dockerfile(
      "FROM base\n"
      "RUN --security=insecure unshare -U true && echo unconfined >/insecure && "
      "grep -E '^Seccomp:' /proc/self/status >/seccomp\n");
  // Neither: the step names the entitlement it lacks, and nothing ran.
  RunResult r = Build("");
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("security.insecure is not allowed: \"[1/2] RUN --security=insecure"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--allow security.insecure"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(s_ / "out/insecure"));
  // The build asks, the engine does not allow.
  r = Build("--allow security.insecure");
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("granting entitlement security.insecure is not allowed by the build "
                       "engine's configuration"),
            std::string::npos)
      << r.err;
  // The engine allows, the build does not ask.
  Config("insecure-entitlements = [\"security.insecure\"]\n");
  r = Build("");
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("security.insecure is not allowed"), std::string::npos) << r.err;
  // Both: the step runs without the seccomp filter.
  r = Build("--allow security.insecure");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Out("insecure"), "unconfined\n");
  EXPECT_EQ(Out("seccomp"), "Seccomp:\t0\n");
  // An entitlement no one knows is refused on the client.
  r = Build("--allow security.everything");
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--allow: unknown entitlement \"security.everything\""), std::string::npos)
      << r.err;
}

TEST_F(SandboxTest, HostNetworkNeedsTheEntitlementToo) {
  Dockerfile(
      "FROM base\n"
      "RUN --network=host echo host >/host\n"
      "RUN --network=none echo none >/none\n");
  RunResult r = Build("");
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("network.host is not allowed: \"[1/3] RUN --network=host echo host"),
            std::string::npos)
      << r.err;
  Config("insecure-entitlements = [\"network.host\"]\n");
  r = Build("--allow network.host");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Out("host"), "host\n");
  EXPECT_EQ(Out("none"), "none\n");
  // A build asking for more than a step needs is fine; one asking for what the engine does
  // not allow is not.
  r = Build("--allow network.host,security.insecure");
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("granting entitlement security.insecure is not allowed"),
            std::string::npos)
      << r.err;
}

TEST_F(SandboxTest, PidsLimitStopsAForkBomb) {
  Dockerfile(
      "FROM base\n"
      "RUN for i in $(seq 1 40); do sleep 1 & done; wait; echo done >/done\n");
  // Without limits, 40 processes at once are fine.
  RunResult r = Build("--no-cache");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Out("done"), "done\n");
  Config("[step-limits]\npids = 20\n");
  r = Build("--no-cache");
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("can't fork"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did not complete successfully: exit code: 2"), std::string::npos) << r.err;
}

TEST_F(SandboxTest, MemoryLimitKillsAStepThatAllocatesPastItAndSaysSo) {
  // 128M characters doubled into place: a few hundred MiB at its peak.
  Dockerfile(
      "FROM base\n"
      "RUN awk 'BEGIN { s = \"a\"; while (length(s) < 100000000) s = s s; print length(s) }' "
      ">/len\n");
  RunResult r = Build("--no-cache");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Out("len"), "134217728\n");
  Config("[step-limits]\nmemory = \"64MiB\"\n");
  r = Build("--no-cache");
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("did not complete successfully: exit code: 137: out of memory: the "
                       "kernel's OOM killer stopped the step at its memory limit of 64MiB"),
            std::string::npos)
      << r.err;
  // A step within the limit runs as before.
  Dockerfile("FROM base\nRUN echo small >/small\n");
  r = Build("--no-cache");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Out("small"), "small\n");
}

TEST_F(SandboxTest, BadConfigurationIsNamed) {
  Dockerfile("FROM base\nRUN true\n");
  Config("[step-limits]\nmemory = \"1KiB\"\n");
  RunResult r = Build("");
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(".toml:2: step-limits.memory: 1024 bytes is below the least a step "
                       "can run with (6MiB)"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace hoist::itest
