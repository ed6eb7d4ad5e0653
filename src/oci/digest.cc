#include "oci/digest.h"

#include <cstdlib>
#include <optional>

#include <fmt/format.h>

namespace hoist::oci {
namespace {

// The algorithms hoist can compute, with the length of their hex encoding.
struct KnownAlgorithm {
  std::string_view name;
  HashAlgorithm hash;
  size_t hex_length;
};
constexpr KnownAlgorithm kKnownAlgorithms[] = {
    {"sha256", HashAlgorithm::kSha256, 64},
    {"sha384", HashAlgorithm::kSha384, 96},
    {"sha512", HashAlgorithm::kSha512, 128},
};

const KnownAlgorithm* FindAlgorithm(std::string_view name) {
  for (const KnownAlgorithm& a : kKnownAlgorithms) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsLowerHex(char c) { return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9'); }
bool IsAlgorithmSeparator(char c) { return c == '.' || c == '+' || c == '_' || c == '-'; }

// `[a-z0-9]+([.+_-][a-z0-9]+)*`: components of lowercase alphanumerics joined by single
// separators, never starting or ending with one.
bool MatchesAlgorithmGrammar(std::string_view s) {
  if (s.empty()) return false;
  bool after_separator = true;  // the first character must be alphanumeric
  for (char c : s) {
    if (IsLowerAlnum(c)) {
      after_separator = false;
    } else if (IsAlgorithmSeparator(c) && !after_separator) {
      after_separator = true;
    } else {
      return false;
    }
  }
  return !after_separator;
}

// `[a-zA-Z0-9=_-]+`: the encoding part of the generic digest grammar.
bool MatchesGenericEncoding(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '=' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Quotes the input for an error message so that control characters stay visible.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

tl::unexpected<Error> DigestError(std::string_view input, std::string_view reason) {
  return MakeError(Code::kInvalidArgument, fmt::format("invalid digest {}: {}", Quote(input), reason));
}

constexpr std::string_view kInvalidFormat = "invalid checksum digest format";
constexpr std::string_view kInvalidLength = "invalid checksum digest length";
constexpr std::string_view kUnsupported = "unsupported digest algorithm";

}  // namespace

namespace {
Status ValidateDigest(std::string_view s, bool allow_unsupported, size_t* colon_out) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) {
    return DigestError(s, kInvalidFormat);
  }
  std::string_view algorithm = s.substr(0, colon);
  std::string_view encoded = s.substr(colon + 1);
  const KnownAlgorithm* known = FindAlgorithm(algorithm);
  if (known == nullptr) {
    // Telling "well formed but unknown" from garbage lets callers report which one it is.
    if (MatchesAlgorithmGrammar(algorithm) && MatchesGenericEncoding(encoded)) {
      if (allow_unsupported) {
        *colon_out = colon;
        return OkStatus();
      }
      return DigestError(s, kUnsupported);
    }
    return DigestError(s, kInvalidFormat);
  }
  // Length first: the registered algorithms are hex-only, so a wrong length is the more
  // useful diagnosis even when the characters are wrong too.
  if (encoded.size() != known->hex_length) return DigestError(s, kInvalidLength);
  for (char c : encoded) {
    if (!IsLowerHex(c)) return DigestError(s, kInvalidFormat);
  }
  *colon_out = colon;
  return OkStatus();
}
}  // namespace

Result<Digest> Digest::Parse(std::string_view s) {
  size_t colon = 0;
  HOIST_TRY(ValidateDigest(s, /*allow_unsupported=*/false, &colon));
  return Digest(std::string(s), colon);
}

Result<Digest> Digest::ParseAllowUnsupported(std::string_view s) {
  size_t colon = 0;
  HOIST_TRY(ValidateDigest(s, /*allow_unsupported=*/true, &colon));
  return Digest(std::string(s), colon);
}

bool Digest::supported() const { return valid() && FindAlgorithm(algorithm()) != nullptr; }

Digest Digest::Sha256Of(std::string_view data) { return FromSha256Hex(Sha256Hex(data)); }

Digest Digest::FromSha256Hex(std::string_view hex) {
  if (hex.size() != 64) std::abort();
  for (char c : hex) {
    if (!IsLowerHex(c)) std::abort();
  }
  return Digest("sha256:" + std::string(hex), 6);
}

Digester::Digester() : algorithm_("sha256"), hasher_(HashAlgorithm::kSha256) {}

namespace {
const KnownAlgorithm& AlgorithmFor(const Digest& expected) {
  if (!expected.valid()) std::abort();  // REQUIRES: expected.valid()
  const KnownAlgorithm* known = FindAlgorithm(expected.algorithm());
  // An unsupported algorithm hashes as sha256: the result cannot match, so it fails closed.
  return known != nullptr ? *known : kKnownAlgorithms[0];
}
}  // namespace

Digester::Digester(const Digest& expected)
    : algorithm_(AlgorithmFor(expected).name), hasher_(AlgorithmFor(expected).hash) {}

void Digester::Update(const void* data, size_t n) { hasher_.Update(data, n); }

Digest Digester::Finish() {
  // Going through Parse keeps a single constructor path; the value is valid by construction.
  Result<Digest> d = Digest::Parse(algorithm_ + ":" + hasher_.HexDigest());
  if (!d) std::abort();
  return *std::move(d);
}

}  // namespace hoist::oci
