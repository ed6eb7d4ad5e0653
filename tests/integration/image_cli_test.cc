// `hoist unpack` and `hoist pack` end to end, against umoci and skopeo on the same images.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "harness.h"

namespace hoist::itest {
namespace {

using nlohmann::json;

std::string MakeTestImage(const std::string& out, const std::string& extra = "") {
  RunResult r = Sh(std::string(HOIST_SOURCE_DIR) + "/scripts/make-test-image " + Quote(out) +
                   " --size-mb 4 --files 300 " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, 71);
}

std::string BlobPath(const std::string& layout, const std::string& digest) {
  return layout + "/blobs/sha256/" + digest.substr(7);
}

json ReadJson(const std::string& path) {
  return json::parse(ReadFileOrEmpty(path), nullptr, false);
}

TEST(Unpack, SameTreeAsUmoci) {
  Scratch s;
  MakeTestImage(s / "img");
  RunResult r = Hoist("unpack " + Quote(s / "img:1") + " " + Quote(s / "hoist"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 layer(s)"), std::string::npos) << r.out;
  r = Sh("umoci unpack --image " + Quote(s / "img:1") + " " + Quote(s / "bundle"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string ours = TreeFingerprint(s / "hoist");
  EXPECT_EQ(ours, TreeFingerprint(s / "bundle/rootfs"));
  // The whiteouts took effect: deleted files, the opaque dir, the file turned directory.
  EXPECT_FALSE(std::filesystem::exists(s / "hoist/usr/lib/pkg05/file00005.txt"));
  EXPECT_FALSE(std::filesystem::exists(s / "hoist/opt/app/old1"));
  EXPECT_TRUE(std::filesystem::exists(s / "hoist/opt/app/new"));
  EXPECT_TRUE(std::filesystem::is_directory(s / "hoist/etc/becomes-dir"));
  EXPECT_FALSE(std::filesystem::exists(s / "hoist/var/cache/blob2.bin"));
  EXPECT_NE(ours.find("./usr/bin-tool f 4755"), std::string::npos) << "setuid bit lost";
  EXPECT_NE(ours.find("./etc/config f 600 1000:1000"), std::string::npos);
}

// A layer made by GNU tar from a directory starts with the directory itself (`./`): its mode,
// owner and time become the root's, as umoci and tar give them.
TEST(Unpack, RootEntrySetsTheRootAsUmociDoes) {
  Scratch s;
  RunResult r = Sh("cd " + Quote(s.path()) +
                   " && mkdir tree && echo hi > tree/f && chmod 0750 tree && chown 7:8 tree"
                   " && touch -d @1000000000 tree"
                   " && tar --numeric-owner -C tree -cf layer.tar . && umoci init --layout L"
                   " && umoci new --image L:t && umoci raw add-layer --image L:t layer.tar"
                   " && umoci unpack --image L:t bundle");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Hoist("unpack " + Quote(s / "L:t") + " " + Quote(s / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string stat = "stat -c '%a %u:%g %Y' ";
  RunResult ours = Sh(stat + Quote(s / "out"));
  EXPECT_EQ(ours.out, "750 7:8 1000000000\n");
  EXPECT_EQ(ours.out, Sh(stat + Quote(s / "bundle/rootfs")).out);
  EXPECT_EQ(TreeFingerprint(s / "out"), TreeFingerprint(s / "bundle/rootfs"));
}

TEST(Unpack, ZstdAndTarballAndSkopeoCopiesGiveTheSameTree) {
  Scratch s;
  MakeTestImage(s / "gz");
  MakeTestImage(s / "zst", "--compression zstd");
  MakeTestImage(s / "img.tar", "--tar");
  ASSERT_EQ(Sh("skopeo copy " + Quote("oci:" + s / "gz:1") + " " + Quote("oci:" + s / "sk:copied")).exit_code, 0);
  for (const std::string& src : {s / "gz:1", s / "zst:1", s / "img.tar:1", s / "sk:copied"}) {
    std::string dest = s / ("out-" + std::to_string(std::hash<std::string>()(src)));
    RunResult r = Hoist("unpack " + Quote(src) + " " + Quote(dest));
    ASSERT_EQ(r.exit_code, 0) << src << ": " << r.err;
  }
  std::string want = TreeFingerprint(s / ("out-" + std::to_string(std::hash<std::string>()(s / "gz:1"))));
  for (const std::string& src : {s / "zst:1", s / "img.tar:1", s / "sk:copied"}) {
    EXPECT_EQ(TreeFingerprint(s / ("out-" + std::to_string(std::hash<std::string>()(src)))), want) << src;
  }
}

TEST(Unpack, CorruptLayerFailsAndLeavesNothing) {
  Scratch s;
  std::string manifest_digest = MakeTestImage(s / "img");
  json manifest = ReadJson(BlobPath(s / "img", manifest_digest));
  std::string layer = manifest["layers"][1]["digest"];
  std::string bytes = ReadFileOrEmpty(BlobPath(s / "img", layer));
  bytes[bytes.size() / 2] ^= 0x01;
  WriteFile(BlobPath(s / "img", layer), bytes);
  RunResult r = Hoist("unpack " + Quote(s / "img:1") + " " + Quote(s / "out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("layer 2/3 " + layer), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(s / "out"));
  for (const auto& e : std::filesystem::directory_iterator(s.path())) {
    EXPECT_EQ(e.path().filename().string().find(".out.unpack-"), std::string::npos)
        << "partial tree left behind: " << e.path();
  }
}

TEST(Unpack, WrongDiffIdIsNamed) {
  Scratch s;
  std::string manifest_digest = MakeTestImage(s / "img");
  // Rewrite the config with a wrong diff ID, then the manifest and index to point at it.
  std::string script = R"PY(
import hashlib, json, os, sys
root, mdig = sys.argv[1], sys.argv[2]
def path(d): return os.path.join(root, "blobs/sha256", d[7:])
def put(b):
    d = "sha256:" + hashlib.sha256(b).hexdigest()
    open(path(d), "wb").write(b)
    return d, len(b)
m = json.load(open(path(mdig)))
c = json.load(open(path(m["config"]["digest"])))
c["rootfs"]["diff_ids"][0] = "sha256:" + "ab" * 32
m["config"]["digest"], m["config"]["size"] = put(json.dumps(c).encode())
md, ms = put(json.dumps(m).encode())
idx = json.load(open(os.path.join(root, "index.json")))
idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = md, ms
json.dump(idx, open(os.path.join(root, "index.json"), "w"))
)PY";
  WriteFile(s / "rewrite.py", script);
  ASSERT_EQ(Sh("python3 " + Quote(s / "rewrite.py") + " " + Quote(s / "img") + " " + manifest_digest).exit_code, 0);
  RunResult r = Hoist("unpack " + Quote(s / "img:1") + " " + Quote(s / "out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("layer 1/3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("diff ID mismatch"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(s / "out"));
}

TEST(Unpack, RefusesANonEmptyDestination) {
  Scratch s;
  MakeTestImage(s / "img");
  ASSERT_EQ(Sh("mkdir -p " + Quote(s / "out") + " && touch " + Quote(s / "out/keep")).exit_code, 0);
  RunResult r = Hoist("unpack " + Quote(s / "img:1") + " " + Quote(s / "out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
  EXPECT_TRUE(std::filesystem::exists(s / "out/keep"));
}

// A source tree with the kinds of entries layers carry.
void MakeTree(const std::string& dir) {
  ASSERT_EQ(Sh("mkdir -p " + Quote(dir) + "/app/sub " + Quote(dir) + "/etc && "
               "printf 'hello\\n' > " + Quote(dir) + "/app/hello.txt && "
               "head -c 3000000 /dev/urandom > " + Quote(dir) + "/app/random.bin && "
               "ln -s hello.txt " + Quote(dir) + "/app/link && "
               "ln " + Quote(dir) + "/app/hello.txt " + Quote(dir) + "/app/hard && "
               "printf 'x' > " + Quote(dir) + "/app/suid && chmod 4755 " + Quote(dir) + "/app/suid && "
               "chown 1234:5678 " + Quote(dir) + "/app/sub && "
               "printf 'k=v\\n' > " + Quote(dir) + "/etc/conf && chmod 600 " + Quote(dir) + "/etc/conf").exit_code, 0);
}

TEST(Pack, OnABaseImageThatPeersAccept) {
  Scratch s;
  std::string base_digest = MakeBaseImage(s / "base");
  MakeTree(s / "tree");
  WriteFile(s / "config.json", R"({"Env":["PATH=/bin","MODE=prod"],"Cmd":["/bin/sh","-c","cat /app/hello.txt"],"WorkingDir":"/app"})");
  RunResult r = Hoist("pack " + Quote(s / "tree") + " --layout " + Quote(s / "out") +
                      " -t example.com/app:1 -t latest --base " + Quote(s / "base:1.36") +
                      " --config-from " + Quote(s / "config.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string digest = r.out.substr(0, 71);

  r = Sh("skopeo inspect " + Quote("oci:" + s / "out:1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json inspect = json::parse(r.out);
  EXPECT_EQ(inspect["Digest"], digest);
  ASSERT_EQ(inspect["Layers"].size(), 2u);
  // The base layer is the same blob, not recompressed.
  json base_manifest = ReadJson(BlobPath(s / "base", base_digest));
  EXPECT_EQ(inspect["Layers"][0], base_manifest["layers"][0]["digest"]);
  EXPECT_EQ(inspect["Env"][1], "MODE=prod");

  r = Sh("umoci unpack --image " + Quote(s / "out:latest") + " " + Quote(s / "bundle"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s / "bundle/rootfs/app/hello.txt"), "hello\n");
  EXPECT_TRUE(std::filesystem::exists(s / "bundle/rootfs/bin/busybox"));
  r = Hoist("unpack " + Quote(s / "out:1") + " " + Quote(s / "mine"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(TreeFingerprint(s / "mine"), TreeFingerprint(s / "bundle/rootfs"));
  EXPECT_EQ(Hoist("layout verify " + Quote(s / "out")).exit_code, 0);
}

TEST(Pack, RoundTripKeepsEveryAttribute) {
  Scratch s;
  MakeTree(s / "tree");
  for (std::string c : {"gzip", "zstd", "none"}) {
    std::string layout = s / ("out-" + c);
    RunResult r = Hoist("pack " + Quote(s / "tree") + " --layout " + Quote(layout) +
                        " -t t:1 --compression " + c);
    ASSERT_EQ(r.exit_code, 0) << c << ": " << r.err;
    r = Hoist("unpack " + Quote(layout + ":1") + " " + Quote(s / ("back-" + c)));
    ASSERT_EQ(r.exit_code, 0) << c << ": " << r.err;
    EXPECT_EQ(TreeFingerprint(s / ("back-" + c)), TreeFingerprint(s / "tree")) << c;
    // Hardlinks come back as hardlinks.
    EXPECT_EQ(std::filesystem::hard_link_count(s / ("back-" + c) + "/app/hard"), 2u) << c;
  }
  json m = ReadJson(s / "out-zstd/index.json");
  std::string mdig = m["manifests"][0]["digest"];
  json manifest = ReadJson(BlobPath(s / "out-zstd", mdig));
  EXPECT_EQ(manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
}

TEST(Pack, ReproducibleWithSourceDateEpoch) {
  Scratch s;
  MakeTree(s / "tree");
  std::string a = Sh("SOURCE_DATE_EPOCH=1700000000 " + std::string(HOIST_BIN) + " pack " +
                     Quote(s / "tree") + " --layout " + Quote(s / "a") + " -t r:1").out;
  // Touch every file: the clamp makes newer mtimes irrelevant.
  ASSERT_EQ(Sh("find " + Quote(s / "tree") + " -exec touch -h {} +").exit_code, 0);
  std::string b = Sh("SOURCE_DATE_EPOCH=1700000000 " + std::string(HOIST_BIN) + " pack " +
                     Quote(s / "tree") + " --layout " + Quote(s / "b") + " -t r:1").out;
  ASSERT_EQ(a.size(), 72u) << a;
  EXPECT_EQ(a, b);
  RunResult bad = Sh("SOURCE_DATE_EPOCH=yesterday " + std::string(HOIST_BIN) + " pack " +
                     Quote(s / "tree") + " --layout " + Quote(s / "c"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("invalid SOURCE_DATE_EPOCH"), std::string::npos) << bad.err;
}

TEST(Pack, BadInputIsRefusedBeforeWriting) {
  Scratch s;
  MakeTree(s / "tree");
  RunResult r = Hoist("pack " + Quote(s / "missing") + " --layout " + Quote(s / "out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a directory"), std::string::npos) << r.err;
  r = Hoist("pack " + Quote(s / "tree") + " --layout " + Quote(s / "out") + " --compression lz4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("invalid --compression \"lz4\""), std::string::npos) << r.err;
  WriteFile(s / "bad.json", R"({"Cmd": "not a list"})");
  r = Hoist("pack " + Quote(s / "tree") + " --layout " + Quote(s / "out") + " --config-from " +
            Quote(s / "bad.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("config.Cmd"), std::string::npos) << r.err;
  r = Hoist("pack " + Quote(s / "tree") + " --layout " + Quote(s / "out") + " --base " +
            Quote(s / "nowhere:1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(s / "out")) << "a refused pack created the layout";
}

}  // namespace
}  // namespace hoist::itest
