// Reading the bodies registries and token servers send, which are untrusted: distribution's
// error documents (`{"errors":[{"code":"DENIED","message":"…"}]}`) and token responses
// (`{"token":"…","access_token":"…","refresh_token":"…","expires_in":300}`). Any JSON, of any
// shape, gives a result or an error; nothing throws.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace hoist::registry::internal {

// The errors of a response body joined with "; " as `denied: requested access …` (code lower
// case, underscores as spaces, then the message); without a usable error document, the text of
// the HTTP status (`unauthorized: authentication required`, `unexpected status 502`).
std::string RegistryErrorText(long status, std::string_view body);

struct TokenResponse {
  std::string token;          // "token", else "access_token"
  std::string refresh_token;  // empty when none was given
  int64_t expires_in = 60;    // seconds, kept within [10, kMaxTokenLifetime]
};

// The longest a token is kept, whatever the server says: a day.
inline constexpr int64_t kMaxTokenLifetime = 24 * 60 * 60;

// kUnavailable `token request: response is not JSON` / `token request: no token in the
// response`.
Result<TokenResponse> ParseTokenResponse(std::string_view body);

}  // namespace hoist::registry::internal
