#include "exporter/pack.h"

#include <sys/stat.h>

#include <cstdlib>

#include "exporter/image_writer.h"
#include "oci/image_config.h"

namespace hoist::exporter {
Result<oci::ContainerConfig> ParseContainerConfig(const std::string& text) {
  auto whole = oci::ParseImageConfig(text);
  if (whole) return whole->config;
  // Wrap a bare "config" object in the smallest valid image config and parse that.
  std::string wrapped = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":)" +
                        text + "}";
  auto bare = oci::ParseImageConfig(wrapped);
  if (bare) return bare->config;
  return MakeError(Code::kInvalidArgument,
                   "config: neither an image config (" + whole.error().message() +
                       ") nor a container config (" + bare.error().message() + ")");
}

Result<PackResult> PackDirectory(content::OciLayout& dest, const PackOptions& options) {
  if (options.base.has_value() != (options.base_store != nullptr)) {
    return MakeError(Code::kInvalidArgument, "pack: a base image needs its store");
  }
  // Everything that can be refused is checked before anything is written.
  HOIST_ASSIGN_OR_RETURN(int64_t created, CreationTime());
  const std::string created_text = FormatTimestamp(created);
  struct stat st;
  if (::stat(options.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return MakeError(Code::kInvalidArgument, "pack " + options.dir + ": not a directory");
  }

  oci::ImageConfig config;
  std::vector<oci::Descriptor> layers;
  if (options.base) {
    const content::ResolvedImage& base = *options.base;
    // The base's blobs are copied as they are: no recompression, same digests.
    HOIST_TRY(content::CopyImage(*options.base_store, dest.store(), base.manifest_desc));
    config = base.config;
    layers = base.manifest.layers;
  } else {
    oci::Platform p = oci::Normalize(options.platform);
    config.architecture = p.architecture;
    config.os = p.os;
    config.variant = p.variant;
    config.rootfs.type = "layers";
  }
  if (options.config) config.config = *options.config;

  LayerBlobOptions lopts;
  lopts.compression = options.compression;
  if (std::getenv("SOURCE_DATE_EPOCH") != nullptr) lopts.tar.source_date_epoch = created;
  auto layer = WriteDirectoryLayer(dest.store(), options.dir, lopts);
  if (!layer) return Unexpected(std::move(layer).error().Wrap("pack " + options.dir));

  layers.push_back(layer->descriptor);
  config.rootfs.diff_ids.push_back(layer->diff_id);
  config.created = created_text;
  oci::History h;
  h.created = created_text;
  h.created_by = options.created_by;
  config.history.push_back(h);

  HOIST_ASSIGN_OR_RETURN(oci::Descriptor manifest, WriteImage(dest.store(), config, layers));
  oci::Descriptor entry = manifest;
  entry.platform.reset();  // index.json entries of hoist's layouts carry names, not platforms
  HOIST_TRY(dest.Put(entry, options.names));
  return PackResult{manifest, *layer};
}

}  // namespace hoist::exporter
