// Digest: a content identifier `<algorithm>:<encoded>` validated by the go-digest rules
// (algorithm grammar, registered algorithms sha256/sha384/sha512, lowercase hex of the exact
// length). A Digest value is always valid; it can safely become a file name
// (`blobs/<algorithm>/<encoded>`). Digester computes one while data streams.
//
// The image spec calls a digest with an unregistered algorithm that still matches the generic
// grammar (`multihash+base58:Qm...`) "valid but unsupported"; descriptors may carry one.
// ParseAllowUnsupported accepts those too and supported() tells them apart; Parse never returns
// one.
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/hash.h"

namespace hoist::oci {

class Digest {
 public:
  // An empty, invalid digest; only for default-constructed containers. valid() is false.
  Digest() = default;

  // Parses and validates. Errors (kInvalidArgument) name the input and the problem:
  // `invalid digest "sha256:xyz": ...`.
  static Result<Digest> Parse(std::string_view s);
  // Like Parse, but also accepts a digest whose algorithm is not registered when the whole
  // string matches `[a-z0-9]+([.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`; supported() is then false.
  // Still a safe file name: no `/`, and neither part can be `.` or `..`.
  static Result<Digest> ParseAllowUnsupported(std::string_view s);
  // The sha256 of `data`.
  static Digest Sha256Of(std::string_view data);
  // REQUIRES: hex is 64 lowercase hex characters.
  static Digest FromSha256Hex(std::string_view hex);

  bool valid() const { return !value_.empty(); }
  // True when hoist can compute this digest's algorithm (sha256, sha384, sha512).
  bool supported() const;
  std::string_view algorithm() const { return std::string_view(value_).substr(0, colon_); }
  std::string_view encoded() const { return std::string_view(value_).substr(colon_ + 1); }
  const std::string& str() const { return value_; }

  friend bool operator==(const Digest& a, const Digest& b) { return a.value_ == b.value_; }
  friend auto operator<=>(const Digest& a, const Digest& b) { return a.value_ <=> b.value_; }

 private:
  Digest(std::string v, size_t colon) : value_(std::move(v)), colon_(colon) {}
  std::string value_;
  size_t colon_ = 0;
};

// Computes a digest of streamed bytes with the algorithm of an expected digest (or sha256).
class Digester {
 public:
  Digester();  // sha256
  // REQUIRES: expected.valid(). sha384 is computed with OpenSSL too. For an unsupported
  // algorithm it computes sha256, so the result never equals `expected` and verification fails
  // closed; check expected.supported() first to report the better error.
  explicit Digester(const Digest& expected);
  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Finishes; the digester is reset.
  Digest Finish();

 private:
  std::string algorithm_;
  Hasher hasher_;
};

}  // namespace hoist::oci

template <>
struct std::hash<hoist::oci::Digest> {
  size_t operator()(const hoist::oci::Digest& d) const noexcept {
    return std::hash<std::string>()(d.str());
  }
};
