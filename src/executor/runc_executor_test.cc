// RuncExecutor against the real runc, on a rootfs made of Debian's busybox-static.
#include "executor/runc_executor.h"

#include <poll.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "base/file_system.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "executor/internal/bundle.h"
#include "executor/internal/process.h"
#include "executor/spec.h"

namespace hoist::executor {
namespace {

constexpr const char* kApplets[] = {"sh",    "echo", "cat",  "id",    "ls",   "pwd",  "hostname",
                                    "sleep", "env",  "stat", "touch", "grep", "dd",   "ulimit",
                                    "true",  "false", "mount", "rm",  "find", "head",
                                    "unshare", "awk", "seq"};

class RuncExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto root = TempDir::Create("hoist-exec-rootfs-");
    ASSERT_TRUE(root);
    rootfs_ = std::move(*root);
    auto state = TempDir::Create("hoist-exec-state-");
    ASSERT_TRUE(state);
    state_ = std::move(*state);
    const std::string& r = rootfs_.path();
    for (const char* d : {"/bin", "/etc", "/tmp", "/work"}) {
      ASSERT_EQ(::mkdir((r + d).c_str(), 0755), 0) << d;
    }
    ::chmod((r + "/tmp").c_str(), 01777);
    auto cp = internal::RunCapture({"/bin/cp", "/bin/busybox", r + "/bin/busybox"});
    ASSERT_TRUE(cp && cp->exit_code == 0);
    for (const char* a : kApplets) {
      ASSERT_EQ(::symlink("busybox", (r + "/bin/" + a).c_str()), 0) << a;
    }
    WriteTestFile(r + "/etc/passwd",
                  "root:x:0:0:root:/root:/bin/sh\n"
                  "app:x:1000:1001:App:/home/app:/bin/sh\n");
    WriteTestFile(r + "/etc/group", "root:x:0:\nappgrp:x:1001:\nwheel:x:10:app\n");
    auto e = RuncExecutor::Create({"runc", state_.path() + "/executor"});
    ASSERT_TRUE(e) << e.error().message();
    executor_ = std::move(*e);
  }

  RunRequest Request(std::string script) {
    RunRequest req;
    req.rootfs = {Mount{"bind", rootfs_.path(), {"rbind"}}};
    req.process.args = {"/bin/sh", "-c", std::move(script)};
    req.stdout_sink = [this](std::string_view c) { out_.append(c); };
    req.stderr_sink = [this](std::string_view c) { err_.append(c); };
    return req;
  }

  // Runs and expects success; returns stdout.
  std::string RunOk(const RunRequest& req) {
    out_.clear();
    err_.clear();
    auto r = executor_->Run(req, nullptr);
    EXPECT_TRUE(r) << r.error().message() << "\nstderr: " << err_;
    return out_;
  }

  Result<ExitStatus> RunResult(const RunRequest& req, CancelContext* cancel = nullptr) {
    out_.clear();
    err_.clear();
    return executor_->Run(req, cancel);
  }

  // Mounts under the state dir other than the executor's own tmpfs (bundles, runtime root).
  std::vector<std::string> LeftMounts() {
    auto mounts = MountsUnder(state_.path());
    EXPECT_TRUE(mounts);
    if (!mounts) return {};
    std::vector<std::string> left;
    for (const std::string& m : *mounts) {
      if (m != executor_->bundles_dir() && m != executor_->runtime_root()) left.push_back(m);
    }
    return left;
  }

  void ExpectNothingLeft() {
    auto mounts = LeftMounts();
    EXPECT_TRUE(mounts.empty()) << mounts[0];
    auto list = internal::RunCapture({executor_->runtime_path(), "--root",
                                      executor_->runtime_root(), "list", "--quiet"});
    ASSERT_TRUE(list);
    EXPECT_EQ(list->out, "");
    auto bundles = internal::RunCapture({"/bin/ls", "-A", state_.path() + "/executor/bundles"});
    ASSERT_TRUE(bundles);
    EXPECT_EQ(bundles->out, "");
  }

  TempDir rootfs_;
  TempDir state_;
  std::unique_ptr<RuncExecutor> executor_;
  std::string out_, err_;
};

TEST_F(RuncExecutorTest, ExitCodes) {
  auto r = RunResult(Request("exit 3"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnknown);
  EXPECT_EQ(r.error().message(),
            "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3");
  RunRequest req = Request("exit 3");
  req.valid_exit_codes = {0, 3};
  r = RunResult(req);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->exit_code, 3);
  r = RunResult(Request("false"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "process \"/bin/sh -c false\" did not complete successfully: exit code: 1");
  r = RunResult(Request("true"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  ExpectNothingLeft();
}

TEST_F(RuncExecutorTest, StdoutAndStderrCaptured) {
  auto r = RunResult(Request("echo to-out; echo to-err >&2; echo more"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(out_, "to-out\nmore\n");
  EXPECT_EQ(err_, "to-err\n");
}

TEST_F(RuncExecutorTest, EnvCwdAndDefaultPath) {
  RunRequest req = Request("echo \"$GREETING|$PATH\"; pwd");
  req.process.env = {"GREETING=hello world"};
  req.process.cwd = "/work";
  EXPECT_EQ(RunOk(req),
            "hello world|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/work\n");
  req.process.env = {"PATH=/bin"};
  EXPECT_EQ(RunOk(req), "|/bin\n/work\n");
}

TEST_F(RuncExecutorTest, UserByNameAndId) {
  RunRequest req = Request("id -u; id -g; id -G");
  req.process.user = "app";
  EXPECT_EQ(RunOk(req), "1000\n1001\n1001 10\n");
  req.process.user = "1000:10";
  EXPECT_EQ(RunOk(req), "1000\n10\n10\n");
  req.process.user = "4242";
  EXPECT_EQ(RunOk(req), "4242\n0\n0\n");
  req.process.user = "app:appgrp";
  req.process.additional_groups = {"wheel", "77"};
  EXPECT_EQ(RunOk(req), "1000\n1001\n1001 10 77\n");
}

TEST_F(RuncExecutorTest, UnknownUser) {
  RunRequest req = Request("true");
  req.process.user = "nobody2";
  auto r = RunResult(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_EQ(r.error().message(), "unable to find user nobody2: no matching entries in passwd file");
  ExpectNothingLeft();
}

TEST_F(RuncExecutorTest, MissingBinary) {
  RunRequest req = Request("");
  req.process.args = {"/bin/does-not-exist", "x"};
  auto r = RunResult(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnknown);
  EXPECT_NE(r.error().message().find("process \"/bin/does-not-exist x\" could not be started: "),
            std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("no such file or directory"), std::string::npos)
      << r.error().message();
  req.process.args = {"nonexistent-tool"};
  r = RunResult(req);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find(
                "exec: \"nonexistent-tool\": executable file not found in $PATH"),
            std::string::npos)
      << r.error().message();
  ExpectNothingLeft();
}

TEST_F(RuncExecutorTest, HostnameAndEtcFiles) {
  RunRequest req = Request("hostname; cat /etc/hostname; cat /etc/hosts; grep -c nameserver "
                           "/etc/resolv.conf");
  req.hostname = "box1";
  req.extra_hosts = {{"db", "10.1.2.3"}};
  EXPECT_EQ(RunOk(req),
            "box1\nbox1\n127.0.0.1\tlocalhost box1\n::1\tlocalhost ip6-localhost "
            "ip6-loopback\n10.1.2.3\tdb\n1\n");
  // The generated files leave no stubs in a rootfs that had none; /proc, /dev and /sys stay,
  // empty, as BuildKit's steps leave them.
  struct stat st;
  EXPECT_NE(::lstat((rootfs_.path() + "/etc/hosts").c_str(), &st), 0);
  EXPECT_NE(::lstat((rootfs_.path() + "/etc/resolv.conf").c_str(), &st), 0);
  for (const char* d : {"/proc", "/dev", "/sys"}) {
    ASSERT_EQ(::lstat((rootfs_.path() + d).c_str(), &st), 0) << d;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << d;
    EXPECT_EQ(st.st_mode & 07777, 0755u) << d;
  }
}

TEST_F(RuncExecutorTest, NetworkNoneHasOnlyLoopback) {
  RunRequest req = Request("ls /sys/class/net");
  req.network = NetworkMode::kNone;
  EXPECT_EQ(RunOk(req), "lo\n");
  req.network = NetworkMode::kHost;
  std::string host = RunOk(req);
  auto listing = internal::RunCapture({"/bin/ls", "/sys/class/net"});
  ASSERT_TRUE(listing);
  EXPECT_EQ(host, listing->out);
  req.network = NetworkMode::kDefault;
  EXPECT_EQ(RunOk(req), listing->out);
}

TEST_F(RuncExecutorTest, BindMountsReadOnlyAndReadWrite) {
  auto dir = TempDir::Create("hoist-exec-bind-");
  ASSERT_TRUE(dir);
  WriteTestFile(dir->path() + "/in", "from host\n");
  RunRequest req = Request("cat /ro/in; touch /ro/x 2>/dev/null && echo ro-writable; "
                           "echo written > /rw/out; cat /m/in");
  ExecMount ro;
  ro.kind = ExecMount::Kind::kBind;
  ro.destination = "/ro";
  ro.source = dir->path();
  ro.read_only = true;
  ExecMount rw = ro;
  rw.destination = "/rw";
  rw.read_only = false;
  ExecMount m;
  m.kind = ExecMount::Kind::kMounts;
  m.destination = "/m";
  m.mounts = {Mount{"bind", dir->path(), {"rbind"}}};
  m.read_only = true;
  req.mounts = {ro, rw, m};
  EXPECT_EQ(RunOk(req), "from host\nfrom host\n");
  EXPECT_EQ(ReadTestFile(dir->path() + "/out"), "written\n");
  struct stat st;
  EXPECT_NE(::lstat((dir->path() + "/x").c_str(), &st), 0);
  EXPECT_NE(::lstat((rootfs_.path() + "/ro").c_str(), &st), 0) << "mount stub left";
  ExpectNothingLeft();
}

TEST_F(RuncExecutorTest, BindSourceMissing) {
  RunRequest req = Request("true");
  ExecMount b;
  b.kind = ExecMount::Kind::kBind;
  b.destination = "/src";
  b.source = rootfs_.path() + "/nope";
  req.mounts = {b};
  auto r = RunResult(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_NE(r.error().message().find("bind mount source for /src"), std::string::npos)
      << r.error().message();
  ExpectNothingLeft();
}

TEST_F(RuncExecutorTest, TmpfsWithSize) {
  RunRequest req = Request(
      "grep ' /scratch ' /proc/mounts | grep -o 'size=[0-9a-z]*'; "
      "dd if=/dev/zero of=/scratch/f bs=1024 count=2048 2>/dev/null || echo full");
  ExecMount t;
  t.kind = ExecMount::Kind::kTmpfs;
  t.destination = "/scratch";
  t.tmpfs_size_bytes = 1024 * 1024;
  req.mounts = {t};
  EXPECT_EQ(RunOk(req), "size=1024k\nfull\n");
}

TEST_F(RuncExecutorTest, SecretsFileAndEnv) {
  RunRequest req = Request(
      "cat /run/secrets/token; echo; stat -c '%a %u %g' /run/secrets/token; echo \"$API_KEY\"; "
      "(echo x > /run/secrets/token) 2>/dev/null && echo secret-writable; true");
  ExecMount s;
  s.kind = ExecMount::Kind::kSecret;
  s.destination = "/run/secrets/token";
  s.secret_data = "s3cr3t-value";
  s.uid = 1000;
  s.gid = 1001;
  s.mode = 0440;
  req.mounts = {s};
  req.secret_env = {"API_KEY=k-123"};
  EXPECT_EQ(RunOk(req), "s3cr3t-value\n440 1000 1001\nk-123\n");
  // No trace in the rootfs: neither the stub nor the bytes.
  struct stat st;
  EXPECT_NE(::lstat((rootfs_.path() + "/run").c_str(), &st), 0);
  auto grep = internal::RunCapture({"/bin/grep", "-rl", "s3cr3t-value", rootfs_.path(),
                                    state_.path()});
  ASSERT_TRUE(grep);
  EXPECT_EQ(grep->out, "");
  ExpectNothingLeft();
}

TEST_F(RuncExecutorTest, Ulimits) {
  RunRequest req = Request("ulimit -n; ulimit -Hn");
  req.ulimits = {{"nofile", 512, 1024}};
  EXPECT_EQ(RunOk(req), "512\n1024\n");
  // Above the host's hard limit: clamped rather than failing to start.
  const uint64_t host = HostHardLimits().at("nofile");
  req.ulimits = {{"nofile", 1 << 30, 1 << 30}};
  EXPECT_EQ(RunOk(req), fmt::format("{}\n{}\n", host, host));
  req.ulimits = {{"bogus", 1, 1}};
  auto r = RunResult(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "ulimit \"bogus\": unknown resource (known: nofile, nproc, core, ...)");
  ExpectNothingLeft();
}

TEST_F(RuncExecutorTest, ReadOnlyRootfs) {
  RunRequest req = Request("touch /work/f 2>/dev/null && echo writable; echo done");
  req.rootfs_read_only = true;
  EXPECT_EQ(RunOk(req), "done\n");
  req.rootfs_read_only = false;
  EXPECT_EQ(RunOk(req), "writable\ndone\n");
}

TEST_F(RuncExecutorTest, SandboxAndInsecureCapabilities) {
  RunRequest req = Request("grep CapEff /proc/self/status");
  EXPECT_EQ(RunOk(req), "CapEff:\t00000000a80425fb\n");
  req.security = SecurityMode::kInsecure;
  EXPECT_EQ(RunOk(req), fmt::format("CapEff:\t{:016x}\n", HostCapabilities()));
}

TEST_F(RuncExecutorTest, SandboxHasTheDefaultSeccompProfileInsecureNone) {
  // unshare(CLONE_NEWUSER) needs no capability: only the profile refuses it.
  RunRequest req = Request("grep Seccomp: /proc/self/status; unshare -U true && echo unshared");
  out_.clear();
  err_.clear();
  auto r = executor_->Run(req, nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(out_, "Seccomp:\t2\n");
  EXPECT_NE(err_.find("Operation not permitted"), std::string::npos) << err_;
  req.security = SecurityMode::kInsecure;
  EXPECT_EQ(RunOk(req), "Seccomp:\t0\nunshared\n");
}

TEST_F(RuncExecutorTest, StepLimitsFromTheOptions) {
  auto limited = RuncExecutor::Create({.runtime = "runc",
                                       .state_dir = state_.path() + "/limited",
                                       .memory_limit_bytes = 32 << 20,
                                       .pids_limit = 10});
  ASSERT_TRUE(limited) << limited.error().message();
  std::swap(executor_, *limited);
  // pids: a fork past the limit fails inside the step.
  RunRequest req = Request("for i in $(seq 1 20); do sleep 1 & done; wait");
  auto r = RunResult(req);
  ASSERT_FALSE(r) << out_ << err_;
  EXPECT_EQ(r.error().message(),
            "process \"/bin/sh -c for i in $(seq 1 20); do sleep 1 & done; wait\" did not "
            "complete successfully: exit code: 2");
  EXPECT_NE(err_.find("can't fork"), std::string::npos) << err_;
  // memory: the OOM killer's work is named.
  req = Request("awk 'BEGIN { s = \"a\"; while (1) s = s s }'");
  r = RunResult(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "process \"/bin/sh -c awk 'BEGIN { s = \"a\"; while (1) s = s s }'\" did not complete "
            "successfully: exit code: 137: out of memory: the kernel's OOM killer stopped the step "
            "at its memory limit of 32MiB (step-limits.memory in the engine's configuration)");
  // A step killed otherwise is not said to have run out of memory (the shell is the
  // container's init, which SIGKILL from inside cannot reach: a child shell kills itself).
  req = Request("sh -c 'kill -9 $$'; exit $?");
  r = RunResult(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "process \"/bin/sh -c sh -c 'kill -9 $$'; exit $?\" did not complete successfully: exit code: "
            "137");
  // Within the limits all is as before, and the kept containers are gone afterwards.
  EXPECT_EQ(RunOk(Request("echo fine")), "fine\n");
  auto left = internal::RunCapture(
      {executor_->runtime_path(), "--root", executor_->runtime_root(), "list", "-q"});
  ASSERT_TRUE(left);
  EXPECT_EQ(left->out, "");
  std::swap(executor_, *limited);
}

TEST_F(RuncExecutorTest, CancellationKillsPromptlyAndCleansUp) {
  auto cancel = CancelContext::Background();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    cancel->Cancel("build cancelled");
  });
  auto start = std::chrono::steady_clock::now();
  auto r = RunResult(Request("echo started; sleep 100"), cancel.get());
  auto elapsed = std::chrono::steady_clock::now() - start;
  canceller.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kCancelled);
  EXPECT_NE(r.error().message().find("process \"/bin/sh -c echo started; sleep 100\""),
            std::string::npos)
      << r.error().message();
  EXPECT_LT(elapsed, std::chrono::seconds(10));
  EXPECT_EQ(out_, "started\n");
  ExpectNothingLeft();
}

TEST_F(RuncExecutorTest, AlreadyCancelledDoesNotStart) {
  auto cancel = CancelContext::Background();
  cancel->Cancel("stop");
  auto r = RunResult(Request("echo ran"), cancel.get());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kCancelled);
  EXPECT_EQ(out_, "");
}

TEST_F(RuncExecutorTest, ConcurrentRuns) {
  // Two runs share one rootfs here (the engine gives each its own snapshot), so the mount
  // points must exist already: one run's stub cleanup would otherwise remove the other's.
  const std::string& r0 = rootfs_.path();
  for (const char* d : {"/dev", "/proc", "/sys"}) ::mkdir((r0 + d).c_str(), 0755);
  for (const char* f : {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}) {
    ::close(::open((r0 + f).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  }
  std::string a, b;
  RunRequest ra = Request("sleep 0.3; echo a");
  ra.stdout_sink = [&](std::string_view c) { a.append(c); };
  RunRequest rb = Request("echo b");
  rb.stdout_sink = [&](std::string_view c) { b.append(c); };
  std::thread t([&] {
    auto r = executor_->Run(ra, nullptr);
    EXPECT_TRUE(r) << r.error().message();
  });
  auto r = executor_->Run(rb, nullptr);
  EXPECT_TRUE(r) << r.error().message();
  t.join();
  EXPECT_EQ(a, "a\n");
  EXPECT_EQ(b, "b\n");
  ExpectNothingLeft();
}

TEST_F(RuncExecutorTest, StaleBundlesCleanedOnConstruction) {
  // What a crash leaves: a bundle with its rootfs still mounted.
  const std::string bundle = state_.path() + "/executor/bundles/hoist-stale";
  ASSERT_EQ(::mkdir(bundle.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((bundle + "/rootfs").c_str(), 0755), 0);
  ASSERT_EQ(::mount(rootfs_.path().c_str(), (bundle + "/rootfs").c_str(), nullptr, MS_BIND,
                    nullptr),
            0);
  auto again = RuncExecutor::Create({"runc", state_.path() + "/executor"});
  ASSERT_TRUE(again) << again.error().message();
  struct stat st;
  EXPECT_NE(::lstat(bundle.c_str(), &st), 0);
  // The rootfs the stale bundle had mounted is intact.
  EXPECT_EQ(::lstat((rootfs_.path() + "/bin/busybox").c_str(), &st), 0);
  ExpectNothingLeft();
}

TEST_F(RuncExecutorTest, StaleContainersDeletedOnConstruction) {
  // What a crash leaves: a container the runtime still knows under the executor's root.
  const std::string bundle = state_.path() + "/stale-bundle";
  ASSERT_EQ(::mkdir(bundle.c_str(), 0700), 0);
  SpecInput spec;
  spec.rootfs_path = rootfs_.path();
  spec.args = {"/bin/true"};
  auto config = GenerateSpec(spec);
  ASSERT_TRUE(config) << config.error().message();
  WriteTestFile(bundle + "/config.json", *config);
  // Its init holds the stdio it was given until the container is deleted: /dev/null, not the
  // pipes of a RunCapture.
  auto created = internal::Spawn({executor_->runtime_path(), "--root", executor_->runtime_root(),
                                  "create", "--bundle", bundle, "hoist-stale"},
                                 -1, -1, -1);
  ASSERT_TRUE(created) << created.error().message();
  ASSERT_EQ(internal::ExitCodeOf(created->Wait()), 0);
  auto listed = internal::RunCapture({executor_->runtime_path(), "--root",
                                      executor_->runtime_root(), "list", "--quiet"});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->out, "hoist-stale\n");
  auto again = RuncExecutor::Create({"runc", state_.path() + "/executor"});
  ASSERT_TRUE(again) << again.error().message();
  ExpectNothingLeft();
}

bool IsTmpfs(const std::string& path) {
  struct statfs fs;
  return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

TEST_F(RuncExecutorTest, BundlesAndRuntimeStateOnTmpfs) {
  EXPECT_TRUE(IsTmpfs(executor_->bundles_dir()));
  EXPECT_TRUE(IsTmpfs(executor_->runtime_root()));
  RunOk(Request("true"));
  // What a crash leaves: an executor that never unmounted. The next one mounts afresh, on
  // top of nothing.
  RuncExecutor* crashed = executor_.release();
  auto e = RuncExecutor::Create({"runc", state_.path() + "/executor"});
  ASSERT_TRUE(e) << e.error().message();
  executor_ = std::move(*e);
  auto mounts = MountsUnder(state_.path());
  ASSERT_TRUE(mounts);
  EXPECT_EQ(mounts->size(), 2u) << fmt::format("{}", fmt::join(*mounts, " "));
  EXPECT_EQ(RunOk(Request("echo again")), "again\n");
  ExpectNothingLeft();
  executor_.reset();
  mounts = MountsUnder(state_.path());
  ASSERT_TRUE(mounts);
  EXPECT_TRUE(mounts->empty()) << (*mounts)[0];
  delete crashed;  // its mounts are gone already: nothing to undo
}

TEST(ChildProcess, ExitFdIsReadableOnceTheChildExited) {
  auto child = internal::Spawn({"/bin/sh", "-c", "sleep 0.2"}, -1, -1, -1);
  ASSERT_TRUE(child) << child.error().message();
  UniqueFd exited = child->ExitFd();
  ASSERT_TRUE(exited) << "pidfd_open: " << std::strerror(errno);
  struct pollfd p = {exited.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);  // still running
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // Readable means reapable: no wait is needed.
  auto status = child->TryWait();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(internal::ExitCodeOf(*status), 0);
  EXPECT_FALSE(child->ExitFd());  // reaped
}

TEST(FindRuntime, NamesAndPaths) {
  auto r = FindRuntime("runc");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->front(), '/');
  r = FindRuntime("no-such-runtime");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_EQ(r.error().message(), "runtime \"no-such-runtime\": not found in PATH");
  r = FindRuntime("/nonexistent/runc");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "runtime /nonexistent/runc: No such file or directory");
  auto e = RuncExecutor::Create({"no-such-runtime", "/tmp/hoist-never-created"});
  ASSERT_FALSE(e);
  e = RuncExecutor::Create({"runc", "relative/state"});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message(), "executor state dir \"relative/state\": must be an absolute path");
}

bool HybridHost() {
  struct statfs fs;
  return ::statfs("/sys/fs/cgroup/unified", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

TEST(ProbeRuntime, RuncWorksCrunReportsItsError) {
  auto state = TempDir::Create("hoist-probe-");
  ASSERT_TRUE(state);
  Status runc = ProbeRuntime("runc", state->path() + "/runc");
  EXPECT_TRUE(runc) << runc.error().message();
  // This test process keeps the host's mount namespace, so crun sees the host's cgroups.
  ASSERT_FALSE(InPrivateMountNamespace());
  Status crun = ProbeRuntime("crun", state->path() + "/crun");
  if (HybridHost()) {
    // crun 1.8 refuses hybrid cgroup hosts; its own message must reach the caller.
    ASSERT_FALSE(crun);
    EXPECT_NE(crun.error().message().find("runtime crun probe: "), std::string::npos)
        << crun.error().message();
    EXPECT_NE(crun.error().message().find("cgroups in hybrid mode not supported"),
              std::string::npos)
        << crun.error().message();
  } else {
    EXPECT_TRUE(crun) << crun.error().message();
  }
}

TEST(DefaultRuntime, TriesInOrderAndRemembersEachOutcome) {
  auto state = TempDir::Create("hoist-probe-");
  ASSERT_TRUE(state);
  // A runtime that refuses every container, as crun 1.8 does on a hybrid cgroup host.
  const std::string refusing = state->path() + "/refusing-runtime";
  WriteTestFile(refusing, "#!/bin/sh\necho 'cgroups here are not supported' >&2\nexit 1\n");
  ASSERT_EQ(::chmod(refusing.c_str(), 0755), 0);
  const std::string root = state->path() + "/default";
  const std::string host = state->path() + "/host";
  const std::string runc = *FindRuntime("runc");
  const std::vector<std::string> order = {refusing, "runc"};
  auto def = DefaultRuntime(root, host, order);
  ASSERT_TRUE(def) << def.error().message();
  EXPECT_EQ(*def, runc);
  auto mounts = MountsUnder(state->path());
  ASSERT_TRUE(mounts);
  EXPECT_TRUE(mounts->empty());
  // The first failed and the second passed; both outcomes are kept, in the root and for the
  // host.
  const std::string refused_text = ReadTestFile(root + "/probe-refusing-runtime.json");
  EXPECT_NE(refused_text.find("\"passed\":false"), std::string::npos) << refused_text;
  EXPECT_NE(refused_text.find("cgroups here are not supported"), std::string::npos) << refused_text;
  const std::string runc_text = ReadTestFile(root + "/probe-runc.json");
  EXPECT_NE(runc_text.find("\"passed\":true"), std::string::npos) << runc_text;
  EXPECT_EQ(ReadTestFile(host + "/runtime-probe-refusing-runtime.json"), refused_text);
  EXPECT_EQ(ReadTestFile(host + "/runtime-probe-runc.json"), runc_text);

  // The records alone answer: with the probes' state dirs made unusable, no probe can run.
  auto break_probes = [&](const std::string& dir) {
    ASSERT_TRUE(PosixFileSystem()->MakeDirs(dir, 0700));
    for (const char* name : {"probe-runc", "probe-refusing-runtime"}) {
      ASSERT_TRUE(RemoveAll(dir + "/" + name));
      WriteTestFile(dir + "/" + name, "not a directory");
    }
  };
  break_probes(root);
  auto remembered = DefaultRuntime(root, "", order);
  ASSERT_TRUE(remembered) << remembered.error().message();
  EXPECT_EQ(*remembered, runc);
  auto only_refusing = DefaultRuntime(root, "", {refusing});
  ASSERT_FALSE(only_refusing);
  EXPECT_NE(only_refusing.error().message().find("no working OCI runtime: runtime " + refusing +
                                                 " probe: "),
            std::string::npos)
      << only_refusing.error().message();
  EXPECT_NE(only_refusing.error().message().find("cgroups here are not supported"),
            std::string::npos)
      << only_refusing.error().message();

  // A record that no longer matches this boot and binary is not trusted: the probe runs again
  // (and fails here, its state dir being a file).
  std::string stale = runc_text;
  const size_t at = stale.find("\"identity\":\"") + 12;
  stale[at] = stale[at] == '0' ? '1' : '0';  // another boot ID
  WriteTestFile(root + "/probe-runc.json", stale);
  EXPECT_FALSE(DefaultRuntime(root, "", {"runc"}));

  // The host's records answer for a root that has none, and the root then keeps its own; a
  // stale host record is not trusted either.
  break_probes(state->path() + "/fresh");
  auto from_host = DefaultRuntime(state->path() + "/fresh", host, order);
  ASSERT_TRUE(from_host) << from_host.error().message();
  EXPECT_EQ(*from_host, runc);
  EXPECT_EQ(ReadTestFile(state->path() + "/fresh/probe-runc.json"), runc_text);
  EXPECT_EQ(ReadTestFile(state->path() + "/fresh/probe-refusing-runtime.json"), refused_text);
  WriteTestFile(host + "/runtime-probe-runc.json", stale);
  ASSERT_TRUE(RemoveAll(state->path() + "/fresh/probe-runc.json"));
  EXPECT_FALSE(DefaultRuntime(state->path() + "/fresh", host, {"runc"}));

  // crun goes first, but runc where steps have a memory limit (only runc can keep a container
  // to read its OOM count).
  EXPECT_EQ(RuntimePreference(false), (std::vector<std::string>{"crun", "runc"}));
  EXPECT_EQ(RuntimePreference(true), (std::vector<std::string>{"runc", "crun"}));
}

// In a mount namespace of the engine's own, crun runs on a hybrid host too, each container lands
// inside the engine's cgroup in every hierarchy, as runc puts it, and a step's layer gets the
// same mount points as with runc.
TEST(DefaultRuntime, CrunInTheEnginesNamespaceNestsUnderItsCgroups) {
  auto state = TempDir::Create("hoist-crun-");
  ASSERT_TRUE(state);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // A child, alone in its process: the namespace is per process.
    ::close(pipe_fds[0]);
    std::string report;
    auto finish = [&](int code) {
      (void)!::write(pipe_fds[1], report.data(), report.size());
      ::_exit(code);
    };
    if (auto s = EnterPrivateMountNamespace(); !s) {
      report = s.error().message();
      finish(2);
    }
    auto def = DefaultRuntime(state->path() + "/executor", "", RuntimePreference(false));
    if (!def || *def != *FindRuntime("crun")) {
      report = def ? "chose " + *def : def.error().message();
      finish(3);
    }
    auto e = RuncExecutor::Create({"crun", state->path() + "/executor"});
    if (!e) {
      report = e.error().message();
      finish(4);
    }
    RunRequest req;
    req.rootfs = {Mount{"bind", "/", {"bind", "ro"}}};
    req.rootfs_read_only = true;
    req.network = NetworkMode::kNone;
    req.process.args = {"/bin/cat", "/proc/self/cgroup"};
    std::string out;
    req.stdout_sink = [&](std::string_view c) { out.append(c); };
    auto r = (*e)->Run(req, nullptr);
    if (!r) {
      report = r.error().message();
      finish(5);
    }
    // The mount points crun has to make in a rootfs (here one with no /dev, /proc, /sys) are
    // the directories runc would make, so that either runtime gives a step the same layer.
    const std::string rootfs = state->path() + "/rootfs";
    for (const char* d : {"", "/bin"}) ::mkdir((rootfs + d).c_str(), 0755);
    auto cp = internal::RunCapture({"/bin/cp", "/bin/busybox", rootfs + "/bin/busybox"});
    if (!cp || cp->exit_code != 0 || ::symlink("busybox", (rootfs + "/bin/sh").c_str()) != 0) {
      report = "could not make a rootfs";
      finish(6);
    }
    RunRequest step;
    step.rootfs = {Mount{"bind", rootfs, {"rbind"}}};
    step.network = NetworkMode::kNone;
    step.process.args = {"/bin/sh", "-c", "true"};
    if (auto ran = (*e)->Run(step, nullptr); !ran) {
      report = ran.error().message();
      finish(7);
    }
    for (const char* d : {"/dev", "/proc", "/sys"}) {
      struct stat st;
      if (::lstat((rootfs + d).c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
          (st.st_mode & 07777) != 0755 || st.st_uid != 0) {
        report = fmt::format("{}: mode {:o}, owner {}", d, st.st_mode & 07777, st.st_uid);
        finish(8);
      }
    }
    report = ReadTestFile("/proc/self/cgroup") + "--\n" + out;
    finish(0);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0;) report.append(buf, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << report;
  // Every v1 hierarchy of the engine has the container's cgroup inside its own.
  const size_t split = report.find("--\n");
  ASSERT_NE(split, std::string::npos) << report;
  auto hierarchies = [](const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      const size_t a = line.find(':'), b = line.find(':', a + 1);
      if (b != std::string::npos && b > a + 1)
        out[line.substr(a + 1, b - a - 1)] = line.substr(b + 1);
    }
    return out;
  };
  const auto engine = hierarchies(report.substr(0, split));
  const auto container = hierarchies(report.substr(split + 3));
  ASSERT_FALSE(engine.empty()) << report;
  for (const auto& [controllers, path] : engine) {
    ASSERT_TRUE(container.count(controllers)) << controllers << "\n" << report;
    const std::string& inner = container.at(controllers);
    const std::string prefix = path == "/" ? "/" : path + "/";
    EXPECT_TRUE(inner.starts_with(prefix) && inner.size() > prefix.size())
        << controllers << ": " << inner << " is not inside " << path;
    EXPECT_NE(inner.find("/hoist-"), std::string::npos) << inner;
  }
}

}  // namespace
}  // namespace hoist::executor
