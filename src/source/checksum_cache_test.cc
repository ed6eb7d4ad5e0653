#include "source/checksum_cache.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "base/file_system.h"
#include "base/log.h"
#include "base/temp_dir.h"
#include "base/testing/fault_file_system.h"
#include "base/testing/test_files.h"

namespace hoist::source {
namespace {

constexpr int64_t kDay = int64_t{86400} * 1000000000;

FileIdentity Id(uint64_t ino, uint64_t size = 10) {
  return FileIdentity{.ino = ino, .size = size, .mtime_ns = 1000, .ctime_ns = 2000, .mode = 0100644};
}

CachedChecksum Entry(std::string path, const FileIdentity& id, std::string_view content) {
  return CachedChecksum{.path = std::move(path), .identity = id,
                        .digest = oci::Digest::Sha256Of(content)};
}

// ---- What every ChecksumCache does ----

class ChecksumCacheConformance
    : public ::testing::TestWithParam<std::function<std::unique_ptr<ChecksumCache>(const std::string&)>> {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("csum-");
    ASSERT_TRUE(d);
    dir_ = std::move(*d);
    cache_ = GetParam()(dir_.path());
  }
  TempDir dir_;
  std::unique_ptr<ChecksumCache> cache_;
};

TEST_P(ChecksumCacheConformance, HitsOnlyOnTheSameScopePathAndIdentity) {
  EXPECT_FALSE(cache_->Lookup("s", "a", Id(1)));
  ASSERT_TRUE(cache_->Commit("s", {Entry("a", Id(1), "A"), Entry("d/b", Id(2), "B")}));
  EXPECT_EQ(oci::Digest::Sha256Of("A"), cache_->Lookup("s", "a", Id(1)));
  EXPECT_EQ(oci::Digest::Sha256Of("B"), cache_->Lookup("s", "d/b", Id(2)));
  EXPECT_FALSE(cache_->Lookup("t", "a", Id(1)));     // another scope
  EXPECT_FALSE(cache_->Lookup("s", "b", Id(2)));     // another path
  EXPECT_FALSE(cache_->Lookup("s", "a", Id(3)));     // another inode
  EXPECT_FALSE(cache_->Lookup("s", "a", Id(1, 11)));  // another size
  FileIdentity id = Id(1);
  id.ctime_ns += 1;
  EXPECT_FALSE(cache_->Lookup("s", "a", id));
  id = Id(1);
  id.mtime_ns += 1;
  EXPECT_FALSE(cache_->Lookup("s", "a", id));
  id = Id(1);
  id.mode = 0100600;
  EXPECT_FALSE(cache_->Lookup("s", "a", id));
  // A new identity replaces the old one.
  ASSERT_TRUE(cache_->Commit("s", {Entry("a", Id(3), "A2")}));
  EXPECT_FALSE(cache_->Lookup("s", "a", Id(1)));
  EXPECT_EQ(oci::Digest::Sha256Of("A2"), cache_->Lookup("s", "a", Id(3)));
  ASSERT_TRUE(cache_->Commit("s", {}));
}

TEST_P(ChecksumCacheConformance, PruneDropsDeadScopes) {
  ASSERT_TRUE(cache_->Commit("live", {Entry("a", Id(1), "A")}));
  ASSERT_TRUE(cache_->Commit("dead", {Entry("a", Id(1), "A")}));
  ASSERT_TRUE(cache_->Prune([](const std::string& s) { return s == "live"; }));
  EXPECT_TRUE(cache_->Lookup("live", "a", Id(1)));
  EXPECT_FALSE(cache_->Lookup("dead", "a", Id(1)));
}

INSTANTIATE_TEST_SUITE_P(
    All, ChecksumCacheConformance,
    ::testing::Values(
        [](const std::string&) -> std::unique_ptr<ChecksumCache> {
          return std::make_unique<InMemoryChecksumCache>();
        },
        [](const std::string& dir) -> std::unique_ptr<ChecksumCache> {
          return FileChecksumCache::Open(PosixFileSystem(), dir + "/checksums");
        }),
    [](const auto& info) { return info.index == 0 ? "InMemory" : "File"; });

// ---- FileChecksumCache ----

class FileChecksumCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("csum-");
    ASSERT_TRUE(d);
    dir_ = std::move(*d);
    path_ = dir_.path() + "/checksums";
    SetLogSink([this](LogLevel, std::string_view m) { log_ += std::string(m) + "\n"; });
  }
  void TearDown() override { SetLogSink(nullptr); }

  std::unique_ptr<FileChecksumCache> Open(FileSystem* fs = PosixFileSystem()) {
    return FileChecksumCache::Open(fs, path_, {.now = [this] { return now_; }});
  }
  std::unique_ptr<FileChecksumCache> Filled() {
    auto c = Open();
    EXPECT_TRUE(c->Commit("mirror:x", {Entry("a", Id(1), "A"), Entry("b/c", Id(2), "C")}));
    EXPECT_TRUE(c->Commit("run-1", {Entry("a", Id(7), "R")}));
    return c;
  }

  TempDir dir_;
  std::string path_;
  std::string log_;
  int64_t now_ = 20000 * kDay;
};

TEST_F(FileChecksumCacheTest, MissingFileIsAnEmptyCache) {
  auto c = Open();
  EXPECT_EQ(0u, c->entries());
  EXPECT_FALSE(c->discarded_file());
  EXPECT_EQ("", log_);
}

TEST_F(FileChecksumCacheTest, ReopenFindsEverything) {
  Filled();
  auto c = Open();
  EXPECT_FALSE(c->discarded_file());
  EXPECT_EQ(3u, c->entries());
  EXPECT_EQ(oci::Digest::Sha256Of("C"), c->Lookup("mirror:x", "b/c", Id(2)));
  EXPECT_EQ(oci::Digest::Sha256Of("R"), c->Lookup("run-1", "a", Id(7)));
}

TEST_F(FileChecksumCacheTest, TwoWritersOfOneFileLoseNothing) {
  // As two processes on one root: each loaded the file before the other wrote.
  Filled();
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a->Commit("mirror:x", {Entry("from-a", Id(11), "A")}));
  ASSERT_TRUE(b->Commit("run-2", {Entry("from-b", Id(12), "B")}));
  ASSERT_TRUE(a->Commit("mirror:x", {Entry("again-a", Id(13), "AA")}));
  auto c = Open();
  EXPECT_EQ(6u, c->entries());
  EXPECT_EQ(oci::Digest::Sha256Of("A"), c->Lookup("mirror:x", "from-a", Id(11)));
  EXPECT_EQ(oci::Digest::Sha256Of("B"), c->Lookup("run-2", "from-b", Id(12)));
  EXPECT_EQ(oci::Digest::Sha256Of("AA"), c->Lookup("mirror:x", "again-a", Id(13)));
  EXPECT_EQ(oci::Digest::Sha256Of("C"), c->Lookup("mirror:x", "b/c", Id(2)));
}

TEST_F(FileChecksumCacheTest, WritesOnlyWhenSomethingIsNew) {
  Filled();
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto c = Open(&fs);
  ASSERT_TRUE(c->Lookup("mirror:x", "a", Id(1)));  // used today already: nothing to record
  ASSERT_TRUE(c->Commit("mirror:x", {}));
  EXPECT_EQ(0, fs.mutating_ops());
  ASSERT_TRUE(c->Commit("mirror:x", {Entry("n", Id(9), "N")}));
  EXPECT_GT(fs.mutating_ops(), 0);
  // A use on a later day is recorded by the next Commit, even an empty one.
  now_ += kDay;
  fs.ResetCount();
  ASSERT_TRUE(c->Lookup("mirror:x", "a", Id(1)));
  ASSERT_TRUE(c->Commit("mirror:x", {}));
  EXPECT_GT(fs.mutating_ops(), 0);
}

TEST_F(FileChecksumCacheTest, AFailedWriteLeavesTheOldFileAndAUsableCache) {
  Filled();
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto c = Open(&fs);
  fs.FailAt(0, FaultKind::kIoError);
  EXPECT_FALSE(c->Commit("mirror:x", {Entry("n", Id(9), "N")}));
  EXPECT_TRUE(c->Lookup("mirror:x", "n", Id(9)));
  EXPECT_EQ(3u, Open()->entries());
  ASSERT_TRUE(c->Commit("mirror:x", {}));  // still dirty: written now
  EXPECT_EQ(4u, Open()->entries());
}

TEST_F(FileChecksumCacheTest, GarbageTruncationAndDamageAreIgnoredWithAMessage) {
  Filled();
  const std::string good = ReadTestFile(path_);
  ASSERT_GT(good.size(), 100u);
  const std::vector<std::string> bad = {
      "not a cache at all",
      "",
      good.substr(0, good.size() - 1),
      good.substr(0, 40),
      [&] {
        std::string s = good;
        s[30] ^= 1;  // a flipped bit: the trailer no longer matches
        return s;
      }(),
  };
  for (const std::string& b : bad) {
    WriteTestFile(path_, b);
    log_.clear();
    auto c = Open();
    EXPECT_TRUE(c->discarded_file()) << b.size();
    EXPECT_EQ(0u, c->entries());
    EXPECT_NE(std::string::npos, log_.find("checksum cache " + path_)) << log_;
    // Rebuilt by the next write.
    ASSERT_TRUE(c->Commit("s", {Entry("a", Id(1), "A")}));
    auto again = Open();
    EXPECT_FALSE(again->discarded_file());
    EXPECT_EQ(1u, again->entries());
  }
}

TEST_F(FileChecksumCacheTest, AnotherVersionIsIgnoredWithAMessage) {
  Filled();
  std::string s = ReadTestFile(path_);
  s[16] = 2;  // the version, right after the 16-byte magic
  s.resize(s.size() - 64);
  s += Sha256Hex(s);  // a well-formed file of version 2
  WriteTestFile(path_, s);
  auto c = Open();
  EXPECT_TRUE(c->discarded_file());
  EXPECT_EQ(0u, c->entries());
  EXPECT_NE(std::string::npos, log_.find("format version 2, this hoist reads 1")) << log_;
  // Prune writes the file afresh even with nothing to drop.
  ASSERT_TRUE(c->Prune([](const std::string&) { return true; }));
  EXPECT_FALSE(Open()->discarded_file());
}

TEST_F(FileChecksumCacheTest, EntriesUnusedForLongAreDropped) {
  Filled();
  now_ += 20 * kDay;
  {
    auto c = Open();
    ASSERT_TRUE(c->Lookup("mirror:x", "a", Id(1)));  // used on day 20
    ASSERT_TRUE(c->Commit("mirror:x", {}));
  }
  now_ += 15 * kDay;  // day 35: the others are 35 days unused
  auto c = Open();
  EXPECT_EQ(1u, c->entries());
  EXPECT_TRUE(c->Lookup("mirror:x", "a", Id(1)));
  EXPECT_FALSE(c->Lookup("run-1", "a", Id(7)));
}

TEST_F(FileChecksumCacheTest, SizeIsCappedLeastRecentlyUsedFirst) {
  {
    auto c = FileChecksumCache::Open(PosixFileSystem(), path_,
                                     {.max_entries = 3, .now = [this] { return now_; }});
    ASSERT_TRUE(c->Commit("s", {Entry("old1", Id(1), "1"), Entry("old2", Id(2), "2")}));
    now_ += kDay;
    ASSERT_TRUE(c->Commit("s", {Entry("new1", Id(3), "3"), Entry("new2", Id(4), "4")}));
    EXPECT_EQ(2u, c->entries());
    EXPECT_TRUE(c->Lookup("s", "new1", Id(3)));
    EXPECT_FALSE(c->Lookup("s", "old1", Id(1)));
  }
  EXPECT_EQ(2u, Open()->entries());
}

}  // namespace
}  // namespace hoist::source
