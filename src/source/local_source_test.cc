#include "source/local_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/file_system.h"
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

// ---- Checksum with a ChecksumCache ----

int64_t NowNs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct CachedRun {
  oci::Digest digest;
  ChecksumStats stats;
};

// Runs Checksum with `cache` as if hashing started 10 s from now, so that the files the test
// just wrote are not racily clean (unless `now_ns` says otherwise).
CachedRun Cached(ChecksumCache* cache, const std::string& root, std::string_view path,
                 bool follow = false, bool wildcard = false, int64_t now_ns = 0) {
  CachedRun r;
  ChecksumOptions o{.cache = cache,
                    .scope = "mirror:test",
                    .now_ns = now_ns != 0 ? now_ns : NowNs() + int64_t{10} * 1000000000,
                    .stats = &r.stats};
  auto d = Checksum(root, path, follow, wildcard, o);
  EXPECT_TRUE(d) << d.error().message();
  if (d) r.digest = *d;
  return r;
}

// Waits until a change made now gets another ctime than one made before the call.
void NextTimestampTick() { ::usleep(30 * 1000); }

TEST_F(LocalSourceTest, ChecksumIsTheSameWithTheCacheAndReusesEveryFileTheSecondTime) {
  InMemoryChecksumCache cache;
  struct Case {
    std::string path;
    bool follow, wildcard;
  };
  const std::vector<Case> cases = {{"", false, false},        {"src", false, false},
                                   {"README.md", false, false}, {"link", true, false},
                                   {"link", false, false},      {"src/*.go", false, true},
                                   {"README.hard", false, false}};
  for (const Case& c : cases) {
    auto plain = Checksum(ctx_.path(), c.path, c.follow, c.wildcard);
    ASSERT_TRUE(plain) << c.path;
    CachedRun first = Cached(&cache, ctx_.path(), c.path, c.follow, c.wildcard);
    CachedRun second = Cached(&cache, ctx_.path(), c.path, c.follow, c.wildcard);
    EXPECT_EQ(*plain, first.digest) << c.path;
    EXPECT_EQ(*plain, second.digest) << c.path;
    EXPECT_EQ(0u, second.stats.files_hashed) << c.path;
    EXPECT_EQ(first.stats.files_hashed + first.stats.files_reused, second.stats.files_reused)
        << c.path;
  }
  // The whole tree: 5 regular files (README.hard is a second name of README.md), all reused.
  CachedRun all = Cached(&cache, ctx_.path(), "");
  EXPECT_EQ(0u, all.stats.files_hashed);
  EXPECT_EQ(5u, all.stats.files_reused);
  EXPECT_EQ(*Checksum(ctx_.path(), "", false, false), all.digest);
}

TEST_F(LocalSourceTest, ChecksumCacheSeesAWriteThatKeepsSizeAndMtime) {
  InMemoryChecksumCache cache;
  const std::string f = C("src/main.go");
  struct stat before;
  ASSERT_EQ(0, ::stat(f.c_str(), &before));
  CachedRun first = Cached(&cache, ctx_.path(), "src");
  EXPECT_EQ(2u, first.stats.files_hashed);
  NextTimestampTick();
  WriteTestFile(f, "package MAIN");  // same size
  struct timespec ts[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(0, ::utimensat(AT_FDCWD, f.c_str(), ts, 0));
  struct stat after;
  ASSERT_EQ(0, ::stat(f.c_str(), &after));
  ASSERT_EQ(before.st_ino, after.st_ino);
  ASSERT_EQ(before.st_size, after.st_size);
  ASSERT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  ASSERT_NE(before.st_ctim.tv_nsec + before.st_ctim.tv_sec * 1000000000,
            after.st_ctim.tv_nsec + after.st_ctim.tv_sec * 1000000000);
  CachedRun second = Cached(&cache, ctx_.path(), "src");
  EXPECT_EQ(1u, second.stats.files_hashed);
  EXPECT_EQ(1u, second.stats.files_reused);
  EXPECT_NE(first.digest, second.digest);
  EXPECT_EQ(*Checksum(ctx_.path(), "src", false, false), second.digest);
  // A chmod alone (same content) is seen too: the mode is in the checksum anyway.
  NextTimestampTick();
  ASSERT_EQ(0, ::chmod(f.c_str(), 0600));
  CachedRun third = Cached(&cache, ctx_.path(), "src");
  EXPECT_EQ(1u, third.stats.files_hashed);
  EXPECT_EQ(*Checksum(ctx_.path(), "src", false, false), third.digest);
}

TEST_F(LocalSourceTest, ChecksumCacheSeesAFileReplacedByRename) {
  InMemoryChecksumCache cache;
  const std::string f = C("src/util.go");
  struct stat before;
  ASSERT_EQ(0, ::stat(f.c_str(), &before));
  CachedRun first = Cached(&cache, ctx_.path(), "src/util.go");
  EXPECT_EQ(1u, first.stats.files_hashed);
  WriteTestFile(C("src/.tmp"), "package UTIL");  // same size
  struct timespec ts[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(0, ::utimensat(AT_FDCWD, C("src/.tmp").c_str(), ts, 0));
  ASSERT_EQ(0, ::rename(C("src/.tmp").c_str(), f.c_str()));
  CachedRun second = Cached(&cache, ctx_.path(), "src/util.go");
  EXPECT_EQ(1u, second.stats.files_hashed);
  EXPECT_EQ(0u, second.stats.files_reused);
  EXPECT_NE(first.digest, second.digest);
  EXPECT_EQ(*Checksum(ctx_.path(), "src/util.go", false, false), second.digest);
}

TEST_F(LocalSourceTest, ChecksumCacheDoesNotRecordRacilyCleanFiles) {
  InMemoryChecksumCache cache;
  // Hashing "now": the files were just written, within the margin.
  CachedRun first = Cached(&cache, ctx_.path(), "src", false, false, NowNs());
  EXPECT_EQ(2u, first.stats.files_hashed);
  EXPECT_EQ(0u, cache.entries());
  CachedRun second = Cached(&cache, ctx_.path(), "src", false, false, NowNs());
  EXPECT_EQ(2u, second.stats.files_hashed);
  EXPECT_EQ(first.digest, second.digest);
  // One whose mtime is old but whose ctime is recent is racy too.
  struct timespec ts[2] = {{1, 0}, {1, 0}};
  ASSERT_EQ(0, ::utimensat(AT_FDCWD, C("src/main.go").c_str(), ts, 0));
  Cached(&cache, ctx_.path(), "src", false, false, NowNs());
  EXPECT_EQ(0u, cache.entries());
  // Once they are older than the margin, they are.
  Cached(&cache, ctx_.path(), "src", false, false, NowNs() + int64_t{3} * 1000000000);
  EXPECT_EQ(2u, cache.entries());
}

TEST_F(LocalSourceTest, ChecksumCacheKeepsScopesApart) {
  InMemoryChecksumCache cache;
  Cached(&cache, ctx_.path(), "src");
  ChecksumStats stats;
  ChecksumOptions o{.cache = &cache, .scope = "other", .now_ns = NowNs(), .stats = &stats};
  ASSERT_TRUE(Checksum(ctx_.path(), "src", false, false, o));
  EXPECT_EQ(2u, stats.files_hashed);
  // No scope: no cache.
  ChecksumStats none;
  ASSERT_TRUE(Checksum(ctx_.path(), "src", false, false, {.cache = &cache, .stats = &none}));
  EXPECT_EQ(2u, none.files_hashed);
}

TEST_F(LocalSourceTest, ChecksumCachePersistsAcrossReopen) {
  auto dir = TempDir::Create("csum-");
  ASSERT_TRUE(dir);
  const std::string file = dir->path() + "/checksums";
  oci::Digest d1;
  {
    auto cache = FileChecksumCache::Open(PosixFileSystem(), file);
    CachedRun r = Cached(cache.get(), ctx_.path(), "");
    EXPECT_EQ(5u, r.stats.files_hashed);
    d1 = r.digest;
  }
  auto cache = FileChecksumCache::Open(PosixFileSystem(), file);
  EXPECT_FALSE(cache->discarded_file());
  EXPECT_EQ(5u, cache->entries());
  CachedRun r = Cached(cache.get(), ctx_.path(), "");
  EXPECT_EQ(0u, r.stats.files_hashed);
  EXPECT_EQ(5u, r.stats.files_reused);
  EXPECT_EQ(d1, r.digest);
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
