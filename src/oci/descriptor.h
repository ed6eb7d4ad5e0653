// Descriptor: a typed, sized reference to content (OCI image-spec descriptor.md), and the JSON
// codecs for descriptors and platforms.
//
// Parsing is strict: mediaType, digest and size are required, the media type must match the
// image spec's pattern, size must not be negative, `urls` must be URIs and `data` canonical
// base64. A digest with an unregistered algorithm that matches the generic grammar is accepted
// (the spec calls it valid but unsupported); Digest::supported() tells. Serialisation is compact
// JSON in the field order of Go's image-spec structs, unknown fields last in key order.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <string_view>

#include "base/error.h"
#include "oci/digest.h"
#include "oci/platform.h"

namespace hoist::oci {

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<std::string> data;  // base64, as on the wire
  std::optional<Platform> platform;
  std::string artifact_type;
  // Fields this version does not know, kept for round trips: key → raw JSON text.
  std::map<std::string, std::string> unknown_fields;

  friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

// Errors (kInvalidArgument) name the document and field: `descriptor: field "size": ...`.
Result<Descriptor> ParseDescriptor(std::string_view json);
std::string SerializeDescriptor(const Descriptor& d);

// A platform object as in an index's `manifests[].platform`: architecture and os required.
// Members other than the five Platform fields are dropped.
Result<Platform> ParsePlatformJson(std::string_view json);
std::string SerializePlatform(const Platform& p);

}  // namespace hoist::oci
