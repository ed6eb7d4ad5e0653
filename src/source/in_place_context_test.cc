#include "source/in_place_context.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "source/local_source.h"

namespace hoist::source {
namespace {

// What a tree holds, entry by entry: type, permissions, owner, size, mtime (not for the root,
// which a mirror and a view both make themselves), link target and contents.
std::map<std::string, std::string> Describe(const std::string& root, const std::string& rel = "") {
  std::map<std::string, std::string> out;
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_TRUE(fd) << dir;
  std::vector<std::string> names;
  EXPECT_EQ(0, ListDir(fd.get(), &names));
  for (const std::string& n : names) {
    const std::string p = rel.empty() ? n : rel + "/" + n;
    struct stat st;
    EXPECT_EQ(0, ::lstat((root + "/" + p).c_str(), &st));
    std::string d = fmt::format("{:o} {}:{} {}", st.st_mode, st.st_uid, st.st_gid,
                                S_ISDIR(st.st_mode) ? 0 : st.st_size);
    if (!S_ISDIR(st.st_mode)) d += fmt::format(" {}.{}", st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) d += " " + ReadTestFile(root + "/" + p);
    if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t k = ::readlink((root + "/" + p).c_str(), buf, sizeof(buf));
      d += " -> " + std::string(buf, k > 0 ? k : 0);
    }
    out[p] = d;
    if (S_ISDIR(st.st_mode)) out.merge(Describe(root, p));
  }
  return out;
}

class InPlaceContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the view is an overlay mount, which needs root";
    auto c = TempDir::Create("ctx-");
    auto s = TempDir::Create("state-");
    ASSERT_TRUE(c && s);
    ctx_ = std::move(*c);
    state_ = std::move(*s);
    Mkdir("src");
    WriteTestFile(C("src/main.go"), "package main");
    WriteTestFile(C("src/util.go"), "package util");
    WriteTestFile(C("README.md"), "readme");
    WriteTestFile(C(".env"), "SECRET=1");
    Mkdir("node_modules");
    Mkdir("node_modules/deep");
    WriteTestFile(C("node_modules/deep/big.js"), "big");
    Mkdir("empty-after-filter");
    WriteTestFile(C("empty-after-filter/x.log"), "log");
    ASSERT_EQ(0, ::symlink("src/main.go", C("link").c_str()));
    ASSERT_EQ(0, ::symlink("../../../etc/passwd", C("escape").c_str()));
    ASSERT_EQ(0, ::link(C("README.md").c_str(), C("README.hard").c_str()));
    ASSERT_EQ(0, ::mkfifo(C("pipe").c_str(), 0644));
    ASSERT_EQ(0, ::chmod(C("src").c_str(), 0750));
    ASSERT_EQ(0, ::lchown(C("src/util.go").c_str(), 1234, 5678));
  }
  std::string C(const std::string& p) { return ctx_.path() + "/" + p; }
  void Mkdir(const std::string& p) { ASSERT_EQ(0, ::mkdir(C(p).c_str(), 0755)); }

  ContextFilter Filter() {
    return ContextFilter{.exclude_patterns = {".env", "node_modules", "**/*.log"}};
  }

  Result<std::unique_ptr<InPlaceContext>> Open(const ContextFilter& filter) {
    LocalDirReader reader(ctx_.path());
    UniqueFd root(::open(ctx_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    return InPlaceContext::Create(reader, std::move(root),
                                  InPlaceOptions{.name = "context",
                                                 .scope = "inplace:test",
                                                 .state_dir = state_.path(),
                                                 .filter = filter});
  }

  TempDir ctx_, state_;
};

TEST_F(InPlaceContextTest, ViewHoldsWhatAMirrorHolds) {
  auto view = Open(Filter());
  ASSERT_TRUE(view) << view.error().message();
  LocalDirReader reader(ctx_.path());
  const std::string mirror = state_.path() + "/mirror";
  ASSERT_TRUE(LocalSync(reader, mirror, SyncOptions{.filter = Filter()}));
  auto in_view = Describe((*view)->path());
  EXPECT_EQ(Describe(mirror), in_view);
  EXPECT_FALSE(in_view.contains(".env"));
  EXPECT_FALSE(in_view.contains("node_modules"));
  EXPECT_TRUE(in_view.contains("empty-after-filter"));  // not excluded itself, as in a mirror
  EXPECT_FALSE(in_view.contains("empty-after-filter/x.log"));
  EXPECT_FALSE(in_view.contains("pipe"));
  EXPECT_TRUE(in_view.contains("src/util.go"));
  // The root is made as a mirror's root is.
  struct stat a, b;
  ASSERT_EQ(0, ::stat((*view)->path().c_str(), &a));
  ASSERT_EQ(0, ::stat(mirror.c_str(), &b));
  EXPECT_EQ(a.st_mode, b.st_mode);
  EXPECT_EQ(a.st_uid, b.st_uid);
  // Content checksums agree, and the view's pins every file it read.
  auto in_place = view->get();
  auto sum_view = Checksum(in_place->path(), "", false, false, {.in_place = in_place});
  auto sum_mirror = Checksum(mirror, "", false, false);
  ASSERT_TRUE(sum_view) << sum_view.error().message();
  ASSERT_TRUE(sum_mirror);
  EXPECT_EQ(*sum_mirror, *sum_view);
  EXPECT_TRUE(in_place->Find("src/main.go"));
  EXPECT_FALSE(in_place->Find(".env"));
  // Nothing of the client's was written.
  EXPECT_EQ("SECRET=1", ReadTestFile(C(".env")));
}

TEST_F(InPlaceContextTest, IncludePatternsAndFollowPaths) {
  ContextFilter filter{.include_patterns = {"src"}, .follow_paths = {"link"}};
  auto view = Open(filter);
  ASSERT_TRUE(view) << view.error().message();
  LocalDirReader reader(ctx_.path());
  const std::string mirror = state_.path() + "/mirror";
  ASSERT_TRUE(LocalSync(reader, mirror, SyncOptions{.filter = filter}));
  EXPECT_EQ(Describe(mirror), Describe((*view)->path()));
}

TEST_F(InPlaceContextTest, ChangesAfterTheWalkAreErrors) {
  auto view = Open(Filter());
  ASSERT_TRUE(view) << view.error().message();
  InPlaceContext& c = **view;
  // Before the checksum: the checksum itself notices.
  WriteTestFile(C("src/main.go"), "package main // edited");
  auto sum = Checksum(c.path(), "src", false, false, {.in_place = &c});
  ASSERT_FALSE(sum);
  EXPECT_NE(std::string::npos, sum.error().message().find(
                                   "local context \"context\": \"src/main.go\" changed during the build"))
      << sum.error().message();
  EXPECT_EQ(std::string::npos, sum.error().message().find(ctx_.path()));
  // Added and removed files.
  auto again = Open(Filter());
  ASSERT_TRUE(again);
  WriteTestFile(C("src/new.go"), "new");
  sum = Checksum((*again)->path(), "src", false, false, {.in_place = again->get()});
  ASSERT_FALSE(sum);
  EXPECT_NE(std::string::npos, sum.error().message().find("\"src/new.go\" changed during the build"))
      << sum.error().message();
  ASSERT_EQ(0, ::unlink(C("src/new.go").c_str()));
  ASSERT_EQ(0, ::unlink(C("src/util.go").c_str()));
  sum = Checksum((*again)->path(), "src", false, false, {.in_place = again->get()});
  ASSERT_FALSE(sum);
  EXPECT_NE(std::string::npos, sum.error().message().find("\"src/util.go\" changed during the build"))
      << sum.error().message();
}

TEST_F(InPlaceContextTest, RecordPinsTheFirstDigest) {
  auto view = Open(Filter());
  ASSERT_TRUE(view);
  InPlaceContext& c = **view;
  FileIdentity id{.ino = 1, .size = 2};
  const oci::Digest a = oci::Digest::Sha256Of("a"), b = oci::Digest::Sha256Of("b");
  ASSERT_TRUE(c.Record("README.md", id, a));
  EXPECT_TRUE(c.Record("README.md", id, a));
  auto st = c.Record("README.md", id, b);
  ASSERT_FALSE(st);
  EXPECT_EQ(Code::kFailedPrecondition, st.error().code());
  FileIdentity other = id;
  other.ctime_ns = 7;
  EXPECT_FALSE(c.Record("README.md", other, a));
  EXPECT_EQ(a, c.Find("README.md")->digest);
}

TEST_F(InPlaceContextTest, DestructionUnmountsAndLeavesTheClientAlone) {
  std::string path;
  {
    auto view = Open(Filter());
    ASSERT_TRUE(view);
    path = (*view)->path();
    EXPECT_EQ("readme", ReadTestFile(path + "/README.md"));
  }
  struct stat st;
  EXPECT_NE(0, ::stat(path.c_str(), &st));
  EXPECT_EQ("readme", ReadTestFile(C("README.md")));
  EXPECT_EQ("big", ReadTestFile(C("node_modules/deep/big.js")));
}

}  // namespace
}  // namespace hoist::source
