#include "exporter/image_archive.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "content/local_content_store.h"
#include "content/oci_layout.h"
#include "exporter/attestation.h"
#include "exporter/image_writer.h"
#include "exporter/layer_blob.h"
#include "oci/index.h"
#include "oci/manifest.h"

namespace hoist::exporter {
namespace {

class ImageArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("image-archive-test-");
    ASSERT_TRUE(dir);
    dir_ = std::move(*dir);
    auto store = content::LocalContentStore::Open(PosixFileSystem(), dir_.path() + "/store");
    ASSERT_TRUE(store) << store.error().message();
    store_ = std::move(*store);
    auto layer = WriteLayerBlob(*store_, [](archive::TarWriter& tar) -> Status {
      archive::TarEntry e;
      e.name = "hello.txt";
      e.type = archive::TarEntryType::kRegular;
      e.typeflag = '0';
      e.mode = 0644;
      e.size = 6;
      HOIST_TRY(tar.WriteHeader(e));
      return tar.WriteData("hello\n");
    });
    ASSERT_TRUE(layer) << layer.error().message();
    layer_ = *layer;
    oci::ImageConfig config;
    config.architecture = "amd64";
    config.os = "linux";
    config.rootfs.diff_ids = {layer->diff_id};
    auto manifest = WriteImage(*store_, config, {layer->descriptor});
    ASSERT_TRUE(manifest) << manifest.error().message();
    manifest_ = *manifest;
  }

  std::vector<content::LayoutName> Names(std::vector<std::string> in) {
    std::vector<content::LayoutName> out;
    for (const auto& s : in) out.push_back(*content::LayoutName::Parse(s));
    return out;
  }

  std::string Archive(const ArchiveOptions& options) {
    std::string bytes;
    archive::StringByteSink sink(&bytes);
    auto st = WriteImageArchive(*store_, manifest_, options, &sink);
    EXPECT_TRUE(st) << st.error().message();
    return bytes;
  }

  TempDir dir_;
  std::unique_ptr<content::LocalContentStore> store_;
  LayerBlob layer_;
  oci::Descriptor manifest_;
};

TEST_F(ImageArchiveTest, OciTarballIsALayoutWithOneEntryPerName) {
  const std::string bytes =
      Archive({.names = Names({"example.com/org/app:1.0", "example.com/org/app:stable"})});
  WriteTestFile(dir_.path() + "/out.tar", bytes);
  auto layout = content::OciLayout::OpenTarball(PosixFileSystem(), dir_.path() + "/out.tar");
  ASSERT_TRUE(layout) << layout.error().message();
  auto index = (*layout)->ReadIndex();
  ASSERT_TRUE(index) << index.error().message();
  EXPECT_EQ(index->schema_version, 2);
  EXPECT_EQ(index->media_type, "application/vnd.oci.image.index.v1+json");
  ASSERT_EQ(index->manifests.size(), 2u);
  EXPECT_EQ(index->manifests[0].digest, manifest_.digest);
  EXPECT_EQ(index->manifests[0].annotations.at("io.containerd.image.name"),
            "example.com/org/app:1.0");
  EXPECT_EQ(index->manifests[0].annotations.at("org.opencontainers.image.ref.name"), "1.0");
  EXPECT_EQ(index->manifests[1].annotations.at("org.opencontainers.image.ref.name"), "stable");
  auto verify = (*layout)->Verify(1);
  ASSERT_TRUE(verify);
  EXPECT_TRUE(verify->ok());
  EXPECT_EQ(bytes.find("manifest.json"), std::string::npos);
}

TEST_F(ImageArchiveTest, SameImageGivesSameBytes) {
  EXPECT_EQ(Archive({.names = Names({"app:1"})}), Archive({.names = Names({"app:1"})}));
}

TEST_F(ImageArchiveTest, NoNamesTagsLatest) {
  WriteTestFile(dir_.path() + "/out.tar", Archive({}));
  auto layout = content::OciLayout::OpenTarball(PosixFileSystem(), dir_.path() + "/out.tar");
  ASSERT_TRUE(layout);
  auto index = (*layout)->ReadIndex();
  ASSERT_TRUE(index);
  ASSERT_EQ(index->manifests.size(), 1u);
  EXPECT_EQ(index->manifests[0].annotations.at("org.opencontainers.image.ref.name"), "latest");
  EXPECT_FALSE(index->manifests[0].annotations.contains("io.containerd.image.name"));
}

TEST_F(ImageArchiveTest, DockerTarballAddsManifestJsonWithFamiliarRepoTags) {
  const std::string bytes = Archive(
      {.format = ArchiveFormat::kDocker, .names = Names({"app:1", "example.com/x/y:2"})});
  // manifest.json is the last entry by name after index.json; find its body.
  const size_t at = bytes.find("[{\"Config\":");
  ASSERT_NE(at, std::string::npos);
  auto json = nlohmann::json::parse(bytes.substr(at, bytes.find('\0', at) - at));
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["RepoTags"], nlohmann::json({"app:1", "example.com/x/y:2"}));
  ASSERT_EQ(json[0]["Layers"].size(), 1u);
  EXPECT_EQ(json[0]["Layers"][0], "blobs/sha256/" + std::string(layer_.descriptor.digest.encoded()));
}

TEST_F(ImageArchiveTest, DockerTakesOneImageWithAttestationsAndRefusesAnIndex) {
  auto archive_of = [&](const std::vector<oci::Descriptor>& manifests, std::string* bytes) {
    oci::Index index;
    index.media_type = "application/vnd.oci.image.index.v1+json";
    index.manifests = manifests;
    auto info = content::WriteBlob(*store_, oci::SerializeIndex(index));
    EXPECT_TRUE(info);
    oci::Descriptor root{.media_type = "application/vnd.oci.image.index.v1+json",
                         .digest = info->digest,
                         .size = info->size};
    archive::StringByteSink sink(bytes);
    return WriteImageArchive(*store_, root, {.format = ArchiveFormat::kDocker, .names = Names({"app:1"})},
                             &sink);
  };
  // One image and its attestation manifest: manifest.json names the image.
  auto att = WriteAttestationManifest(*store_, manifest_, {{"https://spdx.dev/Document", "{}"}});
  ASSERT_TRUE(att) << att.error().message();
  std::string bytes;
  auto st = archive_of({manifest_, *att}, &bytes);
  ASSERT_TRUE(st) << st.error().message();
  const size_t at = bytes.find("[{\"Config\":");
  ASSERT_NE(at, std::string::npos);
  auto mj = nlohmann::json::parse(bytes.substr(at, bytes.find('\0', at) - at));
  ASSERT_EQ(mj.size(), 1u);
  auto m = oci::ParseManifest(*content::ReadBlob(*store_, manifest_));
  ASSERT_TRUE(m);
  EXPECT_EQ(mj[0]["Config"], "blobs/sha256/" + std::string(m->config.digest.encoded()));
  EXPECT_EQ(mj[0]["RepoTags"], nlohmann::json::array({"app:1"}));
  // Two runnable images are a manifest list Docker cannot load.
  bytes.clear();
  st = archive_of({manifest_, manifest_}, &bytes);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(),
            "docker exporter does not support exporting manifest lists, use the oci exporter");
}

TEST_F(ImageArchiveTest, MissingBlobIsNamed) {
  ASSERT_TRUE(store_->Delete(layer_.descriptor.digest));
  std::string bytes;
  archive::StringByteSink sink(&bytes);
  auto st = WriteImageArchive(*store_, manifest_, {}, &sink);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find(layer_.descriptor.digest.str()), std::string::npos)
      << st.error().message();
}

TEST_F(ImageArchiveTest, LayoutDirectoryAccumulatesAndReplacesByName) {
  // What a layout output gets: the image copied into the layout, then named in its index.
  const std::string dir = dir_.path() + "/layout";
  auto layout = content::OciLayout::CreateOrOpen(PosixFileSystem(), dir);
  ASSERT_TRUE(layout);
  ASSERT_TRUE(content::CopyImage(*store_, (*layout)->store(), manifest_));
  ASSERT_TRUE((*layout)->Put(manifest_, Names({"org/app:1", "org/app:2"})));
  ASSERT_TRUE(content::CopyImage(*store_, (*layout)->store(), manifest_));
  ASSERT_TRUE((*layout)->Put(manifest_, Names({"org/app:2"})));
  auto index = (*layout)->ReadIndex();
  ASSERT_TRUE(index);
  ASSERT_EQ(index->manifests.size(), 2u);
  EXPECT_EQ(index->manifests[0].annotations.at("io.containerd.image.name"),
            "docker.io/org/app:1");
  EXPECT_EQ(ReadTestFile(dir + "/oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
  // The directory holds the very bytes the tarball holds.
  const std::string tar = Archive({.names = Names({"org/app:1"})});
  const std::string blob =
      ReadTestFile(dir + "/blobs/sha256/" + std::string(layer_.descriptor.digest.encoded()));
  EXPECT_NE(tar.find(blob), std::string::npos);
}

TEST(FamiliarNameTest, DropsDefaultRegistryAndLibrary) {
  EXPECT_EQ(FamiliarName("docker.io/library/app:1"), "app:1");
  EXPECT_EQ(FamiliarName("docker.io/org/app:1"), "org/app:1");
  EXPECT_EQ(FamiliarName("docker.io/library/a/b:1"), "library/a/b:1");
  EXPECT_EQ(FamiliarName("example.com/library/app:1"), "example.com/library/app:1");
}

}  // namespace
}  // namespace hoist::exporter
