// `hoist build` end to end on the embedded engine: a real OCI runtime (runc), overlayfs, and
// OCI layouts as named contexts (SPEC-oci-layout.md §5).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "harness.h"

namespace hoist::itest {
namespace {

using nlohmann::json;

// The snapshots an engine root holds, keyed by name: its snapshots/metadata.json with the lines
// of snapshots/metadata.journal applied (removals, then additions), as the snapshotter reads
// them.
std::map<std::string, json> Snapshots(const std::string& root) {
  std::map<std::string, json> out;
  json meta = json::parse(ReadFileOrEmpty(root + "/snapshots/metadata.json"), nullptr, false);
  if (!meta.is_object()) return out;
  for (const json& snap : meta["snapshots"]) out[snap.value("key", "")] = snap;
  const std::string journal = ReadFileOrEmpty(root + "/snapshots/metadata.journal");
  for (size_t at = 0, end; (end = journal.find('\n', at)) != std::string::npos; at = end + 1) {
    json change = json::parse(journal.substr(at, end - at), nullptr, false);
    if (!change.is_object()) break;
    for (const json& key : change["del"]) out.erase(key.get<std::string>());
    for (const json& snap : change["put"]) out[snap.value("key", "")] = snap;
  }
  return out;
}

class BuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root (overlayfs, runc)";
    base_digest_ = MakeBaseImage(s_ / "base", "busybox:1.36");
    ASSERT_EQ(base_digest_.size(), 71u) << base_digest_;
    std::filesystem::create_directories(s_ / "ctx");
  }

  // Runs `hoist --root R build ARGS CTX` with plain progress.
  RunResult Build(const std::string& args, const std::string& ctx = "") {
    return Hoist("--root " + Quote(s_ / "root") + " build --progress=plain " + args + " " +
                 Quote(ctx.empty() ? s_ / "ctx" : ctx));
  }
  void Dockerfile(const std::string& text) { WriteFile(s_ / "ctx/Dockerfile", text); }
  std::string BaseContext() const { return "--build-context base=oci-layout://" + Quote(s_ / "base:1.36"); }

  Scratch s_;
  std::string base_digest_;
};

TEST_F(BuildTest, FromLayoutRunCopyAndLocalOutput) {
  Dockerfile(
      "FROM base\n"
      "RUN echo hello > /greeting && id -u > /uid\n"
      "WORKDIR /app\n"
      "COPY app.txt .\n");
  WriteFile(s_ / "ctx/app.txt", "my app\n");
  auto before = TreeDigest(s_ / "base");
  RunResult r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/greeting"), "hello\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/uid"), "0\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/app/app.txt"), "my app\n");
  EXPECT_TRUE(std::filesystem::exists(s_ / "out/bin/busybox"));
  // The progress speaks of the context as the SPEC says, and never of the layout's path.
  EXPECT_NE(r.err.find("[context base] OCI load from client"), std::string::npos) << r.err;
  const std::string dummy = "docker.io/library/base@" + base_digest_;
  EXPECT_NE(r.err.find("[context base] load metadata for " + dummy), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("resolve " + dummy), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("extracting sha256:"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(s_.path() + "/base"), std::string::npos) << r.err;
  // Nothing was written into the input layout.
  EXPECT_EQ(TreeDigest(s_ / "base"), before);
}

TEST_F(BuildTest, EverySnapshotterAndInMemoryLayersGiveTheSameImage) {
  // Layers as EROFS images (COPY results written from their sources, ADD's held in memory,
  // then written as images), as extracted directories, and as images with too little memory
  // (the ADD is done again on disk): the same files, so the same image.
  Dockerfile(
      "FROM base\n"
      "COPY sub/ /data/\n"
      "COPY --chmod=600 sub/a /etc/a2\n"
      "RUN cat /data/a /etc/a2 /data/deeper/b > /both && rm /data/gone\n"
      "COPY big /big\n"
      "ADD big /added\n");
  std::filesystem::create_directories(s_ / "ctx/sub/deeper");
  WriteFile(s_ / "ctx/sub/a", "a\n");
  WriteFile(s_ / "ctx/sub/gone", "g\n");
  WriteFile(s_ / "ctx/sub/deeper/b", "b\n");
  std::filesystem::create_symlink("a", s_ / "ctx/sub/l");
  std::filesystem::create_hard_link(s_ / "ctx/sub/a", s_ / "ctx/sub/hard");
  std::string big;
  for (int i = 0; big.size() < (3 << 20); ++i) big += std::to_string(i * 7919) + "\n";
  WriteFile(s_ / "ctx/big", big);
  const std::vector<std::string> variants = {"--snapshotter erofs", "--snapshotter overlayfs",
                                             "--snapshotter erofs --layer-memory 1MiB"};
  std::vector<std::string> digests;
  for (size_t i = 0; i < variants.size(); ++i) {
    const std::string n = std::to_string(i);
    RunResult r = Hoist("--root " + Quote(s_ / ("root-" + n)) + " " + variants[i] +
                        " build --progress=plain --build-arg SOURCE_DATE_EPOCH=0 " +
                        BaseContext() + " -o type=oci,rewrite-timestamp=true,dest=" +
                        Quote(s_ / ("out-" + n + ".tar")) + " --metadata-file " +
                        Quote(s_ / ("md-" + n + ".json")) + " " + Quote(s_ / "ctx"));
    ASSERT_EQ(r.exit_code, 0) << variants[i] << "\n" << r.err;
    json md = json::parse(ReadFileOrEmpty(s_ / ("md-" + n + ".json")), nullptr, false);
    ASSERT_TRUE(md.is_object()) << variants[i];
    digests.push_back(md.value("containerimage.digest", ""));
    // The files, through the layers each snapshotter made.
    RunResult l = Hoist("--root " + Quote(s_ / ("root-" + n)) + " " + variants[i] +
                        " build --progress=plain --build-arg SOURCE_DATE_EPOCH=0 " +
                        BaseContext() + " -o type=local,dest=" +
                        Quote(s_ / ("files-" + n)) + " " + Quote(s_ / "ctx"));
    ASSERT_EQ(l.exit_code, 0) << variants[i] << "\n" << l.err;
    EXPECT_EQ(ReadFileOrEmpty(s_ / ("files-" + n + "/both")), "a\na\nb\n") << variants[i];
    EXPECT_EQ(ReadFileOrEmpty(s_ / ("files-" + n + "/big")), big) << variants[i];
    EXPECT_EQ(ReadFileOrEmpty(s_ / ("files-" + n + "/added")), big) << variants[i];
    EXPECT_FALSE(std::filesystem::exists(s_ / ("files-" + n + "/data/gone"))) << variants[i];
    EXPECT_EQ(std::filesystem::read_symlink(s_ / ("files-" + n + "/data/l")), "a");
  }
  EXPECT_EQ(digests[0].size(), 71u);
  EXPECT_EQ(digests[0], digests[1]);
  EXPECT_EQ(digests[0], digests[2]);
  // Layers became images where the snapshotter keeps them so (the base's, the COPYs', the
  // ADD's), and so did the context's mirror through hoistd (the embedded engine reads the
  // context in place).
  size_t images = 0;
  for (const auto& [key, snap] : Snapshots(s_ / "root-0")) {
    if (snap.value("tree", "") == "erofs") ++images;
  }
  EXPECT_EQ(images, DaemonMode() ? 6u : 5u);
}

TEST_F(BuildTest, CopyLayersWrittenFromTheirSourcesGiveTheSameImage) {
  // With the EROFS snapshotter a COPY's layer is written straight from the sources; the
  // extracted (overlayfs) and full-copy (native) snapshotters copy file by file. Every COPY
  // form of stage `main` gives the same image. The copies of stage `replaced`, which the
  // direct path declines (a file replaced, a directory merged below the destination), give the
  // same image through the overlay in memory as through overlayfs; native's tree diff leaves
  // out files rewritten with the same size and mtime, so it is not compared there.
  Dockerfile(
      "FROM base AS other\n"
      "COPY sub/ /stage/\n"
      "RUN echo made > /stage/made\n"
      "FROM base AS main\n"
      "COPY a.txt /etc/a.txt\n"
      "COPY a.txt /new/deeper/b.txt\n"
      "COPY sub/ /data/\n"
      "COPY sub /usr/sub\n"
      "COPY *.txt /globbed/\n"
      "COPY --chown=1000:1001 sub/ /owned/\n"
      "COPY --chown=nobody a.txt /owned-by-name\n"
      "COPY --chmod=640 a.txt /modes/a\n"
      "COPY --chmod=u+x,go-r sub/ /modes/sub/\n"
      "COPY --link sub/ /linked/\n"
      "COPY sub/ /var/\n"
      "COPY --from=other /stage/ /fromstage/\n"
      "FROM main AS replaced\n"
      "COPY b.txt /etc/a.txt\n"
      "COPY sub/ /data/\n");
  std::filesystem::create_directories(s_ / "ctx/sub/deeper/empty");
  WriteFile(s_ / "ctx/a.txt", "a\n");
  WriteFile(s_ / "ctx/b.txt", "b\n");
  WriteFile(s_ / "ctx/sub/x", "x\n");
  WriteFile(s_ / "ctx/sub/deeper/y", std::string(2 << 20, 'y'));
  std::filesystem::create_symlink("x", s_ / "ctx/sub/l");
  std::filesystem::create_hard_link(s_ / "ctx/sub/x", s_ / "ctx/sub/deeper/hard");
  const std::vector<std::string> variants = {"--snapshotter erofs", "--snapshotter overlayfs",
                                             "--snapshotter native"};
  std::vector<std::string> digests, replaced;
  std::vector<std::map<std::string, std::string>> trees;
  for (size_t i = 0; i < variants.size(); ++i) {
    const std::string n = std::to_string(i);
    const std::string root = "--root " + Quote(s_ / ("root-" + n)) + " " + variants[i];
    auto image = [&](const std::string& target) {
      RunResult r = Hoist(root + " build --progress=plain --build-arg SOURCE_DATE_EPOCH=0 " +
                          BaseContext() + " --target " + target +
                          " -o type=oci,rewrite-timestamp=true,dest=" +
                          Quote(s_ / ("out-" + n + ".tar")) + " --metadata-file " +
                          Quote(s_ / ("md-" + n + ".json")) + " " + Quote(s_ / "ctx"));
      EXPECT_EQ(r.exit_code, 0) << variants[i] << "\n" << r.err;
      json md = json::parse(ReadFileOrEmpty(s_ / ("md-" + n + ".json")), nullptr, false);
      EXPECT_TRUE(md.is_object()) << variants[i];
      return md.is_object() ? md.value("containerimage.digest", "") : "";
    };
    digests.push_back(image("main"));
    if (i < 2) replaced.push_back(image("replaced"));
    RunResult l = Hoist(root + " build --progress=plain " + BaseContext() +
                        " -o type=local,dest=" + Quote(s_ / ("files-" + n)) + " " +
                        Quote(s_ / "ctx"));
    ASSERT_EQ(l.exit_code, 0) << variants[i] << "\n" << l.err;
    const std::string files = s_ / ("files-" + n);
    EXPECT_EQ(ReadFileOrEmpty(files + "/etc/a.txt"), "b\n") << variants[i];
    EXPECT_EQ(ReadFileOrEmpty(files + "/fromstage/made"), "made\n") << variants[i];
    EXPECT_EQ(ReadFileOrEmpty(files + "/var/deeper/y").size(), size_t{2} << 20) << variants[i];
    EXPECT_TRUE(std::filesystem::is_directory(files + "/usr/sub/deeper/empty")) << variants[i];
    EXPECT_EQ(std::filesystem::read_symlink(files + "/linked/l"), "x") << variants[i];
    EXPECT_TRUE(std::filesystem::exists(files + "/bin/busybox")) << variants[i];
    trees.push_back(TreeDigest(files));
  }
  EXPECT_EQ(digests[0].size(), 71u);
  EXPECT_EQ(digests[0], digests[1]);
  EXPECT_EQ(digests[0], digests[2]);
  EXPECT_EQ(replaced[0].size(), 71u);
  EXPECT_EQ(replaced[0], replaced[1]);
  EXPECT_EQ(trees[0], trees[1]);
  EXPECT_EQ(trees[0], trees[2]);
  if (!DaemonMode()) {
    // The direct path was taken for the COPYs it can prove, and declined the others.
    RunResult d = Hoist("--root " + Quote(s_ / "root-debug") +
                        " --snapshotter erofs --debug build --progress=plain " + BaseContext() +
                        " -o type=local,dest=" + Quote(s_ / "files-debug") + " " +
                        Quote(s_ / "ctx"));
    ASSERT_EQ(d.exit_code, 0) << d.err;
    size_t direct = 0, declined = 0;
    for (size_t at = 0; (at = d.err.find("layer written from its sources", at)) != std::string::npos; ++at) {
      ++direct;
    }
    for (size_t at = 0; (at = d.err.find("copying through a mount", at)) != std::string::npos; ++at) {
      ++declined;
    }
    EXPECT_EQ(direct, 13u) << d.err;
    EXPECT_EQ(declined, 2u) << d.err;
    EXPECT_EQ(TreeDigest(s_ / "files-debug"), trees[0]);
  }
}

TEST_F(BuildTest, ACopyLayerThatFillsTheDiskFailsAndLeavesNothing) {
  // The engine root on a 64 MiB filesystem: another stage's 40 MiB file is there once, and its
  // copy's layer image does not fit beside it.
  const std::string root = s_ / "small-root";
  std::filesystem::create_directories(root);
  ASSERT_EQ(Sh("mount -t tmpfs -o size=64m tmpfs " + Quote(root)).exit_code, 0);
  struct Unmount {
    std::string dir;
    ~Unmount() { (void)Sh("umount -l " + Quote(dir)); }
  } unmount{root};
  Dockerfile(
      "FROM base AS gen\n"
      "RUN dd if=/dev/zero of=/big bs=1M count=40 2>/dev/null\n"
      "FROM base\n"
      "COPY --from=gen /big /big\n");
  RunResult r = Hoist("--root " + Quote(root) + " --snapshotter erofs build --progress=plain " +
                      BaseContext() + " -o type=oci,dest=" + Quote(s_ / "full.tar") + " " +
                      Quote(s_ / "ctx"));
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("COPY --from=gen /big /big"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(s_ / "full.tar"));
  // Only committed snapshots remain (the base's and the RUN's), and no partial image.
  const std::map<std::string, json> snaps = Snapshots(root);
  for (const auto& [key, snap] : snaps) {
    EXPECT_EQ(snap.value("kind", ""), "committed") << snap.dump();
  }
  EXPECT_EQ(snaps.size(), 2u);
  // Nor a partial blob (the copy's layer blob is written beside its image).
  for (const auto& e : std::filesystem::directory_iterator(root + "/content/ingest")) {
    ADD_FAILURE() << "left in the ingest: " << e.path().filename();
  }
}

TEST_F(BuildTest, EightBuildsShareOneRootAtOnceAndTagOneLayout) {
  // Eight different builds started together on one root (embedded: eight processes sharing it;
  // through hoistd: eight clients of one daemon), sharing the base's layers, a cache mount
  // seeded on first use, and one output layout that each adds its own tag to.
  constexpr int kBuilds = 8;
  const std::string layout = s_ / "apps";
  for (int i = 0; i < kBuilds; ++i) {
    const std::string ctx = s_ / ("ctx" + std::to_string(i));
    std::filesystem::create_directories(ctx);
    const std::string n = std::to_string(i);
    WriteFile(ctx + "/Dockerfile",
              "FROM base\n"
              "RUN --mount=type=cache,target=/cache echo " + n + " >> /cache/log && "
              "echo built " + n + " > /which\n"
              "COPY f /f\n"
              "RUN cat /f /which > /both\n");
    WriteFile(ctx + "/f", "file " + n + "\n");
  }
  std::vector<RunResult> results(kBuilds);
  std::vector<std::thread> threads;
  for (int i = 0; i < kBuilds; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Build(BaseContext() + " -o type=oci,tar=false,dest=" + Quote(layout) +
                             ",name=example.com/app:t" + std::to_string(i),
                         s_ / ("ctx" + std::to_string(i)));
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kBuilds; ++i) {
    ASSERT_EQ(results[i].exit_code, 0) << "build " << i << ":\n" << results[i].err;
    // Nobody queued behind anybody.
    EXPECT_EQ(results[i].err.find("waiting for another hoist"), std::string::npos) << results[i].err;
  }
  RunResult r = Hoist("layout verify " + Quote(layout));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  json index = json::parse(ReadFileOrEmpty(layout + "/index.json"), nullptr, false);
  ASSERT_TRUE(index.is_object());
  std::set<std::string> names;
  for (const json& m : index["manifests"]) {
    names.insert(m["annotations"].value("org.opencontainers.image.ref.name", ""));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kBuilds));
  for (int i = 0; i < kBuilds; ++i) {
    const std::string n = std::to_string(i);
    EXPECT_TRUE(names.count("t" + n)) << index.dump();
    const std::string tree = s_ / ("tree" + n);
    r = Hoist("unpack " + Quote(layout + ":t" + n) + " " + Quote(tree));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ReadFileOrEmpty(tree + "/both"), "file " + n + "\nbuilt " + n + "\n");
    EXPECT_TRUE(std::filesystem::exists(tree + "/bin/busybox"));
  }
  // The root is consistent: nothing left half-done by eight writers at once.
  if (!DaemonMode()) {
    r = Hoist("--root " + Quote(s_ / "root") + " debug fsck");
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  // The cache mount was shared: every build appended to the one directory.
  Dockerfile("FROM base\nRUN --mount=type=cache,target=/cache sort /cache/log > /log\n");
  r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "log-out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "log-out/log"), "0\n1\n2\n3\n4\n5\n6\n7\n");
}

TEST_F(BuildTest, ADiskThatFillsUpMidBuildFailsCleanlyAndTheNextBuildSucceeds) {
  // The engine root and the output layout each on a small filesystem (tmpfs, so that "freeing
  // space" is a remount with a larger size).
  const std::string root = s_ / "small-root";
  const std::string out = s_ / "small-out";
  struct Unmount {
    std::vector<std::string> dirs;
    ~Unmount() {
      for (const std::string& d : dirs) (void)Sh("umount -l " + Quote(d));
    }
  } unmount;
  for (const auto& [dir, size] : {std::pair{root, "24m"}, std::pair{out, "3m"}}) {
    std::filesystem::create_directories(dir);
    ASSERT_EQ(Sh("mount -t tmpfs -o size=" + std::string(size) + " tmpfs " + Quote(dir)).exit_code, 0);
    unmount.dirs.push_back(dir);
  }
  auto build = [&](const std::string& output) {
    return Hoist("--root " + Quote(root) + " build --progress=plain " + BaseContext() + " -o " +
                 output + " " + Quote(s_ / "ctx"));
  };
  auto fsck_is_clean = [&] {
    if (DaemonMode()) return;  // the daemon holds the root
    RunResult f = Hoist("--root " + Quote(root) + " debug fsck");
    EXPECT_EQ(f.exit_code, 0) << f.out << f.err;
  };
  // 1. The root fills up: a RUN's 16 MB of random bytes fit, but not once more as the layer.
  Dockerfile("FROM base\nRUN head -c 16000000 /dev/urandom > /big\nCOPY f /f\n");
  WriteFile(s_ / "ctx/f", "f\n");
  const std::string tar = s_ / "image.tar";
  RunResult r = build("type=oci,dest=" + Quote(tar));
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tar));
  fsck_is_clean();
  ASSERT_EQ(Sh("mount -o remount,size=256m " + Quote(root)).exit_code, 0);
  r = build("type=oci,dest=" + Quote(tar));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Hoist("layout verify " + Quote(tar)).exit_code, 0);
  fsck_is_clean();

  // 2. The output layout fills up: it keeps its old index.json and only whole blobs.
  const std::string layout = out + "/layout";
  Dockerfile("FROM base\nCOPY f /f\n");
  r = build("type=oci,tar=false,dest=" + Quote(layout) + ",name=example.com/app:small");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string index_before = ReadFileOrEmpty(layout + "/index.json");
  Dockerfile("FROM base\nRUN head -c 16000000 /dev/urandom > /big\nCOPY f /f\n");
  r = build("type=oci,tar=false,dest=" + Quote(layout) + ",name=example.com/app:big");
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(layout + "/index.json"), index_before);
  EXPECT_EQ(Hoist("layout verify " + Quote(layout)).exit_code, 0);
  for (const auto& [path, digest] : TreeDigest(layout)) {
    if (path.starts_with("blobs/") && digest != "dir") {
      EXPECT_EQ("blobs/sha256/" + digest, path) << "a partial or misnamed blob is visible";
    }
  }
  ASSERT_EQ(Sh("mount -o remount,size=64m " + Quote(out)).exit_code, 0);
  r = build("type=oci,tar=false,dest=" + Quote(layout) + ",name=example.com/app:big");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Hoist("layout verify " + Quote(layout)).exit_code, 0);
  r = Hoist("unpack " + Quote(layout + ":big") + " " + Quote(s_ / "big-tree"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::filesystem::file_size(s_ / "big-tree/big"), 16000000u);
  EXPECT_TRUE(std::filesystem::exists(s_ / "big-tree/f"));
  json index = json::parse(ReadFileOrEmpty(layout + "/index.json"), nullptr, false);
  ASSERT_TRUE(index.is_object());
  EXPECT_EQ(index["manifests"].size(), 2u) << index.dump();
  fsck_is_clean();
}

TEST_F(BuildTest, DockerignoreOfTheContextOrBesideTheDockerfile) {
  Dockerfile("FROM base\nCOPY . /c/\n");
  WriteFile(s_ / "ctx/keep.txt", "k\n");
  WriteFile(s_ / "ctx/secret.key", "x\n");
  WriteFile(s_ / "ctx/notes.md", "n\n");
  WriteFile(s_ / "ctx/.dockerignore", "*.key\n");
  RunResult r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "o1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(s_ / "o1/c/keep.txt"));
  EXPECT_TRUE(std::filesystem::exists(s_ / "o1/c/notes.md"));
  EXPECT_FALSE(std::filesystem::exists(s_ / "o1/c/secret.key"));
  // `<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's.
  WriteFile(s_ / "ctx/app.Dockerfile", "FROM base\nCOPY . /c/\n");
  WriteFile(s_ / "ctx/app.Dockerfile.dockerignore", "*.md\n");
  r = Build(BaseContext() + " -f " + Quote(s_ / "ctx/app.Dockerfile") + " -o type=local,dest=" +
            Quote(s_ / "o2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(s_ / "o2/c/keep.txt"));
  EXPECT_TRUE(std::filesystem::exists(s_ / "o2/c/secret.key"));
  EXPECT_FALSE(std::filesystem::exists(s_ / "o2/c/notes.md"));
}

// The embedded engine reads the context where it is (no mirror); hoistd mirrors it. Both show
// COPY and RUN bind mounts the same filtered context and give the same image.
TEST_F(BuildTest, ContextReadInPlaceHidesIgnoredFilesAndGivesTheDaemonsImage) {
  Dockerfile(
      "FROM base\n"
      "COPY . /c/\n"
      "RUN --mount=type=bind,target=/ctx find /ctx | sort > /ctx.list && "
      "(cat /ctx/secret.key /ctx/data/skip/x 2>&1 || true) > /secret.seen\n"
      "COPY data/ /data/\n");
  std::filesystem::create_directories(s_ / "ctx/data/sub");
  std::filesystem::create_directories(s_ / "ctx/data/skip");
  WriteFile(s_ / "ctx/data/a.txt", "a\n");
  WriteFile(s_ / "ctx/data/sub/b.txt", "b\n");
  WriteFile(s_ / "ctx/data/skip/x", "x\n");
  WriteFile(s_ / "ctx/secret.key", "key\n");
  std::filesystem::create_symlink("a.txt", s_ / "ctx/data/link");
  std::filesystem::create_hard_link(s_ / "ctx/data/a.txt", s_ / "ctx/data/hard");
  ASSERT_EQ(0, ::chmod((s_ / "ctx/data/sub").c_str(), 0750));
  WriteFile(s_ / "ctx/.dockerignore", "*.key\ndata/skip\n");
  const std::string common =
      " build --progress=plain --build-arg SOURCE_DATE_EPOCH=0 " + BaseContext();
  auto image = [&](const std::string& engine, const std::string& name) {
    RunResult r = Sh(engine + common + " -o type=oci,rewrite-timestamp=true,dest=" +
                     Quote(s_ / (name + ".tar")) + " --metadata-file " +
                     Quote(s_ / (name + ".json")) + " " + Quote(s_ / "ctx"));
    EXPECT_EQ(r.exit_code, 0) << name << "\n" << r.err;
    json md = json::parse(ReadFileOrEmpty(s_ / (name + ".json")), nullptr, false);
    return md.is_object() ? md.value("containerimage.digest", "") : std::string();
  };
  auto files = [&](const std::string& engine, const std::string& name) {
    RunResult r = Sh(engine + common + " -o type=local,dest=" + Quote(s_ / name) + " " +
                     Quote(s_ / "ctx"));
    EXPECT_EQ(r.exit_code, 0) << name << "\n" << r.err;
    return r;
  };
  const std::string embedded = std::string(HOIST_BIN) + " --root " + Quote(s_ / "root");
  RunResult r = files(embedded, "in-place");
  EXPECT_EQ(r.err.find(s_.path() + "/ctx"), std::string::npos) << r.err;
  // Nothing of the context was written into the engine's root.
  EXPECT_FALSE(std::filesystem::exists(s_ / "root/ops/local")) << r.err;
  const std::string listed = ReadFileOrEmpty(s_ / "in-place/ctx.list");
  EXPECT_NE(listed.find("/ctx/data/sub/b.txt"), std::string::npos) << listed;
  EXPECT_EQ(listed.find("secret"), std::string::npos) << listed;
  EXPECT_EQ(listed.find("skip"), std::string::npos) << listed;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "in-place/secret.seen").find("key\n"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(s_ / "in-place/c/secret.key"));
  EXPECT_FALSE(std::filesystem::exists(s_ / "in-place/c/data/skip"));
  EXPECT_FALSE(std::filesystem::exists(s_ / "in-place/data/skip"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "in-place/data/sub/b.txt"), "b\n");
  const std::string in_place_image = image(embedded, "in-place");

  Daemon d(s_ / "droot", s_ / "d.sock");
  ASSERT_TRUE(d.Start()) << d.log();
  const std::string daemon = std::string(HOIST_BIN) + " --addr " + Quote(d.addr());
  files(daemon, "mirrored");
  EXPECT_EQ(TreeFingerprint(s_ / "mirrored/data"), TreeFingerprint(s_ / "in-place/data"));
  EXPECT_EQ(TreeFingerprint(s_ / "mirrored/c"), TreeFingerprint(s_ / "in-place/c"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "mirrored/ctx.list"), listed);
  EXPECT_EQ(in_place_image.size(), 71u);
  EXPECT_EQ(image(daemon, "mirrored"), in_place_image);
  // The client's files are as they were.
  EXPECT_EQ(ReadFileOrEmpty(s_ / "ctx/secret.key"), "key\n");
}

// A file changed between the content checksum of a COPY (its cache key) and the copy itself
// fails the step, naming the file; the engine is stopped in between through its testing hook.
TEST_F(BuildTest, AContextFileChangedDuringTheBuildFailsTheCopy) {
  Dockerfile("FROM base\nCOPY data/ /data/\n");
  std::filesystem::create_directories(s_ / "ctx/data");
  WriteFile(s_ / "ctx/data/a.txt", "aaaa\n");
  WriteFile(s_ / "ctx/data/b.txt", "bbbb\n");
  const std::string fifo = s_ / "hook";
  ASSERT_EQ(0, ::mkfifo(fifo.c_str(), 0600));
  RunResult r;
  std::thread build([&] {
    r = Sh("HOIST_TESTING_CONTEXT_FIFO=" + Quote(fifo) + " " + HOIST_BIN + " --root " +
           Quote(s_ / "root") + " build --progress=plain " + BaseContext() +
           " -o type=local,dest=" + Quote(s_ / "out") + " " + Quote(s_ / "ctx"));
  });
  // The engine writes a line once the checksum is taken, then waits for the FIFO to be
  // opened for writing and closed.
  int rfd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(rfd, 0);
  std::string got;
  for (int i = 0; i < 1200 && got.find('\n') == std::string::npos; ++i) {
    char buf[64];
    ssize_t n = ::read(rfd, buf, sizeof(buf));
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::close(rfd);
  EXPECT_EQ(got, "checksummed\n");
  WriteFile(s_ / "ctx/data/b.txt", "BBBB\n");  // same size
  int wfd = -1;
  for (int i = 0; i < 1200 && wfd < 0; ++i) {
    wfd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (wfd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (wfd >= 0) ::close(wfd);
  build.join();
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("local context \"context\": \"data/b.txt\" changed during the build"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find(s_.path() + "/ctx"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(s_ / "out/data")) << r.err;
  // Built again, the new contents are what the image gets.
  r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "out2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out2/data/b.txt"), "BBBB\n");
}

TEST_F(BuildTest, SymlinksInTheContextNeverLeaveIt) {
  std::filesystem::create_symlink("/etc", s_ / "ctx/abs");
  std::filesystem::create_symlink("../../../../../../../../etc", s_ / "ctx/up");
  // (`COPY .` too, so that the frontend asks for the whole context, not only these paths.)
  for (const std::string src : {"abs/passwd", "up/passwd"}) {
    Dockerfile("FROM base\nCOPY . /all/\nCOPY " + src + " /p\n");
    RunResult r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "out"));
    EXPECT_NE(r.exit_code, 0) << src << "\n" << r.err;
    EXPECT_NE(r.err.find("no such file or directory"), std::string::npos) << src << "\n" << r.err;
    EXPECT_FALSE(std::filesystem::exists(s_ / "out/p")) << src;
  }
  // They resolve inside the context, as if it were `/`.
  std::filesystem::create_directories(s_ / "ctx/etc");
  WriteFile(s_ / "ctx/etc/passwd", "the context's own\n");
  Dockerfile("FROM base\nCOPY . /all/\nCOPY abs/passwd /p\nCOPY up/passwd /q\n");
  RunResult r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/p"), "the context's own\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/q"), "the context's own\n");
}

// A bind or cache mount whose source is a symlink in its input follows it inside the input, as
// if the input were `/`: never to the engine's own files.
TEST_F(BuildTest, MountSourcesThatAreSymlinksStayInTheirInput) {
  std::filesystem::create_symlink("/etc", s_ / "ctx/abs");
  std::filesystem::create_symlink("../../../../../../../../etc", s_ / "ctx/up");
  std::filesystem::create_directories(s_ / "ctx/etc");
  WriteFile(s_ / "ctx/etc/marker", "the context's own\n");
  ASSERT_TRUE(std::filesystem::exists("/etc/debian_version"));
  // The cache mounts are seeded from a stage holding the context's files (links included).
  for (const std::string mount :
       {"type=bind,source=abs,target=/x,rw", "type=bind,source=up,target=/x",
        "type=cache,id=c1,from=files,source=abs,target=/x", "type=cache,id=c2,from=files,source=up,target=/x"}) {
    // (`COPY .` too, so that the frontend asks for the whole context, links' targets included.)
    Dockerfile("FROM scratch AS files\nCOPY . /\nFROM base\nCOPY . /all/\nRUN --mount=" + mount +
               " cat /x/marker > /seen && if [ -e /x/debian_version ]; then echo host > /leak; fi\n");
    RunResult r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "m"));
    ASSERT_EQ(r.exit_code, 0) << mount << "\n" << r.err;
    EXPECT_EQ(ReadFileOrEmpty(s_ / "m/seen"), "the context's own\n") << mount;
    EXPECT_FALSE(std::filesystem::exists(s_ / "m/leak")) << mount << ": the host's /etc was mounted";
  }
}

TEST_F(BuildTest, SecondBuildIsFullyCachedAndContextChangesRerunOnlyDependents) {
  Dockerfile(
      "FROM base\n"
      "COPY a.txt /a.txt\n"
      "RUN cat /proc/sys/kernel/random/uuid > /a.stamp\n"
      "COPY b.txt /b.txt\n"
      "RUN cat /proc/sys/kernel/random/uuid > /b.stamp\n");
  WriteFile(s_ / "ctx/a.txt", "a\n");
  WriteFile(s_ / "ctx/b.txt", "b\n");
  WriteFile(s_ / "ctx/unrelated.txt", "1\n");
  const std::string out = " -o type=local,dest=";
  RunResult r = Build(BaseContext() + out + Quote(s_ / "o1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Same inputs: nothing runs again.
  WriteFile(s_ / "ctx/unrelated.txt", "2\n");
  r = Build(BaseContext() + out + Quote(s_ / "o2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/a.stamp"), ReadFileOrEmpty(s_ / "o1/a.stamp"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/b.stamp"), ReadFileOrEmpty(s_ / "o1/b.stamp"));
  EXPECT_NE(r.err.find("CACHED"), std::string::npos) << r.err;
  // Changing b.txt re-runs the steps after COPY b.txt only.
  WriteFile(s_ / "ctx/b.txt", "b2\n");
  r = Build(BaseContext() + out + Quote(s_ / "o3"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o3/a.stamp"), ReadFileOrEmpty(s_ / "o1/a.stamp"));
  EXPECT_NE(ReadFileOrEmpty(s_ / "o3/b.stamp"), ReadFileOrEmpty(s_ / "o1/b.stamp"));
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o3/b.txt"), "b2\n");
  // --no-cache runs everything again.
  r = Build("--no-cache " + BaseContext() + out + Quote(s_ / "o4"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(ReadFileOrEmpty(s_ / "o4/a.stamp"), ReadFileOrEmpty(s_ / "o1/a.stamp"));
}

TEST_F(BuildTest, RebuildReusesFileChecksumsAnEarlierEngineRecorded) {
  Dockerfile("FROM base\nCOPY src/ /src/\n");
  std::filesystem::create_directories(s_ / "ctx/src");
  for (int i = 0; i < 20; ++i) WriteFile(s_ / ("ctx/src/f" + std::to_string(i)), "file " + std::to_string(i));
  // Embedded on purpose: the debug log of the engine is this process's stderr.
  auto build = [&] {
    return Hoist("-D --root " + Quote(s_ / "root") + " build --progress=plain " + BaseContext() +
                 " " + Quote(s_ / "ctx"));
  };
  RunResult r = build();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Files just mirrored are racily clean for 2 s: hashed, not recorded.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  r = build();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("(20 files hashed"), std::string::npos) << r.err;
  r = build();  // a new engine process: the digests come from <root>/checksums
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("(0 files hashed, 0 bytes; 20 reused)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("CACHED"), std::string::npos) << r.err;
  // A changed file is read again, the others not.
  WriteFile(s_ / "ctx/src/f3", "file 3 changed");
  r = build();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("(1 files hashed, 14 bytes; 19 reused)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(s_.path() + "/ctx"), std::string::npos) << "a client path leaked";
}

TEST_F(BuildTest, MultiStageWithCacheAndSecretMounts) {
  Dockerfile(
      "FROM base AS build\n"
      "RUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count\n"
      "RUN --mount=type=secret,id=token cat /run/secrets/token > /seen\n"
      "FROM base\n"
      "COPY --from=build /count /seen /out/\n"
      "RUN --mount=type=secret,id=token,target=/tok test -s /tok\n");
  WriteFile(s_ / "token", "s3cret-value");
  NoteSecret("s3cret-value");
  const std::string flags = BaseContext() + " --secret id=token,src=" + Quote(s_ / "token");
  RunResult r = Build(flags + " -o type=local,dest=" + Quote(s_ / "o1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o1/out/seen"), "s3cret-value");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o1/out/count"), "1\n");
  // The secret's mount point leaves no file behind.
  EXPECT_FALSE(std::filesystem::exists(s_ / "o1/tok") &&
               std::filesystem::file_size(s_ / "o1/tok") > 0);
  // The cache mount persists across builds.
  r = Build("--no-cache " + flags + " -o type=local,dest=" + Quote(s_ / "o2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "o2/out/count"), "2\n");
  // A missing secret: an optional mount is left out, a required one is an error naming it.
  Dockerfile("FROM base\nRUN --mount=type=secret,id=token test ! -e /run/secrets/token\n"
             "RUN --mount=type=secret,id=token,required=true true\n");
  r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("secret token not found"), std::string::npos) << r.err;
}

TEST_F(BuildTest, FailingRunNamesTheCommandAndExitCode) {
  Dockerfile("FROM base\nRUN echo before-fail && exit 3\n");
  RunResult r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("did not complete successfully: exit code: 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("before-fail"), std::string::npos) << r.err;
  // The Dockerfile excerpt of the failed step, as BuildKit prints it.
  EXPECT_NE(r.err.find("Dockerfile:2\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("   2 | >>> RUN echo before-fail && exit 3"), std::string::npos) << r.err;
}

TEST_F(BuildTest, NamedContextsReplaceAStageOrABaseAndCarryEnv) {
  // An image with ENV, built by hoist into a layout: chaining builds through layouts.
  Dockerfile("FROM base\nENV FROMLAYOUT=yes\nRUN echo layered > /layered\n");
  RunResult r = Build(BaseContext() + " -o type=oci,tar=false,dest=" + Quote(s_ / "envimg") +
                      " -t envimg:1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::filesystem::create_directories(s_ / "ctx2");
  WriteFile(s_ / "ctx2/Dockerfile",
            "FROM busybox AS base\n"
            "RUN false\n"
            "FROM foo AS env\n"
            "RUN echo \"$FROMLAYOUT\" > /env-seen\n"
            "FROM base\n"
            "COPY --from=env /env-seen /layered /\n");
  r = Build(BaseContext() + " --build-context foo=oci-layout://" + Quote(s_ / "envimg:1") +
                " -o type=local,dest=" + Quote(s_ / "out"),
            s_ / "ctx2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/env-seen"), "yes\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/layered"), "layered\n");
}

TEST_F(BuildTest, OnbuildTriggersFromALayoutRun) {
  Dockerfile("FROM base\nONBUILD RUN echo triggered > /onbuild\n");
  RunResult r = Build(BaseContext() + " -o type=oci,tar=false,dest=" + Quote(s_ / "parent"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::filesystem::create_directories(s_ / "ctx2");
  WriteFile(s_ / "ctx2/Dockerfile", "FROM parent\nRUN test -f /onbuild\n");
  r = Build("--build-context parent=oci-layout://" + Quote(s_ / "parent") +
                " -o type=local,dest=" + Quote(s_ / "out"),
            s_ / "ctx2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/onbuild"), "triggered\n");
}

TEST_F(BuildTest, TwoStoresAttachedAtOnceEachReadByItsId) {
  MakeBaseImage(s_ / "other", "busybox:other");
  Dockerfile("FROM one\nCOPY --from=two /bin/busybox /two-busybox\n");
  const std::string digest_two =
      Sh("jq -r '.manifests[0].digest' " + Quote(s_ / "other/index.json")).out.substr(0, 71);
  RunResult r = Build("--oci-layout s1=" + Quote(s_ / "base") + " --oci-layout s2=" +
                      Quote(s_ / "other") + " --opt context:one=oci-layout://s1@" + base_digest_ +
                      " --opt context:two=oci-layout://s2@" + digest_two +
                      " -o type=local,dest=" + Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(s_ / "out/two-busybox"));
}

TEST_F(BuildTest, EachPlatformSelectsItsOwnManifestFromAnIndex) {
  // SPEC §5 case 2: a two-platform index in a layout.
  RunResult made = Sh(std::string(HOIST_SOURCE_DIR) + "/scripts/make-multiplatform-layout " +
                      Quote(s_ / "base") + " 1.36 " + Quote(s_ / "multi"));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string index_digest = made.out.substr(0, 71);
  Dockerfile("FROM base\nCOPY a.txt /a.txt\n");
  WriteFile(s_ / "ctx/a.txt", "a\n");
  for (const std::string arch : {"amd64", "arm64"}) {
    RunResult r = Build("--platform linux/" + arch + " --build-context base=oci-layout://" +
                        Quote(s_ / "multi:multi") + " -o type=oci,tar=false,dest=" +
                        Quote(s_ / ("out-" + arch)));
    ASSERT_EQ(r.exit_code, 0) << arch << "\n" << r.err;
    RunResult cfg = Sh("skopeo inspect --config oci:" + Quote(s_ / ("out-" + arch)) + ":latest");
    ASSERT_EQ(cfg.exit_code, 0) << cfg.err;
    json c = json::parse(cfg.out);
    EXPECT_EQ(c["architecture"], arch);
    EXPECT_NE(c["config"]["Env"].dump().find("ARCH=" + arch), std::string::npos) << c.dump();
  }
  // A platform the index lacks.
  RunResult r = Build("--platform linux/s390x --build-context base=oci-layout://" +
                      Quote(s_ / "multi:multi"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no match for platform in manifest " + index_digest), std::string::npos)
      << r.err;
}

TEST_F(BuildTest, AddFromHttpWithChecksumAndLocalTarExtraction) {
  // A web server on loopback serving a file and a tarball.
  std::filesystem::create_directories(s_ / "www");
  WriteFile(s_ / "www/hello.txt", "hello over http\n");
  ASSERT_EQ(Sh("mkdir -p " + Quote(s_ / "t/pkg") + " && echo packed > " + Quote(s_ / "t/pkg/in.txt") +
               " && tar -czf " + Quote(s_ / "ctx/pkg.tar.gz") + " -C " + Quote(s_ / "t") + " pkg" +
               " && tar -cJf " + Quote(s_ / "ctx/pkg.tar.xz") + " -C " + Quote(s_ / "t") + " pkg" +
               " && tar -cjf " + Quote(s_ / "ctx/pkg.tbz") + " -C " + Quote(s_ / "t") + " pkg")
                .exit_code, 0);
  RunResult server = Sh("cd " + Quote(s_ / "www") +
                        " && (python3 -m http.server 0 --bind 127.0.0.1 > ../http.log 2>&1 & echo $!)");
  const int pid = std::stoi(server.out);
  std::string port;
  for (int i = 0; i < 100 && port.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const std::string log = ReadFileOrEmpty(s_ / "http.log");
    const size_t at = log.find("port ");
    if (at != std::string::npos) port = log.substr(at + 5, log.find(' ', at + 5) - at - 5);
  }
  ASSERT_FALSE(port.empty()) << ReadFileOrEmpty(s_ / "http.log");
  const std::string url = "http://127.0.0.1:" + port;
  const std::string sum = "sha256:" + Sh("sha256sum " + Quote(s_ / "www/hello.txt")).out.substr(0, 64);
  Dockerfile("FROM base\nADD --checksum=" + sum + " " + url + "/hello.txt /dl/\n"
             "ADD pkg.tar.gz /opt/\nADD pkg.tar.xz /xz/\nADD pkg.tbz /bz/\n"
             "RUN cat /dl/hello.txt /opt/pkg/in.txt /xz/pkg/in.txt /bz/pkg/in.txt > /both\n");
  RunResult r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "out"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/both"), "hello over http\npacked\npacked\npacked\n");
  // A wrong checksum and a missing file are named.
  const std::string wrong = "sha256:" + std::string(64, '0');
  Dockerfile("FROM base\nADD --checksum=" + wrong + " " + url + "/hello.txt /dl/\n");
  r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("digest mismatch " + wrong + ": " + sum), std::string::npos) << r.err;
  Dockerfile("FROM base\nADD " + url + "/missing.txt /dl/\n");
  r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("invalid response status 404"), std::string::npos) << r.err;
  ::kill(pid, SIGTERM);
}

// Git sources against real servers on loopback: `git daemon`, and smart HTTP (git
// http-backend) that wants a token. ADD of a repository (a tag's subdir, a branch with .git
// kept), a git named context, credentials from a --secret that never reach the root, the
// errors for a missing or wrong token and a missing ref, and a moved branch built afresh.
TEST_F(BuildTest, GitSourcesOverGitDaemonAndSmartHttpWithAToken) {
  ASSERT_EQ(Sh("cd " + Quote(s_.path()) + R"( && set -e
      c="git -c user.email=t@example.com -c user.name=t -c init.defaultBranch=main"
      $c init -q work && cd work && mkdir -p sub && echo one > sub/f && echo top > a.txt
      mkdir app && printf 'FROM base\nCOPY f.txt /f.txt\nRUN cat /f.txt > /seen\n' > app/Dockerfile
      echo in-repo > app/f.txt && printf 'FROM base\nCOPY a.txt /a.txt\n' > Top.Dockerfile
      git add -A && $c commit -qm one && $c tag -a v1 -m v1
      echo two > b.txt && git add -A && $c commit -qm two && cd ..
      mkdir srv && git clone -q --bare work srv/work.git)")
                .exit_code,
            0);
  const std::string srv = s_ / "srv";
  // git daemon cannot pick a free port: take one from a bound socket the kernel chose.
  const std::string port =
      Sh("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); "
         "print(s.getsockname()[1])'").out.substr(0, 5);
  const int gd = std::stoi(Sh("(git daemon --reuseaddr --export-all --listen=127.0.0.1 --port=" +
                              std::string(port.c_str()) + " --base-path=" + Quote(srv) + " " +
                              Quote(srv) + " > /dev/null 2>&1 & echo $!)")
                               .out);
  const std::string token = "tok-" + std::to_string(::getpid()) + "-git";
  NoteSecret(token);
  RunResult http = Sh("(" + std::string(HOIST_SOURCE_DIR) + "/tests/git/http-server " + Quote(srv) +
                      " --token " + token + " > " + Quote(s_ / "http.port") + " 2>&1 & echo $!)");
  const int hs = std::stoi(http.out);
  std::string http_port;
  for (int i = 0; i < 100 && http_port.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    http_port = ReadFileOrEmpty(s_ / "http.port");
    if (!http_port.empty() && http_port.back() == '\n') http_port.pop_back();
  }
  const std::string gurl = "git://127.0.0.1:" + std::string(port.c_str()) + "/work.git";
  const std::string hurl = "http://127.0.0.1:" + http_port + "/work.git";
  for (int i = 0; i < 100 && Sh("git ls-remote " + gurl + " > /dev/null 2>&1").exit_code != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string v1 = Sh("git -C " + Quote(s_ / "work") + " rev-parse 'v1^{commit}'").out.substr(0, 40);
  const std::string main1 = Sh("git -C " + Quote(s_ / "work") + " rev-parse main").out.substr(0, 40);

  Dockerfile("FROM base\n"
             "ADD " + gurl + "#v1:sub /sub\n"
             "ADD --keep-git-dir=true " + hurl + "#main /kept\n"
             "COPY --from=src a.txt /from-context.txt\n"
             "RUN git_head=$(cat /kept/.git/HEAD) && echo \"$git_head\" > /head && ls /sub > /sub-list\n");
  const std::string flags = BaseContext() + " --build-context src=" + gurl + "#main";
  const std::string secret = " --secret id=GIT_AUTH_TOKEN,env=GIT_TOKEN";
  RunResult r = Hoist("--root " + Quote(s_ / "root") + " build --progress=plain " + flags +
                      " -o type=local,dest=" + Quote(s_ / "out") + " " + Quote(s_ / "ctx"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(hurl + ": ls-remote: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the remote wants credentials"), std::string::npos) << r.err;

  r = Sh("GIT_TOKEN=wrong-" + token + " " +
         HoistCommand("--root " + Quote(s_ / "root") + " build --progress=plain " + flags + secret +
                      " " + Quote(s_ / "ctx")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the credentials given were refused"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("wrong-" + token), std::string::npos) << r.err;

  r = Sh("GIT_TOKEN=" + token + " " +
         HoistCommand("--root " + Quote(s_ / "root") + " build --progress=plain " + flags + secret +
                      " -o type=local,dest=" + Quote(s_ / "out") + " " + Quote(s_ / "ctx")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/sub/f"), "one\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/sub-list"), "f\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/head"), main1 + "\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/kept/b.txt"), "two\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/from-context.txt"), "top\n");
  EXPECT_NE(r.err.find("checkout " + v1), std::string::npos) << r.err;
  EXPECT_EQ(Sh("git -C " + Quote(s_ / "out/kept") + " remote get-url origin").out, hurl + "\n");
  EXPECT_EQ(Sh("git -C " + Quote(s_ / "out/kept") + " rev-parse main").out, main1 + "\n");
  // The token is nowhere in the engine's root.
  EXPECT_NE(Sh("grep -r -q -a -e " + token + " -e " +
               Sh("printf x-access-token:" + token + " | base64").out.substr(0, 20) + " " +
               Quote(s_ / "root"))
                .exit_code,
            0);

  // The repository as the build context itself, the Dockerfile read from it (-f: a path in
  // the repository); one outside it is not found.
  r = Hoist("--root " + Quote(s_ / "root") + " build --progress=plain " + BaseContext() +
            " -o type=local,dest=" + Quote(s_ / "out-ctx") + " " + Quote(gurl + "#main:app"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out-ctx/seen"), "in-repo\n");
  EXPECT_EQ(r.err.find("WARNING"), std::string::npos) << r.err;
  r = Hoist("--root " + Quote(s_ / "root") + " build --progress=plain " + BaseContext() +
            " -f Top.Dockerfile -o type=local,dest=" + Quote(s_ / "out-top") + " " + Quote(gurl));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out-top/a.txt"), "top\n");
  r = Hoist("--root " + Quote(s_ / "root") + " build " + BaseContext() +
            " -f ../../../../etc/hostname " + Quote(gurl));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("failed to read dockerfile: open ../../../../etc/hostname: No such file"),
            std::string::npos)
      << r.err;

  // A missing ref is named; a moved branch is fetched afresh, an unchanged tag is cached.
  Dockerfile("FROM base\nADD " + gurl + "#v9 /x\n");
  r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(gurl + ": repository does not contain ref v9"), std::string::npos) << r.err;
  ASSERT_EQ(Sh("cd " + Quote(s_ / "work") + " && echo three > b.txt && git -c user.email=t@e -c "
               "user.name=t commit -qam three && git push -q " + Quote(srv + "/work.git") + " main")
                .exit_code,
            0);
  Dockerfile("FROM base\nADD " + gurl + "#v1:sub /sub\nADD " + gurl + "#main /main\n");
  r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "out2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out2/main/b.txt"), "three\n");
  EXPECT_FALSE(std::filesystem::exists(s_ / "out2/main/.git"));
  const size_t tag_step = r.err.find("ADD " + gurl + "#v1:sub /sub\n");
  ASSERT_NE(tag_step, std::string::npos) << r.err;
  const size_t line_end = r.err.find('\n', tag_step);
  const std::string next =
      r.err.substr(line_end + 1, r.err.find('\n', line_end + 1) - line_end - 1);
  EXPECT_TRUE(next.ends_with(" CACHED")) << next << "\n" << r.err;
  // prune --all removes the fetched repositories too; the next build fetches again.
  ASSERT_TRUE(std::filesystem::exists(s_ / "root/ops/git"));
  r = Hoist("--root " + Quote(s_ / "root") + " prune --all");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(s_ / "root/ops/git"));
  r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "out3"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out3/main/b.txt"), "three\n");
  ::kill(gd, SIGTERM);
  ::kill(hs, SIGTERM);
}

// SSH agent forwarding with a real ssh-agent: RUN --mount=type=ssh sees the client's keys
// through a socket (a static agent client in the image lists them; adding a key is refused, as
// BuildKit's read-only agent refuses it), a required agent the client does not forward fails
// the step, and git over SSH (a local sshd) fetches with the forwarded agent.
TEST_F(BuildTest, SshAgentForwardingForRunAndGitOverSsh) {
  const std::string sock = s_ / "agent.sock";
  ASSERT_EQ(Sh("cd " + Quote(s_.path()) + " && ssh-keygen -q -t ed25519 -N '' -C test-key@hoist "
               "-f key && ssh-keygen -q -t ed25519 -N '' -f host_key && cc -static -O2 -o "
               "ctx/agent-list " + std::string(HOIST_SOURCE_DIR) + "/tests/ssh/agent-list.c")
                .exit_code,
            0);
  const int agent = std::stoi(Sh("ssh-agent -a " + Quote(sock) + " | sed -n 's/.*SSH_AGENT_PID=\\([0-9]*\\).*/\\1/p'").out);
  ASSERT_EQ(Sh("SSH_AUTH_SOCK=" + Quote(sock) + " ssh-add -q " + Quote(s_ / "key")).exit_code, 0);
  auto build = [&](const std::string& args) {
    return Sh("SSH_AUTH_SOCK=" + Quote(sock) + " " +
              HoistCommand("--root " + Quote(s_ / "root") + " build --progress=plain " +
                           BaseContext() + " " + args + " " + Quote(s_ / "ctx")));
  };
  Dockerfile("FROM base\nCOPY agent-list /agent-list\n"
             "RUN --mount=type=ssh /agent-list > /ids && /agent-list add > /add-answer\n"
             "RUN --mount=type=ssh,id=other,target=/x.sock,required=true "
             "SSH_AUTH_SOCK=/x.sock /agent-list > /ids2\n");
  RunResult r = build("--ssh default --ssh other=" + Quote(sock) + " -o type=local,dest=" +
                      Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/ids"), "test-key@hoist\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/ids2"), "test-key@hoist\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/add-answer"), "5\n");  // SSH_AGENT_FAILURE
  EXPECT_FALSE(std::filesystem::exists(s_ / "out/run/buildkit"));
  EXPECT_FALSE(std::filesystem::exists(s_ / "out/x.sock"));
  r = build("--no-cache --ssh default");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no SSH key \"other\" forwarded from the client"), std::string::npos) << r.err;
  r = build("--ssh default=" + Quote(s_ / "key"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("is not an agent socket"), std::string::npos) << r.err;

  // git over SSH: an sshd on loopback that knows only the test key.
  const std::string port =
      Sh("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); "
         "print(s.getsockname()[1])'").out.substr(0, 5);
  WriteFile(s_ / "sshd_config",
            "ListenAddress 127.0.0.1\nPort " + std::string(port.c_str()) + "\nHostKey " +
                s_ / "host_key" + "\nAuthorizedKeysFile " + s_ / "key.pub" +
                "\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                "StrictModes no\nUsePAM no\nPidFile " + s_ / "sshd.pid" + "\n");
  ASSERT_EQ(Sh("mkdir -p /run/sshd && /usr/sbin/sshd -f " + Quote(s_ / "sshd_config") + " -E " +
               Quote(s_ / "sshd.log"))
                .exit_code,
            0);
  ASSERT_EQ(Sh("cd " + Quote(s_.path()) + " && git -c init.defaultBranch=main init -q repo && "
               "echo over-ssh > repo/f && git -C repo add f && git -C repo -c user.email=t@e "
               "-c user.name=t commit -qm f && git clone -q --bare repo repo.git")
                .exit_code,
            0);
  const std::string url = "ssh://root@127.0.0.1:" + std::string(port.c_str()) + s_ / "repo.git";
  Dockerfile("FROM base\nADD " + url + "#main /s\n");
  r = build("--ssh default -o type=local,dest=" + Quote(s_ / "out-ssh"));
  EXPECT_EQ(r.exit_code, 0) << r.err << ReadFileOrEmpty(s_ / "sshd.log");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out-ssh/s/f"), "over-ssh\n");
  r = build("--no-cache");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(url + ": git over SSH needs the client's SSH agent"), std::string::npos)
      << r.err;
  // `git clone` over SSH inside a step (this machine's git and ssh copied into the image): the
  // step's ssh signs with the client's key through the forwarded agent.
  ASSERT_EQ(Sh(std::string(HOIST_SOURCE_DIR) + "/tests/ssh/make-git-tools " + Quote(s_ / "ctx/tools"))
                .exit_code,
            0);
  Dockerfile("FROM base\nCOPY tools/ /\nRUN --mount=type=ssh GIT_SSH_COMMAND=\"ssh -F /dev/null "
             "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null\" git clone -q " +
             url + " /cloned && cat /cloned/f > /cloned-f && rm -rf /cloned\n");
  r = build("--ssh default -o type=local,dest=" + Quote(s_ / "out-clone"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out-clone/cloned-f"), "over-ssh\n");
  r = build("--no-cache");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Permission denied (publickey"), std::string::npos) << r.err;
  Sh("kill $(cat " + Quote(s_ / "sshd.pid") + ")");
  ::kill(agent, SIGTERM);
}

TEST_F(BuildTest, ReadOnlyLayoutWorks) {
  ASSERT_EQ(Sh("mkdir -p " + Quote(s_ / "ro") + " && mount --bind " + Quote(s_ / "base") + " " +
               Quote(s_ / "ro") + " && mount -o remount,bind,ro " + Quote(s_ / "ro"))
                .exit_code,
            0);
  Dockerfile("FROM base\nRUN true\n");
  RunResult r = Build("--build-context base=oci-layout://" + Quote(s_ / "ro:1.36"));
  Sh("umount " + Quote(s_ / "ro"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(BuildTest, NegativeCasesNameTheProblem) {
  Dockerfile("FROM base\nRUN true\n");
  struct Case {
    std::string flags;
    std::string message;
  };
  // A layout with two images: a tag it lacks has no single image to fall back on.
  MakeBaseImage(s_ / "two", "busybox:1");
  MakeBaseImage(s_ / "two", "busybox:2");
  const std::string absent = "sha256:" + std::string(64, 'a');
  std::vector<Case> cases = {
      {"--opt context:base=oci-layout://nostore@" + base_digest_, "unknown store oci:nostore"},
      {"--build-context base=oci-layout://" + Quote(s_ / "base") + "@" + absent,
       "content " + absent + ": not found"},
      {"--build-context base=oci-layout://" + Quote(s_ / "two:nosuchtag"),
       "failed to resolve digest for base"},
      {"--oci-layout s=" + Quote(s_ / "base") + " --opt context:base=oci-layout://s",
       "oci-layout reference \"s\" has no digest"},
      {"--oci-layout bad", "oci-layout option must be 'id=path/to/layout', instead had invalid bad"},
      {"--opt context:base=nope://x", "unsupported context source nope for base"},
      {"--opt context:base=justaname", "invalid context specifier justaname for base"},
  };
  for (const Case& c : cases) {
    RunResult r = Build(c.flags);
    EXPECT_NE(r.exit_code, 0) << c.flags;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.flags << "\n" << r.err;
    EXPECT_EQ(r.err.find("Segmentation"), std::string::npos);
  }
}

TEST_F(BuildTest, CorruptAndTruncatedBlobsAreNamed) {
  Dockerfile("FROM base\nRUN true\n");
  json manifest_index = json::parse(ReadFileOrEmpty(s_ / "base/index.json"));
  const std::string manifest_digest = manifest_index["manifests"][0]["digest"];
  json manifest = json::parse(ReadFileOrEmpty(s_ / ("base/blobs/sha256/" + manifest_digest.substr(7))));
  const std::string layer = manifest["layers"][0]["digest"];
  const std::string blob = s_ / ("base/blobs/sha256/" + layer.substr(7));
  ASSERT_EQ(Sh("cp -a " + Quote(s_ / "base") + " " + Quote(s_ / "pristine")).exit_code, 0);
  // One byte flipped in the middle.
  ASSERT_EQ(Sh("printf 'X' | dd of=" + Quote(blob) + " bs=1 seek=100 conv=notrunc status=none").exit_code, 0);
  RunResult r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(layer), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(s_.path() + "/base"), std::string::npos) << r.err;
  // Truncated.
  ASSERT_EQ(Sh("cp " + Quote(s_ / ("pristine/blobs/sha256/" + layer.substr(7))) + " " + Quote(blob) +
               " && truncate -s 1000 " + Quote(blob)).exit_code, 0);
  r = Build(BaseContext());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(layer), std::string::npos) << r.err;
  // The engine stayed consistent: the intact layout builds.
  r = Build("--build-context base=oci-layout://" + Quote(s_ / "pristine:1.36"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(BuildTest, KilledMidRunTheNextBuildSucceeds) {
  Dockerfile("FROM base\nRUN echo started && sleep 100\n");
  const std::string log = s_ / "log";
  const std::string cmd = HoistCommand("--root " + Quote(s_ / "root") +
                                       " build --progress=plain " + BaseContext() + " " +
                                       Quote(s_ / "ctx")) +
                          " 2>" + Quote(log) + " & echo $!";
  RunResult bg = Sh(cmd);
  const int pid = std::stoi(bg.out);
  bool started = false;
  for (int i = 0; i < 600 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    started = ReadFileOrEmpty(log).find("started") != std::string::npos;
  }
  ASSERT_TRUE(started) << ReadFileOrEmpty(log);
  ::kill(pid, SIGKILL);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Dockerfile("FROM base\nRUN echo after > /after\n");
  RunResult r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/after"), "after\n");
  // The killed build's mount points went with the next engine's start (or its own cancel).
  const std::string ops = std::string(s_ / "root") + "/ops/";
  const std::string mounts = ReadFileOrEmpty("/proc/self/mounts");
  EXPECT_EQ(mounts.find(" " + ops), std::string::npos) << mounts;
}

TEST_F(BuildTest, InterruptStopsTheContainerPromptly) {
  Dockerfile("FROM base\nRUN echo started && sleep 100\n");
  const std::string log = s_ / "log";
  RunResult bg = Sh(HoistCommand("--root " + Quote(s_ / "root") + " build --progress=plain " +
                                 BaseContext() + " " + Quote(s_ / "ctx")) +
                    " 2>" + Quote(log) + " & echo $!");
  const int pid = std::stoi(bg.out);
  bool started = false;
  for (int i = 0; i < 600 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    started = ReadFileOrEmpty(log).find("started") != std::string::npos;
  }
  ASSERT_TRUE(started) << ReadFileOrEmpty(log);
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(pid, SIGINT);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    gone = ::kill(pid, 0) != 0;
  }
  EXPECT_TRUE(gone);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_NE(ReadFileOrEmpty(log).find("canceled"), std::string::npos) << ReadFileOrEmpty(log);
}

TEST_F(BuildTest, OciAndDockerTarballsAndMetadata) {
  Dockerfile("FROM base\nRUN echo x > /x\n");
  RunResult r = Build(BaseContext() + " -t app:1 -o type=oci,dest=" + Quote(s_ / "img.tar") +
                      " --metadata-file " + Quote(s_ / "meta.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json meta = json::parse(ReadFileOrEmpty(s_ / "meta.json"), nullptr, false);
  ASSERT_TRUE(meta.is_object());
  const std::string digest = meta.value("containerimage.digest", "");
  EXPECT_EQ(digest.size(), 71u);
  EXPECT_EQ(meta.value("image.name", ""), "docker.io/library/app:1");
  // skopeo reads it, and it holds the base layer plus one new layer.
  RunResult inspect = Sh("skopeo inspect --raw oci-archive:" + Quote(s_ / "img.tar"));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  json m = json::parse(inspect.out, nullptr, false);
  EXPECT_EQ(m["layers"].size(), 2u) << inspect.out;
  r = Build(BaseContext() + " -t app:1 -o type=docker,dest=" + Quote(s_ / "docker.tar"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunResult list = Sh("tar -tf " + Quote(s_ / "docker.tar"));
  EXPECT_NE(list.out.find("manifest.json"), std::string::npos) << list.out;
}

TEST_F(BuildTest, DuAndPrune) {
  Dockerfile("FROM base\nRUN cat /proc/sys/kernel/random/uuid > /stamp\n");
  RunResult r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "o1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunResult du = Hoist("--root " + Quote(s_ / "root") + " du");
  ASSERT_EQ(du.exit_code, 0) << du.err;
  EXPECT_NE(du.out.find("RUN cat /proc/sys/kernel/random/uuid"), std::string::npos) << du.out;
  RunResult prune = Hoist("--root " + Quote(s_ / "root") + " prune --all");
  ASSERT_EQ(prune.exit_code, 0) << prune.err;
  du = Hoist("--root " + Quote(s_ / "root") + " du");
  EXPECT_EQ(du.out.find("RUN"), std::string::npos) << du.out;
  EXPECT_NE(du.out.find("Total:\t0B"), std::string::npos) << du.out;
  // After a prune the step runs again, and the engine still works.
  r = Build(BaseContext() + " -o type=local,dest=" + Quote(s_ / "o2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(ReadFileOrEmpty(s_ / "o2/stamp"), ReadFileOrEmpty(s_ / "o1/stamp"));
  prune = Hoist("--root " + Quote(s_ / "root") + " prune --keep-storage 10zb");
  EXPECT_NE(prune.exit_code, 0);
  EXPECT_NE(prune.err.find("invalid size: '10zb'"), std::string::npos) << prune.err;
}

TEST_F(BuildTest, PrintLlbShowsTheOciLayoutSourceWithoutThePath) {
  Dockerfile("FROM alpine AS unused\nRUN false\nFROM base\nRUN echo hi\n");
  RunResult r = Hoist("build --print-llb " + BaseContext() + " " + Quote(s_ / "ctx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // One JSON op per line: the oci-layout source by digest with its session and store, the
  // cap, the custom name; never the layout's path.
  EXPECT_NE(r.out.find("\"identifier\":\"oci-layout://docker.io/library/base@" + base_digest_),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"oci.store\""), std::string::npos);
  EXPECT_NE(r.out.find("\"source.ocilayout\":true"), std::string::npos);
  EXPECT_NE(r.out.find("[context base] OCI load from client"), std::string::npos);
  EXPECT_EQ(r.out.find(s_.path()), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("alpine"), std::string::npos) << "unused stage not pruned";
  for (std::string line; const char c : r.out) {
    if (c != '\n') { line += c; continue; }
    EXPECT_TRUE(json::parse(line, nullptr, false).is_object()) << line;
    line.clear();
  }
  // Registry images are left unresolved in the printed graph.
  Dockerfile("FROM alpine:3.20\nRUN true\n");
  r = Hoist("build --print-llb " + Quote(s_ / "ctx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("docker-image://docker.io/library/alpine:3.20"), std::string::npos) << r.out;
  // A broken Dockerfile is refused with its line.
  Dockerfile("FROM base\nRUNN true\n");
  r = Hoist("build --print-llb " + BaseContext() + " " + Quote(s_ / "ctx"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Dockerfile:2: unknown instruction: RUNN"), std::string::npos) << r.err;
  // A missing Dockerfile is named.
  r = Hoist("build --print-llb -f " + Quote(s_ / "nope/Dockerfile") + " " + Quote(s_ / "ctx"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("failed to read dockerfile"), std::string::npos) << r.err;
}

TEST_F(BuildTest, PrintLlbForEveryCorpusDockerfile) {
  // Every Dockerfile in BuildKit's frontend corpus either prints a graph or is refused with a
  // line-numbered message; none crashes.
  RunResult list = Sh("find " + Quote(Corpora("moby-buildkit/frontend/dockerfile")) +
                      " -name 'Dockerfile*' -type f | sort");
  ASSERT_EQ(list.exit_code, 0);
  int converted = 0, refused = 0;
  for (size_t from = 0; from < list.out.size();) {
    size_t nl = list.out.find('\n', from);
    const std::string file = list.out.substr(from, nl - from);
    from = nl + 1;
    RunResult r = Hoist("build --print-llb -f " + Quote(file) + " " + Quote(s_ / "ctx"));
    if (r.exit_code == 0) {
      ++converted;
      EXPECT_NE(r.out.find("\"Op\""), std::string::npos) << file;
    } else {
      ++refused;
      EXPECT_EQ(r.exit_code, 1) << file << "\n" << r.err;
      EXPECT_NE(r.err.find("Dockerfile"), std::string::npos) << file << "\n" << r.err;
    }
  }
  EXPECT_GT(converted, 10);
  EXPECT_GT(converted + refused, 20);
}

}  // namespace
}  // namespace hoist::itest
