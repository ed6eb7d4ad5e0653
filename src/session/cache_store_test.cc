// Local caches' stores (`local:<key>`): an import's read-only and verifying, an export's
// writable with every blob verified at Commit, chosen by a key the engine may not show, and
// nothing the client did not attach. Each case runs in process and over gRPC.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <string>

#include "base/file_system.h"
#include "base/temp_dir.h"
#include "content/oci_layout.h"
#include "session/client_session.h"
#include "session/testing/session_pair.h"
#include "session/testing/test_layout.h"

namespace hoist::session {
namespace {

using testing::BlobPath;
using testing::SessionPair;
using testing::Transport;

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

class CacheStoreTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { tmp_ = *TempDir::Create("session-cache-"); }
  std::string Path(const std::string& p) const { return tmp_.path() + "/" + p; }

  std::shared_ptr<content::OciLayout> Layout(const std::string& name) {
    auto l = content::OciLayout::CreateOrOpen(PosixFileSystem(), Path(name));
    EXPECT_TRUE(l) << l.error().message();
    return std::shared_ptr<content::OciLayout>(std::move(*l));
  }

  // Fails the test when `message` names the client's directory.
  void ExpectPrivate(const std::string& message) {
    EXPECT_EQ(message.find(tmp_.path()), std::string::npos) << message;
  }

  TempDir tmp_;
  SessionPair pair_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(Transports, CacheStoreTest,
                         ::testing::Values(Transport::kInProcess, Transport::kGrpc),
                         [](const auto& info) { return testing::TransportName(info.param); });

TEST_P(CacheStoreTest, ExportStoreTakesOnlyVerifiedBlobs) {
  auto layout = Layout("cache");
  ASSERT_TRUE(pair_.client().AttachCacheLayout("k1", layout, Path("cache"), true));
  auto store = pair_.engine().CacheStore("k1", true);
  ASSERT_TRUE(store) << store.error().message();
  const std::string blob = "cache layer";
  auto info = content::WriteBlob(**store, blob);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_TRUE(Exists(BlobPath(Path("cache"), info->digest)));
  // Present blobs are seen (the engine sends only what is missing), and read back verified.
  EXPECT_TRUE((*store)->Info(info->digest));
  auto back = content::ReadBlob(**store, {.digest = info->digest, .size = info->size});
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, blob);

  // A write whose bytes are not the digest claimed never appears.
  const oci::Digest claimed = oci::Digest::Sha256Of("the real thing");
  auto w = (*store)->Writer("bad");
  ASSERT_TRUE(w) << w.error().message();
  ASSERT_TRUE((*w)->Write("an impostor"));
  auto c = (*w)->Commit(11, claimed);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Code::kDataLoss);
  ExpectPrivate(c.error().message());
  EXPECT_FALSE(Exists(BlobPath(Path("cache"), claimed)));
  EXPECT_FALSE(Exists(BlobPath(Path("cache"), oci::Digest::Sha256Of("an impostor"))));
  // Adding only: no deleting, no listing.
  EXPECT_EQ((*store)->Delete(info->digest).error().code(), Code::kPermissionDenied);
  EXPECT_EQ((*store)->Walk([](const content::BlobInfo&) -> Status { return {}; }).error().code(),
            Code::kPermissionDenied);
  EXPECT_TRUE(Exists(BlobPath(Path("cache"), info->digest)));
  // The index is the client's to write.
  auto index = layout->ReadIndex();
  ASSERT_TRUE(index);
  EXPECT_TRUE(index->manifests.empty());
}

TEST_P(CacheStoreTest, ImportStoreIsReadOnlyAndVerifies) {
  auto layout = Layout("cache");
  auto good = content::WriteBlob(layout->store(), "good blob");
  auto bad = content::WriteBlob(layout->store(), "bad blob!");
  ASSERT_TRUE(good && bad);
  testing::FlipByte(BlobPath(Path("cache"), bad->digest));
  ASSERT_TRUE(pair_.client().AttachCacheLayout("k2", layout, Path("cache"), false));

  auto store = pair_.engine().CacheStore("k2", false);
  ASSERT_TRUE(store) << store.error().message();
  auto data = content::ReadBlob(**store, {.digest = good->digest, .size = good->size});
  ASSERT_TRUE(data) << data.error().message();
  EXPECT_EQ(*data, "good blob");
  auto corrupt = content::ReadBlob(**store, {.digest = bad->digest, .size = bad->size});
  ASSERT_FALSE(corrupt);
  EXPECT_EQ(corrupt.error().code(), Code::kDataLoss);
  EXPECT_NE(corrupt.error().message().find(bad->digest.str()), std::string::npos)
      << corrupt.error().message();
  ExpectPrivate(corrupt.error().message());

  // Nothing can be written into an import's directory, whichever store the engine asks for.
  auto w = (*store)->Writer("x");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Code::kPermissionDenied);
  auto writable = pair_.engine().CacheStore("k2", true);
  if (writable) {
    // Over gRPC the client refuses the write itself.
    auto written = content::WriteBlob(**writable, "sneaked in");
    ASSERT_FALSE(written);
    EXPECT_EQ(written.error().code(), Code::kPermissionDenied) << written.error().message();
  } else {
    EXPECT_EQ(writable.error().code(), Code::kPermissionDenied);
  }
  EXPECT_FALSE(Exists(BlobPath(Path("cache"), oci::Digest::Sha256Of("sneaked in"))));
}

TEST_P(CacheStoreTest, KeysTheClientDidNotAttachAreRefused) {
  // Nothing attached at all, then other stores attached: neither gives the engine a cache.
  for (bool writable : {false, true}) {
    auto none = pair_.engine().CacheStore("never-attached-key", writable);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code(), Code::kNotFound);
    EXPECT_EQ(none.error().message(),
              "unknown cache store: the client attached no cache directory under this key");
  }
  SessionPair pair(GetParam());
  ASSERT_TRUE(pair.client().AttachCacheLayout("mine", Layout("cache"), Path("cache"), true));
  ASSERT_TRUE(pair.client().AttachOutputLayout(Path("out")));
  for (const std::string key : {"other", "mine/../other", "", "oci:mine", "export"}) {
    auto s = pair.engine().CacheStore(key, true);
    ASSERT_FALSE(s) << key;
    EXPECT_NE(s.error().message().find("cache"), std::string::npos) << s.error().message();
    EXPECT_EQ(s.error().message().find(key.empty() ? "\x01" : key), std::string::npos)
        << s.error().message();
  }
  // A cache's key names no other kind of store (over a remote session, opening it does not ask
  // the client; its first use does).
  auto oci = pair.engine().OciStore("mine");
  if (oci) {
    auto info = (*oci)->Info(oci::Digest::Sha256Of("cache blob"));
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().code(), Code::kNotFound);
    EXPECT_EQ(info.error().message().rfind("unknown store oci:mine", 0), 0u)
        << info.error().message();
  }
  // The attached one works.
  EXPECT_TRUE(pair.engine().CacheStore("mine", true));
  // The client refuses a key twice.
  EXPECT_EQ(pair.client().AttachCacheLayout("mine", Layout("c2"), Path("c2"), false).error().code(),
            Code::kAlreadyExists);
}

TEST_P(CacheStoreTest, KeysGrpcCannotCarryAreRefusedBeforeAnyCall) {
  // buildctl sends its path as the key; a path need not be ASCII.
  const std::string key = Path("caché");
  ASSERT_TRUE(pair_.client().AttachCacheLayout(key, Layout("cache"), Path("cache"), true));
  auto s = pair_.engine().CacheStore(key, true);
  if (GetParam() == Transport::kInProcess) {
    EXPECT_TRUE(s) << s.error().message();
    return;
  }
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(s.error().message(),
            "a cache store key that is not printable ASCII cannot be sent to the client");
}

}  // namespace
}  // namespace hoist::session
