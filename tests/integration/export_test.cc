// Images out of `hoist build`: OCI and Docker tarballs, OCI layout directories, reproducible
// digests, and interop with skopeo, umoci, buildah and podman (SPEC-oci-layout.md §5 cases 3,
// 4, 8 and 9).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "harness.h"

namespace hoist::itest {
namespace {

using nlohmann::json;

json ReadJson(const std::string& path) { return json::parse(ReadFileOrEmpty(path), nullptr, false); }

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root (overlayfs, runc)";
    MakeBaseImage(s_ / "base", "busybox:1.36");
    std::filesystem::create_directories(s_ / "ctx");
    WriteFile(s_ / "ctx/Dockerfile",
              "FROM base\n"
              "ENV APP=demo\n"
              "WORKDIR /srv\n"
              "RUN mkdir -p data && echo one > data/a && ln -s a data/link && chmod 4755 data/a\n"
              "COPY file.txt /srv/file.txt\n"
              "CMD [\"cat\", \"/srv/file.txt\"]\n");
    WriteFile(s_ / "ctx/file.txt", "exported\n");
  }

  RunResult Build(const std::string& args, const std::string& root = "root") {
    return Hoist("--root " + Quote(s_ / root) + " build --progress=plain --build-context base=oci-layout://" +
                 Quote(s_ / "base:1.36") + " " + args + " " + Quote(s_ / "ctx"));
  }

  Scratch s_;
};

TEST_F(ExportTest, OciAndDockerTarballsAreCompleteLayouts) {
  ASSERT_EQ(Build("-t app:1 -o type=oci,dest=" + Quote(s_ / "oci.tar")).exit_code, 0);
  ASSERT_EQ(Build("-t app:1 -o type=docker,dest=" + Quote(s_ / "docker.tar")).exit_code, 0);
  for (const std::string name : {"oci", "docker"}) {
    const std::string dir = s_ / (name + "-x");
    ASSERT_EQ(Sh("mkdir -p " + Quote(dir) + " && tar -xf " + Quote(s_ / (name + ".tar")) +
                 " -C " + Quote(dir)).exit_code, 0);
    EXPECT_EQ(ReadFileOrEmpty(dir + "/oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    json index = ReadJson(dir + "/index.json");
    EXPECT_EQ(index["schemaVersion"], 2);
    ASSERT_EQ(index["manifests"].size(), 1u);
    const std::string m = index["manifests"][0]["digest"];
    json manifest = ReadJson(dir + "/blobs/sha256/" + m.substr(7));
    json config = ReadJson(dir + "/blobs/sha256/" + std::string(manifest["config"]["digest"]).substr(7));
    ASSERT_EQ(manifest["layers"].size(), config["rootfs"]["diff_ids"].size());
    EXPECT_EQ(manifest["layers"].size(), 4u);  // base, WORKDIR, RUN, COPY
    for (const auto& l : manifest["layers"]) {
      EXPECT_TRUE(std::filesystem::exists(dir + "/blobs/sha256/" + std::string(l["digest"]).substr(7)));
    }
    EXPECT_EQ(config["config"]["WorkingDir"], "/srv");
    // Media types: OCI for oci, Docker's for docker (BuildKit's defaults).
    if (name == "docker") {
      EXPECT_EQ(manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
      EXPECT_EQ(manifest["config"]["mediaType"], "application/vnd.docker.container.image.v1+json");
      EXPECT_EQ(manifest["layers"][1]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
    } else {
      EXPECT_EQ(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
      EXPECT_EQ(manifest["layers"][1]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    }
    EXPECT_EQ(config["config"]["Cmd"], json({"cat", "/srv/file.txt"}));
    const bool has_manifest_json = std::filesystem::exists(dir + "/manifest.json");
    EXPECT_EQ(has_manifest_json, name == "docker");
    if (has_manifest_json) {
      json mj = ReadJson(dir + "/manifest.json");
      EXPECT_EQ(mj[0]["RepoTags"], json({"app:1"}));
      EXPECT_EQ(mj[0]["Layers"].size(), 4u);
      RunResult peer = Sh("skopeo inspect docker-archive:" + Quote(s_ / "docker.tar"));
      EXPECT_EQ(peer.exit_code, 0) << peer.err;
    }
  }
}

TEST_F(ExportTest, MediaTypesAndCompressionOptions) {
  RunResult r = Build("-o type=oci,oci-mediatypes=false,tar=false,dest=" + Quote(s_ / "d"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json index = ReadJson(s_ / "d/index.json");
  std::string m = index["manifests"][0]["digest"];
  json manifest = ReadJson(s_ / ("d/blobs/sha256/" + m.substr(7)));
  EXPECT_EQ(manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(manifest["layers"][3]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
  // zstd has no Docker type: the new layers are zstd under OCI types; the base layer keeps
  // its own gzip blob.
  r = Build("-o type=oci,oci-mediatypes=false,compression=zstd,tar=false,dest=" + Quote(s_ / "z"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  index = ReadJson(s_ / "z/index.json");
  m = index["manifests"][0]["digest"];
  manifest = ReadJson(s_ / ("z/blobs/sha256/" + m.substr(7)));
  EXPECT_EQ(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(manifest["layers"][3]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
  ASSERT_EQ(Hoist("unpack " + Quote(s_ / "z:latest") + " " + Quote(s_ / "ztree")).exit_code, 0);
  // force-compression recompresses the base layer too; its diff ID stays.
  r = Build("-o type=oci,compression=zstd,force-compression=true,tar=false,dest=" + Quote(s_ / "f"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  m = ReadJson(s_ / "f/index.json")["manifests"][0]["digest"];
  json forced = ReadJson(s_ / ("f/blobs/sha256/" + m.substr(7)));
  EXPECT_EQ(forced["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
  EXPECT_NE(forced["layers"][0]["digest"], manifest["layers"][0]["digest"]);
  ASSERT_EQ(Hoist("unpack " + Quote(s_ / "f:latest") + " " + Quote(s_ / "ftree")).exit_code, 0);
  EXPECT_EQ(TreeFingerprint(s_ / "ftree"), TreeFingerprint(s_ / "ztree"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "ztree/srv/file.txt"), "exported\n");
  ASSERT_EQ(Hoist("unpack " + Quote(s_ / "d:latest") + " " + Quote(s_ / "tree")).exit_code, 0);
  EXPECT_EQ(ReadFileOrEmpty(s_ / "tree/srv/file.txt"), "exported\n");
  r = Build("-o type=oci,oci-mediatypes=maybe,dest=" + Quote(s_ / "x.tar"));
  EXPECT_NE(r.err.find("invalid value \"maybe\" for oci-mediatypes"), std::string::npos) << r.err;
}

TEST_F(ExportTest, TarAndDirectoryHoldTheSameBlobs) {
  // Two exports of one build: with SOURCE_DATE_EPOCH the config's `created` is the same too.
  auto build = [&](const std::string& output) {
    return Sh("SOURCE_DATE_EPOCH=1700000000 " +
              HoistCommand("--root " + Quote(s_ / "root") +
                           " build --progress=quiet --build-context base=oci-layout://" +
                           Quote(s_ / "base:1.36") + " -t app:1 -o " + output + " " +
                           Quote(s_ / "ctx")));
  };
  ASSERT_EQ(build("type=oci,dest=" + Quote(s_ / "img.tar")).exit_code, 0);
  ASSERT_EQ(build("type=oci,tar=false,dest=" + Quote(s_ / "dir")).exit_code, 0);
  ASSERT_EQ(Sh("mkdir -p " + Quote(s_ / "x") + " && tar -xf " + Quote(s_ / "img.tar") + " -C " +
               Quote(s_ / "x")).exit_code, 0);
  auto a = TreeDigest(s_ / "x/blobs");
  auto b = TreeDigest(s_ / "dir/blobs");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  // And the index names the same image.
  EXPECT_EQ(ReadJson(s_ / "x/index.json")["manifests"][0]["digest"],
            ReadJson(s_ / "dir/index.json")["manifests"][0]["digest"]);
}

TEST_F(ExportTest, ACopyLayerIsExportedAsTheBlobItsStepWroteWhichIsItsDiff) {
  // A COPY written from its sources also writes its layer's blob and records it in the diff
  // cache, so the export does not diff that layer; the blob is exactly what a diff of the
  // step's snapshot gives, which the export makes once the record is gone.
  WriteFile(s_ / "ctx/Dockerfile", "FROM base\nCOPY tree/ /data/\n");
  for (int d = 0; d < 4; ++d) std::filesystem::create_directories(s_ / ("ctx/tree/d" + std::to_string(d)));
  for (int i = 0; i < 40; ++i) {
    WriteFile(s_ / ("ctx/tree/d" + std::to_string(i % 4) + "/f" + std::to_string(i)),
              std::string(static_cast<size_t>(i) * 300, 'a' + i % 26));
  }
  // Big enough (over 4 MiB) for the layer to be read from its sources ahead of the writer.
  std::string big(5 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 5);
  WriteFile(s_ / "ctx/tree/d1/big", big);
  RunResult ln = Sh("ln -s d0/f0 " + Quote(s_ / "ctx/tree/link"));
  ASSERT_EQ(ln.exit_code, 0) << ln.err;
  RunResult r = Build("");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> recorded;
  for (const auto& e : std::filesystem::directory_iterator(s_ / "root/diffs")) {
    recorded.push_back(ReadJson(e.path()));
  }
  ASSERT_EQ(recorded.size(), 1u) << "one record, the COPY's, before any export";
  auto layers = [&](const std::string& dir) {
    r = Build("-o type=oci,tar=false,dest=" + Quote(s_ / dir));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json index = ReadJson(s_ / (dir + "/index.json"));
    std::string m = index["manifests"][0].value("digest", "");
    json manifest = ReadJson(s_ / (dir + "/blobs/sha256/" + m.substr(m.find(':') + 1)));
    return manifest["layers"];
  };
  json first = layers("one");
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[1]["digest"], recorded[0]["digest"]);
  EXPECT_EQ(first[1]["size"], recorded[0]["size"]);
  std::filesystem::remove_all(s_ / "root/diffs");
  json second = layers("two");
  EXPECT_EQ(second, first);
  EXPECT_EQ(Hoist("layout verify " + Quote(s_ / "one")).exit_code, 0);
  // The layer holds the tree.
  ASSERT_EQ(Sh("mkdir " + Quote(s_ / "x") + " && tar -xzf " + Quote(s_ / "one/blobs/sha256/") +
               first[1].value("digest", "").substr(7) + " -C " + Quote(s_ / "x")).exit_code, 0);
  EXPECT_EQ(TreeDigest(s_ / "x/data"), TreeDigest(s_ / "ctx/tree"));
}

TEST_F(ExportTest, SeveralNamesInOneLayoutEachWithBothAnnotations) {
  RunResult r = Build("-o 'type=oci,tar=false,dest=" + s_ / "dir" +
                      ",\"name=example.com/org/app:1,example.com/org/app:stable\"'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json index = ReadJson(s_ / "dir/index.json");
  EXPECT_EQ(index["mediaType"], "application/vnd.oci.image.index.v1+json");
  ASSERT_EQ(index["manifests"].size(), 2u);
  EXPECT_EQ(index["manifests"][0]["annotations"]["io.containerd.image.name"], "example.com/org/app:1");
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "1");
  EXPECT_EQ(index["manifests"][1]["annotations"]["io.containerd.image.name"], "example.com/org/app:stable");
  EXPECT_EQ(index["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"], "stable");
  // Another image into the same layout is added; the same name again replaces.
  WriteFile(s_ / "ctx/file.txt", "second\n");
  r = Build("-t example.com/org/app:stable -t other:2 -o type=oci,tar=false,dest=" + Quote(s_ / "dir"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  index = ReadJson(s_ / "dir/index.json");
  ASSERT_EQ(index["manifests"].size(), 3u) << index.dump();
  EXPECT_NE(index["manifests"][0]["digest"], index["manifests"][1]["digest"]);
  EXPECT_EQ(Hoist("layout verify " + Quote(s_ / "dir")).exit_code, 0);
}

TEST_F(ExportTest, StageFromAnOciLayoutContextExportsItsConfig) {
  // SPEC §5 case 8: `FROM nonexistent AS base` replaced by a layout whose config carries
  // WorkingDir and Env; the export keeps them.
  ASSERT_EQ(Build("-o type=oci,tar=false,dest=" + Quote(s_ / "envimg")).exit_code, 0);
  std::filesystem::create_directories(s_ / "ctx2");
  WriteFile(s_ / "ctx2/Dockerfile", "FROM nonexistent AS base\nFROM base\n");
  RunResult r = Hoist("--root " + Quote(s_ / "root") + " build --build-context base=oci-layout://" +
                      Quote(s_ / "envimg") + " -o type=oci,tar=false,dest=" + Quote(s_ / "out") +
                      " " + Quote(s_ / "ctx2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunResult cfg = Sh("skopeo inspect --config oci:" + Quote(s_ / "out") + ":latest");
  ASSERT_EQ(cfg.exit_code, 0) << cfg.err;
  json c = json::parse(cfg.out);
  EXPECT_EQ(c["config"]["WorkingDir"], "/srv");
  EXPECT_NE(c["config"]["Env"].dump().find("APP=demo"), std::string::npos) << c.dump();
}

TEST_F(ExportTest, SameInputsGiveTheSameDigests) {
  // Two engines, builds at different times: with SOURCE_DATE_EPOCH and rewrite-timestamp the
  // image is byte for byte the same.
  const std::string env = "SOURCE_DATE_EPOCH=1700000000 ";
  auto digest = [&](const std::string& root) {
    RunResult r = Sh(env + HOIST_BIN + " --root " + Quote(s_ / root) +
                     " build --progress=quiet --build-context base=oci-layout://" +
                     Quote(s_ / "base:1.36") + " -o type=oci,rewrite-timestamp=true,dest=" +
                     Quote(s_ / (root + ".tar")) + " --metadata-file " +
                     Quote(s_ / (root + ".json")) + " " + Quote(s_ / "ctx"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ReadJson(s_ / (root + ".json")).value("containerimage.digest", "");
  };
  const std::string first = digest("r1");
  sleep(1);
  const std::string second = digest("r2");
  EXPECT_EQ(first.size(), 71u);
  EXPECT_EQ(first, second);
  EXPECT_EQ(Sh("cmp " + Quote(s_ / "r1.tar") + " " + Quote(s_ / "r2.tar")).exit_code, 0);
  RunResult cfg = Sh("skopeo inspect --config oci-archive:" + Quote(s_ / "r1.tar"));
  EXPECT_NE(cfg.out.find("2023-11-14T22:13:20Z"), std::string::npos) << cfg.out;
}

TEST_F(ExportTest, PeersReadRunAndRebuildFromWhatHoistWrote) {
  ASSERT_EQ(Build("-t app:1 -o type=oci,tar=false,dest=" + Quote(s_ / "img")).exit_code, 0);
  // skopeo reads and copies it.
  RunResult r = Sh("skopeo copy oci:" + Quote(s_ / "img") + ":1 oci:" + Quote(s_ / "copy") + ":copied");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // umoci unpacks it to the tree hoist unpacks.
  r = Sh("umoci unpack --image " + Quote(s_ / "img") + ":1 " + Quote(s_ / "bundle"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Hoist("unpack " + Quote(s_ / "img:1") + " " + Quote(s_ / "tree")).exit_code, 0);
  EXPECT_EQ(TreeFingerprint(s_ / "tree"), TreeFingerprint(s_ / "bundle/rootfs"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "tree/srv/file.txt"), "exported\n");
  // buildah and podman name the image after the layout's path, which must then be lower case.
  const std::string lower = "/tmp/hoist-peers-" + std::to_string(::getpid());
  std::filesystem::remove_all(lower);
  std::filesystem::copy(s_ / "img", lower, std::filesystem::copy_options::recursive);
  // buildah starts a container from it.
  const std::string buildah = "buildah --root " + Quote(s_ / "bs") + " --runroot " + Quote(s_ / "br");
  r = Sh(buildah + " from oci:" + lower + ":1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Sh(buildah + " rm -a; umount -R " + Quote(s_ / "bs/overlay") + " 2>/dev/null");
  // podman runs it. Its default ulimits exceed what this host allows without
  // CAP_SYS_RESOURCE, and its default crun fails on hybrid cgroups: ask for runc and lower
  // limits.
  ASSERT_TRUE(HaveTool("podman")) << "scripts/install-deps installs podman";
  const std::string podman = "podman --root " + Quote(s_ / "ps") + " --runroot " + Quote(s_ / "pr");
  r = Sh(podman + " run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "
                  "--network none oci:" + lower + ":1");
  std::filesystem::remove_all(lower);
  Sh(podman + " system reset --force >/dev/null 2>&1; umount -R " + Quote(s_ / "ps/overlay") + " 2>/dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "exported\n");
  // A layout skopeo wrote serves as a build context, and hoist's own output does too (chaining).
  std::filesystem::create_directories(s_ / "ctx2");
  WriteFile(s_ / "ctx2/Dockerfile", "FROM viaskopeo\nRUN test \"$APP\" = demo && cat /srv/file.txt\n");
  r = Hoist("--root " + Quote(s_ / "root") + " build --build-context viaskopeo=oci-layout://" +
            Quote(s_ / "copy:copied") + " " + Quote(s_ / "ctx2"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ExportTest, SeveralPlatformsGiveAnIndexAndForeignRunsNeedAnEmulator) {
  // A cross build: RUN on the build platform, COPY into each target platform.
  WriteFile(s_ / "ctx/Dockerfile",
            "FROM --platform=$BUILDPLATFORM base AS build\n"
            "RUN echo built-here > /info\n"
            "FROM base\n"
            "ARG TARGETARCH\n"
            "COPY --from=build /info /info-$TARGETARCH\n");
  RunResult r = Build("--platform linux/amd64,linux/arm64 -t app:1 -o type=oci,dest=" +
                      Quote(s_ / "multi.tar") + " --metadata-file " + Quote(s_ / "meta.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json meta = ReadJson(s_ / "meta.json");
  EXPECT_EQ(meta["containerimage.descriptor"]["mediaType"], "application/vnd.oci.image.index.v1+json");
  RunResult raw = Sh("skopeo inspect --raw oci-archive:" + Quote(s_ / "multi.tar"));
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  json index = json::parse(raw.out);
  // Each image, then its attestation manifest (buildx's default provenance: an index holds it).
  ASSERT_EQ(index["manifests"].size(), 4u);
  EXPECT_EQ(index["manifests"][0]["platform"]["architecture"], "amd64");
  EXPECT_EQ(index["manifests"][1]["platform"]["architecture"], "arm64");
  EXPECT_EQ(index["manifests"][2]["platform"]["architecture"], "unknown");
  EXPECT_EQ(index["manifests"][3]["annotations"]["vnd.docker.reference.digest"],
            index["manifests"][1]["digest"]);
  RunResult arm = Sh("skopeo inspect --override-arch arm64 --config oci-archive:" + Quote(s_ / "multi.tar"));
  ASSERT_EQ(arm.exit_code, 0) << arm.err;
  EXPECT_EQ(json::parse(arm.out)["architecture"], "arm64");
  // The local output puts each platform in its own directory.
  r = Build("--platform linux/amd64,linux/arm64 -o " + Quote(s_ / "local"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "local/linux_arm64/info-arm64"), "built-here\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "local/linux_amd64/info-amd64"), "built-here\n");
  // The docker format has no index.
  r = Build("--platform linux/amd64,linux/arm64 -o type=docker,dest=" + Quote(s_ / "d.tar"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("docker exporter does not support exporting manifest lists"), std::string::npos) << r.err;
  // A RUN for a foreign platform without an emulator is refused, saying why.
  if (::access("/proc/sys/fs/binfmt_misc/qemu-s390x", F_OK) != 0) {
    WriteFile(s_ / "ctx/Dockerfile", "FROM base\nRUN true\n");
    r = Build("--platform linux/s390x");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("RUN for linux/s390x needs an emulator on this linux/"), std::string::npos) << r.err;
  }
}

TEST_F(ExportTest, LocalCacheExportPruneImportServesARandomStepFromCache) {
  // SPEC §5 case 5.
  WriteFile(s_ / "ctx/Dockerfile",
            "FROM base\nRUN cat /proc/sys/kernel/random/uuid > /random\n");
  RunResult r = Build("-o type=local,dest=" + Quote(s_ / "o1") + " --cache-to type=local,dest=" +
                      Quote(s_ / "cache") + ",mode=max");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string first = ReadFileOrEmpty(s_ / "o1/random");
  ASSERT_EQ(first.size(), 37u);
  // The cache is an OCI layout tagged latest that peers can read.
  json index = ReadJson(s_ / "cache/index.json");
  ASSERT_EQ(index["manifests"].size(), 1u);
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "latest");
  EXPECT_EQ(Hoist("layout verify " + Quote(s_ / "cache")).exit_code, 0);
  // Everything goes; with the cache imported, the step does not run again.
  ASSERT_EQ(Hoist("--root " + Quote(s_ / "root") + " prune --all").exit_code, 0);
  r = Build("-o type=local,dest=" + Quote(s_ / "o2") + " --cache-from type=local,src=" +
            Quote(s_ / "cache"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/random"), first);
  EXPECT_NE(r.err.find("CACHED"), std::string::npos) << r.err;
  // A fresh engine too.
  r = Build("-o type=local,dest=" + Quote(s_ / "o3") + " --cache-from type=local,src=" +
                Quote(s_ / "cache"), "root2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o3/random"), first);
  // A missing cache warns and builds anyway; bad specs are refused.
  r = Build("--cache-from type=local,src=" + Quote(s_ / "nocache"), "root3");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("WARNING: failed to import cache from"), std::string::npos) << r.err;
  r = Build("--cache-to type=s3,bucket=x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--cache-to type=s3: only type=local and type=registry are supported"),
            std::string::npos)
      << r.err;
  r = Build("--cache-from type=registry");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--cache-from type=registry needs ref=NAME[:TAG]"), std::string::npos) << r.err;
  r = Build("--cache-to type=local,dest=" + Quote(s_ / "c2") + ",mode=all");
  EXPECT_NE(r.err.find("invalid mode all"), std::string::npos) << r.err;
}

TEST_F(ExportTest, MinCacheOnAFreshEngineRunsNothingBelowTheCachedStep) {
  // A `mode=min` cache holds the last step's record only. On a fresh engine that step is a
  // hit, so the steps below it are skipped (BuildKit's lazy inputs): they neither run nor
  // read the base from the client, and leave no record of their own.
  WriteFile(s_ / "ctx/Dockerfile",
            "FROM base\n"
            "RUN cat /proc/sys/kernel/random/uuid > /one\n"
            "RUN cat /proc/sys/kernel/random/uuid > /two\n");
  RunResult r = Build("-o type=local,dest=" + Quote(s_ / "o1") + " --cache-to type=local,dest=" +
                      Quote(s_ / "cache"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Build("-o type=local,dest=" + Quote(s_ / "o2") + " --cache-from type=local,src=" +
                Quote(s_ / "cache"),
            "root2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/one"), ReadFileOrEmpty(s_ / "o1/one"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/two"), ReadFileOrEmpty(s_ / "o1/two"));
  // Each solver step is reported as cached; none as done.
  for (const std::string step : {"[context base] OCI load from client",
                                 "[1/3] RUN cat /proc/sys/kernel/random/uuid > /one",
                                 "[2/3] RUN cat /proc/sys/kernel/random/uuid > /two"}) {
    const size_t at = r.err.find(step);
    ASSERT_NE(at, std::string::npos) << step << "\n" << r.err;
    const size_t hash = r.err.rfind('#', at);
    const std::string id = r.err.substr(hash, r.err.find(' ', hash) - hash);  // "#N"
    EXPECT_NE(r.err.find(id + " CACHED"), std::string::npos) << step << "\n" << r.err;
    EXPECT_EQ(r.err.find(id + " DONE"), std::string::npos) << step << "\n" << r.err;
  }
  EXPECT_EQ(r.err.find("extracting sha256:"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(" / "), std::string::npos) << r.err;  // no blob read from the client
  // The engine holds the imported record and nothing the build would have recorded by
  // running a step.
  RunResult du = Hoist("--root " + Quote(s_ / "root2") + " du");
  ASSERT_EQ(du.exit_code, 0) << du.err;
  EXPECT_NE(du.out.find("imported from client directory"), std::string::npos) << du.out;
  EXPECT_EQ(du.out.find("RUN"), std::string::npos) << du.out;
  EXPECT_EQ(du.out.find("OCI load"), std::string::npos) << du.out;
  // The image exports with the base's own layer blobs, though the base was never loaded.
  r = Build("-o type=oci,dest=" + Quote(s_ / "img.tar"), "root2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = s_ / "img";
  ASSERT_EQ(Sh("mkdir -p " + Quote(dir) + " && tar -xf " + Quote(s_ / "img.tar") + " -C " +
               Quote(dir)).exit_code, 0);
  json index = ReadJson(dir + "/index.json");
  ASSERT_EQ(index["manifests"].size(), 1u);
  json manifest =
      ReadJson(dir + "/blobs/sha256/" + std::string(index["manifests"][0]["digest"]).substr(7));
  json base_index = ReadJson(s_ / "base/index.json");
  json base_manifest = ReadJson(
      s_ / ("base/blobs/sha256/" + std::string(base_index["manifests"][0]["digest"]).substr(7)));
  ASSERT_EQ(manifest["layers"].size(), base_manifest["layers"].size() + 2);
  EXPECT_EQ(manifest["layers"][0]["digest"], base_manifest["layers"][0]["digest"]);
  for (const auto& l : manifest["layers"]) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/blobs/sha256/" + std::string(l["digest"]).substr(7)));
  }
}

TEST_F(ExportTest, AnImportedCopyRecordKeepsItsShapeAndTheBaseUnloaded) {
  // A cold COPY fetches its base while its sources are checksummed when no record can match
  // it; a record imported from a cache can, so the base must then wait for the lookup (and
  // never be loaded when it hits). The cache carries each record's shape for that.
  WriteFile(s_ / "ctx/Dockerfile", "FROM base\nCOPY f /f\n");
  WriteFile(s_ / "ctx/f", "copied\n");
  RunResult r = Build("-o type=local,dest=" + Quote(s_ / "o1") + " --cache-to type=local,dest=" +
                      Quote(s_ / "cache"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json index = ReadJson(s_ / "cache/index.json");
  ASSERT_EQ(index["manifests"].size(), 1u);
  json manifest = ReadJson(
      s_ / ("cache/blobs/sha256/" + std::string(index["manifests"][0]["digest"]).substr(7)));
  json config = ReadJson(
      s_ / ("cache/blobs/sha256/" + std::string(manifest["config"]["digest"]).substr(7)));
  ASSERT_EQ(config["records"].size(), 1u) << config.dump();
  const json& rec = config["records"][0];
  ASSERT_TRUE(rec.contains("shape")) << config.dump();
  EXPECT_EQ(std::string(rec["shape"]).size(), 71u) << config.dump();
  EXPECT_NE(rec["shape"], rec["key"]);

  r = Build("-o type=local,dest=" + Quote(s_ / "o2") + " --cache-from type=local,src=" +
                Quote(s_ / "cache"),
            "root2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/f"), "copied\n");
  EXPECT_EQ(r.err.find("extracting sha256:"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(" / "), std::string::npos) << r.err;  // no blob read from the client
}

TEST_F(ExportTest, CorruptLocalCacheBlobWarnsAndTheStepRunsAgain) {
  WriteFile(s_ / "ctx/Dockerfile",
            "FROM base\nRUN cat /proc/sys/kernel/random/uuid > /random\n");
  RunResult r = Build("-o type=local,dest=" + Quote(s_ / "o1") + " --cache-to type=local,dest=" +
                      Quote(s_ / "cache"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string first = ReadFileOrEmpty(s_ / "o1/random");
  ASSERT_EQ(first.size(), 37u);
  // The client wrote the progress step's cache; the engine never names the directory.
  EXPECT_NE(r.err.find("exporting cache to client directory"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(s_ / "cache"), std::string::npos) << r.err;
  json index = ReadJson(s_ / "cache/index.json");
  ASSERT_EQ(index["manifests"].size(), 1u);
  const std::string m = index["manifests"][0]["digest"];
  json manifest = ReadJson(s_ / ("cache/blobs/sha256/" + m.substr(7)));
  ASSERT_FALSE(manifest["layers"].empty());
  const std::string layer = manifest["layers"].back()["digest"];
  const std::string blob = s_ / ("cache/blobs/sha256/" + layer.substr(7));
  ASSERT_EQ(Sh("printf X | dd of=" + Quote(blob) + " bs=1 seek=20 conv=notrunc status=none")
                .exit_code,
            0);
  // An engine that lacks the blob reads it from the client, finds it corrupt, says so, and
  // builds the step again.
  r = Build("-o type=local,dest=" + Quote(s_ / "o2") + " --cache-from type=local,src=" +
                Quote(s_ / "cache"),
            "root2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t warning = r.err.find("WARNING: failed to import cache from client directory: ");
  ASSERT_NE(warning, std::string::npos) << r.err;
  const std::string line = r.err.substr(warning, r.err.find('\n', warning) - warning);
  EXPECT_NE(line.find(layer), std::string::npos) << line;
  EXPECT_NE(line.find("digest mismatch"), std::string::npos) << line;
  EXPECT_EQ(line.find(s_.path()), std::string::npos) << line;
  const std::string second = ReadFileOrEmpty(s_ / "o2/random");
  EXPECT_EQ(second.size(), 37u);
  EXPECT_NE(second, first);
  // The client's directory is as it was: only the client writes it, and an import does not.
  EXPECT_EQ(ReadJson(s_ / "cache/index.json"), index);
}

TEST_F(ExportTest, LocalCachesAreTaggedByTheClient) {
  WriteFile(s_ / "ctx/Dockerfile", "FROM base\nRUN echo tagged > /t\n");
  // Two caches in one build get the one manifest, each under its own tag.
  RunResult r = Build("--cache-to type=local,dest=" + Quote(s_ / "c1") +
                      " --cache-to type=local,dest=" + Quote(s_ / "c2") + ",tag=v2,mode=max");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json i1 = ReadJson(s_ / "c1/index.json");
  json i2 = ReadJson(s_ / "c2/index.json");
  ASSERT_EQ(i1["manifests"].size(), 1u);
  ASSERT_EQ(i2["manifests"].size(), 1u);
  EXPECT_EQ(i1["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "latest");
  EXPECT_EQ(i2["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "v2");
  EXPECT_EQ(i1["manifests"][0]["digest"], i2["manifests"][0]["digest"]);
  EXPECT_EQ(Hoist("layout verify " + Quote(s_ / "c1")).exit_code, 0);
  EXPECT_EQ(Hoist("layout verify " + Quote(s_ / "c2")).exit_code, 0);
  // Importing by tag from a fresh engine serves the step from the cache.
  r = Build("-o type=local,dest=" + Quote(s_ / "o") + " --cache-from type=local,src=" +
                Quote(s_ / "c2") + ",tag=v2",
            "root2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("CACHED"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o/t"), "tagged\n");
  // A tag the layout lacks only warns, naming it.
  r = Build("--cache-from type=local,src=" + Quote(s_ / "c1") + ",tag=nope", "root3");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("no cache tagged \"nope\""), std::string::npos) << r.err;
}

TEST_F(ExportTest, BadOutputsAreRefused) {
  struct Case {
    std::string flags;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"-o type=oci", "output type=oci needs dest=FILE"},
           {"-o type=docker,tar=false,dest=x", "output type=docker does not support tar=false"},
           {"-o type=oci,dest=x,compression=lzma", "unsupported compression type lzma"},
           {"-o type=registry", "output type=registry needs an image name"},
           {"-o type=image,push=true", "output type=image,push=true needs an image name"},
           {"-o type=image,name=Bad:Name", "invalid image name \"Bad:Name\""},
           {"-o type=nope,dest=x", "unknown output type nope"},
           {"-o dest=x", "type is required"},
       }) {
    RunResult r = Build(c.flags);
    EXPECT_NE(r.exit_code, 0) << c.flags;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.flags << "\n" << r.err;
  }
  // A tarball for stdout is refused when stdout is a terminal (script(1) gives it one).
  if (HaveTool("script")) {
    RunResult tty = Sh("script -qec " +
                       Quote(std::string(HOIST_BIN) + " --root " + s_ / "root" +
                             " build --progress=quiet --build-context base=oci-layout://" +
                             s_ / "base:1.36" + " -o type=oci,dest=- " + s_ / "ctx") +
                       " /dev/null");
    EXPECT_NE(tty.exit_code, 0);
    EXPECT_NE(tty.out.find("dest file is required for oci exporter. refusing to write to console"),
              std::string::npos) << tty.out << tty.err;
  }
  // Nothing half-written stays behind when an export fails.
  EXPECT_FALSE(std::filesystem::exists(s_ / "x"));
}

// The attestations of an image in layout directory `dir`: the index, and for its first image
// the attestation manifest's statements by predicate type.
struct Attested {
  json index;
  std::map<std::string, json> statements;
};
Attested ReadAttestations(const std::string& dir, const std::string& root_digest) {
  Attested a;
  a.index = ReadJson(dir + "/blobs/sha256/" + root_digest.substr(7));
  for (const json& m : a.index.value("manifests", json::array())) {
    if (m.value("annotations", json::object()).value("vnd.docker.reference.type", "") !=
        "attestation-manifest") {
      continue;
    }
    json manifest = ReadJson(dir + "/blobs/sha256/" + std::string(m["digest"]).substr(7));
    for (const json& l : manifest["layers"]) {
      EXPECT_EQ(l["mediaType"], "application/vnd.in-toto+json");
      a.statements[l["annotations"]["in-toto.io/predicate-type"]] =
          ReadJson(dir + "/blobs/sha256/" + std::string(l["digest"]).substr(7));
    }
    break;
  }
  return a;
}

TEST_F(ExportTest, ProvenanceAndSbomAttestationsInLayoutsTarballsAndFiles) {
  // buildx's default (min, inline-only) leaves a single-platform layout one manifest.
  RunResult r = Build("-o type=oci,tar=false,dest=" + Quote(s_ / "plain"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json idx = ReadJson(s_ / "plain/index.json");
  EXPECT_EQ(idx["manifests"][0]["mediaType"], "application/vnd.oci.image.manifest.v1+json");

  // Asked for: an index with the image, then its attestation manifest.
  r = Build("--provenance=mode=max --sbom=true -t example.com/app:1 -o type=oci,tar=false,dest=" +
            Quote(s_ / "att"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  idx = ReadJson(s_ / "att/index.json");
  ASSERT_EQ(idx["manifests"][0]["mediaType"], "application/vnd.oci.image.index.v1+json");
  Attested a = ReadAttestations(s_ / "att", idx["manifests"][0]["digest"]);
  ASSERT_EQ(a.index["manifests"].size(), 2u) << a.index.dump();
  const json& image = a.index["manifests"][0];
  EXPECT_EQ(image["platform"]["os"], "linux");
  EXPECT_EQ(a.index["manifests"][1]["annotations"]["vnd.docker.reference.digest"], image["digest"]);
  ASSERT_TRUE(a.statements.contains("https://slsa.dev/provenance/v0.2"));
  ASSERT_TRUE(a.statements.contains("https://spdx.dev/Document"));
  const json& prov = a.statements["https://slsa.dev/provenance/v0.2"];
  EXPECT_EQ(prov["_type"], "https://in-toto.io/Statement/v0.1");
  ASSERT_EQ(prov["subject"].size(), 1u);
  EXPECT_EQ(prov["subject"][0]["name"], "pkg:docker/example.com/app@1?platform=linux%2Famd64");
  EXPECT_EQ(prov["subject"][0]["digest"]["sha256"], std::string(image["digest"]).substr(7));
  const json& pred = prov["predicate"];
  EXPECT_EQ(pred["buildType"], "https://mobyproject.org/buildkit@v1");
  // The layout context: by the reference the frontend made for it and its digest.
  ASSERT_EQ(pred["materials"].size(), 1u) << pred["materials"].dump();
  const std::string base_digest = ReadJson(s_ / "base/index.json")["manifests"][0]["digest"];
  EXPECT_EQ(pred["materials"][0]["uri"], "docker.io/library/base@" + base_digest);
  EXPECT_EQ(pred["invocation"]["parameters"]["args"]["context:base"],
            "oci-layout://base@" + base_digest);
  EXPECT_EQ(pred["invocation"]["configSource"]["entryPoint"], "Dockerfile");
  EXPECT_EQ(pred["invocation"]["parameters"]["locals"],
            json::array({{{"name", "context"}}, {{"name", "dockerfile"}}}));
  EXPECT_GE(pred["buildConfig"]["llbDefinition"].size(), 5u);
  const json& bk = pred["metadata"]["https://mobyproject.org/buildkit@v1#metadata"];
  EXPECT_TRUE(bk.contains("source"));
  // Each step's result as layers: the base image's one layer, and the whole image for the last.
  const json manifest = ReadJson(s_ / ("att/blobs/sha256/" + std::string(image["digest"]).substr(7)));
  ASSERT_TRUE(bk.contains("layers")) << bk.dump();
  size_t longest = 0;
  for (const auto& [step, chains] : bk["layers"].items()) {
    ASSERT_EQ(chains.size(), 1u) << step;
    const json& chain = chains[0];
    for (size_t i = 0; i < chain.size(); ++i) EXPECT_EQ(chain[i], manifest["layers"][i]) << step;
    longest = std::max(longest, chain.size());
  }
  EXPECT_EQ(longest, manifest["layers"].size());
  EXPECT_EQ(bk["layers"]["step0:0"].size(), 1u);
  EXPECT_EQ(bk["layers"]["step0:0"][0].size(), 1u);  // the base image
  // Never a client path, in any attestation.
  for (const auto& [type, stmt] : a.statements) {
    EXPECT_EQ(stmt.dump().find(s_.path()), std::string::npos) << type;
  }
  EXPECT_EQ(a.statements["https://spdx.dev/Document"]["predicate"]["spdxVersion"], "SPDX-2.3");
  // FROM a layout holding it resolves to the image, never to its attestation manifest.
  std::filesystem::create_directories(s_ / "ctx2");
  WriteFile(s_ / "ctx2/Dockerfile", "FROM base\nRUN cat /srv/file.txt\n");
  r = Hoist("--root " + Quote(s_ / "root") + " build --progress=plain --build-context base=oci-layout://" +
            Quote(s_ / "att:1") + " " + Quote(s_ / "ctx2"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("exported"), std::string::npos) << r.err;
  // Peers read the layout with its attestation manifest.
  RunResult peer = Sh("skopeo inspect oci:" + Quote(s_ / "att") + ":1");
  EXPECT_EQ(peer.exit_code, 0) << peer.err;

  // A Docker tarball: manifest.json names the image; index.json keeps the attestations.
  r = Build("--provenance=true -t app:2 -o type=docker,dest=" + Quote(s_ / "docker.tar"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Sh("mkdir -p " + Quote(s_ / "dx") + " && tar -xf " + Quote(s_ / "docker.tar") + " -C " +
               Quote(s_ / "dx")).exit_code, 0);
  json mj = ReadJson(s_ / "dx/manifest.json");
  ASSERT_EQ(mj.size(), 1u);
  EXPECT_EQ(mj[0]["RepoTags"], json({"app:2"}));
  EXPECT_EQ(mj[0]["Layers"].size(), 4u);
  a = ReadAttestations(s_ / "dx", ReadJson(s_ / "dx/index.json")["manifests"][0]["digest"]);
  EXPECT_EQ(a.statements.size(), 1u);
  // --provenance=true is BuildKit's default mode, max.
  EXPECT_TRUE(a.statements["https://slsa.dev/provenance/v0.2"]["predicate"].contains("buildConfig"));
  peer = Sh("skopeo inspect docker-archive:" + Quote(s_ / "docker.tar"));
  EXPECT_EQ(peer.exit_code, 0) << peer.err;

  // Local output: each attestation is a file, its subjects the output's files.
  r = Build("--provenance=mode=min --sbom=true -o type=local,dest=" + Quote(s_ / "files"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json pf = ReadJson(s_ / "files/provenance.json");
  ASSERT_TRUE(pf.is_object()) << ReadFileOrEmpty(s_ / "files/provenance.json");
  EXPECT_FALSE(pf["predicate"].contains("buildConfig"));
  bool found = false;
  for (const json& sub : pf["subject"]) {
    if (sub["name"] == "srv/file.txt") {
      found = true;
      // sha256 of "exported\n"
      EXPECT_EQ(sub["digest"]["sha256"],
                Sh("printf 'exported\\n' | sha256sum").out.substr(0, 64));
    }
  }
  EXPECT_TRUE(found) << pf["subject"].dump();
  EXPECT_TRUE(std::filesystem::exists(s_ / "files/sbom.spdx.json"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "files/srv/file.txt"), "exported\n");
  // The default's inline-only provenance writes no file.
  r = Build("-o type=local,dest=" + Quote(s_ / "files2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(s_ / "files2/provenance.json"));
}

TEST_F(ExportTest, ProvenanceKeepsReproducibleBuildsReproducible) {
  const std::string env = "SOURCE_DATE_EPOCH=1700000000 ";
  auto digest = [&](const std::string& root) {
    RunResult r = Sh(env + HoistCommand("--root " + Quote(s_ / root) +
                                        " build --progress=quiet --provenance=mode=max "
                                        "--build-context base=oci-layout://" +
                                        Quote(s_ / "base:1.36") +
                                        " -o type=oci,rewrite-timestamp=true,dest=" +
                                        Quote(s_ / (root + ".tar")) + " --metadata-file " +
                                        Quote(s_ / (root + ".json")) + " " + Quote(s_ / "ctx"),
                                    "SOURCE_DATE_EPOCH=1700000000"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ReadJson(s_ / (root + ".json")).value("containerimage.digest", "");
  };
  const std::string first = digest("r1");
  const std::string second = digest("r2");
  EXPECT_EQ(first.size(), 71u);
  EXPECT_EQ(first, second);
}

TEST_F(ExportTest, ImageOutputsGetMinProvenanceByDefault) {
  auto root_type = [&](const std::string& flags, const std::string& env = "") {
    RunResult r = Sh(env + " " + HoistCommand("--root " + Quote(s_ / "root") +
                                              " build --progress=quiet --build-context base=oci-layout://" +
                                              Quote(s_ / "base:1.36") + " -o type=image,name=app:d " +
                                              flags + " --metadata-file " + Quote(s_ / "m.json") + " " +
                                              Quote(s_ / "ctx")));
    EXPECT_EQ(r.exit_code, 0) << flags << r.err;
    return ReadJson(s_ / "m.json")["containerimage.descriptor"].value("mediaType", "");
  };
  EXPECT_EQ(root_type(""), "application/vnd.oci.image.index.v1+json");
  EXPECT_EQ(root_type("--provenance=false"), "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(root_type("--attest type=provenance,enabled=false"),
            "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(root_type("", "HOIST_NO_DEFAULT_ATTESTATIONS=1"),
            "application/vnd.docker.distribution.manifest.v2+json");
  struct Case {
    std::string flags;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"--attest type=vex", "unknown attestation type \"vex\""},
           {"--attest mode=max", "attestation type not specified"},
           {"--provenance=true --attest type=provenance", "duplicate attestation field provenance"},
           {"--provenance=mode=most", "invalid mode \"most\""},
           {"--opt attest:provenance=filename=../../x", "invalid filename"},
       }) {
    RunResult r = Build(c.flags + " -o type=oci,dest=" + Quote(s_ / "bad.tar"));
    EXPECT_NE(r.exit_code, 0) << c.flags;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.flags << "\n" << r.err;
    EXPECT_FALSE(std::filesystem::exists(s_ / "bad.tar"));
  }
}

}  // namespace
}  // namespace hoist::itest
