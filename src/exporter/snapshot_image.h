// Turning a build result (a committed snapshot) into an image in the engine's content store.
//
// The layers are the snapshot's parent chain, bottom first. A snapshot the layer cache made
// from a blob (labelled with that blob) is exported as the very same blob, never
// re-compressed; any other snapshot is diffed against its parent and compressed once. Diffs are
// remembered per snapshot and compression settings under `diff_cache_dir`, so exporting the
// same result again writes nothing new. History entries are aligned with the layers as
// BuildKit does: one non-empty entry per layer.
//
// Thread-safety: reentrant; the snapshots must not change while exported.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "base/cancel.h"
#include "base/error.h"
#include "content/content_store.h"
#include "oci/descriptor.h"
#include "oci/image_config.h"
#include "snapshot/diff_layer.h"
#include "snapshot/snapshotter.h"

namespace hoist::exporter {

struct SnapshotImageOptions {
  snapshot::DiffLayerOptions layer;  // compression of new layers
  // Recorded as `created` (config and new history entries) and used to clamp the file times
  // in new layers (SOURCE_DATE_EPOCH / rewrite-timestamp); nullopt: now, times kept.
  std::optional<int64_t> epoch;
  bool rewrite_timestamps = false;
  // Recompress re-used layers whose compression differs from `layer.compression`
  // (`force-compression=true`).
  bool force_compression = false;
  // OCI media types (the default), or Docker's (`oci-mediatypes=false`).
  bool oci_media_types = true;
  // Where diff results are remembered; empty: not remembered.
  std::string diff_cache_dir;
  CancelContext* cancel = nullptr;
};

struct SnapshotImage {
  oci::Descriptor manifest;
  oci::Descriptor config;
  oci::ImageConfig image_config;
  size_t layers = 0;
  size_t new_layers = 0;  // diffed and compressed by this call
};

// The layer-cache labels on a snapshot made from a blob.
inline constexpr std::string_view kLabelLayerDigest = "hoist.layer-cache.layer";
inline constexpr std::string_view kLabelLayerDiffId = "hoist.layer-cache.diff-id";
inline constexpr std::string_view kLabelLayerMediaType = "hoist.layer-cache.media-type";

struct SnapshotLayer {
  oci::Descriptor descriptor;
  oci::Digest diff_id;
};

// The layers of committed snapshot `top`, bottom first, each a blob in `store` (re-used or
// diffed as described above). `new_layers`, when given, counts the layers diffed by this call.
Result<std::vector<SnapshotLayer>> SnapshotLayers(snapshot::Snapshotter& snapshotter,
                                                   content::ContentStore& store,
                                                   const std::string& top,
                                                   const SnapshotImageOptions& options = {},
                                                   size_t* new_layers = nullptr);

// For each snapshot of `top`'s parent chain (`top` included), how many layers of its image it
// stands for: the bottom one 1, its child 2, ...; the empty tree 0.
Result<std::map<std::string, size_t>> SnapshotLayerCounts(snapshot::Snapshotter& snapshotter,
                                                           const std::string& top);

// Builds the image of committed snapshot `top` ("" or the empty snapshot: no layers) with
// `config` (the frontend's: platform, container config, history; rootfs is replaced).
Result<SnapshotImage> WriteSnapshotImage(snapshot::Snapshotter& snapshotter,
                                         content::ContentStore& store, const std::string& top,
                                         oci::ImageConfig config,
                                         const SnapshotImageOptions& options = {});

}  // namespace hoist::exporter
