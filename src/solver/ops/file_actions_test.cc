#include "solver/ops/file_actions.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "archive/compression.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "source/in_place_context.h"
#include "source/local_source.h"

namespace hoist::solver::ops {
namespace {

#define ASSERT_OK(expr)                                          \
  do {                                                           \
    auto ok_ = (expr);                                           \
    ASSERT_TRUE(ok_) << #expr << ": " << ok_.error().message(); \
  } while (0)

class FileActionsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    auto s = TempDir::Create("fileops-src-");
    auto d = TempDir::Create("fileops-dst-");
    ASSERT_TRUE(s && d);
    src_ = std::move(*s);
    dst_ = std::move(*d);
    // A victim beside the roots: nothing may touch it.
    auto v = TempDir::Create("fileops-victim-");
    ASSERT_TRUE(v);
    victim_ = std::move(*v);
    WriteTestFile(victim_.path() + "/secret", "keep");
    opts_.force_userspace_resolver_for_testing = GetParam();
  }
  std::string S(const std::string& p) { return src_.path() + "/" + p; }
  std::string D(const std::string& p) { return dst_.path() + "/" + p; }
  void Mk(const std::string& p) { ASSERT_EQ(0, ::mkdir(p.c_str(), 0755)) << p; }
  bool Exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
  }
  struct stat Stat(const std::string& p) {
    struct stat st{};
    EXPECT_EQ(0, ::lstat(p.c_str(), &st)) << p;
    return st;
  }
  void ExpectVictimIntact() {
    EXPECT_EQ("keep", ReadTestFile(victim_.path() + "/secret"));
    std::vector<std::string> names;
    EXPECT_FALSE(Exists(victim_.path() + "/pwned"));
  }
  Status Copy(CopyAction a) { return ApplyCopy(src_.path(), dst_.path(), a, opts_); }

  TempDir src_, dst_, victim_;
  FileActionOptions opts_;
};

TEST_P(FileActionsTest, MkdirModeOwnerTime) {
  MkdirAction a{.path = "/a", .mode = 0711, .owner = ChownOpt{UserOpt{1000, ""}, std::nullopt},
                .timestamp = 1700000000123456789};
  ASSERT_OK(ApplyMkdir(dst_.path(), a, opts_));
  auto st = Stat(D("a"));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(0711u, st.st_mode & 07777);
  EXPECT_EQ(1000u, st.st_uid);
  EXPECT_EQ(1000u, st.st_gid);
  EXPECT_EQ(1700000000, st.st_mtim.tv_sec);
  EXPECT_EQ(123456789, st.st_mtim.tv_nsec);
  // Existing: no error.
  EXPECT_TRUE(ApplyMkdir(dst_.path(), a, opts_));
}

TEST_P(FileActionsTest, MkdirParents) {
  MkdirAction a{.path = "x/y/z", .mode = 0700};
  auto s = ApplyMkdir(dst_.path(), a, opts_);
  ASSERT_FALSE(s);
  EXPECT_EQ("mkdir /x/y/z: no such file or directory", s.error().message());
  a.make_parents = true;
  ASSERT_OK(ApplyMkdir(dst_.path(), a, opts_));
  EXPECT_EQ(0700u, Stat(D("x/y/z")).st_mode & 07777);
  WriteTestFile(D("file"), "f");
  auto bad = ApplyMkdir(dst_.path(), MkdirAction{.path = "/file/sub", .make_parents = true}, opts_);
  ASSERT_FALSE(bad);
  EXPECT_EQ("mkdir /file: not a directory", bad.error().message());
}

TEST_P(FileActionsTest, MkdirThroughSymlinkStaysInRoot) {
  ASSERT_EQ(0, ::symlink(victim_.path().c_str(), D("out").c_str()));
  ASSERT_EQ(0, ::symlink("../../../..", D("up").c_str()));
  ASSERT_OK(ApplyMkdir(dst_.path(), MkdirAction{.path = "/out/pwned", .make_parents = true}, opts_));
  ASSERT_OK(ApplyMkdir(dst_.path(), MkdirAction{.path = "/up/tmp/pwned", .make_parents = true}, opts_));
  ExpectVictimIntact();
  // The absolute target resolved inside the root.
  EXPECT_TRUE(Exists(D(victim_.path().substr(1) + "/pwned")));
  EXPECT_TRUE(Exists(D("tmp/pwned")));
}

TEST_P(FileActionsTest, MkfileAndOwnerByName) {
  Mk(D("etc"));
  WriteTestFile(D("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1234:555::/home/app:/bin/sh\n");
  WriteTestFile(D("etc/group"), "root:x:0:\nstaff:x:777:app\n");
  MkfileAction a{.path = "/f", .mode = 0640, .data = "hello",
                 .owner = ChownOpt{UserOpt{0, "app"}, std::nullopt}, .timestamp = 0};
  ASSERT_OK(ApplyMkfile(dst_.path(), a, opts_));
  EXPECT_EQ("hello", ReadTestFile(D("f")));
  auto st = Stat(D("f"));
  EXPECT_EQ(0640u, st.st_mode & 07777);
  EXPECT_EQ(1234u, st.st_uid);
  EXPECT_EQ(555u, st.st_gid);
  EXPECT_EQ(0, st.st_mtim.tv_sec);
  a.owner = ChownOpt{UserOpt{0, "app"}, UserOpt{0, "staff"}};
  ASSERT_OK(ApplyMkfile(dst_.path(), a, opts_));
  EXPECT_EQ(777u, Stat(D("f")).st_gid);
  a.owner = ChownOpt{UserOpt{0, "nobody"}, std::nullopt};
  auto s = ApplyMkfile(dst_.path(), a, opts_);
  ASSERT_FALSE(s);
  EXPECT_EQ("unable to find user nobody: no matching entries in passwd file", s.error().message());
  a.owner = ChownOpt{std::nullopt, UserOpt{0, "wheel"}};
  s = ApplyMkfile(dst_.path(), a, opts_);
  ASSERT_FALSE(s);
  EXPECT_EQ("unable to find group wheel: no matching entries in group file", s.error().message());
}

TEST_P(FileActionsTest, MkfileSymlinkEscapeAndErrors) {
  ASSERT_EQ(0, ::symlink((victim_.path() + "/secret").c_str(), D("link").c_str()));
  // The absolute target is looked for inside the root, where its directories do not exist.
  auto e = ApplyMkfile(dst_.path(), MkfileAction{.path = "/link", .data = "x"}, opts_);
  ASSERT_FALSE(e);
  EXPECT_EQ("open /link: no such file or directory", e.error().message());
  ExpectVictimIntact();
  ASSERT_OK(ApplyMkdir(dst_.path(), MkdirAction{.path = victim_.path(), .make_parents = true}, opts_));
  ASSERT_OK(ApplyMkfile(dst_.path(), MkfileAction{.path = "/link", .data = "x"}, opts_));
  ExpectVictimIntact();
  EXPECT_EQ("x", ReadTestFile(D(victim_.path().substr(1) + "/secret")));
  auto s = ApplyMkfile(dst_.path(), MkfileAction{.path = "/no/f", .data = "x"}, opts_);
  ASSERT_FALSE(s);
  EXPECT_EQ("open /no/f: no such file or directory", s.error().message());
  EXPECT_EQ(Code::kNotFound, s.error().code());
}

TEST_P(FileActionsTest, Rm) {
  Mk(D("d"));
  WriteTestFile(D("d/a.txt"), "");
  WriteTestFile(D("d/b.txt"), "");
  WriteTestFile(D("d/c.md"), "");
  ASSERT_EQ(0, ::symlink(victim_.path().c_str(), D("out").c_str()));
  // Removes the link, never its target.
  ASSERT_OK(ApplyRm(dst_.path(), RmAction{.path = "/out"}, opts_));
  EXPECT_FALSE(Exists(D("out")));
  ExpectVictimIntact();
  ASSERT_OK(ApplyRm(dst_.path(), RmAction{.path = "/d/*.txt", .allow_wildcard = true}, opts_));
  EXPECT_FALSE(Exists(D("d/a.txt")));
  EXPECT_TRUE(Exists(D("d/c.md")));
  auto s = ApplyRm(dst_.path(), RmAction{.path = "/missing"}, opts_);
  ASSERT_FALSE(s);
  EXPECT_EQ("lstat /missing: no such file or directory", s.error().message());
  EXPECT_TRUE(ApplyRm(dst_.path(), RmAction{.path = "/missing", .allow_not_found = true}, opts_));
  ASSERT_OK(ApplyRm(dst_.path(), RmAction{.path = "/d"}, opts_));
  EXPECT_FALSE(Exists(D("d")));
  s = ApplyRm(dst_.path(), RmAction{.path = "/"}, opts_);
  ASSERT_FALSE(s);
  EXPECT_EQ("rmPath: invalid empty path", s.error().message());
  // ".." cannot climb out.
  ASSERT_OK(ApplyRm(dst_.path(), RmAction{.path = "../../" + victim_.path() + "/secret",
                                            .allow_not_found = true}, opts_));
  ExpectVictimIntact();
}

TEST_P(FileActionsTest, Symlink) {
  ASSERT_OK(ApplySymlink(dst_.path(), SymlinkAction{.oldpath = "../t", .newpath = "/l"}, opts_));
  char buf[64];
  ssize_t n = ::readlink(D("l").c_str(), buf, sizeof(buf));
  EXPECT_EQ("../t", std::string(buf, n > 0 ? n : 0));
  auto s = ApplySymlink(dst_.path(), SymlinkAction{.oldpath = "x", .newpath = "/l"}, opts_);
  ASSERT_FALSE(s);
  EXPECT_EQ("symlink x /l: file exists", s.error().message());
}

TEST_P(FileActionsTest, CopyFileToNewAndExistingDir) {
  WriteTestFile(S("f"), "data");
  ASSERT_EQ(0, ::chmod(S("f").c_str(), 0751));
  ASSERT_EQ(0, ::chown(S("f").c_str(), 11, 22));
  ASSERT_OK(Copy({.src = "/f", .dest = "/g"}));
  EXPECT_EQ("data", ReadTestFile(D("g")));
  auto st = Stat(D("g"));
  EXPECT_EQ(0751u, st.st_mode & 07777);
  EXPECT_EQ(11u, st.st_uid);
  EXPECT_EQ(Stat(S("f")).st_mtim.tv_sec, st.st_mtim.tv_sec);
  Mk(D("dir"));
  ASSERT_OK(Copy({.src = "f", .dest = "/dir"}));
  EXPECT_EQ("data", ReadTestFile(D("dir/f")));
  // Trailing slash: a directory, made if needed (with create_dest_path for deeper parents).
  ASSERT_OK(Copy({.src = "f", .dest = "/new/"}));
  EXPECT_EQ("data", ReadTestFile(D("new/f")));
  auto s = Copy({.src = "f", .dest = "/a/b/c"});
  ASSERT_FALSE(s);
  EXPECT_EQ("failed to stat /a/b/c: no such file or directory", s.error().message());
  ASSERT_OK(Copy({.src = "f", .dest = "/a/b/c", .create_dest_path = true}));
  EXPECT_EQ("data", ReadTestFile(D("a/b/c")));
  s = Copy({.src = "/src/missing", .dest = "/x"});
  ASSERT_FALSE(s);
  EXPECT_EQ("lstat /src/missing: no such file or directory", s.error().message());
  EXPECT_EQ(Code::kNotFound, s.error().code());
}

TEST_P(FileActionsTest, CopyDirectoryItselfOrContents) {
  Mk(S("d"));
  Mk(S("d/sub"));
  WriteTestFile(S("d/sub/x"), "x");
  ASSERT_EQ(0, ::chmod(S("d").c_str(), 0700));
  ASSERT_OK(Copy({.src = "d", .dest = "/out"}));  // dest missing: becomes the directory
  EXPECT_EQ("x", ReadTestFile(D("out/sub/x")));
  EXPECT_EQ(0700u, Stat(D("out")).st_mode & 07777);
  ASSERT_OK(Copy({.src = "d", .dest = "/out"}));  // dest exists: goes inside
  EXPECT_EQ("x", ReadTestFile(D("out/d/sub/x")));
  Mk(D("c"));
  ASSERT_OK(Copy({.src = "d", .dest = "/c", .dir_copy_contents = true}));
  EXPECT_EQ("x", ReadTestFile(D("c/sub/x")));
  EXPECT_FALSE(Exists(D("c/d")));
  EXPECT_EQ(0755u, Stat(D("c")).st_mode & 07777);  // an existing target keeps its metadata
}

TEST_P(FileActionsTest, CopyContentsOntoRoot) {
  Mk(S("d"));
  WriteTestFile(S("d/x"), "x");
  ASSERT_OK(Copy({.src = "d", .dest = "/", .dir_copy_contents = true}));
  EXPECT_EQ("x", ReadTestFile(D("x")));
  WriteTestFile(S("f"), "f");
  ASSERT_OK(Copy({.src = "f", .dest = "/"}));
  EXPECT_EQ("f", ReadTestFile(D("f")));
}

TEST_P(FileActionsTest, CopyReplaceRules) {
  Mk(S("d"));
  WriteTestFile(S("d/x"), "file");
  Mk(D("t"));
  Mk(D("t/x"));  // a directory where the file goes
  auto s = Copy({.src = "d", .dest = "/t", .dir_copy_contents = true});
  ASSERT_FALSE(s);
  EXPECT_EQ("cannot replace to directory /t/x with file", s.error().message());
  ASSERT_OK(Copy({.src = "d", .dest = "/t", .dir_copy_contents = true,
                    .always_replace_existing_dest_paths = true}));
  EXPECT_EQ("file", ReadTestFile(D("t/x")));
  Mk(S("e"));
  Mk(S("e/x"));
  s = Copy({.src = "e", .dest = "/t", .dir_copy_contents = true});
  ASSERT_FALSE(s);
  EXPECT_EQ("cannot copy to non-directory: /t/x", s.error().message());
  ASSERT_OK(Copy({.src = "e", .dest = "/t", .dir_copy_contents = true,
                    .always_replace_existing_dest_paths = true}));
  EXPECT_TRUE(S_ISDIR(Stat(D("t/x")).st_mode));
}

TEST_P(FileActionsTest, CopyWildcards) {
  WriteTestFile(S("a.txt"), "a");
  WriteTestFile(S("b.txt"), "b");
  WriteTestFile(S("c.md"), "c");
  Mk(D("o"));
  ASSERT_OK(Copy({.src = "/*.txt", .dest = "/o/", .allow_wildcard = true}));
  EXPECT_EQ("a", ReadTestFile(D("o/a.txt")));
  EXPECT_EQ("b", ReadTestFile(D("o/b.txt")));
  EXPECT_FALSE(Exists(D("o/c.md")));
  auto s = Copy({.src = "/*.go", .dest = "/o/", .allow_wildcard = true});
  ASSERT_FALSE(s);
  EXPECT_EQ("/*.go not found", s.error().message());
  EXPECT_TRUE(Copy({.src = "/*.go", .dest = "/o/", .allow_wildcard = true, .allow_empty_wildcard = true}));
  // Without allow_wildcard the name is literal.
  s = Copy({.src = "/*.txt", .dest = "/o/"});
  ASSERT_FALSE(s);
  EXPECT_EQ("lstat /*.txt: no such file or directory", s.error().message());
}

TEST_P(FileActionsTest, CopySymlinksFollowAndEscape) {
  WriteTestFile(S("real"), "real");
  ASSERT_EQ(0, ::symlink("real", S("l").c_str()));
  ASSERT_EQ(0, ::symlink((victim_.path() + "/secret").c_str(), S("abs").c_str()));
  ASSERT_EQ(0, ::symlink("../../../../../..", S("up").c_str()));
  ASSERT_OK(Copy({.src = "l", .dest = "/nofollow"}));
  EXPECT_TRUE(S_ISLNK(Stat(D("nofollow")).st_mode));
  ASSERT_OK(Copy({.src = "l", .dest = "/follow", .follow_symlink = true}));
  EXPECT_TRUE(S_ISREG(Stat(D("follow")).st_mode));
  EXPECT_EQ("real", ReadTestFile(D("follow")));
  // A followed absolute link resolves inside the source root: the victim is not there.
  auto s = Copy({.src = "abs", .dest = "/x", .follow_symlink = true});
  ASSERT_FALSE(s);
  EXPECT_EQ("lstat /abs: no such file or directory", s.error().message());
  // "up" is the source root itself when followed.
  ASSERT_OK(Copy({.src = "up/real", .dest = "/viaup"}));
  EXPECT_EQ("real", ReadTestFile(D("viaup")));
  // Destination symlinks stay inside the destination root.
  ASSERT_EQ(0, ::symlink(victim_.path().c_str(), D("dout").c_str()));
  ASSERT_OK(Copy({.src = "real", .dest = "/dout/pwned", .create_dest_path = true}));
  ExpectVictimIntact();
  EXPECT_EQ("real", ReadTestFile(D(victim_.path().substr(1) + "/pwned")));
  ASSERT_EQ(0, ::symlink("../../../../..", D("dup").c_str()));
  ASSERT_OK(Copy({.src = "real", .dest = "/dup/tmp/pwned", .create_dest_path = true}));
  ExpectVictimIntact();
}

TEST_P(FileActionsTest, CopyOwnerModeTimestamp) {
  Mk(S("d"));
  WriteTestFile(S("d/f"), "f");
  ASSERT_EQ(0, ::chmod(S("d/f").c_str(), 04644));
  CopyAction a{.src = "d", .dest = "/o", .owner = ChownOpt{UserOpt{5, ""}, UserOpt{6, ""}},
               .mode = 0700, .create_dest_path = true, .timestamp = 86400000000000LL};
  ASSERT_OK(Copy(a));
  auto st = Stat(D("o/f"));
  EXPECT_EQ(04700u, st.st_mode & 07777);  // set-id bits kept, permission bits replaced
  EXPECT_EQ(5u, st.st_uid);
  EXPECT_EQ(6u, st.st_gid);
  EXPECT_EQ(86400, st.st_mtim.tv_sec);
  EXPECT_EQ(86400, Stat(D("o")).st_mtim.tv_sec);
  EXPECT_EQ(0700u, Stat(D("o")).st_mode & 07777);
  a.mode = -1;
  a.mode_str = "go-r,u+x";
  a.dest = "/p";
  ASSERT_OK(Copy(a));
  EXPECT_EQ(04700u, Stat(D("p/f")).st_mode & 07777);
  a.mode_str = "u+q";
  auto s = Copy(a);
  ASSERT_FALSE(s);
  EXPECT_EQ("invalid chmod mode \"u+q\"", s.error().message());
}

TEST(SymbolicModeTest, Cases) {
  EXPECT_EQ(0755u, *ApplySymbolicMode("u+x,go+rX", 0644, false) | 0);
  EXPECT_EQ(0644u, *ApplySymbolicMode("a+X", 0644, false));
  EXPECT_EQ(0755u, *ApplySymbolicMode("a+X", 0644, true));
  EXPECT_EQ(0444u, *ApplySymbolicMode("=r", 0777, false));
  EXPECT_EQ(0600u, *ApplySymbolicMode("go=", 0644, false));
  EXPECT_EQ(0770u, *ApplySymbolicMode("g=u,o=", 0754, false));
  EXPECT_EQ(0755u, *ApplySymbolicMode("u=rwX,go=rX", 0600, true));
  EXPECT_EQ(0644u, *ApplySymbolicMode("u=rwX,go=rX", 0600, false));
  EXPECT_EQ(0400u, *ApplySymbolicMode("u+r-w", 0200, false));
  EXPECT_FALSE(ApplySymbolicMode("", 0, false));
  EXPECT_FALSE(ApplySymbolicMode("u", 0, false));
  EXPECT_FALSE(ApplySymbolicMode("u+x,", 0, false));
}

TEST_P(FileActionsTest, CopyHardlinksKept) {
  WriteTestFile(S("a"), "same");
  ASSERT_EQ(0, ::link(S("a").c_str(), S("b").c_str()));
  Mk(S("dir"));
  ASSERT_EQ(0, ::link(S("a").c_str(), S("dir/c").c_str()));
  Mk(D("o"));
  ASSERT_OK(Copy({.src = "/", .dest = "/o", .dir_copy_contents = true}));
  EXPECT_EQ(Stat(D("o/a")).st_ino, Stat(D("o/b")).st_ino);
  EXPECT_EQ(Stat(D("o/a")).st_ino, Stat(D("o/dir/c")).st_ino);
  EXPECT_NE(Stat(S("a")).st_ino, Stat(D("o/a")).st_ino);
}

TEST_P(FileActionsTest, CopyIncludeExcludeAndParents) {
  Mk(S("a"));
  Mk(S("a/b"));
  Mk(S("other"));
  WriteTestFile(S("a/b/keep.go"), "k");
  WriteTestFile(S("a/b/skip.txt"), "s");
  WriteTestFile(S("other/x.go"), "x");
  WriteTestFile(S("top.go"), "t");
  Mk(D("o"));
  // COPY --parents a/*/keep.go: the directories on the way are made, nothing else.
  ASSERT_OK(Copy({.src = "/", .dest = "/o", .dir_copy_contents = true,
                    .include_patterns = {"a/*/keep.go"}}));
  EXPECT_EQ("k", ReadTestFile(D("o/a/b/keep.go")));
  EXPECT_FALSE(Exists(D("o/a/b/skip.txt")));
  EXPECT_FALSE(Exists(D("o/other")));
  EXPECT_FALSE(Exists(D("o/top.go")));
  Mk(D("e"));
  ASSERT_OK(Copy({.src = "/", .dest = "/e", .dir_copy_contents = true,
                    .exclude_patterns = {"**/*.txt", "other", "!other/x.go"}}));
  EXPECT_TRUE(Exists(D("e/a/b/keep.go")));
  EXPECT_FALSE(Exists(D("e/a/b/skip.txt")));
  EXPECT_TRUE(Exists(D("e/other/x.go")));
  EXPECT_TRUE(Exists(D("e/top.go")));
  auto s = Copy({.src = "/", .dest = "/e", .dir_copy_contents = true, .exclude_patterns = {"["}});
  ASSERT_FALSE(s);
  EXPECT_EQ("invalid excludepatterns: syntax error in pattern", s.error().message());
}

std::string TarOf(const std::string& name, const std::string& data) {
  std::string tar(1024 + 512, '\0');
  char* h = tar.data();
  std::snprintf(h, 100, "%s", name.c_str());
  std::snprintf(h + 100, 8, "%07o", 0644);
  std::snprintf(h + 108, 8, "%07o", 0);
  std::snprintf(h + 116, 8, "%07o", 0);
  std::snprintf(h + 124, 12, "%011o", static_cast<unsigned>(data.size()));
  std::snprintf(h + 136, 12, "%011o", 0);
  h[156] = '0';
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += static_cast<unsigned char>(h[i]);
  std::snprintf(h + 148, 8, "%06o", sum);
  std::memcpy(h + 512, data.data(), data.size());
  return tar;
}

TEST_P(FileActionsTest, AddUnpacksTarArchives) {
  WriteTestFile(S("plain.tar"), TarOf("hello.txt", "hi"));
  std::string gz;
  {
    archive::StringByteSink sink(&gz);
    archive::CompressorOptions co;
    co.compression = archive::Compression::kGzip;
    auto c = archive::NewCompressor(co, &sink);
    ASSERT_TRUE(c);
    ASSERT_TRUE((*c)->Write(TarOf("zipped.txt", "z")));
    ASSERT_TRUE((*c)->Finish());
  }
  WriteTestFile(S("a.tar.gz"), gz);
  WriteTestFile(S("notar.gz"), "just text, not an archive at all............");
  Mk(D("o"));
  CopyAction a{.src = "plain.tar", .dest = "/o/", .attempt_unpack_docker_compatibility = true};
  ASSERT_OK(Copy(a));
  EXPECT_EQ("hi", ReadTestFile(D("o/hello.txt")));
  EXPECT_FALSE(Exists(D("o/plain.tar")));
  a.src = "a.tar.gz";
  ASSERT_OK(Copy(a));
  EXPECT_EQ("z", ReadTestFile(D("o/zipped.txt")));
  a.src = "notar.gz";
  ASSERT_OK(Copy(a));
  EXPECT_TRUE(Exists(D("o/notar.gz")));
  // An owner override applies to what was extracted.
  a.src = "plain.tar";
  a.dest = "/owned/";
  a.create_dest_path = true;
  a.owner = ChownOpt{UserOpt{321, ""}, std::nullopt};
  ASSERT_OK(Copy(a));
  EXPECT_EQ(321u, Stat(D("owned/hello.txt")).st_uid);
  EXPECT_EQ(321u, Stat(D("owned/hello.txt")).st_gid);
  EXPECT_EQ(0u, Stat(D("o/hello.txt")).st_uid);
  // COPY (no unpack) copies the archive as a file.
  ASSERT_OK(Copy({.src = "plain.tar", .dest = "/o/"}));
  EXPECT_TRUE(Exists(D("o/plain.tar")));
}

// xz and bzip2 archives, made by the tools, are extracted as Docker extracts them; a file with
// their magic whose contents are no tar (or are corrupt) is copied as a file.
TEST_P(FileActionsTest, AddUnpacksXzAndBzip2Archives) {
  WriteTestFile(S("x.tar"), TarOf("from-xz.txt", "xz body"));
  WriteTestFile(S("b.tar"), TarOf("from-bz2.txt", "bzip2 body"));
  WriteTestFile(S("text"), std::string(4000, 't'));
  const std::string cd = "cd '" + src_.path() + "' && ";
  ASSERT_EQ(0, std::system((cd + "xz -c x.tar > x.tar.xz && bzip2 -c b.tar > b.tar.bz2 && "
                                 "xz -c text > text.xz && bzip2 -c text > text.bz2")
                               .c_str()));
  Mk(D("o"));
  CopyAction a{.src = "x.tar.xz", .dest = "/o/", .attempt_unpack_docker_compatibility = true};
  ASSERT_OK(Copy(a));
  EXPECT_EQ("xz body", ReadTestFile(D("o/from-xz.txt")));
  EXPECT_FALSE(Exists(D("o/x.tar.xz")));
  a.src = "b.tar.bz2";
  ASSERT_OK(Copy(a));
  EXPECT_EQ("bzip2 body", ReadTestFile(D("o/from-bz2.txt")));
  EXPECT_FALSE(Exists(D("o/b.tar.bz2")));
  for (const char* file : {"text.xz", "text.bz2"}) {
    a.src = file;
    ASSERT_OK(Copy(a));
    EXPECT_EQ(ReadTestFile(S(file)), ReadTestFile(D(std::string("o/") + file))) << file;
  }
  // An archive cut short after its first entries began fails the step, naming the codec.
  ASSERT_EQ(0, std::system((cd + "head -c 300000 /dev/urandom > big && tar -cf big.tar big && "
                                 "xz -0 -c big.tar | head -c 100000 > cut.tar.xz")
                               .c_str()));
  a.src = "cut.tar.xz";
  Status st = Copy(a);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("xz: unexpected end of stream"), std::string::npos)
      << st.error().message();
}


// COPY from a context read in place: what is copied is what was checksummed.
class InPlaceCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "an in-place view is an overlay mount, which needs root";
    auto c = TempDir::Create("inplace-ctx-");
    auto s = TempDir::Create("inplace-state-");
    auto d = TempDir::Create("inplace-dst-");
    ASSERT_TRUE(c && s && d);
    ctx_ = std::move(*c);
    state_ = std::move(*s);
    dst_ = std::move(*d);
    ASSERT_EQ(0, ::mkdir(C("data").c_str(), 0755));
    WriteTestFile(C("data/a.txt"), "aaaa");
    WriteTestFile(C("data/b.txt"), "bbbb");
    WriteTestFile(C("data/secret.key"), "key");
    ASSERT_EQ(0, ::symlink("../../../../../../etc", C("data/etc").c_str()));
    ASSERT_EQ(0, ::symlink("/etc/passwd", C("passwd").c_str()));
    ASSERT_EQ(0, ::symlink("data", C("alias").c_str()));
    source::LocalDirReader reader(ctx_.path());
    auto view = source::InPlaceContext::Create(
        reader, UniqueFd(::open(ctx_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)),
        source::InPlaceOptions{.name = "context",
                               .scope = "inplace:test",
                               .state_dir = state_.path(),
                               .filter = {.exclude_patterns = {"**/*.key"}}});
    ASSERT_TRUE(view) << view.error().message();
    view_ = std::move(*view);
    opts_.in_place_source = view_.get();
  }
  std::string C(const std::string& p) { return ctx_.path() + "/" + p; }
  std::string D(const std::string& p) { return dst_.path() + "/" + p; }
  Status Copy(const std::string& src, const std::string& dest) {
    return ApplyCopy(view_->path(), dst_.path(),
                     CopyAction{.src = src, .dest = dest, .follow_symlink = true,
                                .dir_copy_contents = true, .create_dest_path = true},
                     opts_);
  }
  Result<oci::Digest> Sum(const std::string& path) {
    return source::Checksum(view_->path(), path, true, false, {.in_place = view_.get()});
  }

  TempDir ctx_, state_, dst_;
  std::unique_ptr<source::InPlaceContext> view_;
  FileActionOptions opts_;
};

TEST_F(InPlaceCopyTest, CopiesTheFilteredViewWithoutTheClientsXattrs) {
  ASSERT_EQ(0, ::setxattr(C("data/a.txt").c_str(), "user.origin", "client", 6, 0));
  ASSERT_TRUE(Sum("data"));
  auto st = Copy("data", "/out/");
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ("aaaa", ReadTestFile(D("out/a.txt")));
  EXPECT_EQ("bbbb", ReadTestFile(D("out/b.txt")));
  struct stat sb;
  EXPECT_NE(0, ::lstat(D("out/secret.key").c_str(), &sb));
  char value[16];
  EXPECT_LT(::lgetxattr(D("out/a.txt").c_str(), "user.origin", value, sizeof(value)), 0);
  // An excluded file is not there to name either.
  st = Copy("data/secret.key", "/k");
  ASSERT_FALSE(st);
  EXPECT_EQ(Code::kNotFound, st.error().code()) << st.error().message();
}

TEST_F(InPlaceCopyTest, AFileChangedAfterItsChecksumFailsTheCopy) {
  ASSERT_TRUE(Sum("data"));
  // Same size and mtime, other bytes: only the identity (ctime) and the bytes tell.
  struct stat before;
  ASSERT_EQ(0, ::stat(C("data/b.txt").c_str(), &before));
  WriteTestFile(C("data/b.txt"), "BBBB");
  struct timespec ts[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(0, ::utimensat(AT_FDCWD, C("data/b.txt").c_str(), ts, 0));
  auto st = Copy("data", "/out/");
  ASSERT_FALSE(st);
  EXPECT_EQ(Code::kFailedPrecondition, st.error().code());
  EXPECT_NE(std::string::npos,
            st.error().message().find("local context \"context\": \"data/b.txt\" changed during the build"))
      << st.error().message();
  EXPECT_EQ(std::string::npos, st.error().message().find(ctx_.path()));
}

TEST_F(InPlaceCopyTest, FirstReadByTheCopyPinsTheFile) {
  ASSERT_TRUE(Copy("data/a.txt", "/a"));
  EXPECT_TRUE(view_->Find("data/a.txt"));
  WriteTestFile(C("data/a.txt"), "AAAA");
  auto st = Copy("data/a.txt", "/a2");
  ASSERT_FALSE(st);
  EXPECT_NE(std::string::npos, st.error().message().find("\"data/a.txt\" changed during the build"))
      << st.error().message();
}

TEST_F(InPlaceCopyTest, FilesAreCheckedWhereTheyAreThroughSymlinks) {
  ASSERT_TRUE(Sum("alias/a.txt"));
  EXPECT_TRUE(view_->Find("data/a.txt"));
  EXPECT_FALSE(view_->Find("alias/a.txt"));
  ASSERT_TRUE(Copy("alias/a.txt", "/a"));
  EXPECT_EQ("aaaa", ReadTestFile(D("a")));
  WriteTestFile(C("data/a.txt"), "AAAA");
  auto st = Copy("alias/a.txt", "/a2");
  ASSERT_FALSE(st);
  EXPECT_NE(std::string::npos, st.error().message().find("\"data/a.txt\" changed during the build"))
      << st.error().message();
}

TEST_F(InPlaceCopyTest, SymlinksNeverLeaveTheContext) {
  // Both resolve inside the context, where there is no etc/passwd.
  auto st = Copy("data/etc/passwd", "/p1");
  ASSERT_FALSE(st);
  EXPECT_EQ(Code::kNotFound, st.error().code()) << st.error().message();
  st = Copy("passwd", "/p2");
  ASSERT_FALSE(st);
  EXPECT_EQ(Code::kNotFound, st.error().code()) << st.error().message();
  struct stat sb;
  EXPECT_NE(0, ::lstat(D("p1").c_str(), &sb));
  EXPECT_NE(0, ::lstat(D("p2").c_str(), &sb));
}

INSTANTIATE_TEST_SUITE_P(Resolvers, FileActionsTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Userspace" : "Openat2"; });

}  // namespace
}  // namespace hoist::solver::ops
