#include "solver/ops/context_snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "solver/ops/internal/ops.h"

namespace hoist::solver::ops {
namespace {

namespace fs = std::filesystem;

void SetTime(const std::string& path, int64_t sec) {
  struct timespec ts[2] = {{sec, 123456789}, {sec, 123456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

// Every entry below `root`, not following symlinks: its type, mode, owner, size, mtime, link
// target and contents.
std::map<std::string, std::string> TreeOf(const std::string& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string path = it->path().string();
    struct stat st;
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    std::string d = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" +
                    std::to_string(st.st_gid) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                    std::to_string(st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) d += " " + std::to_string(std::hash<std::string>{}(ReadTestFile(path)));
    if (S_ISLNK(st.st_mode)) d += " -> " + fs::read_symlink(path).string();
    out[it->path().lexically_relative(root).string()] = d;
  }
  return out;
}

// A reader that truncates one file of the context when it is read.
class ShrinkingReader final : public source::ContextReader {
 public:
  ShrinkingReader(std::string root, std::string victim)
      : inner_(root), root_(std::move(root)), victim_(std::move(victim)) {}
  Status Walk(const source::ContextFilter& filter,
              const std::function<Status(const source::ContextEntry&)>& fn) override {
    return inner_.Walk(filter, fn);
  }
  Status ReadFile(std::string_view path,
                  const std::function<Status(std::string_view chunk)>& sink) override {
    if (path == victim_) {
      EXPECT_EQ(::truncate((root_ + "/" + victim_).c_str(), 1), 0);
    }
    return inner_.ReadFile(path, sink);
  }

 private:
  source::LocalDirReader inner_;
  std::string root_;
  std::string victim_;
};

class ContextSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "snapshotters need root";
    auto dir = TempDir::Create("context-snapshot-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
    auto sn = snapshot::OpenErofsSnapshotter(dir_.path() + "/snapshots");
    ASSERT_TRUE(sn) << sn.error().message();
    snapshots_ = std::move(*sn);
    ASSERT_TRUE(snapshots_->TakesLayerImages());
    ctx_ = dir_.path() + "/ctx";
    state_ = dir_.path() + "/state";
    record_ = dir_.path() + "/mirror.snapshot";
    fs::create_directories(ctx_ + "/a/b");
    fs::create_directories(state_);
    WriteTestFile(ctx_ + "/a/b/deep", "deep");
    WriteTestFile(ctx_ + "/big", RandomTestBytes(300 << 10, 7));
    WriteTestFile(ctx_ + "/exec.sh", "#!/bin/sh\n");
    WriteTestFile(ctx_ + "/owned", "owned");
    WriteTestFile(ctx_ + "/build.log", "noise");
    ASSERT_EQ(::chmod((ctx_ + "/exec.sh").c_str(), 04755), 0);
    ASSERT_EQ(::chmod((ctx_ + "/a/b").c_str(), 0750), 0);
    ASSERT_EQ(::chown((ctx_ + "/owned").c_str(), 1234, 5678), 0);
    ASSERT_EQ(::link((ctx_ + "/owned").c_str(), (ctx_ + "/a/hard").c_str()), 0);
    ASSERT_EQ(::symlink("b/deep", (ctx_ + "/a/rel").c_str()), 0);
    ASSERT_EQ(::symlink("/etc/passwd", (ctx_ + "/abs").c_str()), 0);
    int64_t t = 1600000000;
    for (const char* p : {"/a/b/deep", "/big", "/exec.sh", "/owned", "/build.log", "/a/rel",
                          "/abs", "/a/b", "/a"}) {
      SetTime(ctx_ + p, t++);
    }
    filter_.exclude_patterns = {"*.log"};
  }

  Result<std::string> Sync(ContextSnapshotStats* stats) {
    source::LocalDirReader reader(ctx_);
    return SyncContextSnapshot(*snapshots_, state_, reader, filter_, record_, nullptr, stats);
  }

  // The tree of the committed snapshot `name`.
  std::map<std::string, std::string> SnapshotTree(const std::string& name) {
    auto view = internal::MountedSnapshot::Create(*snapshots_, name, false, state_);
    EXPECT_TRUE(view) << view.error().message();
    if (!view) return {};
    return TreeOf((*view)->path());
  }

  // The context's tree as the snapshot should hold it: without what the filter drops.
  std::map<std::string, std::string> Expected() {
    auto tree = TreeOf(ctx_);
    tree.erase("build.log");
    return tree;
  }

  int Snapshots() {
    int n = 0;
    EXPECT_TRUE(snapshots_->Walk([&](const snapshot::Info&) -> Status {
      ++n;
      return OkStatus();
    }));
    return n;
  }

  TempDir dir_;
  std::unique_ptr<snapshot::Snapshotter> snapshots_;
  std::string ctx_, state_, record_;
  source::ContextFilter filter_;
};

TEST_F(ContextSnapshotTest, HoldsTheContextAndIsReusedWhileNothingChanges) {
  ContextSnapshotStats stats;
  auto first = Sync(&stats);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_FALSE(stats.reused);
  // a/b/deep, big, exec.sh and owned (a/hard is its hard link); build.log is filtered out.
  EXPECT_EQ(stats.files_read, 4u);
  EXPECT_EQ(SnapshotTree(*first), Expected());
  EXPECT_EQ(MirrorSnapshotName(record_), *first);
  struct stat a, b;
  auto view = internal::MountedSnapshot::Create(*snapshots_, *first, false, state_);
  ASSERT_TRUE(view);
  ASSERT_EQ(::lstat(((*view)->path() + "/owned").c_str(), &a), 0);
  ASSERT_EQ(::lstat(((*view)->path() + "/a/hard").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  view->reset();

  auto again = Sync(&stats);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, *first);
  EXPECT_TRUE(stats.reused);
  // Recognised from the record's digest of the walk, without mounting the generation.
  EXPECT_FALSE(stats.mounted_previous);
  EXPECT_EQ(stats.files_read, 0u);
  EXPECT_EQ(Snapshots(), 1);
}

TEST_F(ContextSnapshotTest, AModeOrTimeAloneIsAChange) {
  auto first = Sync(nullptr);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_EQ(::chmod((ctx_ + "/exec.sh").c_str(), 0700), 0);
  ContextSnapshotStats stats;
  auto second = Sync(&stats);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_NE(*second, *first);
  EXPECT_FALSE(stats.reused);
  EXPECT_EQ(stats.files_read, 1u);  // exec.sh; the others come from the first generation
  EXPECT_EQ(SnapshotTree(*second), Expected());
  struct timespec ts[2] = {{.tv_sec = 1000, .tv_nsec = 5}, {.tv_sec = 1000, .tv_nsec = 5}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (ctx_ + "/a").c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
  auto third = Sync(&stats);
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_NE(*third, *second);
  EXPECT_EQ(SnapshotTree(*third), Expected());
}

TEST_F(ContextSnapshotTest, ARecordWithoutTheWalksDigestIsComparedFileByFileThenGetsIt) {
  auto first = Sync(nullptr);
  ASSERT_TRUE(first) << first.error().message();
  // A record as written before it kept the digest: the generation's name alone.
  WriteTestFile(record_, *first + "\n");
  ContextSnapshotStats stats;
  auto again = Sync(&stats);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, *first);
  EXPECT_TRUE(stats.reused);
  EXPECT_TRUE(stats.mounted_previous);
  EXPECT_EQ(MirrorSnapshotName(record_), *first);
  auto third = Sync(&stats);
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_EQ(*third, *first);
  EXPECT_TRUE(stats.reused);
  EXPECT_FALSE(stats.mounted_previous);
}

TEST_F(ContextSnapshotTest, AChangeMakesANewGenerationReadingOnlyWhatChanged) {
  auto first = Sync(nullptr);
  ASSERT_TRUE(first) << first.error().message();
  WriteTestFile(ctx_ + "/a/b/deep", "deeper");
  WriteTestFile(ctx_ + "/new", "new");
  fs::remove(ctx_ + "/exec.sh");
  fs::remove(ctx_ + "/a/rel");
  ASSERT_EQ(::symlink("../big", (ctx_ + "/a/rel").c_str()), 0);
  ContextSnapshotStats stats;
  auto second = Sync(&stats);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_NE(*second, *first);
  EXPECT_FALSE(stats.reused);
  EXPECT_EQ(stats.files_read, 2u);  // a/b/deep and new; big and owned come from the first
  EXPECT_EQ(stats.bytes_read, 9u);
  EXPECT_EQ(SnapshotTree(*second), Expected());
  EXPECT_EQ(MirrorSnapshotName(record_), *second);
  // The first generation is gone.
  auto old = snapshots_->Stat(*first);
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code(), Code::kNotFound);
  EXPECT_EQ(Snapshots(), 1);
  // A deletion alone is a change too.
  fs::remove(ctx_ + "/new");
  auto third = Sync(&stats);
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_NE(*third, *second);
  EXPECT_EQ(stats.files_read, 0u);
  EXPECT_EQ(SnapshotTree(*third), Expected());
}

TEST_F(ContextSnapshotTest, ARecordNamingNoSnapshotStartsAfresh) {
  WriteTestFile(record_, "context-gone\n");
  ContextSnapshotStats stats;
  auto s = Sync(&stats);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(stats.files_read, 4u);
  EXPECT_EQ(SnapshotTree(*s), Expected());
}

TEST_F(ContextSnapshotTest, AFileThatShrinksWhileReadFailsAndKeepsThePreviousGeneration) {
  auto first = Sync(nullptr);
  ASSERT_TRUE(first) << first.error().message();
  WriteTestFile(ctx_ + "/big", RandomTestBytes(200 << 10, 8));
  ShrinkingReader reader(ctx_, "big");
  auto s = SyncContextSnapshot(*snapshots_, state_, reader, filter_, record_, nullptr, nullptr);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kAborted);
  EXPECT_NE(s.error().message().find("\"big\" shrank"), std::string::npos) << s.error().message();
  EXPECT_EQ(MirrorSnapshotName(record_), *first);
  EXPECT_EQ(Snapshots(), 1);
  EXPECT_TRUE(snapshots_->Stat(*first));
}

TEST_F(ContextSnapshotTest, APreviousGenerationIsNeverReadThroughItsSymlinks) {
  // The first generation has `d` as a symlink to a directory outside it, holding a file with
  // the very metadata the next context's `d/f` has.
  const std::string outside = dir_.path() + "/outside";
  fs::create_directories(outside);
  WriteTestFile(outside + "/f", "outside");
  ASSERT_EQ(::symlink(outside.c_str(), (ctx_ + "/d").c_str()), 0);
  auto first = Sync(nullptr);
  ASSERT_TRUE(first) << first.error().message();
  fs::remove(ctx_ + "/d");
  fs::create_directories(ctx_ + "/d");
  WriteTestFile(ctx_ + "/d/f", "client!");
  struct stat st;
  ASSERT_EQ(::stat((outside + "/f").c_str(), &st), 0);
  struct timespec ts[2] = {st.st_mtim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (ctx_ + "/d/f").c_str(), ts, 0), 0);
  ContextSnapshotStats stats;
  auto second = Sync(&stats);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(stats.files_read, 1u);
  auto view = internal::MountedSnapshot::Create(*snapshots_, *second, false, state_);
  ASSERT_TRUE(view) << view.error().message();
  EXPECT_EQ(ReadTestFile((*view)->path() + "/d/f"), "client!");
}

}  // namespace
}  // namespace hoist::solver::ops
