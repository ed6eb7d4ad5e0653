// The oci-layout source over real layouts attached to client sessions (SPEC-oci-layout.md §1).
#include "source/oci_layout_source.h"

#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "base/file_system.h"
#include "content/local_content_store.h"
#include "content/oci_layout.h"
#include "oci/media_types.h"
#include "session/client_session.h"
#include "session/testing/test_layout.h"

namespace hoist::source {
namespace {

using namespace std::chrono_literals;
using session::testing::BlobPath;
using session::testing::MakePlatform;
using session::testing::TestImage;

const std::map<std::string, std::string> kNoAttrs;

TEST(OciLayoutIdentifierTest, Parses) {
  const std::string d = oci::Digest::Sha256Of("x").str();
  auto id = ParseOciLayoutIdentifier(
      "oci-layout://docker.io/library/base@" + d,
      {{"oci.session", "sess"}, {"oci.store", "st"}, {"oci.layerlimit", "2"}, {"other", "x"}},
      MakePlatform("linux", "arm64", "v8"));
  ASSERT_TRUE(id) << id.error().message();
  EXPECT_EQ(id->ref, "docker.io/library/base@" + d);
  EXPECT_EQ(id->reference.Name(), "docker.io/library/base");
  EXPECT_EQ(id->digest().str(), d);
  EXPECT_EQ(id->session_id, "sess");
  EXPECT_EQ(id->store_id, "st");
  EXPECT_EQ(id->layer_limit, 2);
  EXPECT_EQ(id->platform, MakePlatform("linux", "arm64"));  // normalised: arm64/v8 → arm64

  // A made-up name, a tag (ignored), no scheme, no platform (the host's).
  auto made_up = ParseOciLayoutIdentifier("not/real:tag@" + d, kNoAttrs, std::nullopt);
  ASSERT_TRUE(made_up) << made_up.error().message();
  EXPECT_EQ(made_up->reference.Name(), "docker.io/not/real");
  EXPECT_EQ(made_up->platform, oci::Normalize(oci::HostPlatform()));
  EXPECT_FALSE(made_up->layer_limit);
}

TEST(OciLayoutIdentifierTest, Errors) {
  const std::string d = oci::Digest::Sha256Of("x").str();
  auto no_digest =
      ParseOciLayoutIdentifier("oci-layout://docker.io/library/base:1.0", kNoAttrs, std::nullopt);
  ASSERT_FALSE(no_digest);
  EXPECT_EQ(no_digest.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(no_digest.error().message(),
            "reference \"docker.io/library/base:1.0\" must have digest");
  for (const char* bad : {"0", "-1", "abc", "", "1x", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    auto r =
        ParseOciLayoutIdentifier("oci-layout://base@" + d, {{"oci.layerlimit", bad}}, std::nullopt);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.error().message(), std::string("invalid layer limit ") + bad);
  }
  auto bad_ref = ParseOciLayoutIdentifier("oci-layout://Base@" + d, kNoAttrs, std::nullopt);
  ASSERT_FALSE(bad_ref);
  EXPECT_EQ(bad_ref.error().code(), Code::kInvalidArgument);
}

TEST(ChainIdsTest, AsImageSpecIdentity) {
  oci::Digest a = oci::Digest::Sha256Of("a");
  oci::Digest b = oci::Digest::Sha256Of("b");
  oci::Digest c = oci::Digest::Sha256Of("c");
  auto ids = oci::ChainIDs({a, b, c});
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], a);
  EXPECT_EQ(ids[1], oci::Digest::Sha256Of(a.str() + " " + b.str()));
  EXPECT_EQ(ids[2], oci::Digest::Sha256Of(ids[1].str() + " " + c.str()));
  EXPECT_TRUE(oci::ChainIDs({}).empty());
}

class OciLayoutSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = TempDir::Create("ocisource-test-");
    ASSERT_TRUE(t);
    tmp_ = std::move(*t);
    session_ = std::make_shared<session::ClientSession>("sess", "");
    ASSERT_TRUE(manager_.Register(session_));
  }

  std::string Path(const std::string& n) const { return tmp_.path() + "/" + n; }

  // A layout with a two-platform index (amd64: 3 layers, arm64: 1 layer) attached as `store`.
  void MakeIndexLayout(const std::string& store) {
    auto s = session::testing::CreateLayoutWith(
        Path(store), [&](content::ContentStore& cs) -> Result<oci::Descriptor> {
          HOIST_ASSIGN_OR_RETURN(amd64_, session::testing::WriteTestImage(
                                             cs, {"l1", "l2", std::string(50000, 'x')},
                                             MakePlatform("linux", "amd64"), {"ARCH=amd64"}));
          HOIST_ASSIGN_OR_RETURN(
              arm64_, session::testing::WriteTestImage(
                          cs, {"arm layer"}, MakePlatform("linux", "arm64"), {"ARCH=arm64"}));
          HOIST_ASSIGN_OR_RETURN(
              index_, session::testing::WriteTestIndex(
                          cs, {amd64_, arm64_},
                          {MakePlatform("linux", "amd64"), MakePlatform("linux", "arm64")}));
          return index_;
        });
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE(session_->AttachOciLayout(store, Path(store)));
  }

  Result<std::unique_ptr<OciLayoutSourceInstance>> Resolve(
      const oci::Digest& d, std::map<std::string, std::string> attrs,
      std::optional<oci::Platform> platform = MakePlatform("linux", "amd64"),
      std::vector<std::string> build_sessions = {"sess"}) {
    HOIST_ASSIGN_OR_RETURN(
        auto id, ParseOciLayoutIdentifier("oci-layout://docker.io/library/base@" + d.str(), attrs,
                                          platform));
    SessionStores stores(&manager_, std::move(build_sessions), 20ms);
    return OciLayoutSourceInstance::Resolve(id, stores);
  }

  // Copies layer `i` into an engine store (as the build's fetch does) and reads it back from
  // there; on failure, checks that the engine store did not get the blob.
  Result<std::string> CopyToEngine(const OciLayoutSourceInstance& r, size_t i) {
    if (!engine_) {
      content::LocalContentStoreOptions o;
      o.trusted = true;
      HOIST_ASSIGN_OR_RETURN(engine_, content::LocalContentStore::Open(PosixFileSystem(),
                                                                       Path("engine"), o));
    }
    const oci::Descriptor& layer = r.image().layers.at(i);
    HOIST_ASSIGN_OR_RETURN(auto writer, engine_->Writer("copy-test"));
    int64_t counted = 0;
    Status st = r.CopyLayer(i, *writer, [&](int64_t n) { counted += n; });
    if (!st) {
      EXPECT_FALSE(engine_->Info(layer.digest)) << "a failed copy left the blob in the store";
      return Unexpected(std::move(st).error());
    }
    EXPECT_EQ(counted, layer.size);
    return content::ReadBlob(*engine_, layer);
  }

  TempDir tmp_;
  std::unique_ptr<content::LocalContentStore> engine_;
  session::SessionManager manager_;
  std::shared_ptr<session::ClientSession> session_;
  TestImage amd64_, arm64_;
  oci::Descriptor index_;
};

TEST_F(OciLayoutSourceTest, ResolvesIndexForEachPlatform) {
  MakeIndexLayout("layout");
  auto amd = Resolve(index_.digest, {{"oci.session", "sess"}, {"oci.store", "layout"}});
  ASSERT_TRUE(amd) << amd.error().message();
  const SourceImage& a = (*amd)->image();
  EXPECT_EQ(a.root.digest, index_.digest);
  EXPECT_EQ(a.root.media_type, oci::kMediaTypeImageIndex);
  EXPECT_EQ(a.manifest_desc.digest, amd64_.manifest.digest);
  EXPECT_EQ(a.config_json, amd64_.config_json);
  EXPECT_EQ(a.config.config.env, std::vector<std::string>{"ARCH=amd64"});
  ASSERT_EQ(a.layers.size(), 3u);
  EXPECT_EQ(a.layers, amd64_.layers);
  EXPECT_EQ(a.diff_ids.size(), 3u);
  EXPECT_EQ(a.chain_ids, oci::ChainIDs(a.diff_ids));

  auto arm = Resolve(index_.digest, {{"oci.session", "sess"}, {"oci.store", "layout"}},
                     MakePlatform("linux", "arm64"));
  ASSERT_TRUE(arm) << arm.error().message();
  EXPECT_EQ((*arm)->image().manifest_desc.digest, arm64_.manifest.digest);
  EXPECT_EQ((*arm)->image().config.config.env, std::vector<std::string>{"ARCH=arm64"});
  EXPECT_NE((*amd)->ManifestCacheKey(), (*arm)->ManifestCacheKey());
}

TEST_F(OciLayoutSourceTest, SingleManifestIsUsedWhateverThePlatform) {
  MakeIndexLayout("layout");
  auto r = Resolve(arm64_.manifest.digest, {{"oci.session", "sess"}, {"oci.store", "layout"}},
                   MakePlatform("linux", "s390x"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)->image().manifest_desc.digest, arm64_.manifest.digest);
}

TEST_F(OciLayoutSourceTest, LayersAreReadLazilyAndVerified) {
  MakeIndexLayout("layout");
  // Damage a layer: resolving still works (layers are not read), reading it fails.
  session::testing::FlipByte(BlobPath(Path("layout"), amd64_.layers[2].digest));
  auto r = Resolve(index_.digest, {{"oci.session", "sess"}, {"oci.store", "layout"}});
  ASSERT_TRUE(r) << r.error().message();
  auto ok = CopyToEngine(**r, 0);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(*ok, "l1");
  auto bad = CopyToEngine(**r, 2);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kDataLoss);
  EXPECT_EQ(bad.error().message().rfind(
                "content " + amd64_.layers[2].digest.str() + ": digest mismatch", 0),
            0u)
      << bad.error().message();
  EXPECT_EQ(bad.error().message().find(tmp_.path()), std::string::npos);
}

TEST_F(OciLayoutSourceTest, TruncatedLayer) {
  MakeIndexLayout("layout");
  session::testing::TruncateFile(BlobPath(Path("layout"), amd64_.layers[2].digest), 10);
  auto r = Resolve(index_.digest, {{"oci.session", "sess"}, {"oci.store", "layout"}});
  ASSERT_TRUE(r) << r.error().message();
  auto bad = CopyToEngine(**r, 2);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kDataLoss);
  EXPECT_EQ(bad.error().message(), "content " + amd64_.layers[2].digest.str() +
                                       ": size mismatch: expected 50000 bytes, got 10");
}

TEST_F(OciLayoutSourceTest, LayerLimit) {
  MakeIndexLayout("layout");
  auto full = Resolve(index_.digest, {{"oci.session", "sess"}, {"oci.store", "layout"}});
  auto two = Resolve(index_.digest,
                     {{"oci.session", "sess"}, {"oci.store", "layout"}, {"oci.layerlimit", "2"}});
  ASSERT_TRUE(two) << two.error().message();
  EXPECT_EQ((*two)->image().layers.size(), 2u);
  EXPECT_EQ((*two)->image().diff_ids.size(), 2u);
  EXPECT_EQ((*two)->image().chain_ids.size(), 2u);
  EXPECT_EQ((*two)->LayersCacheKey(), (*full)->image().chain_ids[1]);
  EXPECT_NE((*two)->ManifestCacheKey(), (*full)->ManifestCacheKey());

  auto too_many = Resolve(
      index_.digest, {{"oci.session", "sess"}, {"oci.store", "layout"}, {"oci.layerlimit", "4"}});
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().message(),
            "layer limit 4 is greater than the number of layers in the image 3");
}

TEST_F(OciLayoutSourceTest, CacheKeysAsBuildKit) {
  MakeIndexLayout("layout");
  auto r = Resolve(index_.digest, {{"oci.session", "sess"}, {"oci.store", "layout"}});
  ASSERT_TRUE(r);
  // The JSON BuildKit's mainManifestKey marshals.
  EXPECT_EQ((*r)->ManifestCacheKey(), oci::Digest::Sha256Of(R"({"Digest":")" + index_.digest.str() +
                                                            R"(","OS":"linux","Arch":"amd64"})"));
  ASSERT_EQ(amd64_.layers.size(), 3u);
  EXPECT_EQ(
      (*r)->LayersCacheKey(),
      oci::ChainIDs({amd64_.layers[0].digest, amd64_.layers[1].digest, amd64_.layers[2].digest}).back());
  auto limited = Resolve(
      index_.digest, {{"oci.session", "sess"}, {"oci.store", "layout"}, {"oci.layerlimit", "1"}},
      MakePlatform("linux", "arm", "v7"));
  // No arm/v7 manifest in the index.
  ASSERT_FALSE(limited);
  auto arm = Resolve(arm64_.manifest.digest,
                     {{"oci.session", "sess"}, {"oci.store", "layout"}, {"oci.layerlimit", "1"}},
                     MakePlatform("linux", "arm", "v7"));
  ASSERT_TRUE(arm) << arm.error().message();
  EXPECT_EQ((*arm)->ManifestCacheKey(),
            oci::Digest::Sha256Of(R"({"Digest":")" + arm64_.manifest.digest.str() +
                                  R"(","OS":"linux","Arch":"arm","Variant":"v7","Limit":1})"));
  // The key does not depend on the session, store or name.
  ASSERT_TRUE(session_->AttachOciLayout("again", Path("layout")));
  auto other = Resolve(index_.digest, {{"oci.store", "again"}});
  ASSERT_TRUE(other) << other.error().message();
  EXPECT_EQ((*other)->ManifestCacheKey(), (*r)->ManifestCacheKey());
}

TEST_F(OciLayoutSourceTest, Errors) {
  MakeIndexLayout("layout");
  std::map<std::string, std::string> attrs{{"oci.session", "sess"}, {"oci.store", "layout"}};

  auto unknown_store = Resolve(index_.digest, {{"oci.session", "sess"}, {"oci.store", "zzz"}});
  ASSERT_FALSE(unknown_store);
  EXPECT_EQ(unknown_store.error().code(), Code::kNotFound);
  EXPECT_EQ(unknown_store.error().message(), "unknown store oci:zzz");

  oci::Digest absent = oci::Digest::Sha256Of("not in the layout");
  auto missing = Resolve(absent, attrs);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_EQ(missing.error().message(), "content " + absent.str() + ": not found");

  auto neither = Resolve(amd64_.layers[0].digest, attrs);
  ASSERT_FALSE(neither);
  EXPECT_EQ(neither.error().message(), "reference \"docker.io/library/base@" +
                                           amd64_.layers[0].digest.str() +
                                           "\" contains neither an index nor a manifest");

  auto no_match = Resolve(index_.digest, attrs, MakePlatform("linux", "riscv64"));
  ASSERT_FALSE(no_match);
  EXPECT_EQ(no_match.error().message(), "no match for platform in manifest " + index_.digest.str());

  auto no_session = Resolve(index_.digest, {{"oci.session", "gone"}, {"oci.store", "layout"}});
  ASSERT_FALSE(no_session);
  EXPECT_EQ(no_session.error().message(), "no active session for gone: timed out");

  // A missing manifest under an index.
  ASSERT_EQ(unlink(BlobPath(Path("layout"), arm64_.manifest.digest).c_str()), 0);
  auto gone = Resolve(index_.digest, attrs, MakePlatform("linux", "arm64"));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().message(), "content " + arm64_.manifest.digest.str() + ": not found");
}

TEST_F(OciLayoutSourceTest, NoSessionIdTriesTheBuildsSessions) {
  // The store lives in a second session; the op names none.
  auto other = std::make_shared<session::ClientSession>("other", "");
  ASSERT_TRUE(manager_.Register(other));
  auto s = session::testing::CreateLayoutWith(
      Path("o"), [&](content::ContentStore& cs) -> Result<oci::Descriptor> {
        HOIST_ASSIGN_OR_RETURN(
            amd64_, session::testing::WriteTestImage(cs, {"x"}, MakePlatform("linux", "amd64")));
        return amd64_.manifest;
      });
  ASSERT_TRUE(s);
  ASSERT_TRUE(other->AttachOciLayout("st", Path("o")));
  auto r = Resolve(amd64_.manifest.digest, {{"oci.store", "st"}}, MakePlatform("linux", "amd64"),
                   {"sess", "other"});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)->image().manifest_desc.digest, amd64_.manifest.digest);

  auto only_first = Resolve(amd64_.manifest.digest, {{"oci.store", "st"}},
                            MakePlatform("linux", "amd64"), {"sess"});
  ASSERT_FALSE(only_first);
  EXPECT_EQ(only_first.error().message().rfind("unknown store oci:st", 0), 0u);

  auto no_sessions =
      Resolve(amd64_.manifest.digest, {{"oci.store", "st"}}, MakePlatform("linux", "amd64"), {});
  ASSERT_FALSE(no_sessions);
  EXPECT_EQ(no_sessions.error().code(), Code::kNotFound);
  EXPECT_EQ(no_sessions.error().message(),
            "unknown store oci:st (no client session is attached to this build)");
}

TEST_F(OciLayoutSourceTest, ResolvesConfigForTheFrontend) {
  MakeIndexLayout("layout");
  SessionStores stores(&manager_, {"sess"}, 20ms);
  auto cfg = ResolveOciLayoutConfig("docker.io/library/base@" + index_.digest.str(), "sess",
                                    "layout", MakePlatform("linux", "arm64"), stores);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->ref, "docker.io/library/base@" + index_.digest.str());
  EXPECT_EQ(cfg->digest, index_.digest);
  EXPECT_EQ(cfg->config_json, arm64_.config_json);
  auto bad = ResolveOciLayoutConfig("base:1", "sess", "layout", std::nullopt, stores);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "reference \"base:1\" must have digest");
}

TEST_F(OciLayoutSourceTest, TarballStoreByDigest) {
  MakeIndexLayout("layout");
  ASSERT_EQ(session::testing::RunShell("tar -C '" + Path("layout") + "' -cf '" + Path("image.tar") +
                                       "' ."),
            0);
  ASSERT_TRUE(session_->AttachOciLayout("tar", Path("image.tar")));
  auto r = Resolve(index_.digest, {{"oci.session", "sess"}, {"oci.store", "tar"}});
  ASSERT_TRUE(r) << r.error().message();
  auto got = CopyToEngine(**r, 1);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, "l2");
}

}  // namespace
}  // namespace hoist::source
