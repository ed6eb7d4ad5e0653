// `hoist debug fsck [--repair]` on a real engine root: a clean root after a build, then what a
// crash or a failing disk leaves (a corrupt blob, an ingest file of a write that never
// finished), found, named, repaired, and the next build correct.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness.h"

namespace hoist::itest {
namespace {

class FsckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root (overlayfs, runc)";
    ASSERT_EQ(MakeBaseImage(s_ / "base", "busybox:1.36").size(), 71u);
    std::filesystem::create_directories(s_ / "ctx");
    WriteFile(s_ / "ctx/Dockerfile", "FROM base\nRUN echo built > /built\nCOPY f /f\n");
    WriteFile(s_ / "ctx/f", "f\n");
  }
  // Embedded always (fsck needs the root to itself), in daemon mode too.
  RunResult Build(const std::string& out) {
    return Sh(std::string(HOIST_BIN) + " --root " + Quote(s_ / "root") + " build --progress=plain --build-context base=oci-layout://" +
                 Quote(s_ / "base:1.36") + " -o type=local,dest=" + Quote(s_ / out) + " " + Quote(s_ / "ctx"));
  }
  RunResult Fsck(const std::string& flags = "") {
    return Sh(std::string(HOIST_BIN) + " --root " + Quote(s_ / "root") + " debug fsck " + flags);
  }
  Scratch s_;
};

TEST_F(FsckTest, FindsAndRepairsACorruptBlobAndAnUnfinishedWrite) {
  RunResult r = Build("o1");
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = Fsck();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(": 0 problems, 0 repaired"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("checked 0 blobs"), std::string::npos) << r.out;

  // The largest blob (a layer) gets a flipped byte; an ingest file is left behind.
  std::filesystem::path victim;
  for (const auto& e : std::filesystem::directory_iterator(s_ / "root/content/blobs/sha256")) {
    if (victim.empty() || e.file_size() > std::filesystem::file_size(victim)) victim = e.path();
  }
  ASSERT_FALSE(victim.empty());
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x5a');
  }
  std::filesystem::create_directories(s_ / "root/content/ingest");
  WriteFile(s_ / "root/content/ingest/4242.1.dead", "half a blob");

  r = Fsck();
  EXPECT_NE(r.exit_code, 0);
  const std::string digest = "sha256:" + victim.filename().string();
  EXPECT_NE(r.out.find("problem: blob " + digest + ": its content hashes to sha256:"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("problem: ingest file 4242.1.dead: left by a write that never finished"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("2 problems left; run `hoist debug fsck --repair` to repair them"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(std::filesystem::exists(victim)) << "fsck without --repair changed the root";

  r = Fsck("--repair");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("repaired: blob " + digest + ": deleted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(": 2 problems, 2 repaired"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(victim));
  EXPECT_FALSE(std::filesystem::exists(s_ / "root/content/ingest/4242.1.dead"));

  r = Fsck();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // The next build, from nothing cached, gives the same files.
  r = Sh(std::string(HOIST_BIN) + " --root " + Quote(s_ / "root") + " prune --all");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Build("o2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(TreeDigest(s_ / "o1"), TreeDigest(s_ / "o2"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/built"), "built\n");
}

TEST_F(FsckTest, AFreshRootIsClean) {
  RunResult r = Sh(std::string(HOIST_BIN) + " --root " + Quote(s_ / "no/such") + " debug fsck");
  // An engine root is created on first use, as by every command: an empty one is clean.
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("checked 0 blobs (0 bytes), 0 snapshots, 0 cache records: 0 problems"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace hoist::itest
