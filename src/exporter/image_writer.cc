#include "exporter/image_writer.h"

#include <cerrno>
#include <cstdlib>
#include <ctime>

#include "archive/layer.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::exporter {

oci::Descriptor AsOciLayer(oci::Descriptor layer) {
  if (oci::IsNonDistributableLayerType(layer.media_type)) return layer;
  auto compression = archive::LayerMediaTypeCompression(layer.media_type);
  if (!compression) return layer;
  if (auto mt = archive::LayerMediaType(*compression, archive::LayerMediaTypeFamily::kOci); mt) {
    layer.media_type = std::string(*mt);
  }
  return layer;
}

oci::Descriptor AsDockerLayer(oci::Descriptor layer) {
  auto compression = archive::LayerMediaTypeCompression(layer.media_type);
  if (!compression || oci::IsNonDistributableLayerType(layer.media_type)) return layer;
  if (auto mt = archive::LayerMediaType(*compression, archive::LayerMediaTypeFamily::kDocker); mt) {
    layer.media_type = std::string(*mt);
  }
  return layer;
}

Result<oci::Descriptor> WriteImage(content::ContentStore& store, const oci::ImageConfig& config,
                                   const std::vector<oci::Descriptor>& layers,
                                   bool oci_media_types) {
  if (config.rootfs.diff_ids.size() != layers.size()) {
    return MakeError(Code::kInvalidArgument,
                     "image config lists " + std::to_string(config.rootfs.diff_ids.size()) +
                         " diff IDs for " + std::to_string(layers.size()) + " layers");
  }
  std::string config_json = oci::SerializeImageConfig(config);
  HOIST_ASSIGN_OR_RETURN(content::BlobInfo config_info, content::WriteBlob(store, config_json));

  oci::Manifest manifest;
  manifest.media_type = std::string(oci_media_types ? oci::kMediaTypeImageManifest
                                                    : oci::kMediaTypeDockerManifest);
  manifest.config.media_type =
      std::string(oci_media_types ? oci::kMediaTypeImageConfig : oci::kMediaTypeDockerConfig);
  manifest.config.digest = config_info.digest;
  manifest.config.size = config_info.size;
  for (const auto& l : layers) {
    manifest.layers.push_back(oci_media_types ? AsOciLayer(l) : AsDockerLayer(l));
  }
  std::string manifest_json = oci::SerializeManifest(manifest);
  HOIST_ASSIGN_OR_RETURN(content::BlobInfo manifest_info,
                         content::WriteBlob(store, manifest_json));

  oci::Descriptor desc;
  desc.media_type = manifest.media_type;
  desc.digest = manifest_info.digest;
  desc.size = manifest_info.size;
  oci::Platform p;
  p.os = config.os;
  p.architecture = config.architecture;
  p.variant = config.variant;
  p.os_version = config.os_version;
  desc.platform = p;
  return desc;
}

std::string FormatTimestamp(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<int64_t> CreationTime() {
  const char* sde = std::getenv("SOURCE_DATE_EPOCH");
  if (sde == nullptr || *sde == '\0') return static_cast<int64_t>(std::time(nullptr));
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(sde, &end, 10);
  if (errno != 0 || end == sde || *end != '\0' || v < 0) {
    return MakeError(Code::kInvalidArgument,
                     "invalid SOURCE_DATE_EPOCH \"" + std::string(sde) +
                         "\": expected seconds since 1970 as a non-negative integer");
  }
  return static_cast<int64_t>(v);
}

}  // namespace hoist::exporter
