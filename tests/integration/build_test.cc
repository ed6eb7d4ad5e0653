// `hoist build` end to end on the embedded engine: a real OCI runtime (runc), overlayfs, and
// OCI layouts as named contexts (SPEC-oci-layout.md §5).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "harness.h"

namespace hoist::itest {
namespace {

using nlohmann::json;

class BuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root (overlayfs, runc)";
    base_digest_ = MakeBaseImage(s_ / "base", "busybox:1.36");
    ASSERT_EQ(base_digest_.size(), 71u) << base_digest_;
    std::filesystem::create_directories(s_ / "ctx");
  }

  // Runs `hoist --root R build ARGS CTX` with plain progress.
  RunResult Build(const std::string& args, const std::string& ctx = "") {
    return Hoist("--root " + Quote(s_ / "root") + " build --progress=plain " + args + " " +
                 Quote(ctx.empty() ? s_ / "ctx" : ctx));
  }
  void Dockerfile(const std::string& text) { WriteFile(s_ / "ctx/Dockerfile", text); }
  std::string BaseContext() const { return "--build-context base=oci-layout://" + Quote(s_ / "base:1.36"); }

  Scratch s_;
  std::string base_digest_;
};

TEST_F(BuildTest, FromLayoutRunCopyAndLocalOutput) {
  Dockerfile(
      "FROM base\n"
      "RUN echo hello > /greeting && id -u > /uid\n"
      "WORKDIR /app\n"
      "COPY app.txt .\n");
  WriteFile(s_ / "ctx/app.txt", "my app\n");
  auto before = TreeDigest(s_ / "base");
  RunResult r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/greeting"), "hello\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/uid"), "0\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/app/app.txt"), "my app\n");
  EXPECT_TRUE(std::filesystem::exists(s_ / "out/bin/busybox"));
  // The progress speaks of the context as the SPEC says, and never of the layout's path.
  EXPECT_NE(r.err.find("[context base] OCI load from client"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(s_.path() + "/base"), std::string::npos) << r.err;
  // Nothing was written into the input layout.
  EXPECT_EQ(TreeDigest(s_ / "base"), before);
}

TEST_F(BuildTest, SecondBuildIsFullyCachedAndContextChangesRerunOnlyDependents) {
  Dockerfile(
      "FROM base\n"
      "COPY a.txt /a.txt\n"
      "RUN cat /proc/sys/kernel/random/uuid > /a.stamp\n"
      "COPY b.txt /b.txt\n"
      "RUN cat /proc/sys/kernel/random/uuid > /b.stamp\n");
  WriteFile(s_ / "ctx/a.txt", "a\n");
  WriteFile(s_ / "ctx/b.txt", "b\n");
  WriteFile(s_ / "ctx/unrelated.txt", "1\n");
  const std::string out = " -o type=local,dest=";
  RunResult r = Build(BaseContext() + out + Quote(s_ / "o1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Same inputs: nothing runs again.
  WriteFile(s_ / "ctx/unrelated.txt", "2\n");
  r = Build(BaseContext() + out + Quote(s_ / "o2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/a.stamp"), ReadFileOrEmpty(s_ / "o1/a.stamp"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/b.stamp"), ReadFileOrEmpty(s_ / "o1/b.stamp"));
  EXPECT_NE(r.err.find("CACHED"), std::string::npos) << r.err;
  // Changing b.txt re-runs the steps after COPY b.txt only.
  WriteFile(s_ / "ctx/b.txt", "b2\n");
  r = Build(BaseContext() + out + Quote(s_ / "o3"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o3/a.stamp"), ReadFileOrEmpty(s_ / "o1/a.stamp"));
  EXPECT_NE(ReadFileOrEmpty(s_ / "o3/b.stamp"), ReadFileOrEmpty(s_ / "o1/b.stamp"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o3/b.txt"), "b2\n");
  // --no-cache runs everything again.
  r = Build("--no-cache " + BaseContext() + out + Quote(s_ / "o4"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(ReadFileOrEmpty(s_ / "o4/a.stamp"), ReadFileOrEmpty(s_ / "o1/a.stamp"));
}

TEST_F(BuildTest, MultiStageWithCacheAndSecretMounts) {
  Dockerfile(
      "FROM base AS build\n"
      "RUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count\n"
      "RUN --mount=type=secret,id=token cat /run/secrets/token > /seen\n"
      "FROM base\n"
      "COPY --from=build /count /seen /out/\n"
      "RUN --mount=type=secret,id=token,target=/tok test -s /tok\n");
  WriteFile(s_ / "token", "s3cret-value");
  const std::string flags = BaseContext() + " --secret id=token,src=" + Quote(s_ / "token");
  RunResult r = Build(flags + " -o type=local,dest=" + Quote(s_ / "o1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o1/out/seen"), "s3cret-value");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o1/out/count"), "1\n");
  // The secret's mount point leaves no file behind.
  EXPECT_FALSE(std::filesystem::exists(s_ / "o1/tok") &&
               std::filesystem::file_size(s_ / "o1/tok") > 0);
  // The cache mount persists across builds.
  r = Build("--no-cache " + flags + " -o type=local,dest=" + Quote(s_ / "o2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/out/count"), "2\n");
  // A missing secret: an optional mount is left out, a required one is an error naming it.
  Dockerfile("FROM base\nRUN --mount=type=secret,id=token test ! -e /run/secrets/token\n"
             "RUN --mount=type=secret,id=token,required=true true\n");
  r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("secret token not found"), std::string::npos) << r.err;
}

TEST_F(BuildTest, FailingRunNamesTheCommandAndExitCode) {
  Dockerfile("FROM base\nRUN echo before-fail && exit 3\n");
  RunResult r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("did not complete successfully: exit code: 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("before-fail"), std::string::npos) << r.err;
}

TEST_F(BuildTest, NamedContextsReplaceAStageOrABaseAndCarryEnv) {
  // An image with ENV, built by hoist into a layout: chaining builds through layouts.
  Dockerfile("FROM base\nENV FROMLAYOUT=yes\nRUN echo layered > /layered\n");
  RunResult r = Build(BaseContext() + " -o type=oci,tar=false,dest=" + Quote(s_ / "envimg") +
                      " -t envimg:1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::filesystem::create_directories(s_ / "ctx2");
  WriteFile(s_ / "ctx2/Dockerfile",
            "FROM busybox AS base\n"
            "RUN false\n"
            "FROM foo AS env\n"
            "RUN echo \"$FROMLAYOUT\" > /env-seen\n"
            "FROM base\n"
            "COPY --from=env /env-seen /layered /\n");
  r = Build(BaseContext() + " --build-context foo=oci-layout://" + Quote(s_ / "envimg:1") +
                " -o type=local,dest=" + Quote(s_ / "out"),
            s_ / "ctx2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/env-seen"), "yes\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/layered"), "layered\n");
}

TEST_F(BuildTest, OnbuildTriggersFromALayoutRun) {
  Dockerfile("FROM base\nONBUILD RUN echo triggered > /onbuild\n");
  RunResult r = Build(BaseContext() + " -o type=oci,tar=false,dest=" + Quote(s_ / "parent"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::filesystem::create_directories(s_ / "ctx2");
  WriteFile(s_ / "ctx2/Dockerfile", "FROM parent\nRUN test -f /onbuild\n");
  r = Build("--build-context parent=oci-layout://" + Quote(s_ / "parent") +
                " -o type=local,dest=" + Quote(s_ / "out"),
            s_ / "ctx2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/onbuild"), "triggered\n");
}

TEST_F(BuildTest, TwoStoresAttachedAtOnceEachReadByItsId) {
  MakeBaseImage(s_ / "other", "busybox:other");
  Dockerfile("FROM one\nCOPY --from=two /bin/busybox /two-busybox\n");
  const std::string digest_two =
      Sh("jq -r '.manifests[0].digest' " + Quote(s_ / "other/index.json")).out.substr(0, 71);
  RunResult r = Build("--oci-layout s1=" + Quote(s_ / "base") + " --oci-layout s2=" +
                      Quote(s_ / "other") + " --opt context:one=oci-layout://s1@" + base_digest_ +
                      " --opt context:two=oci-layout://s2@" + digest_two +
                      " -o type=local,dest=" + Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(s_ / "out/two-busybox"));
}

TEST_F(BuildTest, ReadOnlyLayoutWorks) {
  ASSERT_EQ(Sh("mkdir -p " + Quote(s_ / "ro") + " && mount --bind " + Quote(s_ / "base") + " " +
               Quote(s_ / "ro") + " && mount -o remount,bind,ro " + Quote(s_ / "ro"))
                .exit_code,
            0);
  Dockerfile("FROM base\nRUN true\n");
  RunResult r = Build("--build-context base=oci-layout://" + Quote(s_ / "ro:1.36"));
  Sh("umount " + Quote(s_ / "ro"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(BuildTest, NegativeCasesNameTheProblem) {
  Dockerfile("FROM base\nRUN true\n");
  struct Case {
    std::string flags;
    std::string message;
  };
  // A layout with two images: a tag it lacks has no single image to fall back on.
  MakeBaseImage(s_ / "two", "busybox:1");
  MakeBaseImage(s_ / "two", "busybox:2");
  const std::string absent = "sha256:" + std::string(64, 'a');
  std::vector<Case> cases = {
      {"--opt context:base=oci-layout://nostore@" + base_digest_, "unknown store oci:nostore"},
      {"--build-context base=oci-layout://" + Quote(s_ / "base") + "@" + absent,
       "content " + absent + ": not found"},
      {"--build-context base=oci-layout://" + Quote(s_ / "two:nosuchtag"),
       "failed to resolve digest for base"},
      {"--oci-layout s=" + Quote(s_ / "base") + " --opt context:base=oci-layout://s",
       "oci-layout reference \"s\" has no digest"},
      {"--oci-layout bad", "oci-layout option must be 'id=path/to/layout', instead had invalid bad"},
      {"--opt context:base=nope://x", "unsupported context source nope for base"},
      {"--opt context:base=justaname", "invalid context specifier justaname for base"},
  };
  for (const Case& c : cases) {
    RunResult r = Build(c.flags);
    EXPECT_NE(r.exit_code, 0) << c.flags;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.flags << "\n" << r.err;
    EXPECT_EQ(r.err.find("Segmentation"), std::string::npos);
  }
}

TEST_F(BuildTest, CorruptAndTruncatedBlobsAreNamed) {
  Dockerfile("FROM base\nRUN true\n");
  json manifest_index = json::parse(ReadFileOrEmpty(s_ / "base/index.json"));
  const std::string manifest_digest = manifest_index["manifests"][0]["digest"];
  json manifest = json::parse(ReadFileOrEmpty(s_ / ("base/blobs/sha256/" + manifest_digest.substr(7))));
  const std::string layer = manifest["layers"][0]["digest"];
  const std::string blob = s_ / ("base/blobs/sha256/" + layer.substr(7));
  ASSERT_EQ(Sh("cp -a " + Quote(s_ / "base") + " " + Quote(s_ / "pristine")).exit_code, 0);
  // One byte flipped in the middle.
  ASSERT_EQ(Sh("printf 'X' | dd of=" + Quote(blob) + " bs=1 seek=100 conv=notrunc status=none").exit_code, 0);
  RunResult r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(layer), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(s_.path() + "/base"), std::string::npos) << r.err;
  // Truncated.
  ASSERT_EQ(Sh("cp " + Quote(s_ / ("pristine/blobs/sha256/" + layer.substr(7))) + " " + Quote(blob) +
               " && truncate -s 1000 " + Quote(blob)).exit_code, 0);
  r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(layer), std::string::npos) << r.err;
  // The engine stayed consistent: the intact layout builds.
  r = Build("--build-context base=oci-layout://" + Quote(s_ / "pristine:1.36"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(BuildTest, KilledMidRunTheNextBuildSucceeds) {
  Dockerfile("FROM base\nRUN echo started && sleep 100\n");
  const std::string log = s_ / "log";
  const std::string cmd = std::string(HOIST_BIN) + " --root " + Quote(s_ / "root") +
                          " build --progress=plain " + BaseContext() + " " + Quote(s_ / "ctx") +
                          " 2>" + Quote(log) + " & echo $!";
  RunResult bg = Sh(cmd);
  const int pid = std::stoi(bg.out);
  bool started = false;
  for (int i = 0; i < 600 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    started = ReadFileOrEmpty(log).find("started") != std::string::npos;
  }
  ASSERT_TRUE(started) << ReadFileOrEmpty(log);
  ::kill(pid, SIGKILL);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Dockerfile("FROM base\nRUN echo after > /after\n");
  RunResult r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/after"), "after\n");
}

TEST_F(BuildTest, InterruptStopsTheContainerPromptly) {
  Dockerfile("FROM base\nRUN echo started && sleep 100\n");
  const std::string log = s_ / "log";
  RunResult bg = Sh(std::string(HOIST_BIN) + " --root " + Quote(s_ / "root") +
                    " build --progress=plain " + BaseContext() + " " + Quote(s_ / "ctx") + " 2>" +
                    Quote(log) + " & echo $!");
  const int pid = std::stoi(bg.out);
  bool started = false;
  for (int i = 0; i < 600 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    started = ReadFileOrEmpty(log).find("started") != std::string::npos;
  }
  ASSERT_TRUE(started) << ReadFileOrEmpty(log);
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(pid, SIGINT);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    gone = ::kill(pid, 0) != 0;
  }
  EXPECT_TRUE(gone);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_NE(ReadFileOrEmpty(log).find("canceled"), std::string::npos) << ReadFileOrEmpty(log);
}

TEST_F(BuildTest, OciAndDockerTarballsAndMetadata) {
  Dockerfile("FROM base\nRUN echo x > /x\n");
  RunResult r = Build(BaseContext() + " -t app:1 -o type=oci,dest=" + Quote(s_ / "img.tar") +
                      " --metadata-file " + Quote(s_ / "meta.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json meta = json::parse(ReadFileOrEmpty(s_ / "meta.json"), nullptr, false);
  ASSERT_TRUE(meta.is_object());
  const std::string digest = meta.value("containerimage.digest", "");
  EXPECT_EQ(digest.size(), 71u);
  EXPECT_EQ(meta.value("image.name", ""), "docker.io/library/app:1");
  // skopeo reads it, and it holds the base layer plus one new layer.
  RunResult inspect = Sh("skopeo inspect --raw oci-archive:" + Quote(s_ / "img.tar"));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  json m = json::parse(inspect.out, nullptr, false);
  EXPECT_EQ(m["layers"].size(), 2u) << inspect.out;
  r = Build(BaseContext() + " -t app:1 -o type=docker,dest=" + Quote(s_ / "docker.tar"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunResult list = Sh("tar -tf " + Quote(s_ / "docker.tar"));
  EXPECT_NE(list.out.find("manifest.json"), std::string::npos) << list.out;
}

}  // namespace
}  // namespace hoist::itest
