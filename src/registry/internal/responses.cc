#include "registry/internal/responses.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hoist::registry::internal {
namespace {

std::string StringField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string RegistryErrorText(long status, std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    auto errors = j.find("errors");
    if (errors != j.end() && errors->is_array()) {
      std::string out;
      for (const auto& e : *errors) {
        if (!e.is_object()) continue;
        std::string code = StringField(e, "code");
        std::transform(code.begin(), code.end(), code.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::replace(code.begin(), code.end(), '_', ' ');
        std::string msg = StringField(e, "message");
        if (code.empty() && msg.empty()) continue;
        if (!out.empty()) out += "; ";
        out += msg.empty() ? code : code.empty() ? msg : code + ": " + msg;
      }
      if (!out.empty()) return out;
    }
  }
  switch (status) {
    case 401: return "unauthorized: authentication required";
    case 403: return "denied: requested access to the resource is denied";
    case 404: return "not found";
    case 429: return "toomanyrequests: too many requests";
    default: return fmt::format("unexpected status {}", status);
  }
}

Result<TokenResponse> ParseTokenResponse(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return MakeError(Code::kUnavailable, "token request: response is not JSON");
  }
  TokenResponse t;
  t.token = StringField(j, "token");
  if (t.token.empty()) t.token = StringField(j, "access_token");
  if (t.token.empty()) {
    return MakeError(Code::kUnavailable, "token request: no token in the response");
  }
  t.refresh_token = StringField(j, "refresh_token");
  if (auto it = j.find("expires_in"); it != j.end() && it->is_number_integer()) {
    // Signed or unsigned, any size: clamped before use.
    const auto v = it->is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(
                                                  it->get<uint64_t>(), kMaxTokenLifetime))
                                            : it->get<int64_t>();
    t.expires_in = std::clamp<int64_t>(v, 10, kMaxTokenLifetime);
  }
  return t;
}

}  // namespace hoist::registry::internal
