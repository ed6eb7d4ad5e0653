// Media types of the OCI image spec and their Docker image manifest v2 schema 2 equivalents,
// with predicates that treat the two families alike, and a sniffer for documents that do not
// name their own type.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hoist::oci {

// OCI image spec.
inline constexpr std::string_view kMediaTypeDescriptor = "application/vnd.oci.descriptor.v1+json";
inline constexpr std::string_view kMediaTypeImageLayoutHeader = "application/vnd.oci.layout.header.v1+json";
inline constexpr std::string_view kMediaTypeImageIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kMediaTypeImageManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kMediaTypeImageConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kMediaTypeEmptyJson = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kMediaTypeImageLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kMediaTypeImageLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kMediaTypeImageLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kMediaTypeImageLayerNonDistributable =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view kMediaTypeImageLayerNonDistributableGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kMediaTypeImageLayerNonDistributableZstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

// Docker image manifest v2, schema 2.
inline constexpr std::string_view kMediaTypeDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kMediaTypeDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kMediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kMediaTypeDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kMediaTypeDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kMediaTypeDockerLayerZstd =
    "application/vnd.docker.image.rootfs.diff.tar.zstd";
inline constexpr std::string_view kMediaTypeDockerForeignLayer =
    "application/vnd.docker.image.rootfs.foreign.diff.tar";
inline constexpr std::string_view kMediaTypeDockerForeignLayerGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
inline constexpr std::string_view kMediaTypeDockerPluginConfig = "application/vnd.docker.plugin.v1+json";

// An OCI image index or a Docker manifest list.
bool IsIndexType(std::string_view media_type);
// An OCI image manifest or a Docker schema 2 manifest.
bool IsManifestType(std::string_view media_type);
// An OCI image config or a Docker container image config.
bool IsConfigType(std::string_view media_type);
// Any OCI or Docker layer type above, distributable or not.
bool IsLayerType(std::string_view media_type);
// OCI non-distributable layers and Docker foreign layers: blobs that registries may refuse and
// exporters should not push.
bool IsNonDistributableLayerType(std::string_view media_type);

enum class Compression { kNone, kGzip, kZstd };

// The compression of a layer media type; nullopt when it is not a layer type.
std::optional<Compression> LayerCompression(std::string_view media_type);

// True when `s` is a media type as the image spec's schema allows:
// `type/subtype`, each starting with an alphanumeric and at most 127 characters of
// [A-Za-z0-9!#$&^_.+-].
bool IsValidMediaType(std::string_view s);

// For a JSON blob without a mediaType: an index when it has "manifests", a manifest when it has
// "config" or "layers"; kMediaTypeImageIndex, kMediaTypeImageManifest, or "" when it cannot tell
// (not JSON, not an object, neither, or both). A mediaType field, when present and a string,
// wins.
std::string SniffMediaType(std::string_view json);

}  // namespace hoist::oci
