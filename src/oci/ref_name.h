// Validity of `org.opencontainers.image.ref.name` values, the tags of an OCI image layout, by
// the grammar of the image-spec's annotations.md as umoci checks it:
//
//   ref       := component ("/" component)*
//   component := alphanum+ (separator alphanum+)*
//   separator := one of `- . _ : @ +`, or `--`
//   alphanum  := [A-Za-z0-9]
//
// Thread-safety: a pure function.
#pragma once

#include <string_view>

namespace hoist::oci {

// Whether `name` may be used as an image layout's ref name (e.g. `v1.3.1+dev`, `stable/arm`).
bool IsValidRefName(std::string_view name);

}  // namespace hoist::oci
