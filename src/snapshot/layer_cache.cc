#include "snapshot/layer_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <thread>

#include "archive/erofs_writer.h"
#include "base/file_system.h"
#include "base/unique_fd.h"
#include "oci/media_types.h"
#include "snapshot/unpack.h"

namespace hoist::snapshot {

struct LayerCache::Flight {
  std::condition_variable cv;
  bool done = false;
  std::optional<Result<std::string>> result;
};

namespace {

std::string LayerName(size_t index, size_t count, const oci::Descriptor& layer) {
  return "layer " + std::to_string(index + 1) + "/" + std::to_string(count) + " " +
         layer.digest.str();
}

}  // namespace

std::string ChainSnapshotKey(const oci::Digest& chain_id) { return "chain-" + chain_id.str(); }

Result<std::string> LayerCache::EnsureLayers(const content::ResolvedImage& image,
                                             const EnsureLayersOptions& options,
                                             EnsureLayersStats* stats) {
  auto key = EnsureLayers(image.manifest.layers, image.config.rootfs.diff_ids, options, stats);
  if (!key) return Unexpected(std::move(key).error().Wrap("image " + image.manifest_desc.digest.str()));
  return key;
}

Result<std::string> LayerCache::EnsureLayers(const std::vector<oci::Descriptor>& layers,
                                             const std::vector<oci::Digest>& diff_ids,
                                             const EnsureLayersOptions& options,
                                             EnsureLayersStats* stats) {
  EnsureLayersStats local;
  if (stats == nullptr) stats = &local;
  *stats = {};
  if (layers.size() != diff_ids.size()) {
    return MakeError(Code::kInvalidArgument, std::to_string(layers.size()) + " layers but " +
                                                 std::to_string(diff_ids.size()) + " diff IDs");
  }
  if (layers.size() > options.max_layers) {
    return MakeError(Code::kInvalidArgument,
                     std::to_string(layers.size()) + " layers, more than the limit of " +
                         std::to_string(options.max_layers));
  }
  if (layers.empty()) return std::string();
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!layers[i].media_type.empty() && !oci::IsLayerType(layers[i].media_type)) {
      return MakeError(Code::kInvalidArgument, LayerName(i, layers.size(), layers[i]) +
                                                   ": not a layer media type: " +
                                                   layers[i].media_type);
    }
  }
  std::vector<oci::Digest> chain_ids = oci::ChainIDs(diff_ids);
  // The common case first: the top chain, or a prefix, is already there.
  size_t start = layers.size();
  while (start > 0) {
    auto info = snapshotter_.Stat(ChainSnapshotKey(chain_ids[start - 1]));
    if (info && info->kind == Kind::kCommitted) break;
    if (!info && info.error().code() != Code::kNotFound) return Unexpected(info.error());
    --start;
  }
  stats->layers_reused = start;
  std::string parent = start == 0 ? "" : ChainSnapshotKey(chain_ids[start - 1]);
  for (size_t i = start; i < layers.size(); ++i) {
    bool applied = false;
    HOIST_ASSIGN_OR_RETURN(parent, EnsureOne(i, layers.size(), layers[i], diff_ids[i],
                                             chain_ids[i], parent, options, &applied));
    (applied ? stats->layers_applied : stats->layers_reused)++;
  }
  return parent;
}

Result<std::string> LayerCache::EnsureOne(size_t index, size_t count,
                                          const oci::Descriptor& layer,
                                          const oci::Digest& diff_id, const oci::Digest& chain_id,
                                          const std::string& parent_key,
                                          const EnsureLayersOptions& options, bool* applied) {
  const std::string key = ChainSnapshotKey(chain_id);
  for (;;) {
    if (options.cancel != nullptr) HOIST_TRY(options.cancel->Check());
    auto info = snapshotter_.Stat(key);
    if (info) {
      if (info->kind == Kind::kCommitted) return key;
      return Unexpected(Error(Code::kFailedPrecondition,
                              "snapshot \"" + key + "\": is " +
                                  std::string(KindName(info->kind)) + ", not committed")
                            .Wrap(LayerName(index, count, layer)));
    }
    if (info.error().code() != Code::kNotFound) return Unexpected(info.error());

    std::shared_ptr<Flight> flight;
    bool leader = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& slot = flights_[chain_id];
      if (!slot) {
        slot = std::make_shared<Flight>();
        leader = true;
      }
      flight = slot;
    }
    if (leader) {
      // Another leader, here or in another process, may have committed it between the Stat
      // above and this flight.
      auto chain_lock = LockChain(chain_id, options.cancel);
      auto again = snapshotter_.Stat(key);
      const bool found = chain_lock && again && again->kind == Kind::kCommitted;
      Result<std::string> result =
          !chain_lock ? Result<std::string>(Unexpected(std::move(chain_lock).error().Wrap(
                            LayerName(index, count, layer))))
          : found     ? Result<std::string>(key)
                      : Unpack(index, count, layer, diff_id, chain_id, parent_key, options);
      const bool unpacked = chain_lock && !found;
      chain_lock = UniqueFd();
      {
        std::lock_guard<std::mutex> lock(mu_);
        flight->done = true;
        flight->result = result;
        flights_.erase(chain_id);
      }
      flight->cv.notify_all();
      if (result && unpacked) *applied = true;
      return result;
    }
    std::unique_lock<std::mutex> lock(mu_);
    while (!flight->done) {
      if (options.cancel != nullptr && options.cancel->cancelled()) break;
      flight->cv.wait_for(lock, std::chrono::milliseconds(50));
    }
    if (!flight->done) {
      lock.unlock();
      HOIST_TRY(options.cancel->Check());
      continue;
    }
    Result<std::string> result = *flight->result;
    lock.unlock();
    // The leader was cancelled, not this caller: try again (perhaps as the leader).
    if (!result && result.error().code() == Code::kCancelled) continue;
    return result;
  }
}

Result<UniqueFd> LayerCache::LockChain(const oci::Digest& chain_id, CancelContext* cancel) {
  if (lock_dir_.empty()) return UniqueFd();
  HOIST_TRY(PosixFileSystem()->MakeDirs(lock_dir_, 0700));
  const std::string path = lock_dir_ + "/" + std::string(chain_id.encoded());
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return Unexpected(ErrnoError(errno, "open the lock of chain " + chain_id.str()));
  // Polled, so that a cancelled build stops waiting.
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return Unexpected(ErrnoError(errno, "lock chain " + chain_id.str()));
    }
    if (cancel != nullptr) HOIST_TRY(cancel->Check());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fd;
}

Result<std::string> LayerCache::Unpack(size_t index, size_t count, const oci::Descriptor& layer,
                                       const oci::Digest& diff_id, const oci::Digest& chain_id,
                                       const std::string& parent_key,
                                       const EnsureLayersOptions& options) {
  const std::string name = LayerName(index, count, layer);
  const std::string key = ChainSnapshotKey(chain_id);
  const std::string extract = "extract-" + chain_id.str();
  Labels labels = {{"hoist.layer-cache.chain-id", chain_id.str()},
                   {"hoist.layer-cache.diff-id", diff_id.str()},
                   {"hoist.layer-cache.layer", layer.digest.str()}};
  auto mounts = snapshotter_.Prepare(extract, parent_key, labels);
  if (!mounts && mounts.error().code() == Code::kAlreadyExists) {
    // Left by a crash mid-unpack (flights merge callers in this process and the chain's lock
    // keeps other processes out): start it afresh.
    if (auto s = snapshotter_.Remove(extract); !s) return Unexpected(std::move(s).error().Wrap(name));
    mounts = snapshotter_.Prepare(extract, parent_key, labels);
  }
  if (!mounts) return Unexpected(std::move(mounts).error().Wrap(name));

  auto finish = [&]() -> Status {
    HOIST_ASSIGN_OR_RETURN(WritableDir dir, snapshotter_.Writable(extract));
    archive::ApplyStats stats;
    if (!dir.layer_image.empty()) {
      HOIST_ASSIGN_OR_RETURN(stats, WriteLayerImage(layer, diff_id, dir.layer_image, options));
    } else {
      archive::ApplyOptions aopts;
      aopts.overlay = dir.overlay_upper;
      aopts.restore_ownership = options.restore_ownership;
      aopts.cancel = options.cancel;
      HOIST_ASSIGN_OR_RETURN(stats, ApplyLayerBlob(store_, layer, diff_id, dir.path, aopts));
    }
    if (options.cancel != nullptr) HOIST_TRY(options.cancel->Check());
    HOIST_TRY(snapshotter_.Commit(key, extract, labels));
    if (options.on_layer) options.on_layer(index, layer, stats);
    return OkStatus();
  };
  if (auto s = finish(); !s) {
    (void)snapshotter_.Remove(extract);
    return Unexpected(std::move(s).error().Wrap(name));
  }
  return key;
}

Result<archive::ApplyStats> LayerCache::WriteLayerImage(const oci::Descriptor& layer,
                                                        const oci::Digest& diff_id,
                                                        const std::string& image,
                                                        const EnsureLayersOptions& options) {
  HOIST_ASSIGN_OR_RETURN(VerifiedLayer v, OpenVerifiedLayer(store_, layer, diff_id));
  // O_TRUNC: what a failed attempt left is rewritten, never appended to.
  UniqueFd out(::open(image.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) return Unexpected(ErrnoError(errno, "create the layer's EROFS image"));
  archive::ErofsWriteOptions wopts;
  wopts.cancel = options.cancel;
  HOIST_ASSIGN_OR_RETURN(archive::ApplyStats stats, archive::WriteLayerErofs(*v.tar, out.get(), wopts));
  // The tar ended at its marker; read the rest so the digests cover the whole blob.
  HOIST_TRY(v.tar->Finish());
  // The metadata will name the image as the snapshot's tree: it must be on disk first.
  if (::fsync(out.get()) != 0) return Unexpected(ErrnoError(errno, "sync the layer's EROFS image"));
  return stats;
}

}  // namespace hoist::snapshot
