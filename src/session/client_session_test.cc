// ClientSession's OCI stores and secrets: read-only, verifying, selected by ID, never naming a
// client path. Each case runs twice: with the engine holding the ClientSession (in process) and
// with a RemoteSession calling it over gRPC.
#include "session/client_session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <vector>

#include "base/file_system.h"
#include "base/log.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "content/local_content_store.h"
#include "session/testing/session_pair.h"
#include "session/testing/test_layout.h"

namespace hoist::session {
namespace {

using testing::BlobPath;
using testing::MakePlatform;
using testing::SessionPair;
using testing::TestImage;
using testing::Transport;

Status Discard(std::string_view) { return {}; }

class ClientSessionTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    auto t = TempDir::Create("session-test-");
    ASSERT_TRUE(t);
    tmp_ = std::move(*t);
  }

  // A layout at `dir` holding one image (tag `latest`) with the given layers.
  TestImage MakeLayout(const std::string& dir, const std::vector<std::string>& layers) {
    TestImage img;
    auto s = testing::CreateLayoutWith(
        dir, [&](content::ContentStore& store) -> Result<oci::Descriptor> {
          HOIST_ASSIGN_OR_RETURN(
              img, testing::WriteTestImage(store, layers, MakePlatform("linux", "amd64")));
          return img.manifest;
        });
    EXPECT_TRUE(s) << s.error().message();
    return img;
  }

  std::string Path(const std::string& name) const { return tmp_.path() + "/" + name; }

  // The client attaches here; the engine asks through engine().
  ClientSession& client() { return pair_.client(); }
  Session& engine() { return pair_.engine(); }

  TempDir tmp_;
  SessionPair pair_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(Transports, ClientSessionTest,
                         ::testing::Values(Transport::kInProcess, Transport::kGrpc),
                         [](const auto& info) { return testing::TransportName(info.param); });

TEST(NewRandomIdTest, Is25Base36CharactersAndFresh) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string id = NewRandomId();
    ASSERT_EQ(id.size(), 25u) << id;
    for (char c : id) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(ClientSessionIdTest, RandomIdAndSharedKey) {
  ClientSession a("key");
  ClientSession b;
  EXPECT_EQ(a.id().size(), 25u);
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(a.shared_key(), "key");
  ClientSession c("fixed-id", "k2");
  EXPECT_EQ(c.id(), "fixed-id");
}

TEST_P(ClientSessionTest, LayoutStoreServesInfoAndVerifiedReads) {
  TestImage img = MakeLayout(Path("layout"), {"layer one", "layer two"});
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("one", Path("layout")));
  auto store = engine().OciStore("one");
  ASSERT_TRUE(store) << store.error().message();
  auto info = (*store)->Info(img.layers[1].digest);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->size, 9);
  auto data = content::ReadBlob(**store, img.layers[1]);
  ASSERT_TRUE(data) << data.error().message();
  EXPECT_EQ(*data, "layer two");
  EXPECT_EQ(s.StoreIds(), std::vector<std::string>{"one"});
}

TEST_P(ClientSessionTest, StoreIsReadOnly) {
  TestImage img = MakeLayout(Path("layout"), {"x"});
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("ro", Path("layout")));
  auto store = *engine().OciStore("ro");
  auto w = store->Writer("ref");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Code::kPermissionDenied);
  EXPECT_EQ(w.error().message(), "store oci:ro is read-only: the engine may not write to it");
  auto d = store->Delete(img.layers[0].digest);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message(), "store oci:ro is read-only: the engine may not delete from it");
  auto walk = store->Walk([](const content::BlobInfo&) -> Status { return {}; });
  ASSERT_FALSE(walk);
  EXPECT_EQ(walk.error().message(), "store oci:ro is read-only: the engine may not list it");
  // The blob is still there.
  EXPECT_TRUE(store->Info(img.layers[0].digest));
}

// An unknown store's error, from opening it or (over a remote session, which does not ask the
// client when it opens one) from its first use.
Error UnknownStoreError(Session& engine, const std::string& id) {
  auto store = engine.OciStore(id);
  if (!store) return store.error();
  auto info = (*store)->Info(oci::Digest::Sha256Of("anything"));
  EXPECT_FALSE(info);
  auto reader = (*store)->ReaderAt(oci::Digest::Sha256Of("anything"));
  EXPECT_FALSE(reader);
  if (!reader) {
    EXPECT_EQ(reader.error().message(), info.error().message());
  }
  return info ? Error(Code::kOk, "") : info.error();
}

TEST_P(ClientSessionTest, UnknownStore) {
  Error none = UnknownStoreError(engine(), "abc");
  EXPECT_EQ(none.code(), Code::kNotFound);
  EXPECT_EQ(none.message(),
            "unknown store oci:abc (the client attached no OCI layout store: attach one with "
            "--oci-layout ID=DIR or --build-context NAME=oci-layout://PATH)");
}

TEST_P(ClientSessionTest, UnknownStoreBesideAKnownOne) {
  MakeLayout(Path("layout"), {"x"});
  ASSERT_TRUE(client().AttachOciLayout("known", Path("layout")));
  Error other = UnknownStoreError(engine(), "abc");
  EXPECT_EQ(other.code(), Code::kNotFound);
  EXPECT_EQ(other.message(), "unknown store oci:abc");
}

TEST_P(ClientSessionTest, AttachErrors) {
  ClientSession& s = client();
  MakeLayout(Path("layout"), {"x"});
  ASSERT_TRUE(s.AttachOciLayout("a", Path("layout")));
  auto dup = s.AttachOciLayout("a", Path("layout"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.error().message(), "OCI store a is attached twice");
  auto empty = s.AttachOciLayout("", Path("layout"));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message(), "empty OCI store ID");
  auto missing = s.AttachOciLayout("b", Path("nope"));
  ASSERT_FALSE(missing);
  ASSERT_TRUE(s.AttachSecretEnv("s", "X"));
  auto dup_secret = s.AttachSecretFile("s", "/x");
  ASSERT_FALSE(dup_secret);
  EXPECT_EQ(dup_secret.error().message(), "secret s is attached twice");
  EXPECT_EQ(s.AttachSecretFile("", "/x").error().message(), "empty secret ID");
  EXPECT_EQ(s.AttachLocalDir("", tmp_.path()).error().message(), "empty local dir name");
  ASSERT_TRUE(s.AttachLocalDir("d", tmp_.path()));
  EXPECT_EQ(s.AttachLocalDir("d", tmp_.path()).error().message(), "local dir d is attached twice");
}

// SPEC §5.6: two stores attached at once, each read selects its own store by ID.
TEST_P(ClientSessionTest, TwoStoresEachReadByItsId) {
  TestImage a = MakeLayout(Path("a"), {"only in a"});
  TestImage b = MakeLayout(Path("b"), {"only in b"});
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("storea", Path("a")));
  ASSERT_TRUE(s.AttachOciLayout("storeb", Path("b")));
  auto sa = *engine().OciStore("storea");
  auto sb = *engine().OciStore("storeb");
  EXPECT_EQ(*content::ReadBlob(*sa, a.layers[0]), "only in a");
  EXPECT_EQ(*content::ReadBlob(*sb, b.layers[0]), "only in b");
  auto cross = sa->Info(b.layers[0].digest);
  ASSERT_FALSE(cross);
  EXPECT_EQ(cross.error().message(), "content " + b.layers[0].digest.str() + ": not found");
  auto cross_read = sb->ReaderAt(a.layers[0].digest);
  ASSERT_FALSE(cross_read);
  EXPECT_EQ(cross_read.error().code(), Code::kNotFound);
  EXPECT_EQ(s.StoreIds(), (std::vector<std::string>{"storea", "storeb"}));
}

TEST_P(ClientSessionTest, CorruptedBlobFailsNamingTheDigest) {
  const std::string layer(3 << 20, 'q');
  TestImage img = MakeLayout(Path("layout"), {layer});
  testing::FlipByte(BlobPath(Path("layout"), img.layers[0].digest));
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("c", Path("layout")));
  auto store = *engine().OciStore("c");
  auto st = content::ReadVerified(*store, img.layers[0], Discard);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kDataLoss);
  EXPECT_EQ(st.error().message().rfind(
                "content " + img.layers[0].digest.str() + ": digest mismatch (got sha256:", 0),
            0u)
      << st.error().message();
  EXPECT_EQ(st.error().message().find(tmp_.path()), std::string::npos);

  // The store verifies on its own, whoever reads: sequential reads fail at the end of the blob,
  // and the reader stays failed.
  auto reader = store->ReaderAt(img.layers[0].digest);
  ASSERT_TRUE(reader);
  std::vector<char> buf(1 << 20);
  int64_t off = 0;
  Status last = OkStatus();
  for (;;) {
    auto n = (*reader)->ReadAt(off, buf.data(), buf.size());
    if (!n) {
      last = Unexpected(n.error());
      break;
    }
    ASSERT_NE(*n, 0u) << "reached the end without a verdict";
    off += static_cast<int64_t>(*n);
  }
  EXPECT_EQ(last.error().code(), Code::kDataLoss);
  EXPECT_LT(off, static_cast<int64_t>(layer.size())) << "the last chunk must not be returned";
  auto again = (*reader)->ReadAt(0, buf.data(), 10);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kDataLoss);
}

// Copying a blob into the engine's store hashes it once, in the store the engine sees: the
// writer takes that store's verdict, so a good blob lands and a corrupt one never does.
TEST_P(ClientSessionTest, CopyIntoTheEngineStoreTakesTheAttachedStoresVerdict) {
  const std::string good(3 << 20, 'g');
  const std::string bad(3 << 20, 'b');
  TestImage img = MakeLayout(Path("layout"), {good, bad});
  testing::FlipByte(BlobPath(Path("layout"), img.layers[1].digest));
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("c", Path("layout")));
  auto store = *engine().OciStore("c");
  auto reader = store->ReaderAt(img.layers[0].digest);
  ASSERT_TRUE(reader);
  EXPECT_TRUE((*reader)->VerifiesDigest());

  auto local = content::LocalContentStore::Open(PosixFileSystem(), Path("engine"));
  ASSERT_TRUE(local) << local.error().message();
  for (const oci::Descriptor& layer : img.layers) {
    auto writer = (*local)->Writer("copy-" + layer.digest.str());
    ASSERT_TRUE(writer);
    Status st = content::CopyInto(*store, layer, **writer, {});
    if (layer.digest == img.layers[0].digest) {
      ASSERT_TRUE(st) << st.error().message();
      EXPECT_EQ((*writer)->Digest(), layer.digest);
      EXPECT_EQ(*content::ReadBlob(**local, layer, 8 << 20), good);
    } else {
      ASSERT_FALSE(st);
      EXPECT_EQ(st.error().code(), Code::kDataLoss);
      EXPECT_NE(st.error().message().find("digest mismatch"), std::string::npos)
          << st.error().message();
      auto info = (*local)->Info(layer.digest);
      ASSERT_FALSE(info);
      EXPECT_EQ(info.error().code(), Code::kNotFound);
    }
  }
}

TEST_P(ClientSessionTest, SkippingToTheEndStillVerifies) {
  const std::string layer(2 << 20, 'z');
  TestImage img = MakeLayout(Path("layout"), {layer, "small"});
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("c", Path("layout")));
  auto store = *engine().OciStore("c");
  // Intact: a read of only the last byte succeeds (the store hashed the gap).
  auto good = *store->ReaderAt(img.layers[0].digest);
  char c = 0;
  auto n = good->ReadAt(good->Size() - 1, &c, 1);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(c, 'z');
  // Reads past the end return 0.
  EXPECT_EQ(*good->ReadAt(good->Size() + 5, &c, 1), 0u);

  testing::FlipByte(BlobPath(Path("layout"), img.layers[0].digest));
  auto bad = *store->ReaderAt(img.layers[0].digest);
  auto m = bad->ReadAt(bad->Size() - 1, &c, 1);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), Code::kDataLoss);
  // A read that stops short of the end is served (it cannot be judged yet).
  auto bad2 = *store->ReaderAt(img.layers[0].digest);
  EXPECT_TRUE(bad2->ReadAt(0, &c, 1));
}

TEST_P(ClientSessionTest, TruncatedBlobFails) {
  const std::string layer(1 << 20, 't');
  TestImage img = MakeLayout(Path("layout"), {layer});
  testing::TruncateFile(BlobPath(Path("layout"), img.layers[0].digest), 1000);
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("t", Path("layout")));
  auto store = *engine().OciStore("t");
  auto st = content::ReadVerified(*store, img.layers[0], Discard);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kDataLoss);
  EXPECT_EQ(st.error().message(), "content " + img.layers[0].digest.str() +
                                      ": size mismatch: expected 1048576 bytes, got 1000");
  // Read without a descriptor: the short blob does not hash to its digest.
  auto reader = *store->ReaderAt(img.layers[0].digest);
  std::vector<char> buf(4096);
  auto n = reader->ReadAt(0, buf.data(), buf.size());
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), Code::kDataLoss);
  EXPECT_NE(n.error().message().find("digest mismatch"), std::string::npos);
}

TEST_P(ClientSessionTest, ReadOnlyBindMountedLayout) {
  TestImage img = MakeLayout(Path("layout"), {"read me from a read-only mount"});
  ASSERT_EQ(mkdir(Path("ro").c_str(), 0755), 0);
  auto mount = MountAll({Mount{"bind", Path("layout"), {"ro"}}}, Path("ro"));
  ASSERT_TRUE(mount) << mount.error().message();
  // It really is read-only.
  EXPECT_NE(testing::RunShell("touch '" + Path("ro") + "/x' 2>/dev/null"), 0);
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("ro", Path("ro")));
  auto store = *engine().OciStore("ro");
  auto data = content::ReadBlob(*store, img.layers[0]);
  ASSERT_TRUE(data) << data.error().message();
  EXPECT_EQ(*data, "read me from a read-only mount");
  EXPECT_TRUE(content::ReadBlob(*store, img.manifest));
  EXPECT_TRUE(content::ReadBlob(*store, img.config));
  // Nothing was created (no lock file).
  EXPECT_FALSE(*PosixFileSystem()->Exists(Path("layout") + "/index.json.lock"));
}

TEST_P(ClientSessionTest, TarballStore) {
  TestImage img = MakeLayout(Path("layout"), {"tarred layer", "second"});
  ASSERT_EQ(testing::RunShell("tar -C '" + Path("layout") + "' -cf '" + Path("image.tar") + "' ."),
            0);
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("tar", Path("image.tar")));
  auto store = *engine().OciStore("tar");
  EXPECT_EQ(*content::ReadBlob(*store, img.layers[0]), "tarred layer");
  EXPECT_EQ(*content::ReadBlob(*store, img.layers[1]), "second");
  EXPECT_FALSE(store->Writer("x"));
}

TEST_P(ClientSessionTest, CorruptedTarballBlob) {
  const std::string layer(100000, 'k');
  TestImage img = MakeLayout(Path("layout"), {layer});
  testing::FlipByte(BlobPath(Path("layout"), img.layers[0].digest));
  ASSERT_EQ(testing::RunShell("tar -C '" + Path("layout") + "' -cf '" + Path("image.tar") + "' ."),
            0);
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("tar", Path("image.tar")));
  auto st = content::ReadVerified(**engine().OciStore("tar"), img.layers[0], Discard);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kDataLoss);
  EXPECT_NE(st.error().message().find(img.layers[0].digest.str()), std::string::npos);
}

// No error or log line the engine can see names the client's path.
TEST_P(ClientSessionTest, ErrorsAndLogsNeverNameTheClientPath) {
  const std::string marker = "private-marker-7f3a9c";
  const std::string dir = Path(marker + "/lay:out@x");
  ASSERT_EQ(testing::RunShell("mkdir -p '" + dir + "'"), 0);
  TestImage img = MakeLayout(dir, {"aaaa", "bbbb", std::string(70000, 'c')});

  std::mutex mu;
  std::vector<std::string> lines;
  LogLevel old_level = GetLogLevel();
  SetLogLevel(LogLevel::kDebug);
  SetLogSink([&](LogLevel, std::string_view line) {
    std::lock_guard lock(mu);
    lines.emplace_back(line);
  });

  std::vector<std::string> errors;
  auto note = [&](const auto& r) {
    if (!r) errors.push_back(r.error().message());
  };
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachOciLayout("p", dir));
  auto store = *engine().OciStore("p");
  note(engine().OciStore("other"));
  oci::Digest absent = oci::Digest::Sha256Of("absent");
  note(store->Info(absent));
  note(store->ReaderAt(absent));
  // A blob that is a directory: the underlying store's error names its file.
  std::string bpath = BlobPath(dir, img.layers[0].digest);
  ASSERT_EQ(unlink(bpath.c_str()), 0);
  ASSERT_EQ(mkdir(bpath.c_str(), 0755), 0);
  note(store->Info(img.layers[0].digest));
  note(content::ReadVerified(*store, img.layers[0], Discard));
  // A corrupted and a truncated blob.
  testing::FlipByte(BlobPath(dir, img.layers[2].digest));
  note(content::ReadVerified(*store, img.layers[2], Discard));
  testing::TruncateFile(BlobPath(dir, img.layers[1].digest), 2);
  note(content::ReadVerified(*store, img.layers[1], Discard));
  auto r = store->ReaderAt(img.layers[1].digest);
  if (r) {
    char buf[16];
    note((*r)->ReadAt(0, buf, sizeof(buf)));
  }
  note(store->Writer("w"));
  // A secret whose file cannot be read.
  ASSERT_TRUE(s.AttachSecretFile("sec", dir + "/no-such-secret"));
  note(engine().Secret("sec"));
  note(engine().LocalDir("nope"));

  SetLogSink(nullptr);
  SetLogLevel(old_level);
  EXPECT_GE(errors.size(), 10u);
  for (const std::string& e : errors) {
    EXPECT_EQ(e.find(marker), std::string::npos) << e;
  }
  for (const std::string& l : lines) EXPECT_EQ(l.find(marker), std::string::npos) << l;
}

// A store whose own errors name its private path: the session replaces it before the engine
// sees the message.
class LeakyStore final : public testing::ReadOnlyTestStore {
 public:
  explicit LeakyStore(std::string path) : path_(std::move(path)) {}
  Result<content::BlobInfo> Info(const oci::Digest&) override {
    return MakeError(Code::kPermissionDenied, "stat " + path_ + "/blobs/x: Permission denied");
  }
  Result<std::unique_ptr<content::BlobReader>> ReaderAt(const oci::Digest&) override {
    class Reader final : public content::BlobReader {
     public:
      explicit Reader(std::string p) : p_(std::move(p)) {}
      Result<size_t> ReadAt(int64_t, void*, size_t) override {
        return MakeError(Code::kInternal, "pread " + p_ + "/blobs/x: I/O error (" + p_ + ")");
      }
      int64_t Size() const override { return 10; }

     private:
      std::string p_;
    };
    return std::unique_ptr<content::BlobReader>(std::make_unique<Reader>(path_));
  }

 private:
  std::string path_;
};

TEST(AttachedStoreTest, ScrubsPrivatePathsFromStoreErrors) {
  const std::string path = "/home/someone/private-marker-91c2";
  ClientSession s;
  ASSERT_TRUE(s.AttachOciStore("leaky", std::make_shared<LeakyStore>(path), {path}));
  auto store = *s.OciStore("leaky");
  oci::Digest d = oci::Digest::Sha256Of("x");
  auto info = store->Info(d);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), Code::kPermissionDenied);
  EXPECT_EQ(info.error().message(), "stat oci:leaky/blobs/x: Permission denied");
  auto reader = store->ReaderAt(d);
  ASSERT_TRUE(reader);
  char buf[4];
  auto n = (*reader)->ReadAt(0, buf, sizeof(buf));
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), Code::kInternal);
  EXPECT_EQ(n.error().message(), "pread oci:leaky/blobs/x: I/O error (oci:leaky)");
  // The reader stays failed, with the same scrubbed error.
  EXPECT_EQ((*reader)->ReadAt(0, buf, sizeof(buf)).error().message(), n.error().message());
}

TEST_P(ClientSessionTest, Secrets) {
  WriteTestFile(Path("secret.txt"), "s3cr3t");
  ClientSession& s = client();
  ASSERT_TRUE(s.AttachSecretFile("file", Path("secret.txt")));
  ASSERT_TRUE(s.AttachSecretEnv("env", "HOIST_SESSION_TEST_SECRET"));
  ASSERT_TRUE(s.AttachSecretFile("gone", Path("missing.txt")));
  EXPECT_EQ(*engine().Secret("file"), "s3cr3t");
  unsetenv("HOIST_SESSION_TEST_SECRET");
  auto unset = engine().Secret("env");
  ASSERT_FALSE(unset);
  EXPECT_EQ(unset.error().message(), "secret env not found");
  // The variable is read when the engine asks.
  setenv("HOIST_SESSION_TEST_SECRET", "from env", 1);
  EXPECT_EQ(*engine().Secret("env"), "from env");
  unsetenv("HOIST_SESSION_TEST_SECRET");
  auto none = engine().Secret("nope");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Code::kNotFound);
  EXPECT_EQ(none.error().message(), "secret nope not found");
  auto gone = engine().Secret("gone");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
  EXPECT_EQ(gone.error().message(), "secret gone: cannot read its file: not found");
  WriteTestFile(Path("big"), std::string(600 * 1024, 'b'));
  ASSERT_TRUE(s.AttachSecretFile("big", Path("big")));
  auto big = engine().Secret("big");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message(), "secret big is larger than 512000 bytes");
}

}  // namespace
}  // namespace hoist::session
