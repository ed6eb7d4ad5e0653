#include "solver/cache_key.h"

#include <string>

namespace hoist::solver {

oci::Digest ComputeCacheKey(const oci::Digest& op_digest,
                            const std::vector<CacheKeyInput>& inputs) {
  std::string text = "hoist.cachekey.v1\nop " + op_digest.str() + "\n";
  for (size_t i = 0; i < inputs.size(); ++i) {
    const CacheKeyInput& in = inputs[i];
    text += "input " + std::to_string(i);
    if (in.content) {
      text += " content " + in.content->str();
    } else {
      text += " key " + in.key.str() + " output " + std::to_string(in.output);
    }
    if (in.selector) text += " selector " + in.selector->str();
    text += "\n";
  }
  return oci::Digest::Sha256Of(text);
}

}  // namespace hoist::solver
