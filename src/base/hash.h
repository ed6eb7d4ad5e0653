// Streaming SHA-256 / SHA-384 / SHA-512 over OpenSSL's EVP interface (which uses the CPU's SHA
// extensions where present). Hasher is move-only and not thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace hoist {

enum class HashAlgorithm { kSha256, kSha384, kSha512 };

class Hasher {
 public:
  explicit Hasher(HashAlgorithm alg);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;

  HashAlgorithm algorithm() const { return alg_; }
  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Finishes and returns the lowercase hex digest; the hasher is reset for reuse.
  std::string HexDigest();

 private:
  struct Ctx;
  HashAlgorithm alg_;
  std::unique_ptr<Ctx> ctx_;
};

// Lowercase hex of one whole buffer.
std::string Sha256Hex(std::string_view data);
// Lowercase hex of arbitrary bytes.
std::string ToHex(const unsigned char* data, size_t n);

}  // namespace hoist
