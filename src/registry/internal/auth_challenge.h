// Parsing `WWW-Authenticate` headers (RFC 7235 challenges as registries send them):
// `Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="…"`.
// Schemes are lower-cased; parameter names are lower-cased; values may be quoted (a backslash
// escapes the next character inside quotes) or bare tokens.
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hoist::registry::internal {

struct AuthChallenge {
  std::string scheme;  // "bearer", "basic"
  std::map<std::string, std::string> params;
};

// Every challenge in one header value; malformed parts are skipped.
std::vector<AuthChallenge> ParseAuthChallenges(std::string_view header);

}  // namespace hoist::registry::internal
