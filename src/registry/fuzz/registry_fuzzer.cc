// libFuzzer target for what registries, token servers and configuration files hand the registry
// client: the first byte of the input picks the reader, the rest is its text:
//  0  a WWW-Authenticate header (ParseAuthChallenges)
//  1  an error document with a status (RegistryErrorText)
//  2  a token server's response (ParseTokenResponse: its lifetime must come out in range)
//  3  the registry configuration TOML (RegistryConfig::Parse)
// Manifests and indexes are covered by oci's codec_fuzzer. Whatever the input, each reader must
// return without crashing, throwing or leaking.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "registry/host_config.h"
#include "registry/internal/auth_challenge.h"
#include "registry/internal/responses.h"

namespace ri = hoist::registry::internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      for (const auto& c : ri::ParseAuthChallenges(text)) {
        if (c.scheme.empty()) std::abort();
      }
      break;
    case 1:
      if (ri::RegistryErrorText(400 + data[0] % 200, text).empty()) std::abort();
      break;
    case 2:
      if (auto t = ri::ParseTokenResponse(text)) {
        if (t->token.empty() || t->expires_in < 10 || t->expires_in > ri::kMaxTokenLifetime) {
          std::abort();
        }
      }
      break;
    default:
      (void)hoist::registry::RegistryConfig::Parse(text, "fuzz.toml");
      break;
  }
  return 0;
}
