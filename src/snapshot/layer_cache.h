// LayerCache: image layers unpacked once into committed snapshots keyed by chain ID, the
// identity of a layer together with everything below it (image-spec config.md:
// ChainID(L0) = DiffID(L0), ChainID(L0|...|Ln) = sha256(ChainID(L0|...|Ln-1) + " " + DiffID(Ln))).
// The snapshot for a chain is named `chain-<chainID>` (`chain-sha256:<hex>`), so any image
// sharing a base reuses the snapshots of the layers they share.
//
// A missing chain is built layer by layer: Prepare `extract-<chainID>` on the previous chain,
// apply the layer blob into its writable dir (overlay whiteouts for the overlay snapshotter) or,
// where the snapshotter offers a layer image (the EROFS snapshotter), write it as that image,
// verifying size and DiffID (and the digest, unless the store verified it on commit) while the
// blob streams, then Commit it as `chain-<chainID>`.
// A layer that fails (corrupt blob, cancellation) is removed: no committed snapshot ever holds
// an unverified layer. An `extract-` snapshot left by a crash is removed and redone (the lock
// below means no one else is extracting it).
//
// Concurrent requests for the same chain ID merge (single-flight, per layer): one caller
// unpacks, the others wait for its result; a waiter whose leader was cancelled takes over.
// Across processes sharing the snapshotter, a lock file per chain ID under `lock_dir` (flock,
// released by the kernel when its holder dies) lets one process unpack while the others wait
// and then find the committed snapshot.
//
// Ownership: the cache refers to a snapshotter and a content store it does not own; both must
// outlive it. Thread-safety: thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "archive/apply.h"
#include "base/cancel.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "content/content_store.h"
#include "content/image_resolver.h"
#include "oci/descriptor.h"
#include "oci/digest.h"
#include "oci/image_config.h"
#include "snapshot/snapshotter.h"

namespace hoist::snapshot {

// `chain-<chainID>`.
std::string ChainSnapshotKey(const oci::Digest& chain_id);

struct EnsureLayersOptions {
  // Checked between layers and while applying; may be null. Also ends waiting for another
  // caller's unpack.
  CancelContext* cancel = nullptr;
  // More layers than this is kInvalidArgument (overlayfs stacks at most 500 lower dirs).
  size_t max_layers = 500;
  // lchown files to the owners the layers name (needs root).
  bool restore_ownership = true;
  // Called after this caller applied layer `index` (0-based).
  std::function<void(size_t index, const oci::Descriptor&, const archive::ApplyStats&)> on_layer;
};

struct EnsureLayersStats {
  size_t layers_applied = 0;  // by this call (0 when every chain was already there)
  size_t layers_reused = 0;   // found committed, or unpacked by a concurrent caller
};

class LayerCache {
 public:
  // `lock_dir`: where the per-chain lock files go ("" when no other process shares the
  // snapshotter).
  LayerCache(Snapshotter& snapshotter, content::ContentStore& store, std::string lock_dir = {})
      : snapshotter_(snapshotter), store_(store), lock_dir_(std::move(lock_dir)) {}
  LayerCache(const LayerCache&) = delete;
  LayerCache& operator=(const LayerCache&) = delete;

  // Makes sure every chain of `layers` (with their `diff_ids`) is a committed snapshot and
  // returns the key of the top one ("" for no layers). Errors name the layer:
  // `layer 2/3 sha256:...: diff ID mismatch ...`.
  Result<std::string> EnsureLayers(const std::vector<oci::Descriptor>& layers,
                                   const std::vector<oci::Digest>& diff_ids,
                                   const EnsureLayersOptions& options = {},
                                   EnsureLayersStats* stats = nullptr);
  // The same for a resolved image's manifest layers and config diff IDs.
  Result<std::string> EnsureLayers(const content::ResolvedImage& image,
                                   const EnsureLayersOptions& options = {},
                                   EnsureLayersStats* stats = nullptr);

 private:
  struct Flight;
  // Ensures chain `chain_id` on `parent_key`; sets *applied when this caller did the work.
  Result<std::string> EnsureOne(size_t index, size_t count, const oci::Descriptor& layer,
                                const oci::Digest& diff_id, const oci::Digest& chain_id,
                                const std::string& parent_key,
                                const EnsureLayersOptions& options, bool* applied);
  Result<std::string> Unpack(size_t index, size_t count, const oci::Descriptor& layer,
                             const oci::Digest& diff_id, const oci::Digest& chain_id,
                             const std::string& parent_key, const EnsureLayersOptions& options);
  // Streams the verified layer blob into an EROFS image at `image` (WritableDir::layer_image).
  Result<archive::ApplyStats> WriteLayerImage(const oci::Descriptor& layer,
                                              const oci::Digest& diff_id,
                                              const std::string& image,
                                              const EnsureLayersOptions& options);

  // Holds the cross-process lock of `chain_id` (an empty fd without a lock_dir).
  Result<UniqueFd> LockChain(const oci::Digest& chain_id, CancelContext* cancel);

  Snapshotter& snapshotter_;
  content::ContentStore& store_;
  const std::string lock_dir_;
  std::mutex mu_;
  std::map<oci::Digest, std::shared_ptr<Flight>> flights_;
};

}  // namespace hoist::snapshot
