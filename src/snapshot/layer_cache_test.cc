#include "snapshot/layer_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "archive/layer.h"
#include "archive/testing/test_tar.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "content/local_content_store.h"
#include "snapshot/diff_layer.h"
#include "snapshot/internal/metadata.h"

namespace hoist::snapshot {
namespace {

using archive::testing::TestTar;
using OpenFn = Result<std::unique_ptr<Snapshotter>> (*)(const std::string&);

struct Impl {
  const char* name;
  OpenFn open;
};

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// Delegates to a store; ReaderAt waits while the gate is closed, so a test can hold an unpack
// in the middle.
class GatedStore final : public content::ContentStore {
 public:
  explicit GatedStore(content::ContentStore& inner) : inner_(inner) {}
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Waits until a reader is blocked at the gate.
  void AwaitBlocked() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return blocked_ > 0; });
  }
  Result<content::BlobInfo> Info(const oci::Digest& d) override { return inner_.Info(d); }
  Result<std::unique_ptr<content::BlobReader>> ReaderAt(const oci::Digest& d) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++blocked_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    --blocked_;
    lock.unlock();
    return inner_.ReaderAt(d);
  }
  Result<std::unique_ptr<content::BlobWriter>> Writer(const std::string& ref) override {
    return inner_.Writer(ref);
  }
  Status Delete(const oci::Digest& d) override { return inner_.Delete(d); }
  Status Walk(const std::function<Status(const content::BlobInfo&)>& fn) override {
    return inner_.Walk(fn);
  }

 private:
  content::ContentStore& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int blocked_ = 0;
};

struct TestLayer {
  oci::Descriptor desc;
  oci::Digest diff_id;
};

class LayerCacheTest : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "snapshotters need root";
    auto dir = TempDir::Create("layer-cache-test-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
    // Trusted, as the engine's store is: its blobs are not hashed again when unpacked.
    content::LocalContentStoreOptions o;
    o.trusted = true;
    auto store =
        content::LocalContentStore::Open(PosixFileSystem(), dir_.path() + "/content", o);
    ASSERT_TRUE(store) << store.error().message();
    store_ = std::move(*store);
    auto sn = GetParam().open(dir_.path() + "/snapshots");
    ASSERT_TRUE(sn) << sn.error().message();
    sn_ = std::move(*sn);
    cache_ = std::make_unique<LayerCache>(*sn_, *store_);
  }

  // A gzip layer blob of `tar` in the store.
  TestLayer AddLayer(const std::string& tar) {
    std::string blob;
    archive::StringByteSink sink(&blob);
    auto w = archive::LayerWriter::Create(&sink);
    EXPECT_TRUE(w);
    EXPECT_TRUE((*w)->Write(tar));
    auto d = (*w)->Finish();
    EXPECT_TRUE(d) << d.error().message();
    EXPECT_TRUE(content::WriteBlob(*store_, blob));
    TestLayer l;
    l.desc.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
    l.desc.digest = d->digest;
    l.desc.size = static_cast<int64_t>(d->size);
    l.diff_id = d->diff_id;
    return l;
  }

  // Three layers whose whiteouts act across layers.
  std::vector<TestLayer> ThreeLayers() {
    std::vector<TestLayer> out;
    out.push_back(AddLayer(TestTar()
                               .Dir("a")
                               .File("a/x", "x")
                               .File("a/y", "y")
                               .File("f", "f1")
                               .Dir("o")
                               .File("o/1", "1")
                               .Finish()));
    out.push_back(AddLayer(TestTar()
                               .File("a/.wh.x", "")
                               .File(".wh.f", "")
                               .Dir("o")
                               .File("o/.wh..wh..opq", "")
                               .File("o/2", "2")
                               .Finish()));
    out.push_back(AddLayer(TestTar().File("top", "t").Finish()));
    return out;
  }

  static std::vector<oci::Descriptor> Descs(const std::vector<TestLayer>& ls) {
    std::vector<oci::Descriptor> out;
    for (const auto& l : ls) out.push_back(l.desc);
    return out;
  }
  static std::vector<oci::Digest> DiffIDs(const std::vector<TestLayer>& ls) {
    std::vector<oci::Digest> out;
    for (const auto& l : ls) out.push_back(l.diff_id);
    return out;
  }

  std::vector<std::string> Keys() {
    std::vector<std::string> keys;
    EXPECT_TRUE(sn_->Walk([&](const Info& i) -> Status {
      keys.push_back(i.name + ":" + std::string(KindName(i.kind)));
      return OkStatus();
    }));
    return keys;
  }

  // Mounts a view of `key` and runs fn on it.
  void WithView(const std::string& key, const std::function<void(const std::string&)>& fn) {
    std::string view = "view-" + std::to_string(seq_++);
    auto mounts = sn_->View(view, key);
    ASSERT_TRUE(mounts) << mounts.error().message();
    std::string target = dir_.path() + "/" + view;
    ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
    {
      auto m = MountAll(*mounts, target);
      ASSERT_TRUE(m) << m.error().message();
      fn(target);
    }
    ASSERT_TRUE(sn_->Remove(view));
  }

  TempDir dir_;
  std::unique_ptr<content::LocalContentStore> store_;
  std::unique_ptr<Snapshotter> sn_;
  std::unique_ptr<LayerCache> cache_;
  int seq_ = 0;
};

TEST(ChainIDTest, FollowsTheImageSpec) {
  auto a = oci::Digest::Sha256Of("a"), b = oci::Digest::Sha256Of("b");
  auto ids = oci::ChainIDs({a, b});
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], a);
  EXPECT_EQ(ids[1], oci::Digest::Sha256Of(a.str() + " " + b.str()));
  EXPECT_EQ(ChainSnapshotKey(a), "chain-" + a.str());
  EXPECT_TRUE(oci::ChainIDs({}).empty());
}

TEST_P(LayerCacheTest, UnpacksOnceWithWhiteoutsAcrossLayers) {
  auto layers = ThreeLayers();
  EnsureLayersStats stats;
  std::vector<size_t> applied;
  EnsureLayersOptions opts;
  opts.on_layer = [&](size_t i, const oci::Descriptor&, const archive::ApplyStats&) {
    applied.push_back(i);
  };
  auto key = cache_->EnsureLayers(Descs(layers), DiffIDs(layers), opts, &stats);
  ASSERT_TRUE(key) << key.error().message();
  auto chains = oci::ChainIDs(DiffIDs(layers));
  EXPECT_EQ(*key, ChainSnapshotKey(chains[2]));
  EXPECT_EQ(stats.layers_applied, 3u);
  EXPECT_EQ(stats.layers_reused, 0u);
  EXPECT_EQ(applied, (std::vector<size_t>{0, 1, 2}));
  auto info = sn_->Stat(*key);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->kind, Kind::kCommitted);
  EXPECT_EQ(info->parent, ChainSnapshotKey(chains[1]));
  EXPECT_EQ(info->labels.at("hoist.layer-cache.diff-id"), layers[2].diff_id.str());

  WithView(*key, [](const std::string& m) {
    EXPECT_FALSE(Exists(m + "/a/x"));
    EXPECT_EQ(ReadTestFile(m + "/a/y"), "y");
    EXPECT_FALSE(Exists(m + "/f"));
    EXPECT_FALSE(Exists(m + "/o/1"));
    EXPECT_EQ(ReadTestFile(m + "/o/2"), "2");
    EXPECT_EQ(ReadTestFile(m + "/top"), "t");
  });
  // The middle chain still has what the top layer did not add.
  WithView(ChainSnapshotKey(chains[1]), [](const std::string& m) {
    EXPECT_FALSE(Exists(m + "/top"));
    EXPECT_FALSE(Exists(m + "/f"));
  });

  // A second call does no work.
  applied.clear();
  auto again = cache_->EnsureLayers(Descs(layers), DiffIDs(layers), opts, &stats);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, *key);
  EXPECT_EQ(stats.layers_applied, 0u);
  EXPECT_EQ(stats.layers_reused, 3u);
  EXPECT_TRUE(applied.empty());

  // An image sharing the first two layers unpacks only its own.
  auto other = layers;
  other[2] = AddLayer(TestTar().File("other", "o").Finish());
  auto key2 = cache_->EnsureLayers(Descs(other), DiffIDs(other), {}, &stats);
  ASSERT_TRUE(key2) << key2.error().message();
  EXPECT_NE(*key2, *key);
  EXPECT_EQ(stats.layers_applied, 1u);
  EXPECT_EQ(stats.layers_reused, 2u);
  EXPECT_EQ(Keys().size(), 4u);
}

TEST_P(LayerCacheTest, DiffLayerOfAnUnpackedChainRoundTrips) {
  auto layers = ThreeLayers();
  auto key = cache_->EnsureLayers(Descs(layers), DiffIDs(layers));
  ASSERT_TRUE(key) << key.error().message();
  auto chains = oci::ChainIDs(DiffIDs(layers));
  // The middle layer's snapshot diffs to a layer that, applied on the first, gives the same
  // tree: its own whiteouts and the opaque directory come back out.
  auto diff = DiffLayer(*sn_, ChainSnapshotKey(chains[1]), *store_);
  ASSERT_TRUE(diff) << diff.error().message();
  EXPECT_EQ(diff->descriptor.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
  auto info = store_->Info(diff->descriptor.digest);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->size, diff->descriptor.size);
  std::vector<oci::Descriptor> descs = {layers[0].desc, diff->descriptor};
  std::vector<oci::Digest> ids = {layers[0].diff_id, diff->diff_id};
  auto rebuilt = cache_->EnsureLayers(descs, ids);
  ASSERT_TRUE(rebuilt) << rebuilt.error().message();
  WithView(*rebuilt, [](const std::string& m) {
    EXPECT_FALSE(Exists(m + "/a/x"));
    EXPECT_EQ(ReadTestFile(m + "/a/y"), "y");
    EXPECT_FALSE(Exists(m + "/f"));
    EXPECT_FALSE(Exists(m + "/o/1"));
    EXPECT_EQ(ReadTestFile(m + "/o/2"), "2");
  });
}

TEST_P(LayerCacheTest, CorruptLayerLeavesNoCommittedSnapshot) {
  auto layers = ThreeLayers();
  auto chains = oci::ChainIDs(DiffIDs(layers));
  auto bad = layers;
  bad[1].diff_id = oci::Digest::Sha256Of("not the layer");
  auto key = cache_->EnsureLayers(Descs(bad), DiffIDs(bad));
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code(), Code::kDataLoss);
  EXPECT_NE(key.error().message().find("layer 2/3 " + layers[1].desc.digest.str() + ": "),
            std::string::npos)
      << key.error().message();
  EXPECT_NE(key.error().message().find("diff ID mismatch"), std::string::npos)
      << key.error().message();
  // Only the first layer, which verified, is there; no extraction is left behind.
  EXPECT_EQ(Keys(), (std::vector<std::string>{ChainSnapshotKey(chains[0]) + ":committed"}));

  // A stored blob damaged after its commit: the store's verification is no help then, the
  // DiffID (or the codec) catches it.
  auto big = AddLayer(TestTar().File("r", RandomTestBytes(200000, 7)).Finish());
  {
    const std::string path = store_->BlobPath(big.desc.digest);
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100000);
    f.put('\x5a');
  }
  auto damaged = cache_->EnsureLayers(Descs({big}), DiffIDs({big}));
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code(), Code::kDataLoss) << damaged.error().message();
  EXPECT_EQ(Keys(), (std::vector<std::string>{ChainSnapshotKey(chains[0]) + ":committed"}));

  // A blob whose bytes are not what its descriptor says.
  std::string garbage = "\x1f\x8b garbage that is not gzip";
  ASSERT_TRUE(content::WriteBlob(*store_, garbage));
  TestLayer g;
  g.desc.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  g.desc.digest = oci::Digest::Sha256Of(garbage);
  g.desc.size = static_cast<int64_t>(garbage.size());
  g.diff_id = oci::Digest::Sha256Of("x");
  auto key2 = cache_->EnsureLayers(Descs({g}), DiffIDs({g}));
  ASSERT_FALSE(key2);
  EXPECT_EQ(key2.error().code(), Code::kDataLoss) << key2.error().message();
  EXPECT_EQ(key2.error().message().rfind("layer 1/1 " + g.desc.digest.str() + ": ", 0), 0u)
      << key2.error().message();
  EXPECT_EQ(Keys().size(), 1u);

  // A missing blob.
  TestLayer missing = g;
  missing.desc.digest = oci::Digest::Sha256Of("absent");
  auto key3 = cache_->EnsureLayers(Descs({missing}), DiffIDs({missing}));
  ASSERT_FALSE(key3);
  EXPECT_EQ(key3.error().code(), Code::kNotFound);
  EXPECT_EQ(Keys().size(), 1u);

  // The good image still unpacks.
  auto good = cache_->EnsureLayers(Descs(layers), DiffIDs(layers));
  ASSERT_TRUE(good) << good.error().message();
}

TEST_P(LayerCacheTest, ConcurrentRequestsMerge) {
  auto layers = ThreeLayers();
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<Result<std::string>> results(kThreads, std::string());
  std::vector<EnsureLayersStats> stats(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[i] = cache_->EnsureLayers(Descs(layers), DiffIDs(layers), {}, &stats[i]);
    });
  }
  for (auto& t : threads) t.join();
  size_t applied = 0;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(results[i]) << results[i].error().message();
    EXPECT_EQ(*results[i], *results[0]);
    EXPECT_EQ(stats[i].layers_applied + stats[i].layers_reused, 3u);
    applied += stats[i].layers_applied;
  }
  EXPECT_EQ(applied, 3u);
  EXPECT_EQ(Keys().size(), 3u);
}

TEST_P(LayerCacheTest, CancellationStopsBeforeCommitting) {
  auto layers = ThreeLayers();
  auto ctx = CancelContext::Background();
  EnsureLayersOptions opts;
  opts.cancel = ctx.get();
  // Cancelled after the first layer committed.
  opts.on_layer = [&](size_t, const oci::Descriptor&, const archive::ApplyStats&) {
    ctx->Cancel("build cancelled");
  };
  auto key = cache_->EnsureLayers(Descs(layers), DiffIDs(layers), opts);
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code(), Code::kCancelled);
  EXPECT_EQ(key.error().message(), "build cancelled");
  auto chains = oci::ChainIDs(DiffIDs(layers));
  EXPECT_EQ(Keys(), (std::vector<std::string>{ChainSnapshotKey(chains[0]) + ":committed"}));
}

TEST_P(LayerCacheTest, AWaiterTakesOverFromACancelledLeaderAndCanStopWaiting) {
  auto layers = ThreeLayers();
  GatedStore gated(*store_);
  LayerCache cache(*sn_, gated);
  gated.Close();
  auto leader_ctx = CancelContext::Background();
  EnsureLayersOptions leader_opts;
  leader_opts.cancel = leader_ctx.get();
  auto leader = std::async(std::launch::async, [&] {
    return cache.EnsureLayers(Descs(layers), DiffIDs(layers), leader_opts);
  });
  gated.AwaitBlocked();  // the leader is unpacking layer 1

  // A waiter that gives up returns at once, while the leader is still held.
  auto quitter_ctx = CancelContext::Background();
  EnsureLayersOptions quitter_opts;
  quitter_opts.cancel = quitter_ctx.get();
  auto quitter = std::async(std::launch::async, [&] {
    return cache.EnsureLayers(Descs(layers), DiffIDs(layers), quitter_opts);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  quitter_ctx->Cancel("client went away");
  ASSERT_EQ(quitter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto q = quitter.get();
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code(), Code::kCancelled);
  EXPECT_EQ(q.error().message(), "client went away");

  // A waiter that stays takes over when the leader is cancelled.
  EnsureLayersStats stats;
  auto waiter = std::async(std::launch::async, [&] {
    return cache.EnsureLayers(Descs(layers), DiffIDs(layers), {}, &stats);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  leader_ctx->Cancel("leader cancelled");
  gated.Open();
  auto l = leader.get();
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code(), Code::kCancelled);
  auto w = waiter.get();
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(stats.layers_applied, 3u);
  EXPECT_EQ(Keys().size(), 3u);
}

TEST_P(LayerCacheTest, BadRequestsAreRefused) {
  auto layers = ThreeLayers();
  EnsureLayersOptions opts;
  opts.max_layers = 2;
  auto limit = cache_->EnsureLayers(Descs(layers), DiffIDs(layers), opts);
  ASSERT_FALSE(limit);
  EXPECT_EQ(limit.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(limit.error().message(), "3 layers, more than the limit of 2");

  auto counts = cache_->EnsureLayers(Descs(layers), {layers[0].diff_id});
  ASSERT_FALSE(counts);
  EXPECT_EQ(counts.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(counts.error().message(), "3 layers but 1 diff IDs");

  auto wrong_type = layers;
  wrong_type[0].desc.media_type = "application/vnd.oci.image.config.v1+json";
  auto type = cache_->EnsureLayers(Descs(wrong_type), DiffIDs(wrong_type));
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(type.error().message(), "layer 1/3 " + layers[0].desc.digest.str() +
                                        ": not a layer media type: "
                                        "application/vnd.oci.image.config.v1+json");
  EXPECT_TRUE(Keys().empty());

  auto none = cache_->EnsureLayers(std::vector<oci::Descriptor>{}, std::vector<oci::Digest>{});
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, "");
}

TEST_P(LayerCacheTest, AnExtractionLeftByACrashIsRedone) {
  auto layers = ThreeLayers();
  auto chains = oci::ChainIDs(DiffIDs(layers));
  auto mounts = sn_->Prepare("extract-" + chains[0].str(), "");
  ASSERT_TRUE(mounts);
  auto w = sn_->Writable("extract-" + chains[0].str());
  ASSERT_TRUE(w);
  WriteTestFile(w->path + "/half-written", "junk");
  auto key = cache_->EnsureLayers(Descs(layers), DiffIDs(layers));
  ASSERT_TRUE(key) << key.error().message();
  WithView(*key, [](const std::string& m) {
    EXPECT_FALSE(Exists(m + "/half-written"));
    EXPECT_EQ(ReadTestFile(m + "/top"), "t");
  });
  EXPECT_EQ(Keys().size(), 3u);
}

TEST_P(LayerCacheTest, TheErofsSnapshotterKeepsLayersAsMountedImages) {
  TestLayer l1 = AddLayer(TestTar().Dir("d").File("d/a", "a").Symlink("s", "d/a").Finish());
  TestLayer l2 = AddLayer(TestTar().File("d/.wh.a", "").File("b", "b").Finish());
  auto top = cache_->EnsureLayers({l1.desc, l2.desc}, {l1.diff_id, l2.diff_id});
  ASSERT_TRUE(top) << top.error().message();
  auto metadata = internal::LoadCurrentMetadata(
      dir_.path() + "/snapshots", GetParam().name == std::string("native") ? "native" : "overlay");
  ASSERT_TRUE(metadata) << metadata.error().message();
  size_t images = 0;
  for (const auto& [key, r] : metadata->snapshots) images += r.tree == internal::Tree::kErofs;
  const bool erofs = std::string(GetParam().name) == "erofs";
  EXPECT_EQ(images, erofs ? 2u : 0u);
  auto usage = sn_->GetUsage(*top);
  ASSERT_TRUE(usage) << usage.error().message();
  if (erofs) {
    EXPECT_EQ(usage->inodes, 1);  // one image file on the host
  }
  auto view = sn_->View("v", *top);
  ASSERT_TRUE(view) << view.error().message();
  std::string target = dir_.path() + "/mnt";
  ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
  auto m = MountAll(*view, target);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_FALSE(Exists(target + "/d/a"));
  EXPECT_TRUE(Exists(target + "/d"));
  EXPECT_EQ(ReadTestFile(target + "/b"), "b");
  char link[64] = {};
  ASSERT_GT(::readlink((target + "/s").c_str(), link, sizeof(link) - 1), 0);
  EXPECT_STREQ(link, "d/a");
  ASSERT_TRUE(m->Unmount());
}

INSTANTIATE_TEST_SUITE_P(Both, LayerCacheTest,
                         ::testing::Values(Impl{"overlay", &OpenOverlaySnapshotter},
                                           Impl{"erofs", &OpenErofsSnapshotter},
                                           Impl{"native", &OpenNativeSnapshotter}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace hoist::snapshot
