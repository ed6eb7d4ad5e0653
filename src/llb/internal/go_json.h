// JSON text exactly as Go's encoding/json writes it, which BuildKit uses for attrs
// (local.includepattern is a JSON array) and for `buildctl debug dump-llb`. Private to
// src/llb.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hoist::llb::internal {

// Appends s as a JSON string: \" \\ \b \f \n \r \t, other control characters as \u00XX,
// < > & and U+2028/U+2029 as \u escapes, invalid UTF-8 as \ufffd.
void AppendGoJsonString(std::string* out, std::string_view s);
// ["a","b"]
std::string GoJsonStringArray(const std::vector<std::string>& v);
// Standard base64 with padding, as Go encodes []byte.
std::string Base64(std::string_view data);

}  // namespace hoist::llb::internal
