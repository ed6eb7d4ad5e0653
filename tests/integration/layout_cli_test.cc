// `hoist layout` end to end: real layouts made by our fixture script, by skopeo and by umoci,
// the go-containerregistry layouts in the shared corpora, and hostile inputs.
#include <sys/mount.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <thread>

#include "harness.h"

namespace hoist::itest {
namespace {

using nlohmann::json;

std::string GgcrLayout(const std::string& name) {
  return Corpora("google-go-containerregistry/pkg/v1/layout/testdata/" + name);
}

json ParseOrFail(const std::string& s) {
  auto j = json::parse(s, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << s;
  return j;
}

// The blob path of a digest inside a layout directory.
std::string BlobPath(const std::string& layout, const std::string& digest) {
  return layout + "/blobs/sha256/" + digest.substr(7);
}

class LayoutCli : public ::testing::Test {
 protected:
  void SetUp() override {
    layout_ = scratch_ / "layout";
    digest_ = MakeBaseImage(layout_);
    ASSERT_EQ(digest_.size(), 71u);
  }
  Scratch scratch_;
  std::string layout_;
  std::string digest_;
};

TEST_F(LayoutCli, ListShowsNameDigestPlatformAndSize) {
  RunResult r = Hoist("layout ls " + Quote(layout_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("NAME"), std::string::npos);
  EXPECT_NE(r.out.find("docker.io/library/busybox:1.36"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(digest_), std::string::npos);
  EXPECT_NE(r.out.find("linux/amd64"), std::string::npos) << r.out;

  r = Hoist("layout ls --format json " + Quote(layout_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = ParseOrFail(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["digest"], digest_);
  EXPECT_EQ(j[0]["tag"], "1.36");
  EXPECT_EQ(j[0]["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_GT(j[0]["size"].get<int64_t>(), 500000);  // busybox-static is about 1-2 MB
}

TEST_F(LayoutCli, InspectByTagDigestAndTarball) {
  RunResult r = Hoist("layout inspect " + Quote(layout_ + ":1.36"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = ParseOrFail(r.out);
  EXPECT_EQ(j["descriptor"]["digest"], digest_);
  EXPECT_EQ(j["config"]["config"]["Cmd"][0], "sh");
  EXPECT_EQ(j["manifest"]["layers"].size(), 1u);
  EXPECT_EQ(j["platform"], "linux/amd64");

  r = Hoist("layout inspect " + Quote(layout_ + "@" + digest_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseOrFail(r.out)["descriptor"]["digest"], digest_);

  std::string tar = scratch_ / "image.tar";
  EXPECT_EQ(MakeBaseImage(tar, "busybox:1.36", /*tar=*/true), digest_);
  r = Hoist("layout inspect " + Quote(tar + ":1.36"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseOrFail(r.out)["descriptor"]["digest"], digest_);
  r = Hoist("layout verify " + Quote(tar));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 blobs verified"), std::string::npos) << r.out;

  // Symlinks to a tarball or a layout directory are followed.
  ASSERT_EQ(Sh("ln -s " + Quote(tar) + " " + Quote(scratch_ / "link.tar") + " && ln -s " +
               Quote(layout_) + " " + Quote(scratch_ / "link-dir")).exit_code, 0);
  EXPECT_EQ(Hoist("layout inspect " + Quote(scratch_ / "link.tar") + ":1.36").exit_code, 0);
  EXPECT_EQ(Hoist("layout inspect " + Quote(scratch_ / "link-dir") + ":1.36").exit_code, 0);

  r = Hoist("layout inspect " + Quote(layout_ + ":nope"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no image tagged \"nope\""), std::string::npos) << r.err;
}

TEST_F(LayoutCli, VerifyNamesCorruptAndMissingBlobs) {
  RunResult r = Hoist("layout verify " + Quote(layout_));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  json manifest = ParseOrFail(ReadFileOrEmpty(BlobPath(layout_, digest_)));
  std::string layer = manifest["layers"][0]["digest"];
  std::string config = manifest["config"]["digest"];
  // Flip one byte of the layer and delete the config.
  std::string bytes = ReadFileOrEmpty(BlobPath(layout_, layer));
  bytes[bytes.size() / 2] ^= 0x5a;
  WriteFile(BlobPath(layout_, layer), bytes);
  ASSERT_EQ(std::remove(BlobPath(layout_, config).c_str()), 0);
  auto before = TreeDigest(layout_);

  r = Hoist("layout verify " + Quote(layout_));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find(layer + ": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("digest mismatch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(config + ": missing"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("2 problem(s)"), std::string::npos) << r.err;
  EXPECT_EQ(TreeDigest(layout_), before) << "verify modified the layout";
}

TEST_F(LayoutCli, GcRemovesOnlyUnreachableBlobs) {
  WriteFile(scratch_ / "junk", "unreferenced blob");
  std::string junk_digest =
      "sha256:" + Sh("sha256sum " + Quote(scratch_ / "junk") + " | cut -d' ' -f1").out.substr(0, 64);
  ASSERT_EQ(Sh("cp " + Quote(scratch_ / "junk") + " " + Quote(BlobPath(layout_, junk_digest))).exit_code, 0);
  auto before = TreeDigest(layout_);

  RunResult r = Hoist("layout gc --dry-run " + Quote(layout_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("would remove " + junk_digest), std::string::npos) << r.out;
  EXPECT_EQ(TreeDigest(layout_), before);

  r = Hoist("layout gc " + Quote(layout_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("removed " + junk_digest), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(BlobPath(layout_, junk_digest)));
  EXPECT_EQ(Hoist("layout verify " + Quote(layout_)).exit_code, 0);
  EXPECT_EQ(TreeDigest(layout_).size(), before.size() - 1);
}

TEST_F(LayoutCli, TagUntagAndPeersSeeTheNames) {
  ASSERT_EQ(Hoist("layout tag " + Quote(layout_) + " 1.36 v2").exit_code, 0);
  RunResult r = Hoist("layout tag " + Quote(layout_) + " @" + digest_ + " example.com/org/app:v3");
  ASSERT_EQ(r.exit_code, 0) << r.err;

  json index = ParseOrFail(ReadFileOrEmpty(layout_ + "/index.json"));
  EXPECT_EQ(index["schemaVersion"], 2);
  EXPECT_EQ(index["mediaType"], "application/vnd.oci.image.index.v1+json");
  ASSERT_EQ(index["manifests"].size(), 3u);
  EXPECT_EQ(index["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"], "v2");
  EXPECT_FALSE(index["manifests"][1]["annotations"].contains("io.containerd.image.name"));
  EXPECT_EQ(index["manifests"][2]["annotations"]["io.containerd.image.name"],
            "example.com/org/app:v3");
  EXPECT_EQ(index["manifests"][2]["annotations"]["org.opencontainers.image.ref.name"], "v3");

  // Tagging again with the same name replaces the entry; others are kept.
  ASSERT_EQ(Hoist("layout tag " + Quote(layout_) + " 1.36 v2").exit_code, 0);
  index = ParseOrFail(ReadFileOrEmpty(layout_ + "/index.json"));
  EXPECT_EQ(index["manifests"].size(), 3u);

  r = Sh("skopeo inspect " + Quote("oci:" + layout_ + ":v2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseOrFail(r.out)["Digest"], digest_);
  r = Sh("umoci ls --layout " + Quote(layout_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("v2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("v3"), std::string::npos) << r.out;

  ASSERT_EQ(Hoist("layout untag " + Quote(layout_) + " v2").exit_code, 0);
  r = Hoist("layout untag " + Quote(layout_) + " v2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no image tagged \"v2\""), std::string::npos) << r.err;
  index = ParseOrFail(ReadFileOrEmpty(layout_ + "/index.json"));
  EXPECT_EQ(index["manifests"].size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(layout_ + "/index.json.lock"));
}

TEST_F(LayoutCli, ConcurrentTaggersAllLand) {
  constexpr int kWriters = 16;
  std::vector<std::thread> threads;
  std::vector<int> codes(kWriters, -1);
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      codes[i] = Hoist("layout tag " + Quote(layout_) + " 1.36 t" + std::to_string(i)).exit_code;
    });
  }
  for (auto& t : threads) t.join();
  for (int c : codes) EXPECT_EQ(c, 0);
  json index = ParseOrFail(ReadFileOrEmpty(layout_ + "/index.json"));
  EXPECT_EQ(index["manifests"].size(), static_cast<size_t>(kWriters + 1));
}

TEST_F(LayoutCli, CopyTarballIntoNewLayoutThatPeersAccept) {
  std::string tar = scratch_ / "image.tar";
  MakeBaseImage(tar, "busybox:1.36", /*tar=*/true);
  std::string out = scratch_ / "out";
  RunResult r = Hoist("layout cp " + Quote(tar + ":1.36") + " " + Quote(out) + " -t example.com/bb:copy");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(out + "/oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");
  r = Sh("skopeo inspect " + Quote("oci:" + out + ":copy"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseOrFail(r.out)["Digest"], digest_);
  r = Sh("umoci ls --layout " + Quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("copy"), std::string::npos);
  // skopeo copies it on; hoist reads what skopeo wrote.
  std::string sk = scratch_ / "skopeo";
  r = Sh("skopeo copy " + Quote("oci:" + out + ":copy") + " " + Quote("oci:" + sk + ":again"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Hoist("layout inspect " + Quote(sk + ":again"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseOrFail(r.out)["config"]["config"]["Cmd"][0], "sh");
  EXPECT_EQ(Hoist("layout verify " + Quote(sk)).exit_code, 0);
}

TEST_F(LayoutCli, ReadsWhatUmociWrote) {
  std::string u = scratch_ / "umoci";
  std::string bundle = scratch_ / "bundle";
  ASSERT_EQ(Sh("umoci init --layout " + Quote(u)).exit_code, 0);
  ASSERT_EQ(Sh("umoci new --image " + Quote(u + ":base")).exit_code, 0);
  RunResult r = Sh("umoci unpack --image " + Quote(u + ":base") + " " + Quote(bundle));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  WriteFile(bundle + "/rootfs/hello", "hello from umoci\n");
  r = Sh("umoci repack --image " + Quote(u + ":hello") + " " + Quote(bundle));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Sh("umoci config --image " + Quote(u + ":hello") + " --config.env FOO=bar");
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = Hoist("layout ls --format json " + Quote(u));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseOrFail(r.out).size(), 2u);
  r = Hoist("layout inspect " + Quote(u + ":hello"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = ParseOrFail(r.out);
  EXPECT_EQ(j["config"]["config"]["Env"][0], "FOO=bar") << r.out;
  EXPECT_EQ(j["manifest"]["layers"].size(), 1u);
  EXPECT_EQ(Hoist("layout verify " + Quote(u)).exit_code, 0);
  // umoci's gc and hoist's agree: nothing of a consistent layout is garbage but replaced configs.
  r = Hoist("layout gc --dry-run " + Quote(u));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Sh("umoci gc --layout " + Quote(u)).exit_code, 0);
  r = Hoist("layout gc --dry-run " + Quote(u));
  EXPECT_NE(r.out.find(": 0 blob(s)"), std::string::npos) << r.out;
}

TEST_F(LayoutCli, ReadOnlyMountServesReadsAndRefusesWrites) {
  std::string ro = scratch_ / "ro";
  ASSERT_EQ(Sh("mkdir -p " + Quote(ro)).exit_code, 0);
  if (::mount(layout_.c_str(), ro.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    GTEST_SKIP() << "bind mounts are not available here";
  }
  ASSERT_EQ(::mount(nullptr, ro.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr), 0);
  RunResult ls = Hoist("layout ls " + Quote(ro));
  RunResult inspect = Hoist("layout inspect " + Quote(ro + ":1.36"));
  RunResult verify = Hoist("layout verify " + Quote(ro));
  RunResult tag = Hoist("layout tag " + Quote(ro) + " 1.36 v9");
  ::umount2(ro.c_str(), MNT_DETACH);
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_EQ(tag.exit_code, 1);
  EXPECT_NE(tag.err.find("Read-only file system"), std::string::npos) << tag.err;
}

// The go-containerregistry layouts: one image; four refs (manifest, a descriptor-typed blob, a
// nested index, a Docker list); unreferenced blobs; a missing blob.
TEST(GgcrLayouts, IndexWithFourRefs) {
  RunResult r = Hoist("layout ls --format json " + Quote(GgcrLayout("test_index")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = ParseOrFail(r.out);
  ASSERT_EQ(j.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(j[i]["tag"], std::to_string(i + 1));
  EXPECT_EQ(j[3]["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json");
  r = Hoist("layout inspect " + Quote(GgcrLayout("test_index") + ":1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseOrFail(r.out)["descriptor"]["digest"],
            "sha256:eebff607b1628d67459b0596643fc07de70d702eccf030f0bc7bb6fc2b278650");
  EXPECT_EQ(Hoist("layout verify " + Quote(GgcrLayout("test_index"))).exit_code, 0);
}

TEST(GgcrLayouts, OneImage) {
  RunResult r = Hoist("layout inspect " + Quote(GgcrLayout("test_index_one_image")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseOrFail(r.out)["descriptor"]["digest"],
            "sha256:98ceaf93e482fe91b9bfd6bba07137c098e49ee2d55e69f09fb6c951e75e0e46");
  EXPECT_EQ(Hoist("layout verify " + Quote(GgcrLayout("test_index_one_image"))).exit_code, 0);
  r = Hoist("layout verify " + Quote(GgcrLayout("test_index_media_type")));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(GgcrLayouts, UnreferencedBlobsAreGarbage) {
  Scratch s;
  ASSERT_EQ(Sh("cp -r " + Quote(GgcrLayout("test_gc_index")) + " " + Quote(s / "l") +
               " && chmod -R u+w " + Quote(s / "l")).exit_code, 0);
  RunResult r = Hoist("layout gc --dry-run " + Quote(s / "l"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 492b89... belongs to no image the index names.
  EXPECT_NE(r.out.find("would remove sha256:492b89b9dd3cda4596f94916d17f6901455fb8bd7f4c5a2a90df8d39c90f48a0"),
            std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("would remove sha256:eebff607"), std::string::npos) << r.out;
  ASSERT_EQ(Hoist("layout gc " + Quote(s / "l")).exit_code, 0);
  EXPECT_EQ(Hoist("layout verify " + Quote(s / "l")).exit_code, 0);
}

TEST(GgcrLayouts, MissingBlobIsNamed) {
  RunResult r = Hoist("layout verify " + Quote(GgcrLayout("test_gc_image_unknown_mediatype")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("sha256:32589985702551b6c56033bb3334432a0a513bf9d6aceda0f67c42b003850720: missing"),
            std::string::npos) << r.out;
}

// Hostile or broken layouts: a clear error naming the blob or field, exit 1, nothing modified.
class BadLayout : public LayoutCli {
 protected:
  RunResult ExpectRefused(const std::string& args, const std::string& needle) {
    auto before = TreeDigest(layout_);
    RunResult r = Hoist(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.out << r.err;
    // Problems may be listed on stdout (verify) with the summary on stderr.
    EXPECT_NE((r.out + r.err).find(needle), std::string::npos) << args << "\n" << r.out << r.err;
    EXPECT_EQ(r.err.find("Segmentation"), std::string::npos);
    EXPECT_EQ(TreeDigest(layout_), before) << "layout modified by " << args;
    return r;
  }
};

TEST_F(BadLayout, MalformedIndexJson) {
  WriteFile(layout_ + "/index.json", "{\"schemaVersion\": 2, \"manifests\": [");
  ExpectRefused("layout ls " + Quote(layout_), "index.json");
  ExpectRefused("layout tag " + Quote(layout_) + " 1.36 v2", "index.json");
}

TEST_F(BadLayout, TraversalDigestInIndex) {
  std::string idx = ReadFileOrEmpty(layout_ + "/index.json");
  std::string bad = idx;
  bad.replace(bad.find(digest_), digest_.size(), "sha256:../../etc/passwd");
  WriteFile(layout_ + "/index.json", bad);
  ExpectRefused("layout ls " + Quote(layout_), "manifests[0].digest");
  ExpectRefused("layout verify " + Quote(layout_), "invalid digest");
}

TEST_F(BadLayout, MissingOciLayoutFile) {
  // BuildKit's clients write layouts without the file: they are read, never written.
  ASSERT_EQ(std::remove((layout_ + "/oci-layout").c_str()), 0);
  RunResult ls = Hoist("layout ls " + Quote(layout_));
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("1.36"), std::string::npos) << ls.out;
  ExpectRefused("layout gc " + Quote(layout_), "missing oci-layout file");
  // Without index.json as well it is no layout at all.
  ASSERT_EQ(std::remove((layout_ + "/index.json").c_str()), 0);
  ExpectRefused("layout ls " + Quote(layout_), "missing oci-layout file");
}

TEST_F(BadLayout, BlobBytesDoNotMatchName) {
  json manifest = ParseOrFail(ReadFileOrEmpty(BlobPath(layout_, digest_)));
  std::string config = manifest["config"]["digest"];
  WriteFile(BlobPath(layout_, config), "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
  RunResult r = ExpectRefused("layout inspect " + Quote(layout_ + ":1.36"), config);
  EXPECT_NE(r.err.find("mismatch"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(layout_ + "/blobs"), std::string::npos) << "leaks the blob path: " << r.err;
}

TEST_F(BadLayout, WrongMediaType) {
  // The index says "manifest" but the blob is the image config.
  json manifest = ParseOrFail(ReadFileOrEmpty(BlobPath(layout_, digest_)));
  json idx = ParseOrFail(ReadFileOrEmpty(layout_ + "/index.json"));
  idx["manifests"][0]["digest"] = manifest["config"]["digest"];
  idx["manifests"][0]["size"] = manifest["config"]["size"];
  WriteFile(layout_ + "/index.json", idx.dump());
  ExpectRefused("layout inspect " + Quote(layout_ + ":1.36"), "manifest");
  ExpectRefused("layout verify " + Quote(layout_), manifest["config"]["digest"].get<std::string>());
}

TEST_F(BadLayout, TruncatedTarball) {
  std::string tar = scratch_ / "image.tar";
  MakeBaseImage(tar, "busybox:1.36", /*tar=*/true);
  std::string bytes = ReadFileOrEmpty(tar);
  WriteFile(tar, bytes.substr(0, bytes.size() / 2));
  RunResult r = Hoist("layout ls " + Quote(tar));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST_F(BadLayout, NotALayoutAtAll) {
  RunResult r = Hoist("layout ls " + Quote(scratch_ / "nowhere"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no such OCI layout"), std::string::npos) << r.err;
  r = Hoist("layout cp " + Quote(layout_ + ":1.36") + " " + Quote(scratch_.path() + ":x"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not an OCI image layout"), std::string::npos) << r.err;
  r = Hoist("layout cp " + Quote(layout_ + ":1.36") + " " + Quote(scratch_.path()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not an OCI image layout"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hoist::itest
