// DiffLayer: the layer blob of a snapshot's changes against its parent, written into a content
// store. The overlay snapshotter reads the snapshot's upper dir (the kernel recorded the
// changes there); the native one compares the parent's tree with the snapshot's.
//
// The diff cache: a directory of small JSON files, one per snapshot and blob settings
// (compression, level, the epoch file times were clamped to), naming the blob a diff gave, so
// that exporting the same snapshot again writes nothing. A step that writes its layer's tar
// itself (a COPY written from its sources) records the blob it made there too; the blob is the
// one DiffLayer would give, byte for byte. A record whose blob is gone is ignored.
//
// Thread-safety: reentrant; the snapshot must not change while it is diffed.
#pragma once

#include <optional>
#include <string>

#include "archive/compression.h"
#include "archive/layer.h"
#include "base/error.h"
#include "content/content_store.h"
#include "oci/descriptor.h"
#include "snapshot/snapshotter.h"

namespace hoist::snapshot {

struct DiffLayerOptions {
  archive::CompressorOptions compression;  // gzip by default
  archive::TarWriterOptions tar;
  archive::DiffOptions diff;
};

struct DiffLayerResult {
  oci::Descriptor descriptor;  // media type (OCI layer type for the compression), digest, size
  oci::Digest diff_id;
};

// Writes the diff of snapshot `key` (active or committed) as a compressed layer blob into
// `store`; the blob becomes visible only once complete and verified.
Result<DiffLayerResult> DiffLayer(Snapshotter& snapshotter, const std::string& key,
                                  content::ContentStore& store,
                                  const DiffLayerOptions& options = {});

// Ends `layer` (the writer of a layer's tar into `blob`) and commits the blob: the result a
// diff gives. Both are finished afterwards, whatever the outcome.
Result<DiffLayerResult> CommitLayerBlob(archive::LayerWriter& layer, content::BlobWriter& blob);

// The diff cache's file for snapshot `name` diffed with `compression`, file times clamped to
// `clamp_epoch` when given, in `dir`.
std::string DiffCacheFile(const std::string& dir, const std::string& name,
                          const archive::CompressorOptions& compression,
                          std::optional<int64_t> clamp_epoch);
// The diff recorded in `file`, when its blob is still in `store` with the recorded size.
std::optional<DiffLayerResult> LoadCachedDiff(content::ContentStore& store, const std::string& file);
// Records `diff` in `file` (created with its directory; best effort: a diff not recorded is
// diffed again).
void SaveCachedDiff(const std::string& file, const DiffLayerResult& diff);

}  // namespace hoist::snapshot
