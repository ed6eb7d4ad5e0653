#include "archive/erofs_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <string>

#include "archive/apply.h"
#include "archive/byte_source.h"
#include "archive/testing/erofs_oracle.h"
#include "archive/testing/test_tar.h"
#include "base/direct_io.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "base/unique_fd.h"

namespace hoist::archive {
namespace {

using testing::TestTar;
using testing::TestTarEntry;

constexpr int64_t kBuildTime = 1234567890;

TestTarEntry Entry(std::string name, char type, uint32_t mode = 0644) {
  TestTarEntry e;
  e.name = std::move(name);
  e.type = type;
  e.mode = mode;
  e.mtime_sec = 1600000000;
  return e;
}

class ErofsWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = TempDir::Create("hoist-erofs-test-");
    ASSERT_TRUE(tmp);
    tmp_ = std::move(*tmp);
    clock_floor_ = std::time(nullptr);
  }

  std::string Path(const std::string& name) const { return tmp_.path() + "/" + name; }

  Result<ApplyStats> Write(const std::string& tar, const std::string& image,
                           ErofsWriteOptions options = {.build_time = kBuildTime}) {
    return testing::WriteErofsFile(tar, image, options);
  }

  void ExpectSameAsApply(const std::string& tar, const std::string& label = "layer") {
    testing::ExpectErofsMatchesApply(tar, tmp_.path(), label,
                                     {.clock_floor = clock_floor_, .build_time = kBuildTime});
  }

  TempDir tmp_;
  int64_t clock_floor_ = 0;
};

TEST_F(ErofsWriterTest, EveryEntryType) {
  TestTar tar;
  tar.Add(Entry("etc/", '5', 0755));
  TestTarEntry f = Entry("etc/hostname", '0', 0640);
  f.content = "box\n";
  f.uid = 1000;
  f.gid = 1001;
  f.mtime_nsec = 123456789;
  tar.Add(f);
  TestTarEntry suid = Entry("bin/su", '0', 04755);
  suid.content = "#!/bin/sh\n";
  tar.Add(suid);
  tar.Add(Entry("tmp/", '5', 01777));
  TestTarEntry sgid_dir = Entry("srv/", '5', 02775);
  sgid_dir.uid = 70000;
  sgid_dir.gid = 70001;
  tar.Add(sgid_dir);
  TestTarEntry link = Entry("etc/localtime", '2', 0777);
  link.linkname = "/usr/share/zoneinfo/UTC";
  link.uid = 5;
  link.mtime_nsec = 5;
  tar.Add(link);
  TestTarEntry hard = Entry("etc/hostname2", '1');
  hard.linkname = "etc/hostname";
  tar.Add(hard);
  TestTarEntry fifo = Entry("run/fifo", '6', 0620);
  tar.Add(fifo);
  TestTarEntry chr = Entry("dev/null", '3', 0666);
  chr.devmajor = 1;
  chr.devminor = 3;
  tar.Add(chr);
  TestTarEntry blk = Entry("dev/sda1", '4', 0660);
  blk.devmajor = 8;
  blk.devminor = 300000;  // beyond 8 bits of minor
  blk.gid = 6;
  tar.Add(blk);
  TestTarEntry old = Entry("old", '0');
  old.mtime_sec = -5;
  tar.Add(old);
  TestTarEntry empty_dir = Entry("empty/", '5', 0700);
  empty_dir.mtime_nsec = 999999999;
  tar.Add(empty_dir);
  tar.File("empty-file", "");
  ExpectSameAsApply(tar.Finish());
}

TEST_F(ErofsWriterTest, WhiteoutsAndOpaqueDirectories) {
  TestTar tar;
  tar.File(".wh.gone", "");
  tar.Add(Entry("kept/", '5'));
  tar.File("kept/.wh..wh..opq", "");
  tar.Add(Entry("d/", '5'));
  tar.File("d/x", "x");
  tar.File(".wh.d", "");  // a directory of this layer: made opaque, kept
  tar.File("f", "f");
  tar.File(".wh.f", "");      // a file of this layer hides the lower one by itself
  tar.File("a/b/.wh.c", "");  // missing parents are made
  tar.File(".wh.later", "");
  tar.File("later", "replaces the whiteout");
  tar.File(".wh..wh.plnk", "");  // AUFS metadata
  tar.File("implied/.wh..wh..opq", "");
  ExpectSameAsApply(tar.Finish());
}

TEST_F(ErofsWriterTest, RootOpaqueMarker) {
  TestTar tar;
  tar.File(".wh..wh..opq", "");
  tar.File("a", "a");
  tar.Dir("./");  // the root itself: ignored
  ExpectSameAsApply(tar.Finish());
}

TEST_F(ErofsWriterTest, ReplacementWithinALayer) {
  TestTar tar;
  tar.File("f", "first");
  tar.File("f", "second", 0600);
  TestTarEntry d1 = Entry("d/", '5', 0700);
  d1.xattrs = {{"user.a", "1"}, {"user.b", "1"}};
  tar.Add(d1);
  tar.File("d/child", "c");
  TestTarEntry d2 = Entry("d/", '5', 0751);
  d2.uid = 3;
  d2.mtime_sec = 1500000000;
  d2.xattrs = {{"user.b", "2"}};
  tar.Add(d2);  // merges: child and user.a stay
  tar.Dir("tree/");
  tar.File("tree/sub/deep", "deep");
  tar.File("tree", "a file replaces the tree");
  tar.File("nondir", "x");
  tar.File("nondir/inside", "the file in the way becomes a directory");
  tar.File("shared", "shared");
  tar.Hardlink("shared2", "shared");
  tar.File("shared", "rewritten: shared2 keeps the old inode");
  tar.Symlink("sym", "target");
  tar.Dir("sym/");  // a directory replaces the symlink, never follows it
  ExpectSameAsApply(tar.Finish());
}

TEST_F(ErofsWriterTest, SymlinksInParentsAreFollowedInsideTheRoot) {
  TestTar tar;
  tar.Dir("real/");
  tar.Symlink("link", "real");
  tar.File("link/a", "through the link");
  tar.Symlink("abs", "/etc/../../outside");
  tar.File("abs/b", "confined");
  tar.Symlink("dangling", "missing/../dir2");
  tar.File("dangling/c", "created lexically");
  tar.Symlink("up", "real/../real");
  tar.File("up/d", "physically");
  tar.Symlink("loop1", "loop2");
  tar.Symlink("loop2", "loop1");
  ExpectSameAsApply(tar.Finish());
  TestTar loop;
  loop.Symlink("l1", "l2").Symlink("l2", "l1").File("l1/x", "x");
  ExpectSameAsApply(loop.Finish(), "loop");
}

TEST_F(ErofsWriterTest, DirectoryTimesFollowTheirPath) {
  TestTar tar;
  tar.Dir("d1/");
  tar.Dir("d2/");
  tar.Symlink("l", "d1");
  TestTarEntry sub = Entry("l/sub/", '5');
  sub.mtime_sec = 1400000000;
  tar.Add(sub);
  tar.Symlink("l", "d2");  // l/sub now leads elsewhere: d1/sub keeps the clock's time
  ExpectSameAsApply(tar.Finish());
}

TEST_F(ErofsWriterTest, Hardlinks) {
  TestTar tar;
  tar.File("a", "content", 0700);
  tar.Hardlink("b", "a");
  tar.Hardlink("dir/c", "/a");
  tar.Hardlink("a", "a");  // names its own target
  tar.Symlink("s", "a");
  tar.Hardlink("s2", "s");  // links the symlink itself
  tar.File("x", "x");
  tar.Hardlink("x", "b");  // replaces x
  TestTarEntry w = Entry(".wh.wo", '0');
  tar.Add(w);
  tar.Hardlink("wo2", "wo");  // a link to the whiteout device
  ExpectSameAsApply(tar.Finish());
}

TEST_F(ErofsWriterTest, ExtendedAttributes) {
  // A v2 capability: cap_net_raw permitted and effective.
  std::string cap(
      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
  TestTar tar;
  TestTarEntry ping = Entry("bin/ping", '0', 0755);
  ping.content = "ELF";
  ping.xattrs = {{"security.capability", cap},
                 {"user.mime", "application/x-executable"},
                 {"trusted.overlay.opaque", "y"},
                 {"trusted.overlay.redirect", "/x"},
                 {"trusted.hoist", std::string("\0\1\2", 3)},
                 {"lustre.lov", "no index"},
                 {"security.selinux", "system_u:object_r:bin_t:s0"}};
  tar.Add(ping);
  TestTarEntry link = Entry("bin/p", '2', 0777);
  link.linkname = "ping";
  link.xattrs = {{"user.dropped", "on a symlink"}, {"trusted.kept", "yes"}};
  tar.Add(link);
  TestTarEntry dir = Entry("big/", '5');
  for (int i = 0; i < 40; ++i) dir.xattrs["user.attr" + std::to_string(i)] = std::string(60, 'v');
  tar.Add(dir);
  TestTarEntry fifo = Entry("fifo", '6');
  fifo.xattrs = {{"trusted.x", "1"}};
  tar.Add(fifo);
  ExpectSameAsApply(tar.Finish());
}

TEST_F(ErofsWriterTest, LongNamesAndDeepPaths) {
  TestTar tar;
  std::string name255(255, 'n');
  tar.File(name255, "long name");
  tar.Symlink("l" + name255.substr(1), std::string(4000, 'x'));  // too long to inline
  std::string deep;
  for (int i = 0; i < 60; ++i) deep += "level" + std::to_string(i) + "/";
  tar.File(deep + "leaf", "deep");
  std::string longest;
  while (longest.size() + 101 < 4000) longest += std::string(100, 'p') + "/";
  tar.File(longest + "end", "near PATH_MAX");
  TestTarEntry too_long = Entry(std::string(256, 'z'), '0');
  ExpectSameAsApply(tar.Finish());
  TestTar bad;
  bad.Add(too_long);
  ExpectSameAsApply(bad.Finish(), "too-long");
}

TEST_F(ErofsWriterTest, DirectoryWithThousandsOfEntries) {
  TestTar tar;
  tar.Dir("many/");
  for (int i = 0; i < 3000; ++i) {
    std::string n = "entry-" + std::to_string(i * 7919 % 3001);
    if (i % 3 == 0) {
      tar.Symlink("many/" + n, "target-" + std::to_string(i));
    } else if (i % 3 == 1) {
      tar.Dir("many/" + n + "/");
    } else {
      tar.File("many/" + n, std::to_string(i));
    }
  }
  tar.Dir("many/-dash-sorts-before-dot/");
  ExpectSameAsApply(tar.Finish());
}

TEST_F(ErofsWriterTest, LargeAndEmptyFiles) {
  std::string big(5 * 1024 * 1024 + 12345, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  TestTar tar;
  tar.File("big", big);
  tar.File("empty", "");
  tar.File("block", std::string(4096, 'b'));
  tar.File("small", "s");
  tar.Dir("emptydir/");
  ExpectSameAsApply(tar.Finish());
}

// Past its first megabytes an image's bodies are staged and written with O_DIRECT: bodies
// that start and end anywhere within the staging buffer, one that crosses from the buffered
// prefix into it, and many small ones between, read back as written.
TEST_F(ErofsWriterTest, BodiesPastTheBufferedPrefix) {
  auto body = [](size_t n, unsigned seed) {
    std::string b(n, '\0');
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<char>(((i + seed) * 2654435761u) >> 11);
    return b;
  };
  TestTar tar;
  tar.File("a", body(DirectAppender::kBufferedPrefix - 3 * 4096 - 17, 1));
  tar.File("crosses", body(3 * 1024 * 1024 + 5, 2));
  for (unsigned i = 0; i < 300; ++i) tar.File("s/" + std::to_string(i), body(4096 + i * 37, i));
  tar.File("big", body(DirectAppender::kStagingSize * 2 + 4096, 3));
  tar.File("tail", body(5000, 4));
  ExpectSameAsApply(tar.Finish());
}

TEST_F(ErofsWriterTest, BadEntriesFailLikeApply) {
  auto one = [](TestTarEntry e) { return TestTar().Add(e).Finish(); };
  TestTarEntry dir_link = Entry("l", '1');
  dir_link.linkname = "d";
  ExpectSameAsApply(TestTar().Dir("d/").Add(dir_link).Finish(), "hardlink-to-dir");
  TestTarEntry missing = Entry("l", '1');
  missing.linkname = "nowhere";
  ExpectSameAsApply(one(missing), "hardlink-missing");
  ExpectSameAsApply(one(Entry("x", 'Z')), "unknown-type");
  TestTarEntry owner = Entry("x", '0');
  owner.uid = 0xffffffffLL;
  ExpectSameAsApply(one(owner), "bad-owner");
  ExpectSameAsApply(one(Entry(".wh.", '0')), "empty-whiteout");
  ExpectSameAsApply(one(Entry(".wh.x", '5')), "whiteout-dir");
  TestTarEntry dev = Entry("dev", '3');
  dev.devmajor = 5000;
  ExpectSameAsApply(one(dev), "big-major");
  TestTarEntry badcap = Entry("f", '0');
  badcap.xattrs = {{"security.capability", "junk"}};
  ExpectSameAsApply(one(badcap), "bad-capability");
  TestTarEntry fifo_user = Entry("fifo", '6');
  fifo_user.xattrs = {{"user.x", "1"}};
  ExpectSameAsApply(one(fifo_user), "user-xattr-on-fifo");
  TestTar self_removal;
  self_removal.Dir("d/").File("d/f", "f");
  TestTarEntry over = Entry("d", '1');
  over.linkname = "d/f";
  self_removal.Add(over);  // removing d removes the target too
  ExpectSameAsApply(self_removal.Finish(), "link-removes-target");
}

// More xattrs than fit in a block beside the inode: the record crosses a block boundary (the
// format allows it; ext4 would refuse so much, so there is no ApplyLayer to compare with).
TEST_F(ErofsWriterTest, XattrsLargerThanABlock) {
  TestTar tar;
  for (int i = 0; i < 3; ++i) {
    TestTarEntry f = Entry("f" + std::to_string(i), '0');
    f.content = "a";
    f.xattrs = {{"user.big", std::string(7000, 'v')}, {"trusted.small", "s"}};
    tar.Add(f);
  }
  std::string image = Path("x.erofs");
  ASSERT_TRUE(Write(tar.Finish(), image));
  testing::ExpectFsckClean(image);
  ASSERT_EQ(::mkdir(Path("mnt").c_str(), 0755), 0);
  auto mount = testing::MountErofs(image, Path("mnt"));
  ASSERT_TRUE(mount) << mount.error().message();
  for (int i = 0; i < 3; ++i) {
    std::string f = Path("mnt/f" + std::to_string(i));
    EXPECT_EQ(testing::XattrRecord(f),
              " trusted.small=73 user.big=" + testing::HexBytes(std::string(7000, 'v')));
    EXPECT_EQ(ReadTestFile(f), "a");
  }
}

TEST_F(ErofsWriterTest, DeterministicOutput) {
  TestTar tar;
  tar.Dir("a/").File("a/x", std::string(10000, 'x')).Symlink("s", "a/x").Hardlink("h", "a/x");
  std::string layer = tar.Finish();
  ASSERT_TRUE(Write(layer, Path("1.erofs")));
  ASSERT_TRUE(Write(layer, Path("2.erofs")));
  std::string one = ReadTestFile(Path("1.erofs"));
  EXPECT_FALSE(one.empty());
  EXPECT_EQ(one, ReadTestFile(Path("2.erofs")));
  EXPECT_EQ(one.size() % 4096, 0u);
}

TEST_F(ErofsWriterTest, TruncatedTarIsDataLoss) {
  std::string layer = TestTar().File("f", std::string(100000, 'f')).Finish();
  auto r = Write(layer.substr(0, 50000), Path("t.erofs"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kDataLoss) << r.error().message();
  auto no_end = Write(layer.substr(0, layer.size() - 1024), Path("t2.erofs"));
  ASSERT_FALSE(no_end);
  EXPECT_EQ(no_end.error().code(), Code::kDataLoss);
}

TEST_F(ErofsWriterTest, Cancellation) {
  auto cancel = CancelContext::Background();
  cancel->Cancel();
  auto r = Write(TestTar().File("f", "x").Finish(), Path("c.erofs"),
                 {.cancel = cancel.get(), .build_time = kBuildTime});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kCancelled) << r.error().message();
}

}  // namespace
}  // namespace hoist::archive
