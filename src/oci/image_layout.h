// ImageLayout: the `oci-layout` file at the root of an OCI image layout (image-spec
// image-layout.md), media type application/vnd.oci.layout.header.v1+json.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/error.h"

namespace hoist::oci {

inline constexpr std::string_view kImageLayoutVersion = "1.0.0";

struct ImageLayout {
  std::string image_layout_version{kImageLayoutVersion};
  // Fields this version does not know: key → raw JSON text.
  std::map<std::string, std::string> unknown_fields;

  friend bool operator==(const ImageLayout&, const ImageLayout&) = default;
};

// imageLayoutVersion is required and must be "1.0.0", the only version the schema allows.
Result<ImageLayout> ParseImageLayout(std::string_view json);
std::string SerializeImageLayout(const ImageLayout& layout);

}  // namespace hoist::oci
