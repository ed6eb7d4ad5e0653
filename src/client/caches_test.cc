// Local caches on the client: attached under opaque keys, import tags resolved here, missing
// caches dropped with a warning, the exported manifest named in each cache directory.
#include "client/caches.h"

#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "content/content_store.h"
#include "oci/descriptor.h"
#include "oci/media_types.h"

namespace hoist::client {
namespace {

class CachesTest : public ::testing::Test {
 protected:
  void SetUp() override { tmp_ = *TempDir::Create("client-caches-"); }
  std::string Path(const std::string& p) const { return tmp_.path() + "/" + p; }

  CacheAttachOptions Options() {
    return {.new_key = [this] { return "key" + std::to_string(++keys_); }};
  }

  // A layout at `dir` whose index names a small manifest under `tag`; returns its descriptor.
  oci::Descriptor MakeCache(const std::string& dir, const std::string& tag) {
    auto layout = *content::OciLayout::CreateOrOpen(PosixFileSystem(), dir);
    auto info = *content::WriteBlob(layout->store(), "{\"schemaVersion\":2}");
    oci::Descriptor d{.media_type = std::string(oci::kMediaTypeImageManifest),
                      .digest = info.digest,
                      .size = info.size};
    EXPECT_TRUE(layout->Put(d, {{.image_name = "", .ref_name = tag}}));
    return d;
  }

  TempDir tmp_;
  int keys_ = 0;
  session::ClientSession session_;
};

TEST_F(CachesTest, PathsAreReplacedByKeysAndTagsResolvedHere) {
  const oci::Descriptor v1 = MakeCache(Path("in"), "v1");
  std::vector<control::TypedAttrs> exports{
      {.type = "local", .attrs = {{"dest", Path("out")}, {"mode", "max"}}},
      {.type = "registry", .attrs = {{"ref", "example.com/c"}}}};
  std::vector<control::TypedAttrs> imports{
      {.type = "local", .attrs = {{"src", Path("in")}, {"tag", "v1"}}},
      {.type = "local", .attrs = {{"src", Path("missing")}}},
      {.type = "local", .attrs = {{"src", Path("in")}}},  // no `latest` there
      {.type = "registry", .attrs = {{"ref", "example.com/c"}}}};
  auto caches = AttachCaches(session_, &exports, &imports, Options());
  ASSERT_TRUE(caches) << caches.error().message();
  EXPECT_EQ(exports[0].attrs,
            (control::Attrs{{"dest", "key1"}, {"mode", "max"}}));
  EXPECT_EQ(exports[1].attrs.at("ref"), "example.com/c");
  ASSERT_EQ(imports.size(), 2u);
  EXPECT_EQ(imports[0].attrs,
            (control::Attrs{{"src", "key2"}, {"tag", "v1"}, {"digest", v1.digest.str()}}));
  EXPECT_EQ(imports[1].type, "registry");
  ASSERT_EQ(caches->warnings.size(), 2u);
  EXPECT_EQ(caches->warnings[0].find("failed to import cache from " + Path("missing") + ": "), 0u)
      << caches->warnings[0];
  EXPECT_EQ(caches->warnings[1],
            "failed to import cache from " + Path("in") + ": no cache tagged \"latest\"");
  // The engine gets the stores by key only.
  EXPECT_TRUE(session_.CacheStore("key1", true));
  EXPECT_TRUE(session_.CacheStore("key2", false));
  EXPECT_FALSE(session_.CacheStore("key2", true));
  EXPECT_FALSE(session_.CacheStore(Path("in"), false));
}

TEST_F(CachesTest, ExportedManifestIsNamedInEveryDirectory) {
  MakeCache(Path("a"), "old");
  std::vector<control::TypedAttrs> exports{
      {.type = "local", .attrs = {{"dest", Path("a")}}},
      {.type = "local", .attrs = {{"dest", Path("b")}, {"tag", "t2"}}}};
  std::vector<control::TypedAttrs> imports;
  auto caches = AttachCaches(session_, &exports, &imports, Options());
  ASSERT_TRUE(caches) << caches.error().message();
  // What the engine does: the manifest into each store, its descriptor in the response.
  const std::string manifest = "{\"schemaVersion\":2,\"layers\":[]}";
  oci::Descriptor desc;
  for (const char* key : {"key1", "key2"}) {
    auto store = session_.CacheStore(key, true);
    ASSERT_TRUE(store);
    auto info = content::WriteBlob(**store, manifest);
    ASSERT_TRUE(info);
    desc = {.media_type = std::string(oci::kMediaTypeImageManifest),
            .digest = info->digest,
            .size = info->size};
  }
  std::map<std::string, std::string> response{{"cache.manifest", oci::SerializeDescriptor(desc)}};
  ASSERT_TRUE(FinishCaches(*caches, response));
  ASSERT_TRUE(FinishCaches(*caches, response));  // again: the tag's entry is replaced
  auto a = *content::OciLayout::OpenDirectory(PosixFileSystem(), Path("a"), true);
  EXPECT_EQ((*a->FindTag("latest"))->digest, desc.digest);
  EXPECT_TRUE(*a->FindTag("old"));  // other tags are kept
  EXPECT_EQ(a->ReadIndex()->manifests.size(), 2u);
  auto b = *content::OciLayout::OpenDirectory(PosixFileSystem(), Path("b"), true);
  EXPECT_EQ((*b->FindTag("t2"))->digest, desc.digest);
  EXPECT_EQ(b->ReadIndex()->manifests.size(), 1u);

  // A manifest the engine did not write there is not named; no response is an error.
  oci::Descriptor absent = desc;
  absent.digest = oci::Digest::Sha256Of("absent");
  auto st = FinishCaches(*caches, {{"cache.manifest", oci::SerializeDescriptor(absent)}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kDataLoss);
  EXPECT_FALSE(FinishCaches(*caches, {}));
  EXPECT_TRUE(FinishCaches({}, {}));
}

}  // namespace
}  // namespace hoist::client
