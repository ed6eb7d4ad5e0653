// OciLayout, image resolution and layout references, on real temp dirs and a fault-injecting
// file system.
#include "content/oci_layout.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/atomic_file.h"
#include "base/temp_dir.h"
#include "base/testing/fault_file_system.h"
#include "content/image_resolver.h"
#include "content/layout_ref.h"
#include "oci/image_config.h"
#include "oci/index.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::content {
namespace {

using oci::Descriptor;
using oci::Digest;

// Writes an image (config + one layer + manifest) into `store`; returns the manifest descriptor.
Descriptor PutImage(ContentStore& store, const std::string& arch, const std::string& variant = "",
                    const std::string& env = "A=1") {
  std::string layer = "layer for " + arch + variant;
  auto layer_info = WriteBlob(store, layer);
  EXPECT_TRUE(layer_info);
  std::string config = R"({"architecture":")" + arch + R"(","os":"linux")" +
                       (variant.empty() ? "" : R"(,"variant":")" + variant + "\"") +
                       R"(,"config":{"Env":[")" + env + R"("]},"rootfs":{"type":"layers","diff_ids":[")" +
                       Digest::Sha256Of(layer).str() + R"("]}})";
  auto config_info = WriteBlob(store, config);
  EXPECT_TRUE(config_info);
  oci::Manifest m;
  m.media_type = std::string(oci::kMediaTypeImageManifest);
  m.config.media_type = std::string(oci::kMediaTypeImageConfig);
  m.config.digest = config_info->digest;
  m.config.size = config_info->size;
  Descriptor l;
  l.media_type = std::string(oci::kMediaTypeImageLayer);
  l.digest = layer_info->digest;
  l.size = layer_info->size;
  m.layers.push_back(l);
  std::string mj = oci::SerializeManifest(m);
  auto mi = WriteBlob(store, mj);
  EXPECT_TRUE(mi);
  Descriptor d;
  d.media_type = std::string(oci::kMediaTypeImageManifest);
  d.digest = mi->digest;
  d.size = mi->size;
  return d;
}

Descriptor PutIndex(ContentStore& store, const std::vector<std::pair<Descriptor, oci::Platform>>& ms) {
  oci::Index index;
  index.media_type = std::string(oci::kMediaTypeImageIndex);
  for (auto [d, p] : ms) {
    d.platform = p;
    index.manifests.push_back(d);
  }
  std::string j = oci::SerializeIndex(index);
  auto info = WriteBlob(store, j);
  EXPECT_TRUE(info);
  Descriptor d;
  d.media_type = std::string(oci::kMediaTypeImageIndex);
  d.digest = info->digest;
  d.size = info->size;
  return d;
}

oci::Platform P(const std::string& os, const std::string& arch, const std::string& variant = "") {
  oci::Platform p;
  p.os = os;
  p.architecture = arch;
  p.variant = variant;
  return p;
}

class OciLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("hoist-layout-test-");
    ASSERT_TRUE(d);
    dir_ = std::move(*d);
    path_ = dir_.path() + "/layout";
    auto l = OciLayout::CreateOrOpen(PosixFileSystem(), path_);
    ASSERT_TRUE(l) << l.error().message();
    layout_ = std::move(*l);
  }
  std::string Read(const std::string& rel) { return *PosixFileSystem()->ReadFile(path_ + "/" + rel); }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<OciLayout> layout_;
};

TEST_F(OciLayoutTest, CreateWritesLayoutFileAndEmptyIndex) {
  EXPECT_EQ(Read("oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");
  auto index = oci::ParseIndex(Read("index.json"));
  ASSERT_TRUE(index);
  EXPECT_EQ(index->media_type, oci::kMediaTypeImageIndex);
  EXPECT_TRUE(index->manifests.empty());
}

TEST_F(OciLayoutTest, PutReplacesSameNameAndKeepsOthers) {
  Descriptor a = PutImage(layout_->store(), "amd64");
  Descriptor b = PutImage(layout_->store(), "arm64");
  auto n1 = LayoutName::Parse("org/app:1.0");
  auto n2 = LayoutName::Parse("org/app:2.0");
  ASSERT_TRUE(n1 && n2);
  EXPECT_EQ(n1->image_name, "docker.io/org/app:1.0");
  EXPECT_EQ(n1->ref_name, "1.0");
  ASSERT_TRUE(layout_->Put(a, {*n1, *n2}));
  ASSERT_TRUE(layout_->Put(b, {*n2}));  // replaces 2.0 only
  auto index = layout_->ReadIndex();
  ASSERT_TRUE(index);
  ASSERT_EQ(index->manifests.size(), 2u);
  EXPECT_EQ(index->manifests[0].digest, a.digest);
  EXPECT_EQ(index->manifests[0].annotations.at(std::string(kAnnotationRefName)), "1.0");
  EXPECT_EQ(index->manifests[1].digest, b.digest);
  EXPECT_EQ(index->manifests[1].annotations.at(std::string(kAnnotationImageName)),
            "docker.io/org/app:2.0");
  // A bare tag does not replace a full name with the same ref name (BuildKit's rule: both
  // annotations must match).
  ASSERT_TRUE(layout_->Put(b, {LayoutName{"", "1.0"}}));
  EXPECT_EQ(layout_->ReadIndex()->manifests.size(), 3u);
  // No names at all: tagged latest.
  ASSERT_TRUE(layout_->Put(a, {}));
  auto latest = layout_->FindTag("latest");
  ASSERT_TRUE(latest && *latest);
  EXPECT_EQ((*latest)->digest, a.digest);
  EXPECT_FALSE(std::filesystem::exists(path_ + "/index.json.lock"));
}

TEST_F(OciLayoutTest, FindTagOrder) {
  Descriptor a = PutImage(layout_->store(), "amd64");
  Descriptor b = PutImage(layout_->store(), "arm64");
  ASSERT_TRUE(layout_->Put(a, {LayoutName{"", "docker.io/library/x:1"}}));  // ref name only
  ASSERT_TRUE(layout_->Put(b, {*LayoutName::Parse("x:1")}));
  // The image-name annotation wins over an equal ref name.
  auto found = layout_->FindTag("docker.io/library/x:1");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->digest, b.digest);
  // A familiar name matches the normalised image name.
  found = layout_->FindTag("x:1");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->digest, b.digest);
  found = layout_->FindTag("1");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->digest, b.digest);
  auto none = layout_->FindTag("2");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

TEST_F(OciLayoutTest, ResolveTagSingleFallback) {
  Descriptor a = PutImage(layout_->store(), "amd64");
  ASSERT_TRUE(layout_->Put(a, {LayoutName{"", "v1"}}));
  EXPECT_EQ(layout_->ResolveTag("latest", true)->digest, a.digest);
  auto r = layout_->ResolveTag("latest", false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_NE(r.error().message().find("no image tagged \"latest\""), std::string::npos);
  ASSERT_TRUE(layout_->Put(a, {LayoutName{"", "v2"}}));
  EXPECT_FALSE(layout_->ResolveTag("latest", true));  // two entries: no fallback
}

TEST_F(OciLayoutTest, ResolveDigestSniffsBlobsOutsideTheIndex) {
  Descriptor a = PutImage(layout_->store(), "amd64");
  auto d = layout_->ResolveDigest(a.digest);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->media_type, oci::kMediaTypeImageManifest);
  EXPECT_EQ(d->size, a.size);
  auto missing = layout_->ResolveDigest(Digest::Sha256Of("nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(), "content " + Digest::Sha256Of("nope").str() + ": not found");
}

TEST_F(OciLayoutTest, UntagAndGc) {
  Descriptor a = PutImage(layout_->store(), "amd64");
  Descriptor b = PutImage(layout_->store(), "arm64");
  ASSERT_TRUE(layout_->Put(a, {LayoutName{"", "a"}}));
  ASSERT_TRUE(layout_->Put(b, {LayoutName{"", "b"}}));
  auto gc = layout_->CollectGarbage(false);
  ASSERT_TRUE(gc);
  EXPECT_TRUE(gc->removed.empty());
  ASSERT_TRUE(layout_->Untag("b"));
  EXPECT_EQ(layout_->Untag("b").error().code(), Code::kNotFound);
  gc = layout_->CollectGarbage(/*dry_run=*/true);
  ASSERT_TRUE(gc);
  EXPECT_EQ(gc->removed.size(), 3u);  // b's manifest, config and layer
  EXPECT_TRUE(layout_->store().Info(b.digest));
  gc = layout_->CollectGarbage(false);
  ASSERT_TRUE(gc);
  EXPECT_EQ(gc->removed.size(), 3u);
  EXPECT_FALSE(layout_->store().Info(b.digest));
  auto v = layout_->Verify(2);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->ok());
  EXPECT_EQ(v->blobs, 3);
}

TEST_F(OciLayoutTest, UntagByBareTagOrFullName) {
  Descriptor a = PutImage(layout_->store(), "amd64");
  ASSERT_TRUE(layout_->Put(a, {*LayoutName::Parse("org/a:v1"), *LayoutName::Parse("org/b:v1"),
                               *LayoutName::Parse("org/a:v2")}));
  ASSERT_TRUE(layout_->Untag("org/a:v2"));  // familiar name, normalised
  EXPECT_EQ(layout_->ReadIndex()->manifests.size(), 2u);
  ASSERT_TRUE(layout_->Untag("v1"));  // every entry tagged v1
  EXPECT_TRUE(layout_->ReadIndex()->manifests.empty());
}

TEST_F(OciLayoutTest, GcRefusesWhenAManifestIsUnreadable) {
  Descriptor a = PutImage(layout_->store(), "amd64");
  ASSERT_TRUE(layout_->Put(a, {LayoutName{"", "a"}}));
  ASSERT_TRUE(layout_->store().Delete(a.digest));
  auto gc = layout_->CollectGarbage(false);
  ASSERT_FALSE(gc);
  EXPECT_NE(gc.error().message().find("refusing to collect garbage"), std::string::npos);
}

TEST_F(OciLayoutTest, ReadOnlyOpenRefusesWritesAndTouchesNothing) {
  Descriptor a = PutImage(layout_->store(), "amd64");
  ASSERT_TRUE(layout_->Put(a, {LayoutName{"", "a"}}));
  FaultInjectingFileSystem counting(PosixFileSystem());
  auto ro = OciLayout::OpenDirectory(&counting, path_, /*read_only=*/true);
  ASSERT_TRUE(ro) << ro.error().message();
  EXPECT_TRUE((*ro)->ResolveTag("a", false));
  EXPECT_TRUE((*ro)->Verify(2));
  EXPECT_EQ((*ro)->Put(a, {LayoutName{"", "b"}}).error().code(), Code::kPermissionDenied);
  EXPECT_EQ((*ro)->CollectGarbage(false).error().code(), Code::kPermissionDenied);
  EXPECT_EQ(counting.mutating_ops(), 0) << "a read-only layout performed a mutating operation";
}

TEST_F(OciLayoutTest, CreateOrOpenRefusesForeignDirectories) {
  std::string other = dir_.path() + "/other";
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(other));
  ASSERT_TRUE(WriteFileAtomic(PosixFileSystem(), other + "/notes.txt", "mine"));
  auto l = OciLayout::CreateOrOpen(PosixFileSystem(), other);
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().message().find("not an OCI image layout"), std::string::npos);
  EXPECT_EQ(PosixFileSystem()->ListDir(other)->size(), 1u);
}

// A crash at any step of Put leaves index.json either as it was or fully updated.
// Blobs added to a layout sync their data at once and their directory once, just before the
// index.json that refers to them is written.
TEST_F(OciLayoutTest, NewBlobsNamesAreSyncedOnceBeforeTheIndex) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto l = OciLayout::OpenDirectory(&fs, path_, false);
  ASSERT_TRUE(l);
  fs.ResetCount();
  Descriptor a = PutImage((*l)->store(), "amd64");  // three blobs
  int syncs = 0, dir_syncs = 0;
  for (const std::string& op : fs.op_log()) {
    syncs += op.find(" sync ") != std::string::npos;
    dir_syncs += op.find(" syncdir ") != std::string::npos;
  }
  EXPECT_EQ(syncs, 3);
  EXPECT_EQ(dir_syncs, 0);
  fs.ResetCount();
  ASSERT_TRUE((*l)->Put(a, {LayoutName{"", "v1"}}));
  std::vector<std::string> log = fs.op_log();
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log[0].find(" syncdir " + path_ + "/blobs/sha256"), std::string::npos) << log[0];
  dir_syncs = 0;
  for (const std::string& op : log) {
    dir_syncs += op.find(" syncdir " + path_ + "/blobs") != std::string::npos;
  }
  EXPECT_EQ(dir_syncs, 2);  // blobs/sha256, and blobs, which got it as a new name
  // Nothing new, nothing to sync.
  fs.ResetCount();
  ASSERT_TRUE((*l)->Put(a, {LayoutName{"", "v2"}}));
  for (const std::string& op : fs.op_log()) {
    EXPECT_EQ(op.find(" syncdir " + path_ + "/blobs"), std::string::npos) << op;
  }
}

// A directory sync that fails keeps the index unwritten, and is tried again by the next update.
TEST_F(OciLayoutTest, AFailedBlobDirectorySyncFailsThePutAndIsRetried) {
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto l = OciLayout::OpenDirectory(&fs, path_, false);
  ASSERT_TRUE(l);
  Descriptor a = PutImage((*l)->store(), "amd64");
  std::string before = Read("index.json");
  fs.ResetCount();
  fs.FailAt(0, FaultKind::kIoError);
  auto st = (*l)->Put(a, {LayoutName{"", "v1"}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kDataLoss);
  EXPECT_EQ(st.error().message().find(path_), std::string::npos) << st.error().message();
  EXPECT_EQ(Read("index.json"), before);
  fs.ResetCount();
  ASSERT_TRUE((*l)->Put(a, {LayoutName{"", "v1"}}));
  ASSERT_FALSE(fs.op_log().empty());
  EXPECT_NE(fs.op_log()[0].find(" syncdir " + path_ + "/blobs/sha256"), std::string::npos)
      << fs.op_log()[0];
}

TEST_F(OciLayoutTest, PutIsAtomicUnderCrashes) {
  Descriptor a = PutImage(layout_->store(), "amd64");
  ASSERT_TRUE(layout_->Put(a, {LayoutName{"", "old"}}));
  std::string before = Read("index.json");
  int64_t ops = 0;
  {
    FaultInjectingFileSystem fs(PosixFileSystem());
    auto l = OciLayout::OpenDirectory(&fs, path_, false);
    ASSERT_TRUE(l);
    fs.ResetCount();
    ASSERT_TRUE((*l)->Put(a, {LayoutName{"", "probe"}}));
    ops = fs.mutating_ops();
    ASSERT_TRUE((*l)->Untag("probe"));
  }
  ASSERT_GT(ops, 2);
  for (int64_t n = 0; n < ops; ++n) {
    FaultInjectingFileSystem fs(PosixFileSystem());
    auto l = OciLayout::OpenDirectory(&fs, path_, false);
    ASSERT_TRUE(l);
    fs.ResetCount();
    fs.CrashAt(n);
    Status st = (*l)->Put(a, {LayoutName{"", "new"}});
    std::string after = Read("index.json");
    auto index = oci::ParseIndex(after);
    ASSERT_TRUE(index) << "crash at op " << n << " left an unreadable index.json";
    bool has_new = false;
    for (const auto& m : index->manifests) {
      has_new |= m.annotations.count(std::string(kAnnotationRefName)) &&
                 m.annotations.at(std::string(kAnnotationRefName)) == "new";
    }
    if (!st) {
      EXPECT_TRUE(after == before || has_new) << "op " << n;
    }
    if (has_new) {
      ASSERT_TRUE(layout_->Untag("new"));
    }
    EXPECT_EQ(Read("index.json"), before);
    // No temporary files are left visible as index.json.
    auto names = PosixFileSystem()->ListDir(path_);
    ASSERT_TRUE(names);
    for (const auto& name : *names) {
      EXPECT_TRUE(name == "oci-layout" || name == "index.json" || name == "blobs" ||
                  name == "ingest" || name[0] == '.')
          << name;
    }
  }
}

TEST(LayoutNameTest, Parse) {
  EXPECT_EQ(LayoutName::Parse("v1")->ref_name, "v1");
  EXPECT_EQ(LayoutName::Parse("v1")->image_name, "");
  EXPECT_EQ(LayoutName::Parse("busybox")->ref_name, "busybox");  // a bare word is a tag
  EXPECT_EQ(LayoutName::Parse("org/app")->image_name, "docker.io/org/app:latest");
  EXPECT_EQ(LayoutName::Parse("registry.example.com:5000/app:9")->ref_name, "9");
  EXPECT_FALSE(LayoutName::Parse("Org/App:1"));
  EXPECT_FALSE(LayoutName::Parse(""));
  EXPECT_FALSE(LayoutName::Parse("bad tag"));
}

TEST(LayoutRefTest, SplitsFromTheRight) {
  std::string d = Digest::Sha256Of("x").str();
  auto r = ParseLayoutRef("/srv/images/busybox:1.36");
  EXPECT_EQ(r.path, "/srv/images/busybox");
  EXPECT_EQ(r.tag, "1.36");
  EXPECT_FALSE(r.digest.valid());
  r = ParseLayoutRef("/srv/a:b/dir@x:1.0@" + d);
  EXPECT_EQ(r.path, "/srv/a:b/dir@x");
  EXPECT_EQ(r.tag, "1.0");
  EXPECT_EQ(r.digest.str(), d);
  r = ParseLayoutRef("./dir:not/a/tag");
  EXPECT_EQ(r.path, "./dir:not/a/tag");
  EXPECT_EQ(r.tag, "");
  // Not a valid digest, so the '@' stays in the path and ":short" is a tag.
  r = ParseLayoutRef("dir@sha256:short");
  EXPECT_EQ(r.path, "dir@sha256");
  EXPECT_EQ(r.tag, "short");
  EXPECT_FALSE(r.digest.valid());
  EXPECT_TRUE(IsValidTag("v1.0-rc_1"));
  EXPECT_FALSE(IsValidTag(".hidden"));
  EXPECT_FALSE(IsValidTag(std::string(129, 'a')));
}

class ResolveImageTest : public OciLayoutTest {};

TEST_F(ResolveImageTest, PicksPlatformFromIndex) {
  ContentStore& s = layout_->store();
  Descriptor amd = PutImage(s, "amd64", "", "WHO=amd64");
  Descriptor arm = PutImage(s, "arm64", "v8", "WHO=arm64");
  Descriptor armv6 = PutImage(s, "arm", "v6", "WHO=armv6");
  Descriptor att = PutImage(s, "unknown", "", "WHO=attestation");
  Descriptor idx = PutIndex(s, {{att, P("unknown", "unknown")},
                                {amd, P("linux", "amd64")},
                                {arm, P("linux", "arm64", "v8")},
                                {armv6, P("linux", "arm", "v6")}});
  auto r = ResolveImage(s, idx, P("linux", "arm64"), "x");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->manifest_desc.digest, arm.digest);
  EXPECT_EQ(r->config.config.env[0], "WHO=arm64");
  // arm/v7 runs v6.
  r = ResolveImage(s, idx, P("linux", "arm", "v7"), "x");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->manifest_desc.digest, armv6.digest);
  // Nothing for s390x; attestations never match.
  r = ResolveImage(s, idx, P("linux", "s390x"), "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "no match for platform in manifest " + idx.digest.str());
  r = ResolveImage(s, idx, P("unknown", "unknown"), "x");
  ASSERT_FALSE(r);
  // A single manifest is used whatever the platform.
  r = ResolveImage(s, arm, P("linux", "s390x"), "x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->manifest_desc.digest, arm.digest);
  auto platforms = ImagePlatforms(s, idx);
  ASSERT_TRUE(platforms);
  EXPECT_EQ(platforms->size(), 3u);
}

TEST_F(ResolveImageTest, EntriesWithoutPlatformAreJudgedByConfigAndNestedIndexesAreSearched) {
  ContentStore& s = layout_->store();
  Descriptor amd = PutImage(s, "amd64");
  Descriptor arm = PutImage(s, "arm64", "v8");
  // An index whose entries carry no platform, nested in another index.
  oci::Index inner;
  inner.media_type = std::string(oci::kMediaTypeImageIndex);
  inner.manifests = {amd, arm};
  auto inner_info = WriteBlob(s, oci::SerializeIndex(inner));
  ASSERT_TRUE(inner_info);
  Descriptor inner_desc;
  inner_desc.media_type = std::string(oci::kMediaTypeImageIndex);
  inner_desc.digest = inner_info->digest;
  inner_desc.size = inner_info->size;
  oci::Index outer;
  outer.media_type = std::string(oci::kMediaTypeImageIndex);
  outer.manifests = {inner_desc};
  auto outer_info = WriteBlob(s, oci::SerializeIndex(outer));
  Descriptor root;
  root.digest = outer_info->digest;  // no media type: sniffed
  root.size = outer_info->size;
  auto r = ResolveImage(s, root, P("linux", "arm64"), "x");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->manifest_desc.digest, arm.digest);
  EXPECT_EQ(r->root.media_type, oci::kMediaTypeImageIndex);
}

TEST_F(ResolveImageTest, NeitherIndexNorManifest) {
  ContentStore& s = layout_->store();
  auto info = WriteBlob(s, R"({"architecture":"amd64","os":"linux"})");
  Descriptor d;
  d.digest = info->digest;
  d.size = info->size;
  auto r = ResolveImage(s, d, std::nullopt, "docker.io/library/base@" + d.digest.str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "reference \"docker.io/library/base@" + d.digest.str() +
                                     "\" contains neither an index nor a manifest");
  Descriptor missing;
  missing.digest = Digest::Sha256Of("gone");
  missing.size = 4;
  r = ResolveImage(s, missing, std::nullopt, "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "content " + missing.digest.str() + ": not found");
}

}  // namespace
}  // namespace hoist::content
