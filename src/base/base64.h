// Standard base64 (RFC 4648, with padding): HTTP Basic credentials, docker's `auth`, Go's
// encoding of []byte in JSON, BuildKit's exporter response values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hoist {

std::string Base64Encode(std::string_view data);
// nullopt on malformed input.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace hoist
