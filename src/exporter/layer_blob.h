// Writing new layers as blobs: a producer writes tar entries, which are compressed and hashed
// in one pass (archive::LayerWriter) straight into a content store, where the blob appears only
// once its digest is known and verified.
#pragma once

#include <functional>

#include "archive/compression.h"
#include "archive/tar_writer.h"
#include "base/error.h"
#include "content/content_store.h"
#include "oci/descriptor.h"

namespace hoist::exporter {

struct LayerBlob {
  oci::Descriptor descriptor;  // media type (OCI), digest and size of the compressed blob
  oci::Digest diff_id;         // sha256 of the uncompressed tar
  uint64_t uncompressed_size = 0;
};

struct LayerBlobOptions {
  archive::CompressorOptions compression;
  archive::TarWriterOptions tar;
};

// Runs `produce` on a tar writer whose output becomes one layer blob in `store`. The producer
// writes entries only; the end-of-archive marker is added here.
Result<LayerBlob> WriteLayerBlob(content::ContentStore& store,
                                 const std::function<Status(archive::TarWriter&)>& produce,
                                 const LayerBlobOptions& options = {});

// The whole tree at `dir` as one layer (every entry, as added files).
Result<LayerBlob> WriteDirectoryLayer(content::ContentStore& store, const std::string& dir,
                                      const LayerBlobOptions& options = {});

// The layer `layer` (in `store`, with `diff_id`) compressed anew with `compression`: for
// exports with force-compression, so every layer has the compression asked for. The
// uncompressed stream must hash to `diff_id` (kDataLoss otherwise).
Result<LayerBlob> RecompressLayerBlob(content::ContentStore& store, const oci::Descriptor& layer,
                                      const oci::Digest& diff_id,
                                      const archive::CompressorOptions& compression);

}  // namespace hoist::exporter
