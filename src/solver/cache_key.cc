#include "solver/cache_key.h"

#include <string>

namespace hoist::solver {

namespace {

// `text` holds the version line; with `shape`, content inputs contribute only their place.
oci::Digest Derive(std::string text, const oci::Digest& op_digest,
                   const std::vector<CacheKeyInput>& inputs, bool shape) {
  text += "\nop " + op_digest.str() + "\n";
  for (size_t i = 0; i < inputs.size(); ++i) {
    const CacheKeyInput& in = inputs[i];
    text += "input " + std::to_string(i);
    if (in.content) {
      text += shape ? std::string(" content") : " content " + in.content->str();
    } else {
      text += " key " + in.key.str() + " output " + std::to_string(in.output);
    }
    if (in.selector) text += " selector " + in.selector->str();
    text += "\n";
  }
  return oci::Digest::Sha256Of(text);
}

}  // namespace

oci::Digest ComputeCacheKey(const oci::Digest& op_digest,
                            const std::vector<CacheKeyInput>& inputs) {
  return Derive("hoist.cachekey.v1", op_digest, inputs, /*shape=*/false);
}

oci::Digest ComputeShapeKey(const oci::Digest& op_digest,
                            const std::vector<CacheKeyInput>& inputs) {
  return Derive("hoist.cacheshape.v1", op_digest, inputs, /*shape=*/true);
}

}  // namespace hoist::solver
