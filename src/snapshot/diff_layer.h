// DiffLayer: the layer blob of a snapshot's changes against its parent, written into a content
// store. The overlay snapshotter reads the snapshot's upper dir (the kernel recorded the
// changes there); the native one compares the parent's tree with the snapshot's.
//
// Thread-safety: reentrant; the snapshot must not change while it is diffed.
#pragma once

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

}  // namespace hoist::snapshot
