#include "source/local_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"

namespace hoist::source {
namespace {

// Counts what a sync reads from the client.
class CountingReader final : public ContextReader {
 public:
  explicit CountingReader(ContextReader* inner) : inner_(inner) {}
  Status Walk(const ContextFilter& f, const std::function<Status(const ContextEntry&)>& fn) override {
    return inner_->Walk(f, fn);
  }
  Status ReadFile(std::string_view path, const std::function<Status(std::string_view)>& sink) override {
    reads.emplace_back(path);
    return inner_->ReadFile(path, sink);
  }
  std::vector<std::string> reads;

 private:
  ContextReader* inner_;
};

// Hands out fixed entries (a hostile or buggy client).
class ListReader final : public ContextReader {
 public:
  std::vector<ContextEntry> entries;
  Status Walk(const ContextFilter&, const std::function<Status(const ContextEntry&)>& fn) override {
    for (const auto& e : entries) HOIST_TRY(fn(e));
    return OkStatus();
  }
  Status ReadFile(std::string_view, const std::function<Status(std::string_view)>& sink) override {
    return sink("x");
  }
};

class LocalSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = TempDir::Create("ctx-");
    auto t = TempDir::Create("sync-");
    ASSERT_TRUE(c && t);
    ctx_ = std::move(*c);
    tgt_ = std::move(*t);
    target_ = tgt_.path() + "/t";
    Mkdir("src");
    WriteTestFile(C("src/main.go"), "package main");
    WriteTestFile(C("src/util.go"), "package util");
    WriteTestFile(C("README.md"), "readme");
    Mkdir("node_modules");
    WriteTestFile(C("node_modules/big.js"), "big");
    ASSERT_EQ(0, ::symlink("src/main.go", C("link").c_str()));
    ASSERT_EQ(0, ::link(C("README.md").c_str(), C("README.hard").c_str()));
  }
  std::string C(const std::string& p) { return ctx_.path() + "/" + p; }
  std::string T(const std::string& p) { return target_ + "/" + p; }
  void Mkdir(const std::string& p) { ASSERT_EQ(0, ::mkdir(C(p).c_str(), 0755)); }
  bool Exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
  }

  TempDir ctx_, tgt_;
  std::string target_;
};

TEST_F(LocalSourceTest, MirrorsAndResyncsIncrementally) {
  LocalDirReader local(ctx_.path());
  CountingReader reader(&local);
  auto s1 = LocalSync(reader, target_);
  ASSERT_TRUE(s1) << s1.error().message();
  EXPECT_EQ("package main", ReadTestFile(T("src/main.go")));
  struct stat a, b;
  ASSERT_EQ(0, ::lstat(T("README.md").c_str(), &a));
  ASSERT_EQ(0, ::lstat(T("README.hard").c_str(), &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  char buf[64];
  ssize_t n = ::readlink(T("link").c_str(), buf, sizeof(buf));
  EXPECT_EQ("src/main.go", std::string(buf, n > 0 ? n : 0));
  struct stat cs, ts;
  ASSERT_EQ(0, ::lstat(C("src/util.go").c_str(), &cs));
  ASSERT_EQ(0, ::lstat(T("src/util.go").c_str(), &ts));
  EXPECT_EQ(cs.st_mtim.tv_nsec, ts.st_mtim.tv_nsec);
  EXPECT_EQ(cs.st_mode, ts.st_mode);
  size_t first = reader.reads.size();
  EXPECT_EQ(4u, first);  // main.go, util.go, README.md, big.js (the hard link is linked)

  // Second sync: only the changed file is read; the deleted one disappears.
  reader.reads.clear();
  WriteTestFile(C("src/main.go"), "package main // changed");
  ASSERT_EQ(0, ::unlink(C("src/util.go").c_str()));
  auto s2 = LocalSync(reader, target_);
  ASSERT_TRUE(s2);
  EXPECT_EQ(std::vector<std::string>{"src/main.go"}, reader.reads);
  EXPECT_EQ("package main // changed", ReadTestFile(T("src/main.go")));
  EXPECT_FALSE(Exists(T("src/util.go")));
  EXPECT_EQ(1u, s2->deleted);

  // A mode change alone is a change.
  reader.reads.clear();
  ASSERT_EQ(0, ::chmod(C("README.md").c_str(), 0600));
  ASSERT_TRUE(LocalSync(reader, target_));
  EXPECT_EQ(1u, reader.reads.size());
}

TEST_F(LocalSourceTest, ExcludeIncludeFollowPaths) {
  LocalDirReader reader(ctx_.path());
  SyncOptions o;
  o.filter.exclude_patterns = {"node_modules", "*.md", "!README.md"};
  ASSERT_TRUE(LocalSync(reader, target_, o));
  EXPECT_FALSE(Exists(T("node_modules")));
  EXPECT_TRUE(Exists(T("README.md")));
  EXPECT_TRUE(Exists(T("src/main.go")));

  o.filter = {};
  o.filter.include_patterns = {"src/*.go"};
  ASSERT_TRUE(LocalSync(reader, target_, o));
  EXPECT_TRUE(Exists(T("src/util.go")));
  EXPECT_FALSE(Exists(T("README.md")));  // filtered out now: deleted
  EXPECT_FALSE(Exists(T("link")));

  o.filter = {};
  o.filter.follow_paths = {"src/main.go"};
  ASSERT_TRUE(LocalSync(reader, target_, o));
  EXPECT_TRUE(Exists(T("src/main.go")));
  EXPECT_FALSE(Exists(T("src/util.go")));
  EXPECT_FALSE(Exists(T("node_modules")));

  // The first name of a hard-linked pair is excluded: the other becomes a file of its own.
  o.filter = {};
  o.filter.exclude_patterns = {"README.hard"};
  ASSERT_TRUE(LocalSync(reader, target_, o));
  EXPECT_FALSE(Exists(T("README.hard")));
  EXPECT_EQ("readme", ReadTestFile(T("README.md")));

  o.filter = {};
  o.filter.exclude_patterns = {"!"};
  auto s = LocalSync(reader, target_, o);
  ASSERT_FALSE(s);
  EXPECT_EQ(Code::kInvalidArgument, s.error().code());
  EXPECT_EQ("sync: exclude patterns: illegal exclusion pattern: \"!\"", s.error().message());
}

TEST_F(LocalSourceTest, RejectsHostileEntries) {
  ListReader r;
  r.entries = {ContextEntry{.path = "../escape", .mode = S_IFREG | 0644}};
  auto s = LocalSync(r, target_);
  ASSERT_FALSE(s);
  EXPECT_EQ("sync: invalid path \"../escape\"", s.error().message());
  r.entries = {ContextEntry{.path = "l", .mode = S_IFLNK | 0777, .link_target = "/"},
               ContextEntry{.path = "l/x", .mode = S_IFREG | 0644}};
  s = LocalSync(r, target_);
  ASSERT_FALSE(s);
  EXPECT_EQ("sync: \"l/x\" comes before its directory or not below one", s.error().message());
  r.entries = {ContextEntry{.path = "/abs", .mode = S_IFREG | 0644}};
  EXPECT_FALSE(LocalSync(r, target_));
  r.entries = {ContextEntry{.path = "h", .mode = S_IFREG | 0644, .hardlink_to = "../../etc/passwd"}};
  s = LocalSync(r, target_);
  ASSERT_FALSE(s);
  EXPECT_EQ("sync: \"h\": hard link to \"../../etc/passwd\", which is not an earlier file",
            s.error().message());
  // A symlink left by an earlier sync is replaced by the directory, never written through.
  r.entries = {ContextEntry{.path = "d", .mode = S_IFLNK | 0777, .link_target = "/etc"}};
  ASSERT_TRUE(LocalSync(r, target_));
  r.entries = {ContextEntry{.path = "d", .mode = S_IFDIR | 0755},
               ContextEntry{.path = "d/f", .mode = S_IFREG | 0644, .size = 1}};
  ASSERT_TRUE(LocalSync(r, target_));
  struct stat st;
  ASSERT_EQ(0, ::lstat(T("d").c_str(), &st));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ("x", ReadTestFile(T("d/f")));
}

TEST_F(LocalSourceTest, ChecksumStableAndSelective) {
  auto c1 = Checksum(ctx_.path(), "src", false, false);
  ASSERT_TRUE(c1) << c1.error().message();
  EXPECT_EQ(*c1, *Checksum(ctx_.path(), "/src/", false, false));
  auto readme = Checksum(ctx_.path(), "README.md", false, false);
  // Touching without change keeps it; changing content changes it.
  struct timespec ts[2] = {{1, 0}, {1, 0}};
  ASSERT_EQ(0, ::utimensat(AT_FDCWD, C("src/main.go").c_str(), ts, 0));
  EXPECT_EQ(*c1, *Checksum(ctx_.path(), "src", false, false));
  WriteTestFile(C("src/main.go"), "package main // v2");
  auto c2 = Checksum(ctx_.path(), "src", false, false);
  EXPECT_NE(*c1, *c2);
  EXPECT_EQ(*readme, *Checksum(ctx_.path(), "README.md", false, false));  // unrelated path
  auto src_before = Checksum(ctx_.path(), "src", false, false);
  WriteTestFile(C("README.md"), "readme v2");  // outside the selection
  EXPECT_EQ(*src_before, *Checksum(ctx_.path(), "src", false, false));
  readme = Checksum(ctx_.path(), "README.md", false, false);
  // Mode is part of it.
  ASSERT_EQ(0, ::chmod(C("README.md").c_str(), 0600));
  EXPECT_NE(*readme, *Checksum(ctx_.path(), "README.md", false, false));
  // Links: the link itself, or what it names.
  auto link = Checksum(ctx_.path(), "link", false, false);
  auto followed = Checksum(ctx_.path(), "link", true, false);
  EXPECT_NE(*link, *followed);
  EXPECT_EQ(*followed, *Checksum(ctx_.path(), "src/main.go", false, false));
  // Wildcards.
  auto w = Checksum(ctx_.path(), "src/*.go", false, true);
  ASSERT_TRUE(w);
  WriteTestFile(C("src/new.txt"), "not selected");
  EXPECT_EQ(*w, *Checksum(ctx_.path(), "src/*.go", false, true));
  auto miss = Checksum(ctx_.path(), "src/*.rs", false, true);
  ASSERT_FALSE(miss);
  EXPECT_EQ("lstat /src/*.rs: no such file or directory", miss.error().message());
  auto missing = Checksum(ctx_.path(), "nope", false, false);
  ASSERT_FALSE(missing);
  EXPECT_EQ("lstat /nope: no such file or directory", missing.error().message());
  // An escaping link resolves inside the root.
  ASSERT_EQ(0, ::symlink("../../../../etc/hostname", C("esc").c_str()));
  auto esc = Checksum(ctx_.path(), "esc", true, false);
  ASSERT_FALSE(esc);
  EXPECT_EQ("lstat /esc: no such file or directory", esc.error().message());
}

TEST(IncludeMatchTest, PrefixSemantics) {
  auto m = MatchIncludePattern("a/*/c", "a", true);
  EXPECT_TRUE(m.matched);
  EXPECT_TRUE(m.partial);
  m = MatchIncludePattern("a/*/c", "a/b/c", false);
  EXPECT_TRUE(m.matched);
  EXPECT_FALSE(m.partial);
  EXPECT_FALSE(MatchIncludePattern("a/*/c", "x", true).matched);
  EXPECT_FALSE(MatchIncludePattern("*.go", "a/b.go", false).matched);
}

}  // namespace
}  // namespace hoist::source
