// Packing a directory into an image: the directory's tree becomes one new layer, either of a
// new image or on top of a base image's layers (which are reused as the same compressed blobs),
// written into an OCI layout under the given names. This is `hoist pack`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "archive/compression.h"
#include "content/image_resolver.h"
#include "content/oci_layout.h"
#include "exporter/layer_blob.h"
#include "oci/image_config.h"
#include "oci/platform.h"

namespace hoist::exporter {

struct PackOptions {
  std::string dir;                           // the tree to pack
  std::vector<content::LayoutName> names;    // none: `latest`
  // The base image and the store holding its blobs; both or neither.
  content::ContentStore* base_store = nullptr;
  std::optional<content::ResolvedImage> base;
  // Replaces the container config (Env, Cmd, ...). nullopt: the base's, or none.
  std::optional<oci::ContainerConfig> config;
  // The platform of a new image (ignored with a base, whose platform is kept).
  oci::Platform platform;
  archive::CompressorOptions compression;
  std::string created_by = "hoist pack";
};

struct PackResult {
  oci::Descriptor manifest;
  LayerBlob layer;
};

Result<PackResult> PackDirectory(content::OciLayout& dest, const PackOptions& options);

// The container config in `text`: either a whole image config or just its "config" object
// (`{"Env": [...], "Cmd": [...]}`), as users write for `--config-from`.
Result<oci::ContainerConfig> ParseContainerConfig(const std::string& text);

}  // namespace hoist::exporter
