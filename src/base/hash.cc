#include "base/hash.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace hoist {

struct Hasher::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

namespace {
// Fetched once: an init with EVP_sha256() and friends looks the algorithm up in the providers
// every time, which costs more than hashing a small file.
const EVP_MD* Fetch(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) std::abort();
  return md;  // kept for the process's life
}
const EVP_MD* Md(HashAlgorithm alg) {
  switch (alg) {
    case HashAlgorithm::kSha256: {
      static const EVP_MD* md = Fetch("SHA2-256");
      return md;
    }
    case HashAlgorithm::kSha384: {
      static const EVP_MD* md = Fetch("SHA2-384");
      return md;
    }
    case HashAlgorithm::kSha512: {
      static const EVP_MD* md = Fetch("SHA2-512");
      return md;
    }
  }
  std::abort();
}
}  // namespace

Hasher::Hasher(HashAlgorithm alg) : alg_(alg), ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr || EVP_DigestInit_ex2(ctx_->md, Md(alg), nullptr) != 1) std::abort();
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::Update(const void* data, size_t n) {
  if (n > 0) EVP_DigestUpdate(ctx_->md, data, n);
}

std::string Hasher::HexDigest() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, out, &len);
  EVP_DigestInit_ex2(ctx_->md, Md(alg_), nullptr);
  return ToHex(out, len);
}

std::string ToHex(const unsigned char* data, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(n * 2, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kHex[data[i] >> 4];
    s[2 * i + 1] = kHex[data[i] & 0xf];
  }
  return s;
}

std::string Sha256Hex(std::string_view data) {
  Hasher h(HashAlgorithm::kSha256);
  h.Update(data);
  return h.HexDigest();
}

}  // namespace hoist
