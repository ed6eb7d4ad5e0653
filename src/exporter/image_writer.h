// Writing an image's config and manifest blobs: the last step of every export. Layers must be
// in the store already (new ones from layer_blob.h, base ones copied as the same blobs).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "content/content_store.h"
#include "oci/descriptor.h"
#include "oci/image_config.h"

namespace hoist::exporter {

// Writes `config` and a manifest listing `layers` (whose count must equal the config's diff
// IDs) into `store`; returns the manifest's descriptor, with the config's platform. With
// `oci_media_types` false the manifest, config and layers carry Docker's media types (the
// bytes of the layers are the same).
Result<oci::Descriptor> WriteImage(content::ContentStore& store, const oci::ImageConfig& config,
                                   const std::vector<oci::Descriptor>& layers,
                                   bool oci_media_types = true);

// A layer descriptor as an OCI manifest lists it: Docker layer media types become their OCI
// equivalents (the bytes are the same); annotations and urls are kept.
oci::Descriptor AsOciLayer(oci::Descriptor layer);

// RFC 3339 in UTC with second precision: 2024-05-01T12:00:00Z.
std::string FormatTimestamp(int64_t unix_seconds);

// The creation time to record: SOURCE_DATE_EPOCH when set and valid, else now. A malformed
// SOURCE_DATE_EPOCH is an error, as a reproducible build must not silently fall back.
Result<int64_t> CreationTime();

}  // namespace hoist::exporter
