#include "oci/media_types.h"

#include <nlohmann/json.hpp>

namespace hoist::oci {
namespace {

bool OneOf(std::string_view s, std::initializer_list<std::string_view> values) {
  for (std::string_view v : values) {
    if (s == v) return true;
  }
  return false;
}

bool IsMediaTypeFirstChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool IsMediaTypeChar(char c) {
  if (IsMediaTypeFirstChar(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '&': case '^': case '_': case '.': case '+': case '-':
      return true;
    default:
      return false;
  }
}

bool IsMediaTypeName(std::string_view s) {
  if (s.empty() || s.size() > 127 || !IsMediaTypeFirstChar(s[0])) return false;
  for (char c : s) {
    if (!IsMediaTypeChar(c)) return false;
  }
  return true;
}

}  // namespace

bool IsIndexType(std::string_view media_type) {
  return OneOf(media_type, {kMediaTypeImageIndex, kMediaTypeDockerManifestList});
}

bool IsManifestType(std::string_view media_type) {
  return OneOf(media_type, {kMediaTypeImageManifest, kMediaTypeDockerManifest});
}

bool IsConfigType(std::string_view media_type) {
  return OneOf(media_type, {kMediaTypeImageConfig, kMediaTypeDockerConfig});
}

bool IsLayerType(std::string_view media_type) { return LayerCompression(media_type).has_value(); }

bool IsNonDistributableLayerType(std::string_view media_type) {
  return OneOf(media_type,
               {kMediaTypeImageLayerNonDistributable, kMediaTypeImageLayerNonDistributableGzip,
                kMediaTypeImageLayerNonDistributableZstd, kMediaTypeDockerForeignLayer,
                kMediaTypeDockerForeignLayerGzip});
}

std::optional<Compression> LayerCompression(std::string_view media_type) {
  if (OneOf(media_type, {kMediaTypeImageLayer, kMediaTypeImageLayerNonDistributable,
                         kMediaTypeDockerLayer, kMediaTypeDockerForeignLayer})) {
    return Compression::kNone;
  }
  if (OneOf(media_type, {kMediaTypeImageLayerGzip, kMediaTypeImageLayerNonDistributableGzip,
                         kMediaTypeDockerLayerGzip, kMediaTypeDockerForeignLayerGzip})) {
    return Compression::kGzip;
  }
  if (OneOf(media_type, {kMediaTypeImageLayerZstd, kMediaTypeImageLayerNonDistributableZstd,
                         kMediaTypeDockerLayerZstd})) {
    return Compression::kZstd;
  }
  return std::nullopt;
}

bool IsValidMediaType(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  return IsMediaTypeName(s.substr(0, slash)) && IsMediaTypeName(s.substr(slash + 1));
}

std::string SniffMediaType(std::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return "";
  auto media_type = doc.find("mediaType");
  if (media_type != doc.end() && media_type->is_string()) {
    return media_type->get<std::string>();
  }
  bool index = doc.contains("manifests");
  bool manifest = doc.contains("config") || doc.contains("layers");
  if (index && !manifest) return std::string(kMediaTypeImageIndex);
  if (manifest && !index) return std::string(kMediaTypeImageManifest);
  return "";
}

}  // namespace hoist::oci
