#include "base/testing/fault_file_system.h"

#include <gtest/gtest.h>

#include "base/file_system.h"
#include "base/temp_dir.h"

namespace hoist {
namespace {

class FaultFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("hoist-fault-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
  }
  std::string Path(std::string_view name) const { return JoinPath(dir_.path(), name); }

  // create, append, sync, close, rename, mkdir, syncdir, remove: 8 operations.
  Status Workload(FileSystem& fs) {
    HOIST_ASSIGN_OR_RETURN(auto f, fs.CreateFile(Path("a"), /*exclusive=*/true));
    HOIST_TRY(f->Append("hello"));
    HOIST_TRY(f->Sync());
    HOIST_TRY(f->Close());
    HOIST_TRY(fs.Rename(Path("a"), Path("b")));
    HOIST_TRY(fs.MakeDirs(Path("d/e")));
    HOIST_TRY(fs.SyncDir(dir_.path()));
    return fs.Remove(Path("d/e"));
  }

  TempDir dir_;
};

TEST(FaultFileSystemBasicsTest, CountsOnlyMutatingOperations) {
  auto dir = TempDir::Create("hoist-fault-");
  ASSERT_TRUE(dir);
  FaultInjectingFileSystem fs(PosixFileSystem());
  ASSERT_TRUE(fs.Stat(dir->path()));
  ASSERT_TRUE(fs.ListDir(dir->path()));
  EXPECT_EQ(fs.mutating_ops(), 0);
  ASSERT_TRUE(fs.MakeDirs(JoinPath(dir->path(), "x")));
  EXPECT_EQ(fs.mutating_ops(), 1);
  fs.ResetCount();
  EXPECT_EQ(fs.mutating_ops(), 0);
  EXPECT_TRUE(fs.op_log().empty());
}

TEST_F(FaultFileSystemTest, CleanWorkloadCountsEveryOperation) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  ASSERT_TRUE(Workload(fs));
  EXPECT_EQ(fs.mutating_ops(), 8);
  auto log = fs.op_log();
  ASSERT_EQ(log.size(), 8u);
  EXPECT_EQ(log[0], "0 create " + Path("a"));
  EXPECT_EQ(log[1], "1 append " + Path("a"));
  EXPECT_EQ(*fs.ReadFile(Path("b")), "hello");
}

TEST_F(FaultFileSystemTest, FailAtFailsExactlyOneOperation) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  fs.FailAt(1, FaultKind::kNoSpace);
  auto f = fs.CreateFile(Path("a"), /*exclusive=*/true);
  ASSERT_TRUE(f);
  auto s = (*f)->Append("hello");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kResourceExhausted);
  EXPECT_NE(s.error().message().find("No space left on device"), std::string::npos);
  // The failed append never reached the disk; the next one does.
  ASSERT_TRUE((*f)->Append("world"));
  ASSERT_TRUE((*f)->Close());
  EXPECT_EQ(*fs.ReadFile(Path("a")), "world");
  EXPECT_FALSE(fs.crashed());
}

TEST_F(FaultFileSystemTest, IoErrorIsDataLoss) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  fs.FailAt(0, FaultKind::kIoError);
  auto s = fs.MakeDirs(Path("d"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kDataLoss);
  EXPECT_FALSE(*PosixFileSystem()->Exists(Path("d")));
}

TEST_F(FaultFileSystemTest, CrashFailsEverythingAfterButReadsWork) {
  for (int64_t n = 0; n <= 8; ++n) {
    SCOPED_TRACE("crash at " + std::to_string(n));
    (void)RemoveAll(Path("a"));
    (void)RemoveAll(Path("b"));
    (void)RemoveAll(Path("d"));
    FaultInjectingFileSystem fs(PosixFileSystem());
    fs.CrashAt(n);
    auto s = Workload(fs);
    EXPECT_EQ(static_cast<bool>(s), n == 8);
    if (n < 8) {
      EXPECT_EQ(s.error().code(), Code::kAborted);
      EXPECT_TRUE(fs.crashed());
      // Every later mutation fails; reads still see what was left behind.
      EXPECT_FALSE(fs.MakeDirs(Path("later")));
      EXPECT_FALSE(*fs.Exists(Path("later")));
      EXPECT_EQ(*fs.Exists(Path("b")), n > 4);
    }
  }
}

TEST_F(FaultFileSystemTest, ClearFaultsEndsCrash) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  fs.CrashAt(0);
  EXPECT_FALSE(fs.MakeDirs(Path("x")));
  fs.ClearFaults();
  EXPECT_FALSE(fs.crashed());
  EXPECT_TRUE(fs.MakeDirs(Path("x")));
}

}  // namespace
}  // namespace hoist
