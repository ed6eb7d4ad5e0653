#include "archive/apply.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "archive/byte_source.h"
#include "archive/internal/root_resolver.h"
#include "archive/testing/test_tar.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "base/unique_fd.h"

namespace hoist::archive {
namespace {

using testing::TestTar;
using testing::TestTarEntry;

std::string GetXattr(const std::string& path, const char* name) {
  char buf[256];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof(buf));
  return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
}

// Each test runs with both resolvers: openat2 and the userspace fallback.
class ApplyTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    auto tmp = TempDir::Create("hoist-apply-test-");
    ASSERT_TRUE(tmp);
    tmp_ = std::move(*tmp);
    root_ = tmp_.path() + "/root";
    ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
  }

  Result<ApplyStats> Apply(const std::string& tar, ApplyOptions options = {}) {
    options.force_userspace_resolver_for_testing = GetParam();
    StringByteSource source(tar);
    return ApplyLayer(source, root_, options);
  }

  std::string P(const std::string& rel) const { return root_ + "/" + rel; }

  struct stat Lstat(const std::string& rel) const {
    struct stat st;
    std::memset(&st, 0, sizeof(st));
    EXPECT_EQ(::lstat(P(rel).c_str(), &st), 0) << rel;
    return st;
  }
  bool Exists(const std::string& rel) const {
    struct stat st;
    return ::lstat(P(rel).c_str(), &st) == 0;
  }

  TempDir tmp_;
  std::string root_;
};

TEST_P(ApplyTest, WritesEveryEntryTypeAndCountsThem) {
  TestTar tar;
  tar.Dir("etc/").File("etc/hostname", "box\n").Symlink("etc/localtime", "/usr/share/zoneinfo/UTC");
  tar.Hardlink("etc/hostname2", "etc/hostname");
  TestTarEntry fifo;
  fifo.name = "run/fifo";
  fifo.type = '6';
  fifo.mode = 0620;
  tar.Add(fifo);
  auto stats = Apply(tar.Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->entries, 5u);
  EXPECT_EQ(stats->files, 1u);
  EXPECT_EQ(stats->dirs, 1u);
  EXPECT_EQ(stats->symlinks, 1u);
  EXPECT_EQ(stats->hardlinks, 1u);
  EXPECT_EQ(stats->specials, 1u);
  EXPECT_EQ(stats->bytes_written, 4u);
  EXPECT_EQ(stats->used_openat2, !GetParam());
  EXPECT_EQ(ReadTestFile(P("etc/hostname")), "box\n");
  EXPECT_EQ(Lstat("etc/hostname").st_ino, Lstat("etc/hostname2").st_ino);
  EXPECT_TRUE(S_ISLNK(Lstat("etc/localtime").st_mode));
  EXPECT_TRUE(S_ISFIFO(Lstat("run/fifo").st_mode));
  EXPECT_EQ(Lstat("run/fifo").st_mode & 07777, 0620u);
  EXPECT_EQ(Lstat("run").st_mode & 07777, 0755u);  // implicit parent
}

TEST_P(ApplyTest, LargeFileGoesThroughTheCopyBufferIntact) {
  std::string big(3 * 1024 * 1024 + 12345, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  auto stats = Apply(TestTar().File("big", big).Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->bytes_written, big.size());
  EXPECT_EQ(ReadTestFile(P("big")), big);
}

TEST_P(ApplyTest, DirectoryTimesAreSetAfterTheirChildren) {
  TestTarEntry dir;
  dir.name = "d/";
  dir.type = '5';
  dir.mode = 0755;
  dir.mtime_sec = 1000;
  dir.mtime_nsec = 500;
  TestTarEntry file;
  file.name = "d/f";
  file.content = "x";
  file.mtime_sec = 2000;
  file.mtime_nsec = 123456789;
  file.atime = {{3000, 7}};
  TestTarEntry sub = dir;
  sub.name = "d/sub/";
  sub.mtime_sec = 1500;
  auto stats = Apply(TestTar().Add(dir).Add(sub).Add(file).Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(Lstat("d").st_mtim.tv_sec, 1000);
  EXPECT_EQ(Lstat("d").st_mtim.tv_nsec, 500);
  EXPECT_EQ(Lstat("d/sub").st_mtim.tv_sec, 1500);
  EXPECT_EQ(Lstat("d/f").st_mtim.tv_sec, 2000);
  EXPECT_EQ(Lstat("d/f").st_mtim.tv_nsec, 123456789);
  EXPECT_EQ(Lstat("d/f").st_atim.tv_sec, 3000);
  EXPECT_EQ(Lstat("d/f").st_atim.tv_nsec, 7);
}

TEST_P(ApplyTest, OwnershipAndSetIdBitsSurviveChown) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  TestTarEntry f;
  f.name = "bin/su";
  f.content = "#!";
  f.mode = 04755;
  f.uid = 1000;
  f.gid = 1001;
  TestTarEntry g = f;
  g.name = "bin/wall";
  g.mode = 02755;
  TestTarEntry tmp;
  tmp.name = "tmp/";
  tmp.type = '5';
  tmp.mode = 01777;
  tmp.uid = 5;
  TestTarEntry link;
  link.name = "bin/link";
  link.type = '2';
  link.linkname = "su";
  link.uid = 77;
  link.gid = 78;
  auto stats = Apply(TestTar().Add(f).Add(g).Add(tmp).Add(link).Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(Lstat("bin/su").st_mode & 07777, 04755u);
  EXPECT_EQ(Lstat("bin/su").st_uid, 1000u);
  EXPECT_EQ(Lstat("bin/su").st_gid, 1001u);
  EXPECT_EQ(Lstat("bin/wall").st_mode & 07777, 02755u);
  EXPECT_EQ(Lstat("tmp").st_mode & 07777, 01777u);
  EXPECT_EQ(Lstat("tmp").st_uid, 5u);
  EXPECT_EQ(Lstat("bin/link").st_uid, 77u);
  EXPECT_EQ(Lstat("bin/link").st_gid, 78u);
}

TEST_P(ApplyTest, HardlinkToALowerLayerFile) {
  ASSERT_TRUE(Apply(TestTar().File("bin/busybox", "bb", 0755).Finish()));
  TestTarEntry link;
  link.name = "usr/bin/sh";
  link.type = '1';
  link.linkname = "/bin/busybox";
  link.uid = 4242;  // a hardlink's own owner and mode are not applied to the shared inode
  link.mode = 0600;
  auto stats = Apply(TestTar().Add(link).Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(Lstat("usr/bin/sh").st_ino, Lstat("bin/busybox").st_ino);
  EXPECT_EQ(Lstat("bin/busybox").st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat("bin/busybox").st_uid, 0u);
}

TEST_P(ApplyTest, HardlinkErrorsNameTheEntry) {
  auto missing = Apply(TestTar().Hardlink("a", "nowhere").Finish());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_EQ(missing.error().message(),
            "apply layer: entry \"a\": hardlink target \"nowhere\": No such file or directory");
  auto dir = Apply(TestTar().Dir("d/").Hardlink("x/y", "/d").Finish());
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message(),
            "apply layer: entry \"x/y\": hardlink target \"/d\" is a directory");
  auto root = Apply(TestTar().Hardlink("z", "/../").Finish());
  ASSERT_FALSE(root);
  EXPECT_EQ(root.error().message(), "apply layer: entry \"z\": hardlink to the root directory");
}

TEST_P(ApplyTest, ExtendedAttributes) {
  TestTarEntry f;
  f.name = "bin/ping";
  f.content = "elf";
  f.mode = 0755;
  // VFS_CAP_REVISION_2 with cap_net_raw permitted+effective.
  std::string cap(
      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
  f.xattrs = {{"security.capability", cap},
              {"user.comment", "hi"},
              {"trusted.overlay.redirect", "/elsewhere"}};
  TestTarEntry d;
  d.name = "data/";
  d.type = '5';
  d.xattrs = {{"user.dir", "yes"}};
  auto stats = Apply(TestTar().Add(f).Add(d).Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(GetXattr(P("bin/ping"), "security.capability"), cap);
  EXPECT_EQ(GetXattr(P("bin/ping"), "user.comment"), "hi");
  EXPECT_EQ(GetXattr(P("bin/ping"), "trusted.overlay.redirect"), "<none>");
  EXPECT_EQ(GetXattr(P("data"), "user.dir"), "yes");
  EXPECT_EQ(stats->xattrs_skipped, 1u);
}

TEST_P(ApplyTest, DeviceNodes) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs CAP_MKNOD";
  TestTarEntry null;
  null.name = "dev/null";
  null.type = '3';
  null.mode = 0666;
  null.devmajor = 1;
  null.devminor = 3;
  TestTarEntry loop = null;
  loop.name = "dev/loop0";
  loop.type = '4';
  loop.mode = 0660;
  loop.devmajor = 7;
  loop.devminor = 0;
  loop.gid = 6;
  auto stats = Apply(TestTar().Add(null).Add(loop).Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  struct stat st = Lstat("dev/null");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  EXPECT_EQ(major(st.st_rdev), 1u);
  EXPECT_EQ(minor(st.st_rdev), 3u);
  st = Lstat("dev/loop0");
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 7u);
  EXPECT_EQ(st.st_gid, 6u);
  EXPECT_EQ(stats->specials, 2u);
}

TEST_P(ApplyTest, TypeChanges) {
  TestTar lower;
  lower.Dir("d/", 0700).File("d/keep", "k").File("f", "file").Dir("tree/").File("tree/x", "x");
  lower.Symlink("l", "d");
  ASSERT_TRUE(Apply(lower.Finish()));
  TestTar upper;
  upper.Dir("d/", 0750);    // a directory over a directory keeps its children
  upper.Dir("f/");          // a directory over a file replaces it
  upper.File("tree", "t");  // a file over a directory removes the tree
  upper.Dir("l/");          // a directory over a symlink replaces the symlink
  auto stats = Apply(upper.Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(ReadTestFile(P("d/keep")), "k");
  EXPECT_EQ(Lstat("d").st_mode & 07777, 0750u);
  EXPECT_TRUE(S_ISDIR(Lstat("f").st_mode));
  EXPECT_EQ(ReadTestFile(P("tree")), "t");
  EXPECT_TRUE(S_ISDIR(Lstat("l").st_mode));
  EXPECT_TRUE(Exists("d/keep"));
}

TEST_P(ApplyTest, WhiteoutsActOnLowerLayersOnly) {
  ASSERT_TRUE(Apply(TestTar().File("a/old", "1").File("a/gone", "2").File("b", "3").Finish()));
  TestTar upper;
  upper.File("a/new", "n").File("a/.wh.new", "");  // same layer: survives
  upper.File("a/.wh.gone", "").File(".wh.b", "");
  auto stats = Apply(upper.Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_TRUE(Exists("a/new"));
  EXPECT_TRUE(Exists("a/old"));
  EXPECT_FALSE(Exists("a/gone"));
  EXPECT_FALSE(Exists("b"));
  EXPECT_EQ(stats->whiteouts, 3u);
}

TEST_P(ApplyTest, InvalidWhiteoutsAreErrors) {
  TestTarEntry dir_marker;
  dir_marker.name = "x/.wh..wh..opq/";
  dir_marker.type = '5';
  auto r = Apply(TestTar().Add(dir_marker).Finish());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error().message(),
            "apply layer: entry \"x/.wh..wh..opq/\": invalid whiteout: a directory, not a "
            "regular file");
  EXPECT_FALSE(Apply(TestTar().File("x/.wh.", "").Finish()));
  EXPECT_FALSE(Apply(TestTar().File("x/.wh...", "").Finish()));
  EXPECT_FALSE(Apply(TestTar().Symlink(".wh.x", "y").Finish()));
  // AUFS metadata is skipped, not taken for a whiteout of ".wh.plnk".
  ASSERT_TRUE(Apply(TestTar().File(".wh.plnk", "keep").Finish()));
  auto aufs = Apply(TestTar().File(".wh..wh.plnk", "").Finish());
  ASSERT_TRUE(aufs);
  EXPECT_EQ(aufs->ignored, 1u);
}

TEST_P(ApplyTest, OverlayModeWritesOverlayfsWhiteouts) {
  TestTar tar;
  tar.Dir("a/").File("a/.wh..wh..opq", "").File("a/new", "n");
  tar.File(".wh.gone", "");
  tar.Dir("c/").File("c/mine", "m").File(".wh.c", "");  // this layer's c stays, made opaque
  tar.File("sub/dir/.wh.x", "");
  ApplyOptions options;
  options.overlay = true;
  auto stats = Apply(tar.Finish(), options);
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(GetXattr(P("a"), "trusted.overlay.opaque"), "y");
  EXPECT_TRUE(Exists("a/new"));
  struct stat st = Lstat("gone");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_TRUE(Exists("c/mine"));
  EXPECT_EQ(GetXattr(P("c"), "trusted.overlay.opaque"), "y");
  EXPECT_TRUE(S_ISCHR(Lstat("sub/dir/x").st_mode));
  EXPECT_EQ(GetXattr(P("sub"), "trusted.overlay.opaque"), "<none>");
  EXPECT_EQ(stats->whiteouts, 4u);
}

TEST_P(ApplyTest, OpaqueMarkerBeforeOrAfterTheLayersOwnEntries) {
  ASSERT_TRUE(Apply(TestTar().File("o/lower", "l").File("o/sub/lower", "l").Finish()));
  TestTar upper;
  upper.File("o/sub/mine", "m").File("o/.wh..wh..opq", "").File("o/later", "x");
  auto stats = Apply(upper.Finish());
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_FALSE(Exists("o/lower"));
  EXPECT_FALSE(Exists("o/sub/lower"));
  EXPECT_TRUE(Exists("o/sub/mine"));
  EXPECT_TRUE(Exists("o/later"));
}

TEST_P(ApplyTest, SymlinkLoopsFailCleanly) {
  TestTar tar;
  tar.Symlink("a", "b").Symlink("b", "a").File("a/x", "x");
  auto r = Apply(tar.Finish());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("apply layer: entry \"a/x\": open parent directory:"),
            std::string::npos)
      << r.error().message();
}

TEST_P(ApplyTest, UnsupportedTypesAndOwnersAreRejectedBeforeWriting) {
  TestTarEntry odd;
  odd.name = "odd";
  odd.type = 'V';
  auto r = Apply(TestTar().Add(odd).Finish());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnimplemented);
  EXPECT_FALSE(Exists("odd"));
}

TEST_P(ApplyTest, CancellationStopsBetweenEntries) {
  auto ctx = CancelContext::Background()->Child();
  ctx->Cancel("build cancelled");
  ApplyOptions options;
  options.cancel = ctx.get();
  auto r = Apply(TestTar().File("a", "a").Finish(), options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kCancelled);
  EXPECT_FALSE(Exists("a"));
}

TEST_P(ApplyTest, TruncatedArchiveIsDataLoss) {
  std::string tar = TestTar().File("a", std::string(5000, 'a')).Finish();
  auto r = Apply(tar.substr(0, 2048));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kDataLoss);
  EXPECT_TRUE(r.error().message().starts_with("apply layer: ")) << r.error().message();
}

// The root's own entry (`./`, however spelled): ignored by default, as containerd ignores it;
// with root_metadata its owner, mode, xattrs and times go on the root (GNU tar, umoci), the times
// set after the children were written. Only a directory entry counts.
TEST_P(ApplyTest, RootEntrySetsTheRootOnlyWhenAsked) {
  auto layer = [](const std::string& name, char type) {
    TestTarEntry root;
    root.name = name;
    root.type = type;
    root.mode = 01750;
    root.uid = 123;
    root.gid = 456;
    root.mtime_sec = 1000000000;
    root.mtime_nsec = 250;
    root.xattrs["user.origin"] = "root entry";
    TestTar tar;
    tar.Add(root).File("child", "c");
    return tar.Finish();
  };
  auto stats = Apply(layer("./", '5'));
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->ignored, 1u);
  EXPECT_EQ(Lstat("").st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat("").st_uid, ::geteuid());

  ApplyOptions with_root;
  with_root.root_metadata = true;
  for (const char* name : {"./", "/", ".", "a/.."}) {
    SCOPED_TRACE(name);
    ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
    ASSERT_EQ(::chown(root_.c_str(), 0, 0), 0);
    stats = Apply(layer(name, '5'), with_root);
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(stats->ignored, 0u);
    struct stat st = Lstat("");
    EXPECT_EQ(st.st_mode & 07777, 01750u);
    EXPECT_EQ(st.st_uid, 123u);
    EXPECT_EQ(st.st_gid, 456u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
    EXPECT_EQ(st.st_mtim.tv_nsec, 250);
    EXPECT_EQ(GetXattr(root_, "user.origin"), "root entry");
    EXPECT_TRUE(Exists("child"));
  }
  // A file, symlink or FIFO "named" the root cannot be the root: ignored.
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  for (char type : {'0', '2', '6'}) {
    stats = Apply(layer("./", type), with_root);
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(stats->ignored, 1u) << type;
    EXPECT_EQ(Lstat("").st_mode & 07777, 0755u) << type;
  }
}

INSTANTIATE_TEST_SUITE_P(Apply, ApplyTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Userspace" : "Openat2";
                         });

TEST(ApplyPathTest, CleanRootedPath) {
  std::string out;
  const std::pair<const char*, const char*> cases[] = {
      {"", ""},
      {".", ""},
      {"..", ""},
      {"/", ""},
      {"./a//b/../c/", "a/c"},
      {"../../x", "x"},
      {"/../etc/passwd", "etc/passwd"},
      {"a/b/..", "a"},
      {".wh..wh..opq", ".wh..wh..opq"},
      {"a/./b/./", "a/b"},
      {"..\\x", "..\\x"},
  };
  for (const auto& [in, want] : cases) {
    internal::CleanRootedPath(in, &out);
    EXPECT_EQ(out, want) << in;
  }
}

TEST(ApplyPathTest, ResolversAgreeAndStayInside) {
  auto tmp = TempDir::Create("hoist-resolver-test-");
  ASSERT_TRUE(tmp);
  std::string root = tmp->path() + "/root";
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root + "/etc").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("/etc", (root + "/abs").c_str()), 0);
  ASSERT_EQ(::symlink("../../../etc", (root + "/rel").c_str()), 0);
  ASSERT_EQ(::symlink("missing/../../etc", (root + "/lexical").c_str()), 0);
  ASSERT_EQ(::symlink("loop", (root + "/loop").c_str()), 0);
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct stat etc;
  ASSERT_EQ(::stat((root + "/etc").c_str(), &etc), 0);
  for (bool userspace : {false, true}) {
    internal::RootResolver resolver(root_fd.get(), userspace);
    for (const char* path : {"etc", "abs", "rel", "lexical"}) {
      UniqueFd fd;
      ASSERT_EQ(resolver.OpenDir(path, false, &fd), 0) << path << " userspace=" << userspace;
      struct stat st;
      ASSERT_EQ(::fstat(fd.get(), &st), 0);
      EXPECT_EQ(st.st_ino, etc.st_ino) << path;
    }
    UniqueFd fd;
    EXPECT_EQ(resolver.OpenDir("loop", false, &fd), ELOOP);
    EXPECT_EQ(resolver.OpenDir("nothere", false, &fd), ENOENT);
    ASSERT_EQ(resolver.OpenDir(userspace ? "abs/new1/x" : "abs/new2/x", true, &fd), 0);
  }
  struct stat st;
  EXPECT_EQ(::stat((root + "/etc/new1/x").c_str(), &st), 0);
  EXPECT_EQ(::stat((root + "/etc/new2/x").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

}  // namespace
}  // namespace hoist::archive
