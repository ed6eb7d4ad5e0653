// hoistd end to end: its sockets, several clients at once, clients and the daemon killed
// mid-build, shutdown, socket activation, TLS, and registry credentials that stay with each
// client. The rest of the suite also runs through a
// hoistd (HOIST_ITEST_DAEMON=1); these are the cases only a daemon has.
#include <grp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "harness.h"
#include "registry_harness.h"

namespace hoist::itest {
namespace {

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root (overlayfs, runc)";
    base_digest_ = MakeBaseImage(s_ / "base", "busybox:1.36");
    ASSERT_EQ(base_digest_.size(), 71u) << base_digest_;
  }

  std::string Ctx(const std::string& name, const std::string& dockerfile) {
    std::filesystem::create_directories(s_ / name);
    WriteFile(s_ / (name + "/Dockerfile"), dockerfile);
    return s_ / name;
  }
  // `hoist --addr ADDR build` of `ctx` with the base layout as context `base`.
  std::string BuildCommand(const std::string& addr, const std::string& ctx,
                           const std::string& args) {
    return std::string(HOIST_BIN) + " --addr " + Quote(addr) +
           " build --progress=plain --build-context base=oci-layout://" +
           Quote(s_ / "base:1.36") + " " + args + " " + Quote(ctx);
  }
  // Waits until `file` holds `text`.
  static bool WaitFor(const std::string& file, const std::string& text,
                      std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (ReadFileOrEmpty(file).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  Scratch s_;
  std::string base_digest_;
};

TEST_F(DaemonTest, SocketIsMode0660WithItsGroup) {
  Daemon d(s_ / "root", s_ / "d.sock", "--group daemon");
  ASSERT_TRUE(d.Start()) << d.log();
  struct stat st {};
  ASSERT_EQ(::stat((s_ / "d.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_uid, 0u);
  struct group* g = ::getgrnam("daemon");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(st.st_gid, g->gr_gid);
  // A second daemon on the same socket or root refuses to start.
  Daemon twin(s_ / "root2", s_ / "d.sock");
  EXPECT_FALSE(twin.Start());
  EXPECT_NE(twin.log().find("another daemon is listening"), std::string::npos) << twin.log();
  Daemon same_root(s_ / "root", s_ / "other.sock");
  EXPECT_FALSE(same_root.Start());
  EXPECT_NE(same_root.log().find("is served by hoistd"), std::string::npos) << same_root.log();
}

TEST_F(DaemonTest, AllowInsecureEntitlementLetsBuildsAskAndReplacesTheFilesList) {
  Daemon bad(s_ / "root-bad", s_ / "bad.sock", "--allow-insecure-entitlement network.hots");
  EXPECT_FALSE(bad.Start());
  EXPECT_NE(bad.log().find("--allow-insecure-entitlement: unknown entitlement \"network.hots\""),
            std::string::npos)
      << bad.log();
  // The file allows network.host; the flag, given, is the whole list.
  WriteFile(s_ / "hoist.toml", "insecure-entitlements = [\"network.host\"]\n");
  Daemon d(s_ / "root", s_ / "d.sock",
           "--config " + Quote(s_ / "hoist.toml") +
               " --allow-insecure-entitlement security.insecure");
  ASSERT_TRUE(d.Start()) << d.log();
  EXPECT_NE(d.log().find("hoistd: builds may ask for security.insecure\n"), std::string::npos)
      << d.log();
  const std::string ctx =
      Ctx("insecure", "FROM base\nRUN --security=insecure unshare -U true && echo ok >/ok\n");
  RunResult r = Sh(BuildCommand(d.addr(), ctx,
                                "--allow security.insecure -o type=local,dest=" + Quote(s_ / "out")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/ok"), "ok\n");
  r = Sh(BuildCommand(d.addr(), ctx, ""));
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("security.insecure is not allowed"), std::string::npos) << r.err;
  r = Sh(BuildCommand(d.addr(), ctx, "--allow network.host"));
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("granting entitlement network.host is not allowed by the build engine's "
                       "configuration"),
            std::string::npos)
      << r.err;
}

TEST_F(DaemonTest, EmbeddedBuildOnItsRootSaysWhichAddrToUse) {
  Daemon d(s_ / "root", s_ / "d.sock");
  ASSERT_TRUE(d.Start()) << d.log();
  const std::string ctx = Ctx("ctx", "FROM base\n");
  RunResult r = Sh(std::string(HOIST_BIN) + " --root " + Quote(s_ / "root") +
                   " build --progress=plain --build-context base=oci-layout://" +
                   Quote(s_ / "base:1.36") + " " + Quote(ctx));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--addr " + d.addr()), std::string::npos) << r.err;
  // The same build through the daemon, picked up from HOIST_HOST.
  r = Sh("HOIST_HOST=" + Quote(d.addr()) + " " + std::string(HOIST_BIN) +
         " build --progress=plain --build-context base=oci-layout://" + Quote(s_ / "base:1.36") +
         " -o type=local,dest=" + Quote(s_ / "out") + " " + Quote(ctx));
  ASSERT_EQ(r.exit_code, 0) << r.err << d.log();
  EXPECT_TRUE(std::filesystem::exists(s_ / "out/bin/busybox"));
  // After SIGTERM the root is free again for the embedded engine.
  EXPECT_EQ(d.Stop(), 0) << d.log();
  EXPECT_FALSE(std::filesystem::exists(s_ / "d.sock"));
  r = Sh(std::string(HOIST_BIN) + " --root " + Quote(s_ / "root") + " du");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(DaemonTest, FourClientsBuildDifferentDockerfilesOnOneBaseAtOnce) {
  Daemon d(s_ / "root", s_ / "d.sock");
  ASSERT_TRUE(d.Start()) << d.log();
  std::vector<std::thread> clients;
  std::vector<RunResult> results(4);
  for (int i = 0; i < 4; ++i) {
    const std::string n = std::to_string(i);
    const std::string ctx = Ctx("ctx" + n, "FROM base\nRUN echo client" + n + " > /who && sleep 1\n"
                                           "COPY f /f\n");
    WriteFile(ctx + "/f", "file " + n + "\n");
    clients.emplace_back([&, i, ctx, n] {
      results[i] = Sh(BuildCommand(d.addr(), ctx, "-o type=local,dest=" + Quote(s_ / ("out" + n))));
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < 4; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_EQ(results[i].exit_code, 0) << results[i].err << d.log();
    EXPECT_EQ(ReadFileOrEmpty(s_ / ("out" + n + "/who")), "client" + n + "\n");
    EXPECT_EQ(ReadFileOrEmpty(s_ / ("out" + n + "/f")), "file " + n + "\n");
  }
  // They shared the base: one cache record for it, whoever pulled it in first.
  RunResult du = Sh(std::string(HOIST_BIN) + " --addr " + Quote(d.addr()) + " du");
  ASSERT_EQ(du.exit_code, 0) << du.err;
  EXPECT_NE(du.out.find("echo client3"), std::string::npos) << du.out;
}

TEST_F(DaemonTest, SessionsOverTheirOwnConnectionOrInsideControlSession) {
  // hoist's client offers hoistd a connection of its own as the session; with
  // HOIST_DIRECT_SESSION=0 (and buildctl, buildx) the session travels inside Control.Session.
  Daemon d(s_ / "root", s_ / "d.sock", "--debug");
  ASSERT_TRUE(d.Start()) << d.log();
  const std::string ctx = Ctx("ctx", "FROM base\nRUN echo ran > /ran\nCOPY f /f\n");
  WriteFile(ctx + "/f", "context file\n");
  RunResult direct = Sh(BuildCommand(d.addr(), ctx, "-o type=local,dest=" + Quote(s_ / "out1")));
  ASSERT_EQ(direct.exit_code, 0) << direct.err << d.log();
  EXPECT_NE(d.log().find("attached directly"), std::string::npos) << d.log();
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out1/f"), "context file\n");
  const size_t before = d.log().size();
  RunResult tunnelled = Sh("HOIST_DIRECT_SESSION=0 " +
                           BuildCommand(d.addr(), ctx, "-o type=local,dest=" + Quote(s_ / "out2")));
  ASSERT_EQ(tunnelled.exit_code, 0) << tunnelled.err << d.log();
  const std::string later = d.log().substr(before);
  EXPECT_NE(later.find(" attached"), std::string::npos) << later;
  EXPECT_EQ(later.find("attached directly"), std::string::npos) << later;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out2/f"), "context file\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out2/ran"), "ran\n");
}

TEST_F(DaemonTest, TheDockerfileComesWithTheRequestFromHoistsClient) {
  // hoist's client sends hoistd the Dockerfile and the ignore file that applies with its
  // Solve (the dockerfile frontend input); with the session inside Control.Session, as from
  // buildctl or buildx, the daemon reads them over the session. Both build the same.
  Daemon d(s_ / "root", s_ / "d.sock", "--debug");
  ASSERT_TRUE(d.Start()) << d.log();
  const std::string ctx = Ctx("ctx", "FROM base\nCOPY . /in/\n");
  WriteFile(ctx + "/kept", "kept\n");
  WriteFile(ctx + "/skipped.log", "skipped\n");
  WriteFile(ctx + "/.dockerignore", "*.log\n");
  const std::string with_request = "the Dockerfile comes with the request";
  for (const char* env : {"", "HOIST_DIRECT_SESSION=0 "}) {
    SCOPED_TRACE(env);
    std::filesystem::remove_all(s_ / "out");
    const size_t before = d.log().size();
    RunResult r = Sh(env + BuildCommand(d.addr(), ctx, "-o type=local,dest=" + Quote(s_ / "out")));
    ASSERT_EQ(r.exit_code, 0) << r.err << d.log();
    EXPECT_EQ(d.log().find(with_request, before) != std::string::npos, *env == '\0') << d.log();
    EXPECT_EQ(ReadFileOrEmpty(s_ / "out/in/kept"), "kept\n");
    EXPECT_FALSE(std::filesystem::exists(s_ / "out/in/skipped.log"));
  }
  // The Dockerfile's own ignore file wins over the context's, and a changed Dockerfile is what
  // is built.
  WriteFile(ctx + "/Dockerfile", "FROM base\nCOPY . /again/\n");
  WriteFile(ctx + "/Dockerfile.dockerignore", "kept\n");
  std::filesystem::remove_all(s_ / "out");
  RunResult r = Sh(BuildCommand(d.addr(), ctx, "-o type=local,dest=" + Quote(s_ / "out")));
  ASSERT_EQ(r.exit_code, 0) << r.err << d.log();
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/again/skipped.log"), "skipped\n");
  EXPECT_FALSE(std::filesystem::exists(s_ / "out/again/kept"));
  // A missing Dockerfile fails clearly, as before.
  r = Sh(BuildCommand(d.addr(), ctx, "-f " + Quote(ctx + "/Nope") + " -o type=local,dest=" +
                                         Quote(s_ / "out2")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("failed to read dockerfile"), std::string::npos) << r.err;
}

TEST_F(DaemonTest, ARelativeRootIsTakenFromTheWorkingDirectory) {
  // The engine hands paths below its root to the runtime, which runs elsewhere: a relative
  // --root is made absolute first, for hoistd and for an embedded build alike.
  const std::string ctx = Ctx("ctx", "FROM base\nRUN echo ran > /ran\n");
  const std::string relative = std::filesystem::relative(s_ / "droot").string();
  ASSERT_NE(relative.front(), '/');
  Daemon d(relative, s_ / "d.sock");
  ASSERT_TRUE(d.Start()) << d.log();
  RunResult r = Sh(BuildCommand(d.addr(), ctx, "-o type=local,dest=" + Quote(s_ / "out1")));
  ASSERT_EQ(r.exit_code, 0) << r.err << d.log();
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out1/ran"), "ran\n");
  EXPECT_TRUE(std::filesystem::exists(s_ / "droot/lock"));
  r = Sh("cd " + Quote(s_.path()) + " && " + HOIST_BIN + " --root eroot build --progress=plain " +
         "--build-context base=oci-layout://" + Quote(s_ / "base:1.36") +
         " -o type=local,dest=out2 ctx");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out2/ran"), "ran\n");
  EXPECT_TRUE(std::filesystem::exists(s_ / "eroot/lock"));
}

TEST_F(DaemonTest, AnUnchangedContextIsNotChecksummedAgain) {
  // The context's mirror generation is a committed snapshot, which never changes: a second
  // build of an unchanged context takes the COPY's checksum from the first one's.
  Daemon d(s_ / "root", s_ / "d.sock", "--debug");
  ASSERT_TRUE(d.Start()) << d.log();
  const std::string ctx = Ctx("ctx", "FROM base\nCOPY f /f\n");
  WriteFile(ctx + "/f", "one\n");
  auto count = [&](const std::string& what) {
    const std::string log = d.log();
    size_t n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  };
  for (int i = 0; i < 2; ++i) {
    RunResult r = Sh(BuildCommand(d.addr(), ctx, "-o type=local,dest=" + Quote(s_ / "out")));
    ASSERT_EQ(r.exit_code, 0) << r.err << d.log();
    EXPECT_EQ(ReadFileOrEmpty(s_ / "out/f"), "one\n");
  }
  EXPECT_EQ(count("checksum of /f in "), 1u) << d.log();
  // A changed context is a new generation, checksummed afresh, and its content is what lands.
  WriteFile(ctx + "/f", "two\n");
  RunResult r = Sh(BuildCommand(d.addr(), ctx, "-o type=local,dest=" + Quote(s_ / "out")));
  ASSERT_EQ(r.exit_code, 0) << r.err << d.log();
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/f"), "two\n");
  EXPECT_EQ(count("checksum of /f in "), 2u) << d.log();
}

TEST_F(DaemonTest, ClientKilledMidBuildWhileOthersAreServed) {
  Daemon d(s_ / "root", s_ / "d.sock");
  ASSERT_TRUE(d.Start()) << d.log();
  // A sleep no other test runs, to find its process.
  const std::string slow = Ctx("slow", "FROM base\nRUN echo started && sleep 173\n");
  const std::string log = s_ / "slow.log";
  RunResult bg = Sh(BuildCommand(d.addr(), slow, "-o type=local,dest=" + Quote(s_ / "slow-out")) +
                    " 2>" + Quote(log) + " & echo $!");
  const int pid = std::stoi(bg.out);
  ASSERT_TRUE(WaitFor(log, "started")) << ReadFileOrEmpty(log) << d.log();
  // Another client builds meanwhile.
  const std::string quick = Ctx("quick", "FROM base\nRUN echo quick > /q\n");
  RunResult other = Sh(BuildCommand(d.addr(), quick, "-o type=local,dest=" + Quote(s_ / "q-out")));
  ASSERT_EQ(other.exit_code, 0) << other.err;
  ::kill(pid, SIGKILL);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // The daemon cancels the orphaned build and keeps serving; nothing of it was written.
  const std::string after = Ctx("after", "FROM base\nRUN echo after > /a\n");
  RunResult r = Sh(BuildCommand(d.addr(), after, "-o type=local,dest=" + Quote(s_ / "a-out")));
  ASSERT_EQ(r.exit_code, 0) << r.err << d.log();
  EXPECT_EQ(ReadFileOrEmpty(s_ / "a-out/a"), "after\n");
  EXPECT_FALSE(std::filesystem::exists(s_ / "slow-out/bin"));
  // The container of the killed client's step is gone within a few seconds.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = Sh("pgrep -f '[s]leep 173'").exit_code != 0;  // [s]: not this shell
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone);
}

TEST_F(DaemonTest, SigkilledDaemonRestartsAndTheNextBuildIsCorrect) {
  auto d = std::make_unique<Daemon>(s_ / "root", s_ / "d.sock");
  ASSERT_TRUE(d->Start()) << d->log();
  const std::string ctx = Ctx("ctx", "FROM base\nRUN echo started && sleep 100\n");
  const std::string log = s_ / "c.log";
  Sh(BuildCommand(d->addr(), ctx, "-o type=oci,dest=" + Quote(s_ / "img.tar")) + " 2>" +
     Quote(log) + " & echo $!");
  ASSERT_TRUE(WaitFor(log, "started")) << ReadFileOrEmpty(log) << d->log();
  d->Kill();
  // The client fails (the daemon went away), leaving no output behind.
  ASSERT_TRUE(WaitFor(log, "ERROR")) << ReadFileOrEmpty(log);
  EXPECT_FALSE(std::filesystem::exists(s_ / "img.tar"));
  d = std::make_unique<Daemon>(s_ / "root", s_ / "d.sock");
  ASSERT_TRUE(d->Start()) << d->log();
  WriteFile(ctx + "/Dockerfile", "FROM base\nRUN echo restarted > /r\n");
  RunResult r = Sh(BuildCommand(d->addr(), ctx, "-o type=local,dest=" + Quote(s_ / "out")));
  ASSERT_EQ(r.exit_code, 0) << r.err << d->log();
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/r"), "restarted\n");
}

TEST_F(DaemonTest, SigtermCancelsRunningBuildsAndReleasesTheRoot) {
  Daemon d(s_ / "root", s_ / "d.sock");
  ASSERT_TRUE(d.Start()) << d.log();
  const std::string ctx = Ctx("ctx", "FROM base\nRUN echo started && sleep 100\n");
  const std::string log = s_ / "c.log";
  Sh(BuildCommand(d.addr(), ctx, "") + " 2>" + Quote(log) + " & echo $!");
  ASSERT_TRUE(WaitFor(log, "started")) << ReadFileOrEmpty(log);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(d.Stop(), 0) << d.log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
  ASSERT_TRUE(WaitFor(log, "ERROR")) << ReadFileOrEmpty(log);
  EXPECT_NE(d.log().find("shutting down"), std::string::npos) << d.log();
  RunResult du = Sh(std::string(HOIST_BIN) + " --root " + Quote(s_ / "root") + " du");
  EXPECT_EQ(du.exit_code, 0) << du.err;
}

TEST_F(DaemonTest, LocalCacheDirectoriesAreTheClientsAlone) {
  std::filesystem::create_directories(s_ / "client");
  // The daemons run where the client's directory is an empty tmpfs of their own: a cache they
  // wrote or read there themselves would never reach the client, nor the client's them.
  const std::string hide = "unshare -m --propagation private sh -c " +
                           Quote("mount -t tmpfs tmpfs " + Quote(s_ / "client") +
                                 " && exec \"$0\" \"$@\"");
  Daemon d(s_ / "root", s_ / "d.sock", "", hide);
  ASSERT_TRUE(d.Start()) << d.log();
  const std::string ctx = Ctx("ctx", "FROM base\nRUN cat /proc/sys/kernel/random/uuid > /random\n");
  RunResult r = Sh(BuildCommand(d.addr(), ctx,
                                "-o type=local,dest=" + Quote(s_ / "out1") +
                                    " --cache-to type=local,dest=" + Quote(s_ / "client/cache") +
                                    ",mode=max"));
  ASSERT_EQ(r.exit_code, 0) << r.err << d.log();
  const std::string first = ReadFileOrEmpty(s_ / "out1/random");
  ASSERT_EQ(first.size(), 37u);
  RunResult verify = Sh(std::string(HOIST_BIN) + " layout verify " + Quote(s_ / "client/cache"));
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(ReadFileOrEmpty(s_ / "client/cache/index.json").find("\"latest\""), std::string::npos);
  // The daemon never learnt the path: not in its log, not anywhere in its root.
  EXPECT_EQ(d.log().find(s_ / "client"), std::string::npos) << d.log();
  EXPECT_NE(Sh("grep -rqF " + Quote(s_ / "client") + " " + Quote(s_ / "root")).exit_code, 0);
  // Another daemon with nothing cached imports through the session and runs nothing again.
  Daemon d2(s_ / "root2", s_ / "d2.sock", "", hide);
  ASSERT_TRUE(d2.Start()) << d2.log();
  r = Sh(BuildCommand(d2.addr(), ctx,
                      "-o type=local,dest=" + Quote(s_ / "out2") +
                          " --cache-from type=local,src=" + Quote(s_ / "client/cache")));
  ASSERT_EQ(r.exit_code, 0) << r.err << d2.log();
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out2/random"), first);
  EXPECT_NE(r.err.find("CACHED"), std::string::npos) << r.err;
  EXPECT_EQ(d2.log().find(s_ / "client"), std::string::npos) << d2.log();
  // A cache directory that is not there warns on the client and the build goes on.
  r = Sh(BuildCommand(d2.addr(), ctx,
                      "--cache-from type=local,src=" + Quote(s_ / "client/none")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("WARNING: failed to import cache from " + s_ / "client/none"),
            std::string::npos)
      << r.err;
}

TEST_F(DaemonTest, ASessionCannotReachAnotherSessionsStore) {
  Daemon d(s_ / "root", s_ / "d.sock");
  ASSERT_TRUE(d.Start()) << d.log();
  // Client A attaches the base as store `shared` and holds its session open.
  const std::string slow = Ctx("slow", "FROM base\nRUN echo started && sleep 30\n");
  const std::string log = s_ / "a.log";
  RunResult bg = Sh(std::string(HOIST_BIN) + " --addr " + Quote(d.addr()) +
                    " build --progress=plain --oci-layout shared=" + Quote(s_ / "base") +
                    " --opt context:base=oci-layout://shared@" + base_digest_ + " " +
                    Quote(slow) + " 2>" + Quote(log) + " & echo $!");
  const int pid = std::stoi(bg.out);
  ASSERT_TRUE(WaitFor(log, "started")) << ReadFileOrEmpty(log);
  // Client B names the same store without attaching it: its own session has no such store.
  const std::string ctx = Ctx("ctx", "FROM base\n");
  RunResult r = Sh(std::string(HOIST_BIN) + " --addr " + Quote(d.addr()) +
                   " build --progress=plain --opt context:base=oci-layout://shared@" +
                   base_digest_ + " " + Quote(ctx));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("shared"), std::string::npos) << r.err;
  ::kill(pid, SIGKILL);
}

TEST_F(DaemonTest, SocketActivation) {
  if (!HaveTool("systemd-socket-activate")) GTEST_SKIP() << "systemd-socket-activate not installed";
  const std::string sock = s_ / "act.sock";
  RunResult bg = Sh("systemd-socket-activate -l " + Quote(sock) + " " +
                    std::string(HOISTD_BIN) + " --root " + Quote(s_ / "root") +
                    " --addr fd:// >" + Quote(s_ / "act.log") + " 2>&1 & echo $!");
  const int pid = std::stoi(bg.out);
  for (int i = 0; i < 100 && !std::filesystem::exists(sock); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string ctx = Ctx("ctx", "FROM base\nRUN echo activated > /x\n");
  RunResult r = Sh(BuildCommand("unix://" + sock, ctx, "-o type=local,dest=" + Quote(s_ / "out")));
  EXPECT_EQ(r.exit_code, 0) << r.err << ReadFileOrEmpty(s_ / "act.log");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/x"), "activated\n");
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 200 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

TEST_F(DaemonTest, TcpNeedsTlsWithClientCertificates) {
  RunResult plain = Sh(std::string(HOISTD_BIN) + " --root " + Quote(s_ / "root") +
                       " --addr tcp://127.0.0.1:0");
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_NE(plain.err.find("--tlscacert"), std::string::npos) << plain.err;
  // A CA, a server certificate for 127.0.0.1 and a client certificate.
  const std::string pki = s_ / "pki";
  std::filesystem::create_directories(pki);
  RunResult gen = Sh(
      "cd " + Quote(pki) + " && "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=ca && "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
      "printf 'subjectAltName=IP:127.0.0.1\\n' > san && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
      "-days 1 -extfile san && "
      "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client && "
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1");
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  const int port = 20000 + (::getpid() % 20000);
  const std::string addr = "tcp://127.0.0.1:" + std::to_string(port);
  RunResult bg = Sh(std::string(HOISTD_BIN) + " --root " + Quote(s_ / "root") + " --addr " +
                    addr + " --tlscacert " + Quote(pki + "/ca.pem") + " --tlscert " +
                    Quote(pki + "/server.pem") + " --tlskey " + Quote(pki + "/server.key") + " >" +
                    Quote(s_ / "tcp.log") + " 2>&1 & echo $!");
  const int pid = std::stoi(bg.out);
  ASSERT_TRUE(WaitFor(s_ / "tcp.log", "hoistd serving", std::chrono::seconds(20)))
      << ReadFileOrEmpty(s_ / "tcp.log");
  const std::string ctx = Ctx("ctx", "FROM base\nRUN echo tls > /t\n");
  const std::string tls = " --tlscacert " + Quote(pki + "/ca.pem") + " --tlscert " +
                          Quote(pki + "/client.pem") + " --tlskey " + Quote(pki + "/client.key");
  RunResult r = Sh(std::string(HOIST_BIN) + " --addr " + addr + tls +
                   " build --progress=plain --build-context base=oci-layout://" +
                   Quote(s_ / "base:1.36") + " -o type=local,dest=" + Quote(s_ / "out") + " " +
                   Quote(ctx));
  EXPECT_EQ(r.exit_code, 0) << r.err << ReadFileOrEmpty(s_ / "tcp.log");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/t"), "tls\n");
  // Without a client certificate the daemon does not serve.
  RunResult anon = Sh(std::string(HOIST_BIN) + " --addr " + addr + " --tlscacert " +
                      Quote(pki + "/ca.pem") + " du");
  EXPECT_NE(anon.exit_code, 0);
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 200 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Registry credentials through hoistd: the daemon has none; each client lends its own through
// the session, and another client (without any, or with other ones) never gets the use of
// them, neither a Basic header nor a token they earned.
class DaemonRegistryAuthTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped()) return;
    if (std::string why = TestRegistry::Unavailable(); !why.empty()) GTEST_SKIP() << why;
  }

  // A registry with `auth` holding the base image as `private:1`, and a daemon started with
  // an empty docker config and HOME of its own.
  void StartRegistryAndDaemon(RegistryOptions::Auth auth) {
    reg_ = TestRegistry::Start({.auth = auth});
    ASSERT_NE(reg_, nullptr);
    RunResult push = Sh("skopeo copy -q --dest-tls-verify=false --dest-creds " +
                        Quote(reg_->username() + ":" + reg_->password()) + " oci:" +
                        Quote(s_ / "base") + ":1.36 docker://" + reg_->host() + "/private:1");
    ASSERT_EQ(push.exit_code, 0) << push.err;
    std::filesystem::create_directories(s_ / "daemon-home");
    daemon_ = std::make_unique<Daemon>(
        s_ / "root", s_ / "d.sock", "",
        "HOME=" + Quote(s_ / "daemon-home") + " DOCKER_CONFIG=" + Quote(s_ / "daemon-docker"));
    ASSERT_TRUE(daemon_->Start()) << daemon_->log();
    creds_ = reg_->WriteDockerConfig(s_ / "client-docker");
    std::filesystem::create_directories(s_ / "nocreds");
  }

  // A build through the daemon with DOCKER_CONFIG=`docker_config`.
  RunResult BuildAs(const std::string& docker_config, const std::string& ctx,
                    const std::string& args) {
    return Sh("DOCKER_CONFIG=" + Quote(docker_config) + " " +
              BuildCommand(daemon_->addr(), ctx, args));
  }

  void ExpectNoPassword(const RunResult& r) {
    EXPECT_EQ(r.out.find(reg_->password()), std::string::npos);
    EXPECT_EQ(r.err.find(reg_->password()), std::string::npos);
    EXPECT_EQ(daemon_->log().find(reg_->password()), std::string::npos);
  }

  std::unique_ptr<TestRegistry> reg_;
  std::unique_ptr<Daemon> daemon_;
  std::string creds_;
};

TEST_F(DaemonRegistryAuthTest, TheClientsDockerConfigPullsAndPushesAndIsNotLentToOthers) {
  StartRegistryAndDaemon(RegistryOptions::Auth::kBasic);
  const std::string from = Ctx("from", "FROM " + reg_->host() + "/private:1\nRUN echo a > /a\n");
  RunResult a = BuildAs(creds_, from, "--push -t " + reg_->host() + "/private:built");
  ASSERT_EQ(a.exit_code, 0) << a.err << daemon_->log();
  ExpectNoPassword(a);
  RunResult inspect = Sh("skopeo inspect --raw --tls-verify=false --creds " +
                         Quote(reg_->username() + ":" + reg_->password()) + " docker://" +
                         reg_->host() + "/private:built");
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  // Another client, without credentials, on the same daemon right after: neither its pull nor
  // its push gets the first client's Basic credentials.
  RunResult b = BuildAs(s_ / "nocreds", from, "");
  EXPECT_NE(b.exit_code, 0);
  EXPECT_NE(b.err.find("unauthorized"), std::string::npos) << b.err;
  const std::string local = Ctx("local", "FROM base\nRUN echo b > /b\n");
  RunResult push = BuildAs(s_ / "nocreds", local, "--push -t " + reg_->host() + "/private:b");
  EXPECT_NE(push.exit_code, 0);
  EXPECT_NE(push.err.find("unauthorized"), std::string::npos) << push.err;
  ExpectNoPassword(push);
}

TEST_F(DaemonRegistryAuthTest, ATokenEarnedWithOneClientsCredentialsIsNeverSentForAnother) {
  StartRegistryAndDaemon(RegistryOptions::Auth::kToken);
  const std::string from = Ctx("from", "FROM " + reg_->host() + "/private:1\nRUN echo a > /a\n");
  RunResult a = BuildAs(creds_, from, "--push -t " + reg_->host() + "/private:built");
  ASSERT_EQ(a.exit_code, 0) << a.err << daemon_->log();
  ExpectNoPassword(a);
  // The daemon now holds tokens for pull and push of `private`, valid for minutes. A client
  // without credentials fetches its own (anonymous, granted nothing) and is refused.
  reg_->ClearTokenLog();
  RunResult b = BuildAs(s_ / "nocreds", from, "");
  EXPECT_NE(b.exit_code, 0);
  EXPECT_NE(b.err.find("unauthorized"), std::string::npos) << b.err;
  const std::string local = Ctx("local", "FROM base\nRUN echo b > /b\n");
  RunResult push = BuildAs(s_ / "nocreds", local, "--push -t " + reg_->host() + "/private:b");
  EXPECT_NE(push.exit_code, 0);
  EXPECT_NE(push.err.find("unauthorized"), std::string::npos) << push.err;
  const nlohmann::json log = nlohmann::json::parse(reg_->TokenLog());
  EXPECT_FALSE(log.empty()) << "the second client should have asked the issuer itself";
  for (const auto& e : log) EXPECT_FALSE(e.value("credentials", true)) << log.dump();
  // The first client still builds, with the tokens its credentials earned.
  RunResult again = BuildAs(creds_, from, "--push -t " + reg_->host() + "/private:again");
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

}  // namespace
}  // namespace hoist::itest
