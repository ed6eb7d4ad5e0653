// Standard base64 (RFC 4648, with padding), for HTTP Basic credentials and docker's `auth`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hoist::registry::internal {

std::string Base64Encode(std::string_view data);
// nullopt on malformed input.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace hoist::registry::internal
