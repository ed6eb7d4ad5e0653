#include "content/local_content_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/direct_io.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/fault_file_system.h"
#include "base/testing/test_files.h"
#include "base/unique_fd.h"
#include "content/testing/content_store_conformance.h"

namespace hoist::content {
namespace {

// Overwrites the first bytes of a blob file in place (same size, wrong content).
Status CorruptLocalBlob(const std::string& dir, const oci::Digest& digest) {
  std::string path = JoinPath(
      dir, "blobs/" + std::string(digest.algorithm()) + "/" + std::string(digest.encoded()));
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Unexpected(ErrnoError(errno, "open " + path));
  ssize_t n = ::pwrite(fd, "CORRUPT", 7, 0);
  int err = errno;
  ::close(fd);
  if (n != 7) return Unexpected(ErrnoError(err, "write " + path));
  return {};
}

ContentStoreFactory LocalPosixFactory() {
  ContentStoreFactory f;
  f.name = "LocalPosix";
  f.make = [](const std::string& dir, const std::vector<std::string>&) -> Result<StoreUnderTest> {
    HOIST_ASSIGN_OR_RETURN(auto store, LocalContentStore::Open(PosixFileSystem(), dir));
    StoreUnderTest s;
    s.store = std::move(store);
    return s;
  };
  f.corrupt = CorruptLocalBlob;
  return f;
}

ContentStoreFactory LocalFaultFsFactory() {
  ContentStoreFactory f;
  f.name = "LocalFaultFs";
  f.make = [](const std::string& dir, const std::vector<std::string>&) -> Result<StoreUnderTest> {
    auto fs = std::make_shared<FaultInjectingFileSystem>(PosixFileSystem());
    HOIST_ASSIGN_OR_RETURN(auto store, LocalContentStore::Open(fs.get(), dir));
    StoreUnderTest s;
    s.keep_alive = fs;
    s.store = std::move(store);
    return s;
  };
  f.corrupt = CorruptLocalBlob;
  return f;
}

// A read-only LocalContentStore over a tree written by a read-write one: the read subset of the
// suite, and a check that the read-only mode really is read-only.
ContentStoreFactory LocalReadOnlyFactory() {
  ContentStoreFactory f;
  f.name = "LocalReadOnly";
  f.writable = false;
  f.make = [](const std::string& dir,
              const std::vector<std::string>& seed) -> Result<StoreUnderTest> {
    {
      HOIST_ASSIGN_OR_RETURN(auto writer, LocalContentStore::Open(PosixFileSystem(), dir));
      for (const std::string& blob : seed) HOIST_TRY(WriteBlob(*writer, blob));
    }
    auto fs = std::make_shared<FaultInjectingFileSystem>(PosixFileSystem());
    // Any mutation would fail the operation that attempted it.
    fs->CrashAt(0);
    LocalContentStoreOptions options;
    options.read_only = true;
    HOIST_ASSIGN_OR_RETURN(auto store, LocalContentStore::Open(fs.get(), dir, options));
    StoreUnderTest s;
    s.keep_alive = fs;
    s.store = std::move(store);
    return s;
  };
  f.corrupt = CorruptLocalBlob;
  return f;
}

INSTANTIATE_TEST_SUITE_P(Local, ContentStoreConformanceTest,
                         ::testing::Values(LocalPosixFactory(), LocalFaultFsFactory(),
                                           LocalReadOnlyFactory()),
                         ContentStoreFactoryName);
INSTANTIATE_TEST_SUITE_P(Local, WritableContentStoreConformanceTest,
                         ::testing::Values(LocalPosixFactory(), LocalFaultFsFactory()),
                         ContentStoreFactoryName);
INSTANTIATE_TEST_SUITE_P(Local, ReadOnlyContentStoreConformanceTest,
                         ::testing::Values(LocalReadOnlyFactory()), ContentStoreFactoryName);

class LocalContentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("hoist-content-local-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
  }
  std::string Path(std::string_view rel) const { return JoinPath(dir_.path(), rel); }

  std::unique_ptr<LocalContentStore> Open(FileSystem* fs, LocalContentStoreOptions options = {}) {
    auto store = LocalContentStore::Open(fs, dir_.path(), std::move(options));
    EXPECT_TRUE(store) << store.error().message();
    return store ? std::move(*store) : nullptr;
  }

  static void SetMtimeSecondsAgo(const std::string& path, int seconds) {
    struct timespec times[2];
    ::clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= seconds;
    times[1] = times[0];
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  }

  std::vector<std::string> List(std::string_view rel) const {
    auto names = PosixFileSystem()->ListDir(Path(rel));
    return names ? *names : std::vector<std::string>{"<error: " + names.error().message() + ">"};
  }

  TempDir dir_;
};

TEST_F(LocalContentStoreTest, OnDiskLayout) {
  auto store = Open(PosixFileSystem());
  ASSERT_TRUE(store);
  auto info = WriteBlob(*store, "hello");
  ASSERT_TRUE(info);
  std::string hex(info->digest.encoded());
  EXPECT_EQ(store->BlobPath(info->digest), Path("blobs/sha256/" + hex));
  EXPECT_EQ(*PosixFileSystem()->ReadFile(Path("blobs/sha256/" + hex)), "hello");
  EXPECT_EQ(List("blobs"), std::vector<std::string>{"sha256"});
  EXPECT_TRUE(List("ingest").empty());
}

TEST_F(LocalContentStoreTest, ConfiguredIngestDir) {
  LocalContentStoreOptions options;
  options.ingest_dir = Path("elsewhere/ingest/");
  auto store = Open(PosixFileSystem(), options);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->ingest_dir(), Path("elsewhere/ingest"));
  auto w = store->Writer("r");
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Write("data"));
  EXPECT_EQ(List("elsewhere/ingest").size(), 1u);
  EXPECT_FALSE(*PosixFileSystem()->Exists(Path("ingest")));
  ASSERT_TRUE((*w)->Commit(4, oci::Digest::Sha256Of("data")));
  EXPECT_TRUE(List("elsewhere/ingest").empty());
  EXPECT_TRUE(store->Info(oci::Digest::Sha256Of("data")));
}

TEST_F(LocalContentStoreTest, WalkIgnoresWhatIsNotABlob) {
  auto store = Open(PosixFileSystem());
  ASSERT_TRUE(store);
  auto good = WriteBlob(*store, "good");
  ASSERT_TRUE(good);
  auto dir_named_like_blob = oci::Digest::Sha256Of("dir");
  auto link_named_like_blob = oci::Digest::Sha256Of("link");
  std::string sha = Path("blobs/sha256/");
  WriteTestFile(sha + ".tmp-123", "temp");
  WriteTestFile(sha + "not-a-digest", "x");
  WriteTestFile(sha + std::string(good->digest.encoded()).substr(0, 63), "short");
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(sha + std::string(dir_named_like_blob.encoded())));
  ASSERT_EQ(::symlink("/etc/passwd", (sha + std::string(link_named_like_blob.encoded())).c_str()),
            0);
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(Path("blobs/md5")));
  WriteTestFile(Path("blobs/md5/d41d8cd98f00b204e9800998ecf8427e"), "");
  WriteTestFile(Path("blobs/stray-file"), "");

  std::vector<oci::Digest> seen;
  ASSERT_TRUE(store->Walk([&seen](const BlobInfo& info) -> Status {
    seen.push_back(info.digest);
    return {};
  }));
  EXPECT_EQ(seen, std::vector<oci::Digest>{good->digest});
  // A directory or a symlink at a blob's path is not a blob.
  EXPECT_EQ(store->Info(dir_named_like_blob).error().code(), Code::kNotFound);
  EXPECT_EQ(store->Info(link_named_like_blob).error().code(), Code::kNotFound);
  EXPECT_EQ(store->ReaderAt(link_named_like_blob).error().code(), Code::kNotFound);
}

TEST_F(LocalContentStoreTest, CommitReplacesADamagedBlobOfTheWrongSize) {
  auto store = Open(PosixFileSystem());
  ASSERT_TRUE(store);
  auto d = oci::Digest::Sha256Of("hello");
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(Path("blobs/sha256")));
  WriteTestFile(store->BlobPath(d), "hel");
  ASSERT_TRUE(WriteBlob(*store, "hello"));
  EXPECT_EQ(*PosixFileSystem()->ReadFile(store->BlobPath(d)), "hello");
}

TEST_F(LocalContentStoreTest, CommitOfExistingBlobDoesNotRewriteIt) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto store = Open(&fs);
  ASSERT_TRUE(store);
  ASSERT_TRUE(WriteBlob(*store, "hello"));
  fs.ResetCount();
  ASSERT_TRUE(WriteBlob(*store, "hello"));
  for (const std::string& op : fs.op_log()) {
    EXPECT_EQ(op.find("rename"), std::string::npos) << op;
    EXPECT_EQ(op.find("sync"), std::string::npos) << op;
  }
  EXPECT_TRUE(List("ingest").empty());
}

// A writer told that its source verifies the bytes takes them as that digest once all of
// them are written, holds the caller to it at Commit, and hashes what it holds otherwise.
TEST_F(LocalContentStoreTest, AWriterTakesItsVerifyingSourcesDigest) {
  auto store = Open(PosixFileSystem());
  ASSERT_TRUE(store);
  const std::string data = "verified elsewhere";
  const oci::Digest digest = oci::Digest::Sha256Of(data);
  const int64_t size = static_cast<int64_t>(data.size());
  {
    auto w = store->Writer("whole");
    ASSERT_TRUE(w);
    (*w)->SourceVerifies(digest, size);
    ASSERT_TRUE((*w)->Write(data));
    EXPECT_EQ((*w)->Digest(), digest);
    ASSERT_TRUE((*w)->Commit(size, digest));
    EXPECT_EQ(*ReadBlob(*store, {.digest = digest, .size = size}), data);
  }
  {
    // Committed as something else: refused, naming what the source verified.
    const oci::Digest other = oci::Digest::Sha256Of("other");
    auto w = store->Writer("other");
    ASSERT_TRUE(w);
    (*w)->SourceVerifies(digest, size);
    ASSERT_TRUE((*w)->Write(data));
    auto st = (*w)->Commit(size, other);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), Code::kDataLoss);
    EXPECT_EQ(st.error().message(), DigestMismatch(other, digest).message());
    EXPECT_FALSE(store->Info(other));
  }
  {
    // Fewer bytes than the source vouched for: the writer hashes what it holds.
    auto w = store->Writer("part");
    ASSERT_TRUE(w);
    (*w)->SourceVerifies(digest, size);
    ASSERT_TRUE((*w)->Write(data.substr(0, 8)));
    EXPECT_EQ((*w)->Digest(), oci::Digest::Sha256Of(data.substr(0, 8)));
  }
  {
    // Told after the first write: ignored, the writer hashes as usual.
    auto w = store->Writer("late");
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->Write("x"));
    (*w)->SourceVerifies(digest, 1);
    EXPECT_EQ((*w)->Digest(), oci::Digest::Sha256Of("x"));
  }
  EXPECT_TRUE(List("ingest").empty());
}

// Counts the pages of `path` in [from, to) that the page cache holds.
size_t CachedPages(const std::string& path, uint64_t from, uint64_t to) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return SIZE_MAX;
  const long page = ::sysconf(_SC_PAGESIZE);
  void* map = ::mmap(nullptr, to, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return SIZE_MAX;
  std::vector<unsigned char> in((to + page - 1) / page);
  size_t cached = 0;
  if (::mincore(map, to, in.data()) == 0) {
    for (size_t i = from / page; i < in.size(); ++i) cached += in[i] & 1;
  } else {
    cached = SIZE_MAX;
  }
  ::munmap(map, to);
  return cached;
}

// A large blob is written and read back around the page cache past its first megabytes
// (DirectAppender, DirectReader): the store holds, and gives back, every byte; the cache holds
// no page of the rest, where the file system takes O_DIRECT.
TEST_F(LocalContentStoreTest, ALargeBlobGoesAroundThePageCache) {
  auto store = Open(PosixFileSystem());
  ASSERT_TRUE(store);
  std::string data(DirectAppender::kBufferedPrefix + 3 * DirectAppender::kStagingSize + 777, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 5);
  const oci::Digest digest = oci::Digest::Sha256Of(data);
  const int64_t size = static_cast<int64_t>(data.size());
  auto w = store->Writer("large");
  ASSERT_TRUE(w);
  for (size_t off = 0; off < data.size(); off += 1'000'000) {
    ASSERT_TRUE((*w)->Write(std::string_view(data).substr(off, 1'000'000)));
  }
  ASSERT_TRUE((*w)->Commit(size, digest));
  auto r = store->ReaderAt(digest);
  ASSERT_TRUE(r);
  std::string got;
  char buf[300'007];
  for (;;) {
    auto n = (*r)->ReadAt(static_cast<int64_t>(got.size()), buf, sizeof(buf));
    ASSERT_TRUE(n) << n.error().message();
    if (*n == 0) break;
    got.append(buf, *n);
  }
  EXPECT_TRUE(got == data);
  const std::string path = Path("blobs/sha256/" + std::string(digest.encoded()));
  UniqueFd probe(::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  if (probe) {
    // Past the prefix, up to the partial last block (written through the cache).
    const uint64_t to = data.size() / DirectAppender::kAlign * DirectAppender::kAlign;
    EXPECT_EQ(CachedPages(path, DirectAppender::kBufferedPrefix, to), 0u);
  }
}

TEST_F(LocalContentStoreTest, SecondAlgorithm) {
  auto store = Open(PosixFileSystem());
  ASSERT_TRUE(store);
  auto sha512 = oci::Digest::Parse(
      "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  ASSERT_TRUE(sha512) << sha512.error().message();
  auto info = WriteBlob(*store, "abc", *sha512);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_TRUE(*PosixFileSystem()->Exists(Path("blobs/sha512/" + std::string(sha512->encoded()))));
  oci::Descriptor desc;
  desc.digest = *sha512;
  desc.size = 3;
  auto got = ReadBlob(*store, desc);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, "abc");
}

TEST_F(LocalContentStoreTest, OpenRemovesOnlyStaleIngestFiles) {
  { ASSERT_TRUE(Open(PosixFileSystem())); }
  // Opening makes no ingest dir (the first writer does); here a crashed writer made one.
  EXPECT_FALSE(*PosixFileSystem()->Exists(Path("ingest")));
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(Path("ingest")));
  WriteTestFile(Path("ingest/old"), "left by a crash");
  WriteTestFile(Path("ingest/fresh"), "a live writer in another process");
  SetMtimeSecondsAgo(Path("ingest/old"), 120);
  {
    LocalContentStoreOptions read_only;
    read_only.read_only = true;
    ASSERT_TRUE(Open(PosixFileSystem(), read_only));
    EXPECT_EQ(List("ingest").size(), 2u) << "a read-only open must not clean";
  }
  ASSERT_TRUE(Open(PosixFileSystem()));
  EXPECT_EQ(List("ingest"), std::vector<std::string>{"fresh"});
  // Readers never see ingest files.
  auto store = Open(PosixFileSystem());
  int blobs = 0;
  ASSERT_TRUE(store->Walk([&blobs](const BlobInfo&) -> Status {
    ++blobs;
    return {};
  }));
  EXPECT_EQ(blobs, 0);
}

TEST_F(LocalContentStoreTest, ReadOnlyStoreNeverMutates) {
  {
    auto writer = Open(PosixFileSystem());
    ASSERT_TRUE(writer);
    ASSERT_TRUE(WriteBlob(*writer, "hello"));
  }
  WriteTestFile(Path("ingest/old"), "stale");
  SetMtimeSecondsAgo(Path("ingest/old"), 3600);
  // Tests run as root, which ignores permission bits, so the chmod only documents intent; the
  // fault file system's counter is what proves that nothing tried to write.
  ASSERT_EQ(::chmod(Path("blobs/sha256").c_str(), 0555), 0);
  ASSERT_EQ(::chmod(Path("blobs").c_str(), 0555), 0);
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0555), 0);

  FaultInjectingFileSystem fs(PosixFileSystem());
  LocalContentStoreOptions options;
  options.read_only = true;
  auto store = Open(&fs, options);
  ASSERT_TRUE(store);
  auto d = oci::Digest::Sha256Of("hello");
  EXPECT_TRUE(store->Info(d));
  oci::Descriptor desc;
  desc.digest = d;
  desc.size = 5;
  EXPECT_EQ(*ReadBlob(*store, desc), "hello");
  EXPECT_TRUE(store->Walk([](const BlobInfo&) -> Status { return {}; }));
  auto w = store->Writer("r");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Code::kPermissionDenied);
  auto del = store->Delete(d);
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code(), Code::kPermissionDenied);
  auto copied = CopyBlob(*store, *store, desc);
  EXPECT_TRUE(copied) << "present in the target, so nothing to write";
  EXPECT_EQ(fs.mutating_ops(), 0);
  EXPECT_EQ(List("ingest"), std::vector<std::string>{"old"});

  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(Path("blobs").c_str(), 0755), 0);
  ASSERT_EQ(::chmod(Path("blobs/sha256").c_str(), 0755), 0);
}

TEST_F(LocalContentStoreTest, ReadOnlyOpenOfAnEmptyOrMissingRoot) {
  LocalContentStoreOptions options;
  options.read_only = true;
  auto empty = LocalContentStore::Open(PosixFileSystem(), dir_.path(), options);
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_TRUE((*empty)->Walk(
      [](const BlobInfo&) -> Status { return MakeError(Code::kInternal, "no blobs expected"); }));
  EXPECT_FALSE(*PosixFileSystem()->Exists(Path("blobs")));
  auto missing = LocalContentStore::Open(PosixFileSystem(), Path("nope"), options);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
}

TEST_F(LocalContentStoreTest, RootMayBeASymlink) {
  {
    auto writer = Open(PosixFileSystem());
    ASSERT_TRUE(writer);
    ASSERT_TRUE(WriteBlob(*writer, "via a link"));
  }
  auto links = TempDir::Create("hoist-content-link-");
  ASSERT_TRUE(links);
  std::string link = JoinPath(links->path(), "layout");
  ASSERT_EQ(::symlink(dir_.path().c_str(), link.c_str()), 0);
  LocalContentStoreOptions options;
  options.read_only = true;
  auto store = LocalContentStore::Open(PosixFileSystem(), link, options);
  ASSERT_TRUE(store) << store.error().message();
  int blobs = 0;
  ASSERT_TRUE((*store)->Walk([&blobs](const BlobInfo&) -> Status {
    ++blobs;
    return {};
  }));
  EXPECT_EQ(blobs, 1);
  EXPECT_TRUE((*store)->Info(oci::Digest::Sha256Of("via a link")));
}

TEST_F(LocalContentStoreTest, ErrorsDoNotLeakTheRootPath) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto store = Open(&fs);
  ASSERT_TRUE(store);
  fs.ResetCount();
  fs.FailAt(0, FaultKind::kIoError);
  auto w = store->Writer("r");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Code::kDataLoss);
  EXPECT_EQ(w.error().message().find(dir_.path()), std::string::npos) << w.error().message();
  EXPECT_NE(w.error().message().find("ingest/"), std::string::npos) << w.error().message();
}

TEST_F(LocalContentStoreTest, FailedAppendBreaksTheWriter) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto store = Open(&fs);
  ASSERT_TRUE(store);
  auto w = store->Writer("r");
  ASSERT_TRUE(w);
  fs.ResetCount();
  fs.FailAt(0, FaultKind::kNoSpace);
  auto s = (*w)->Write("hello");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kResourceExhausted);
  EXPECT_EQ((*w)->Write("more").error().code(), Code::kFailedPrecondition);
  EXPECT_FALSE((*w)->Commit(-1, {}));
  EXPECT_TRUE(List("ingest").empty());
}

// Linking between two stores on one file system: the blob gets a second name, not a copy.
class LocalContentStoreLinkTest : public LocalContentStoreTest {
 protected:
  void SetUp() override {
    LocalContentStoreTest::SetUp();
    auto src_dir = TempDir::Create("hoist-link-src-");
    ASSERT_TRUE(src_dir);
    src_dir_ = std::move(*src_dir);
    auto src = LocalContentStore::Open(PosixFileSystem(), src_dir_.path());
    ASSERT_TRUE(src);
    src_ = std::move(*src);
    auto info = WriteBlob(*src_, kData);
    ASSERT_TRUE(info);
    desc_.digest = info->digest;
    desc_.size = info->size;
  }
  static ino_t Inode(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  }

  static constexpr std::string_view kData = "a layer's bytes";
  TempDir src_dir_;
  std::unique_ptr<LocalContentStore> src_;
  oci::Descriptor desc_;
};

TEST_F(LocalContentStoreLinkTest, LinksTheSourcesFile) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto store = Open(&fs);
  ASSERT_TRUE(store);
  auto linked = store->LinkFrom(*src_, desc_, nullptr);
  ASSERT_TRUE(linked) << linked.error().message();
  EXPECT_TRUE(*linked);
  EXPECT_EQ(Inode(store->BlobPath(desc_.digest)), Inode(src_->BlobPath(desc_.digest)));
  EXPECT_EQ(*ReadBlob(*store, desc_), kData);
  EXPECT_TRUE(List("ingest").empty());
  // Linked, synced, renamed into place and the directory synced; nothing written.
  bool saw_link = false, saw_sync = false;
  for (const std::string& op : fs.op_log()) {
    EXPECT_EQ(op.find(" create "), std::string::npos) << op;
    if (op.find(" link ") != std::string::npos) saw_link = true;
    if (op.find(" syncfile ") != std::string::npos) saw_sync = true;
  }
  EXPECT_TRUE(saw_link);
  EXPECT_TRUE(saw_sync);

  // Present already: nothing to do.
  fs.ResetCount();
  ASSERT_TRUE(store->LinkFrom(*src_, desc_, nullptr));
  EXPECT_TRUE(fs.op_log().empty());
}

// The engine's own store verified and synced its blobs when it committed them: a link from it
// takes the file as it is.
TEST_F(LocalContentStoreLinkTest, ATrustedSourceIsNeitherHashedNorSyncedAgain) {
  LocalContentStoreOptions trusted;
  trusted.trusted = true;
  auto engine = LocalContentStore::Open(PosixFileSystem(), src_dir_.path(), trusted);
  ASSERT_TRUE(engine);
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto store = Open(&fs);
  ASSERT_TRUE(store);
  fs.ResetCount();
  auto linked = store->LinkFrom(**engine, desc_, nullptr);
  ASSERT_TRUE(linked) << linked.error().message();
  EXPECT_TRUE(*linked);
  for (const std::string& op : fs.op_log()) {
    EXPECT_EQ(op.find(" syncfile "), std::string::npos) << op;
  }
  EXPECT_EQ(Inode(store->BlobPath(desc_.digest)), Inode(src_->BlobPath(desc_.digest)));
  EXPECT_EQ(*ReadBlob(*store, desc_), kData);
}

// Nor does a trusted store ever take a link: another's file would become one of its blobs.
TEST_F(LocalContentStoreLinkTest, ATrustedStoreCopiesWhatItTakes) {
  LocalContentStoreOptions trusted;
  trusted.trusted = true;
  auto engine = Open(PosixFileSystem(), trusted);
  ASSERT_TRUE(engine);
  auto linked = engine->LinkFrom(*src_, desc_, nullptr);
  ASSERT_TRUE(linked);
  EXPECT_FALSE(*linked);
  ASSERT_TRUE(CopyBlob(*src_, *engine, desc_));
  EXPECT_NE(Inode(engine->BlobPath(desc_.digest)), Inode(src_->BlobPath(desc_.digest)));
  EXPECT_EQ(*ReadBlob(*engine, desc_), kData);
}

TEST_F(LocalContentStoreLinkTest, CopyBlobLinksWhereItCan) {
  auto store = Open(PosixFileSystem());
  ASSERT_TRUE(store);
  ASSERT_TRUE(CopyBlob(*src_, *store, desc_));
  EXPECT_EQ(Inode(store->BlobPath(desc_.digest)), Inode(src_->BlobPath(desc_.digest)));
}

TEST_F(LocalContentStoreLinkTest, ACorruptSourceIsNotLinked) {
  ASSERT_TRUE(CorruptLocalBlob(src_dir_.path(), desc_.digest));
  auto store = Open(PosixFileSystem());
  ASSERT_TRUE(store);
  auto linked = store->LinkFrom(*src_, desc_, nullptr);
  ASSERT_FALSE(linked);
  EXPECT_EQ(linked.error().code(), Code::kDataLoss);
  EXPECT_NE(linked.error().message().find(desc_.digest.str() + ": digest mismatch"),
            std::string::npos)
      << linked.error().message();
  EXPECT_EQ(store->Info(desc_.digest).error().code(), Code::kNotFound);
  EXPECT_TRUE(List("ingest").empty());
  // CopyBlob reports the same, and leaves nothing either.
  auto copied = CopyBlob(*src_, *store, desc_);
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().code(), Code::kDataLoss);
  EXPECT_EQ(store->Info(desc_.digest).error().code(), Code::kNotFound);
}

TEST_F(LocalContentStoreLinkTest, AWrongDescriptorIsLeftToTheCopy) {
  auto store = Open(PosixFileSystem());
  ASSERT_TRUE(store);
  oci::Descriptor wrong_size = desc_;
  wrong_size.size += 1;
  auto linked = store->LinkFrom(*src_, wrong_size, nullptr);
  ASSERT_TRUE(linked);
  EXPECT_FALSE(*linked);
  auto copied = CopyBlob(*src_, *store, wrong_size);
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().code(), Code::kDataLoss);
  EXPECT_EQ(store->Info(desc_.digest).error().code(), Code::kNotFound);
}

TEST_F(LocalContentStoreLinkTest, AFailedLinkFallsBackToACopy) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto store = Open(&fs);
  ASSERT_TRUE(store);
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(Path("ingest")));
  fs.ResetCount();
  fs.FailAt(0, FaultKind::kIoError);  // the link
  ASSERT_TRUE(CopyBlob(*src_, *store, desc_));
  EXPECT_NE(fs.op_log().at(0).find("link"), std::string::npos) << fs.op_log().at(0);
  EXPECT_NE(Inode(store->BlobPath(desc_.digest)), Inode(src_->BlobPath(desc_.digest)));
  EXPECT_EQ(*ReadBlob(*store, desc_), kData);
  EXPECT_TRUE(List("ingest").empty());
}

TEST_F(LocalContentStoreLinkTest, ACrashAtAnyStepLeavesNoWrongBlob) {
  // Learn how many operations a link takes, then crash at each one.
  int64_t ops = 0;
  {
    FaultInjectingFileSystem fs(PosixFileSystem());
    auto store = Open(&fs);
    ASSERT_TRUE(store);
    fs.ResetCount();
    ASSERT_TRUE(store->LinkFrom(*src_, desc_, nullptr));
    ops = fs.mutating_ops();
    ASSERT_TRUE(store->Delete(desc_.digest));
  }
  ASSERT_GT(ops, 2);
  for (int64_t n = 0; n < ops; ++n) {
    FaultInjectingFileSystem fs(PosixFileSystem());
    auto store = Open(&fs);
    ASSERT_TRUE(store);
    fs.ResetCount();
    fs.CrashAt(n);
    (void)CopyBlob(*src_, *store, desc_);
    fs.ClearFaults();
    // Either absent or complete and correct.
    if (store->Info(desc_.digest)) {
      EXPECT_EQ(*ReadBlob(*store, desc_), kData) << "crash at " << n;
    }
    (void)store->Delete(desc_.digest);
  }
  EXPECT_EQ(*ReadBlob(*src_, desc_), kData);
}

TEST_F(LocalContentStoreLinkTest, OtherStoresAndReadOnlyStoresDoNotLink) {
  LocalContentStoreOptions ro;
  ro.read_only = true;
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(Path("blobs")));
  auto read_only = Open(PosixFileSystem(), ro);
  ASSERT_TRUE(read_only);
  auto linked = read_only->LinkFrom(*src_, desc_, nullptr);
  ASSERT_TRUE(linked);
  EXPECT_FALSE(*linked);

  // A source that is not a LocalContentStore: the default answer, then a copy.
  class Wrapper final : public ContentStore {
   public:
    explicit Wrapper(ContentStore* inner) : inner_(inner) {}
    Result<BlobInfo> Info(const oci::Digest& d) override { return inner_->Info(d); }
    Result<std::unique_ptr<BlobReader>> ReaderAt(const oci::Digest& d) override {
      return inner_->ReaderAt(d);
    }
    Result<std::unique_ptr<BlobWriter>> Writer(const std::string& ref) override {
      return inner_->Writer(ref);
    }
    Status Delete(const oci::Digest& d) override { return inner_->Delete(d); }
    Status Walk(const std::function<Status(const BlobInfo&)>& fn) override {
      return inner_->Walk(fn);
    }

   private:
    ContentStore* inner_;
  } wrapped(src_.get());
  auto store = Open(PosixFileSystem());
  ASSERT_TRUE(store);
  linked = store->LinkFrom(wrapped, desc_, nullptr);
  ASSERT_TRUE(linked);
  EXPECT_FALSE(*linked);
  ASSERT_TRUE(CopyBlob(wrapped, *store, desc_));
  EXPECT_NE(Inode(store->BlobPath(desc_.digest)), Inode(src_->BlobPath(desc_.digest)));
}

}  // namespace
}  // namespace hoist::content
