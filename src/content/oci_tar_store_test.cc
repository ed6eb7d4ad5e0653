#include "content/oci_tar_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "archive/byte_source.h"
#include "archive/tar_reader.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "content/testing/content_store_conformance.h"

namespace hoist::content {
namespace {

const std::string kGcrLayouts =
    std::string(HOIST_CORPORA_DIR) + "/google-go-containerregistry/pkg/v1/layout/testdata";

int Shell(const std::string& cmd) { return std::system(cmd.c_str()); }

// Writes an OCI layout directory holding `blobs` plus an index naming the first one.
std::vector<oci::Digest> WriteLayoutDir(const std::string& dir,
                                        const std::vector<std::string>& blobs) {
  (void)PosixFileSystem()->MakeDirs(dir + "/blobs/sha256");
  std::vector<oci::Digest> digests;
  for (const std::string& b : blobs) {
    oci::Digest d = oci::Digest::Sha256Of(b);
    WriteTestFile(dir + "/blobs/sha256/" + std::string(d.encoded()), b);
    digests.push_back(d);
  }
  WriteTestFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  std::string index = R"({"schemaVersion":2,"manifests":[)";
  if (!digests.empty()) {
    index += R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
             digests[0].str() + R"(","size":)" + std::to_string(blobs[0].size()) + "}";
  }
  index += "]}";
  WriteTestFile(dir + "/index.json", index);
  return digests;
}

// The last entry of a tar file whose name ends with `name`.
std::optional<archive::TarEntry> FindEntry(const std::string& tar, std::string_view name) {
  auto file = PosixFileSystem()->OpenForRead(tar);
  if (!file) return std::nullopt;
  auto src = archive::FileByteSource::Create(file->get());
  if (!src) return std::nullopt;
  archive::TarReader reader(src->get());
  std::optional<archive::TarEntry> found;
  for (;;) {
    auto next = reader.Next();
    if (!next || !*next) return found;
    if ((*next)->name.ends_with(name)) found = **next;
  }
}

uint64_t DataOffsetOf(const std::string& tar, std::string_view name) {
  auto e = FindEntry(tar, name);
  return e ? e->data_offset : 0;
}

Status FlipByteAt(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Unexpected(ErrnoError(errno, "open"));
  char c = 0;
  ssize_t n = ::pread(fd, &c, 1, static_cast<off_t>(offset));
  c ^= 0x20;
  ssize_t w = ::pwrite(fd, &c, 1, static_cast<off_t>(offset));
  ::close(fd);
  if (n != 1 || w != 1) return MakeError(Code::kDataLoss, "flip failed");
  return OkStatus();
}

oci::Descriptor Desc(const oci::Digest& d, int64_t size) {
  oci::Descriptor desc;
  desc.digest = d;
  desc.size = size;
  return desc;
}

class OciTarStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("hoist-ocitar-test-");
    ASSERT_TRUE(d) << d.error().message();
    dir_ = std::move(*d);
  }
  std::string Path(std::string_view name) const { return JoinPath(dir_.path(), name); }

  // Runs a python3 script (tarfile imported) in the temp dir.
  void Python(std::string_view script) {
    WriteTestFile(Path("gen.py"), "import os, sys, tarfile, io\n" + std::string(script));
    ASSERT_EQ(Shell("cd '" + dir_.path() + "' && python3 gen.py"), 0) << script;
  }

  TempDir dir_;
};

const std::vector<std::string> kBlobs = {R"({"schemaVersion":2,"layers":[]})", "layer bytes",
                                         std::string(5000, 'z')};

TEST_F(OciTarStoreTest, ReadsLayoutsAsToolsWriteThem) {
  std::vector<oci::Digest> digests = WriteLayoutDir(Path("layout"), kBlobs);
  // GNU tar with "./" and directory entries; without "./"; Python without directory entries.
  ASSERT_EQ(Shell("tar -C '" + Path("layout") + "' -cf '" + Path("dot.tar") + "' ."), 0);
  ASSERT_EQ(Shell("tar -C '" + Path("layout") + "' -cf '" + Path("plain.tar") +
                  "' oci-layout index.json blobs"),
            0);
  Python(R"(
t = tarfile.open('nodirs.tar', 'w')
for root, dirs, files in os.walk('layout'):
    for f in sorted(files):
        p = os.path.join(root, f)
        t.add(p, arcname=os.path.relpath(p, 'layout'))
t.close()
)");
  for (const char* name : {"dot.tar", "plain.tar", "nodirs.tar"}) {
    SCOPED_TRACE(name);
    auto store = OpenOciTarStore(PosixFileSystem(), Path(name), "image.tar");
    ASSERT_TRUE(store) << store.error().message();
    EXPECT_EQ((*store)->oci_layout_file(), R"({"imageLayoutVersion":"1.0.0"})");
    EXPECT_EQ((*store)->index_json(), ReadTestFile(Path("layout/index.json")));
    EXPECT_FALSE((*store)->manifest_json());
    for (size_t i = 0; i < kBlobs.size(); ++i) {
      auto info = (*store)->Info(digests[i]);
      ASSERT_TRUE(info) << info.error().message();
      EXPECT_EQ(info->size, static_cast<int64_t>(kBlobs[i].size()));
      auto data = ReadBlob(**store, Desc(digests[i], info->size));
      ASSERT_TRUE(data) << data.error().message();
      EXPECT_EQ(*data, kBlobs[i]);
    }
    std::set<oci::Digest> walked;
    ASSERT_TRUE((*store)->Walk([&](const BlobInfo& b) -> Status {
      walked.insert(b.digest);
      return OkStatus();
    }));
    EXPECT_EQ(walked, std::set<oci::Digest>(digests.begin(), digests.end()));
    oci::Digest absent = oci::Digest::Sha256Of("absent");
    auto missing = (*store)->Info(absent);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), Code::kNotFound);
    EXPECT_EQ(missing.error().message(), "content " + absent.str() + ": not found");
  }
}

TEST_F(OciTarStoreTest, BlobReaderBounds) {
  std::vector<oci::Digest> digests = WriteLayoutDir(Path("layout"), kBlobs);
  ASSERT_EQ(Shell("tar -C '" + Path("layout") + "' -cf '" + Path("l.tar") + "' ."), 0);
  auto store = OpenOciTarStore(PosixFileSystem(), Path("l.tar"), "l.tar");
  ASSERT_TRUE(store) << store.error().message();
  auto reader = (*store)->ReaderAt(digests[2]);
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->Size(), 5000);
  char buf[100];
  EXPECT_EQ(*(*reader)->ReadAt(4990, buf, sizeof(buf)), 10u);
  EXPECT_EQ(*(*reader)->ReadAt(5000, buf, sizeof(buf)), 0u);
  EXPECT_FALSE((*reader)->ReadAt(-1, buf, sizeof(buf)));
  store->reset();  // readers keep the file open
  EXPECT_EQ(*(*reader)->ReadAt(0, buf, 3), 3u);
  EXPECT_EQ(std::string(buf, 3), "zzz");
}

TEST_F(OciTarStoreTest, CorruptBlobIsDataLossNamingTheDigest) {
  std::vector<oci::Digest> digests = WriteLayoutDir(Path("layout"), kBlobs);
  std::string tar = Path("l.tar");
  ASSERT_EQ(Shell("tar -C '" + Path("layout") + "' -cf '" + tar + "' ."), 0);
  uint64_t off = DataOffsetOf(tar, digests[1].encoded());
  ASSERT_GT(off, 0u);
  ASSERT_TRUE(FlipByteAt(tar, off + 3));
  auto store = OpenOciTarStore(PosixFileSystem(), tar, "image.tar");
  ASSERT_TRUE(store) << store.error().message();
  Status st = ReadVerified(**store, Desc(digests[1], static_cast<int64_t>(kBlobs[1].size())),
                           [](std::string_view) { return OkStatus(); });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kDataLoss);
  EXPECT_NE(st.error().message().find(digests[1].str()), std::string::npos);
  EXPECT_EQ(st.error().message().find(dir_.path()), std::string::npos);
  // Other blobs are unaffected.
  EXPECT_TRUE(ReadBlob(**store, Desc(digests[2], 5000)));
}

TEST_F(OciTarStoreTest, TruncatedTarballIsDataLoss) {
  std::vector<oci::Digest> digests = WriteLayoutDir(Path("layout"), kBlobs);
  std::string tar = Path("l.tar");
  ASSERT_EQ(Shell("tar -C '" + Path("layout") + "' -cf '" + tar + "' ."), 0);
  uint64_t off = DataOffsetOf(tar, digests[2].encoded());
  ASSERT_GT(off, 0u);
  ASSERT_EQ(::truncate(tar.c_str(), static_cast<off_t>(off + 100)), 0);
  auto store = OpenOciTarStore(PosixFileSystem(), tar, "image.tar");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), Code::kDataLoss);
  EXPECT_EQ(store.error().message(), "image.tar: tar: truncated entry \"./blobs/sha256/" +
                                         std::string(digests[2].encoded()) + "\"");
}

TEST_F(OciTarStoreTest, MissingIndexOrLayoutFileNamesTheDisplayName) {
  WriteLayoutDir(Path("layout"), kBlobs);
  ASSERT_EQ(
      Shell("tar -C '" + Path("layout") + "' -cf '" + Path("noindex.tar") + "' oci-layout blobs"),
      0);
  ASSERT_EQ(
      Shell("tar -C '" + Path("layout") + "' -cf '" + Path("nolayout.tar") + "' index.json blobs"),
      0);
  auto r = OpenOciTarStore(PosixFileSystem(), Path("noindex.tar"), "base.tar");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "base.tar is not an OCI layout tarball: it has no index.json");
  r = OpenOciTarStore(PosixFileSystem(), Path("nolayout.tar"), "base.tar");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "base.tar is not an OCI layout tarball: it has no oci-layout file");
  r = OpenOciTarStore(PosixFileSystem(), Path("does-not-exist.tar"), "base.tar");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_EQ(r.error().message().find(dir_.path()), std::string::npos);
  EXPECT_TRUE(r.error().message().starts_with("base.tar: cannot open: ")) << r.error().message();
  WriteTestFile(Path("empty.tar"), "");
  r = OpenOciTarStore(PosixFileSystem(), Path("empty.tar"), "base.tar");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
}

TEST_F(OciTarStoreTest, CompressedTarballsAreRefused) {
  WriteLayoutDir(Path("layout"), kBlobs);
  ASSERT_EQ(Shell("tar -C '" + Path("layout") + "' -czf '" + Path("l.tar.gz") + "' ."), 0);
  auto r = OpenOciTarStore(PosixFileSystem(), Path("l.tar.gz"), "image.tar.gz");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error().message(),
            "image.tar.gz: compressed OCI tarballs are not supported; decompress it first");
}

TEST_F(OciTarStoreTest, IsReadOnly) {
  WriteLayoutDir(Path("layout"), kBlobs);
  ASSERT_EQ(Shell("tar -C '" + Path("layout") + "' -cf '" + Path("l.tar") + "' ."), 0);
  auto store = OpenOciTarStore(PosixFileSystem(), Path("l.tar"), "l.tar");
  ASSERT_TRUE(store) << store.error().message();
  auto w = (*store)->Writer("ref");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Code::kPermissionDenied);
  EXPECT_EQ(w.error().message(), "OCI layout tarball is read-only");
  auto del = (*store)->Delete(oci::Digest::Sha256Of(kBlobs[0]));
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code(), Code::kPermissionDenied);
}

// Later entries replace earlier ones; hard links serve their target's data; symlinks and
// names that are not `blobs/<alg>/<encoded>` never serve a blob.
TEST_F(OciTarStoreTest, EntrySemantics) {
  Python(R"(
import hashlib
def h(b): return hashlib.sha256(b).hexdigest()
t = tarfile.open('odd.tar', 'w')
def add(name, data=b'', type=tarfile.REGTYPE, linkname=''):
    i = tarfile.TarInfo(name); i.type = type; i.linkname = linkname
    i.size = len(data) if type == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if type == tarfile.REGTYPE else None)
add('oci-layout', b'{"imageLayoutVersion":"1.0.0"}')
add('index.json', b'{"old":true}')
add('./index.json', b'{"schemaVersion":2,"manifests":[]}')
add('blobs/sha256/' + h(b'one'), b'stale bytes')
add('./blobs/sha256/' + h(b'one'), b'one')
add('payload/two', b'two')
add('blobs/sha256/' + h(b'two'), type=tarfile.LNKTYPE, linkname='./payload/two')
add('blobs/sha256/' + h(b'three'), type=tarfile.SYMTYPE, linkname='../../payload/two')
add('blobs/sha256/' + h(b'four'), b'four')
add('blobs/sha256/' + h(b'four'), type=tarfile.DIRTYPE)
add('blobs/sha256/' + h(b'five').upper(), b'five')
add('blobs/sha256/../../etc', b'evil')
add('blobs/sha256/x/' + h(b'six'), b'six')
add('blobs/md5/' + h(b'seven'), b'seven')
add('blobs/sha256/' + h(b'eight'), type=tarfile.LNKTYPE, linkname='nowhere')
add('manifest.json', b'[]')
t.close()
)");
  auto store = OpenOciTarStore(PosixFileSystem(), Path("odd.tar"), "odd.tar");
  ASSERT_TRUE(store) << store.error().message();
  EXPECT_EQ((*store)->index_json(), R"({"schemaVersion":2,"manifests":[]})");
  ASSERT_TRUE((*store)->manifest_json());
  EXPECT_EQ(*(*store)->manifest_json(), "[]");
  std::set<oci::Digest> walked;
  ASSERT_TRUE((*store)->Walk([&](const BlobInfo& b) -> Status {
    walked.insert(b.digest);
    return OkStatus();
  }));
  oci::Digest one = oci::Digest::Sha256Of("one");
  oci::Digest two = oci::Digest::Sha256Of("two");
  EXPECT_EQ(walked, (std::set<oci::Digest>{one, two}));
  EXPECT_EQ(*ReadBlob(**store, Desc(one, 3)), "one");
  EXPECT_EQ(*ReadBlob(**store, Desc(two, 3)), "two");
  for (const char* absent : {"three", "four", "five", "six", "seven", "eight"}) {
    EXPECT_FALSE((*store)->Info(oci::Digest::Sha256Of(absent))) << absent;
  }
}

// Real layouts from go-containerregistry's tests, tarred here: every blob in the directory is
// served and verifies.
TEST_F(OciTarStoreTest, GoContainerRegistryLayouts) {
  int checked = 0;
  for (const char* name : {"test_index", "test_index_one_image", "test_index_media_type",
                           "test_gc_index", "test_gc_image_unknown_mediatype"}) {
    SCOPED_TRACE(name);
    std::string src = kGcrLayouts + "/" + name;
    std::string tar = Path(std::string(name) + ".tar");
    ASSERT_EQ(Shell("tar -C '" + src + "' -cf '" + tar + "' ."), 0);
    auto store = OpenOciTarStore(PosixFileSystem(), tar, name);
    ASSERT_TRUE(store) << store.error().message();
    EXPECT_EQ((*store)->index_json(), ReadTestFile(src + "/index.json"));
    std::vector<std::string> files;
    if (auto exists = PosixFileSystem()->Exists(src + "/blobs/sha256"); exists && *exists) {
      files = *PosixFileSystem()->ListDir(src + "/blobs/sha256");
    }
    size_t walked = 0;
    ASSERT_TRUE((*store)->Walk([&](const BlobInfo&) -> Status {
      ++walked;
      return OkStatus();
    }));
    EXPECT_EQ(walked, files.size());
    for (const std::string& f : files) {
      oci::Digest d = oci::Digest::FromSha256Hex(f);
      auto info = (*store)->Info(d);
      ASSERT_TRUE(info) << info.error().message();
      Status st =
          ReadVerified(**store, Desc(d, info->size), [](std::string_view) { return OkStatus(); });
      EXPECT_TRUE(st) << st.error().message();
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
}

// The ContentStore conformance suite, read-only subset: the seed is written as a layout and
// tarred with GNU tar.
ContentStoreFactory OciTarStoreFactory() {
  ContentStoreFactory f;
  f.name = "OciTarStore";
  f.writable = false;
  f.make = [](const std::string& dir,
              const std::vector<std::string>& seed) -> Result<StoreUnderTest> {
    WriteLayoutDir(dir + "/layout", seed);
    if (Shell("tar -C '" + dir + "/layout' -cf '" + dir + "/layout.tar' .") != 0) {
      return MakeError(Code::kInternal, "tar failed");
    }
    HOIST_ASSIGN_OR_RETURN(auto store,
                           OpenOciTarStore(PosixFileSystem(), dir + "/layout.tar", "layout.tar"));
    StoreUnderTest s;
    s.store = std::move(store);
    return s;
  };
  f.corrupt = [](const std::string& dir, const oci::Digest& digest) -> Status {
    std::string tar = dir + "/layout.tar";
    auto e = FindEntry(tar, digest.encoded());
    if (!e) return MakeError(Code::kNotFound, "blob not in the tarball");
    // An empty blob has no byte to damage; flipping one would hit the next header.
    if (e->size == 0) return MakeError(Code::kFailedPrecondition, "empty blob");
    return FlipByteAt(tar, e->data_offset);
  };
  return f;
}

INSTANTIATE_TEST_SUITE_P(OciTarStore, ContentStoreConformanceTest,
                         ::testing::Values(OciTarStoreFactory()), ContentStoreFactoryName);
INSTANTIATE_TEST_SUITE_P(OciTarStore, ReadOnlyContentStoreConformanceTest,
                         ::testing::Values(OciTarStoreFactory()), ContentStoreFactoryName);

}  // namespace
}  // namespace hoist::content
