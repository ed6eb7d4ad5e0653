// Descriptor: a typed, sized reference to content (OCI image-spec descriptor.md).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
};

}  // namespace hoist::oci
