// LayoutRef: the user's way of naming an image in a layout, `PATH[:TAG][@DIGEST]` (as in
// buildx's `oci-layout://PATH[:TAG][@DIGEST]`). Split from the right: the digest is the last
// `@<valid digest>`, the tag the last `:<valid tag>`, so ':' and '@' inside PATH survive.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "oci/digest.h"

namespace hoist::content {

struct LayoutRef {
  std::string path;
  std::string tag;     // empty when none was given
  oci::Digest digest;  // !valid() when none was given
};

LayoutRef ParseLayoutRef(std::string_view s);

// A tag as the reference grammar allows: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
bool IsValidTag(std::string_view s);

}  // namespace hoist::content
