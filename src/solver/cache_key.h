// Cache keys: how a vertex's identity for caching is derived, bottom-up.
//
// key(v) = sha256 of the text
//
//   hoist.cachekey.v1
//   op <CacheMap.digest>
//   input <i> key <input's cache key> output <output index> [selector <digest>]
//   input <i> content <digest from ComputeDigestFunc> [selector <digest>]
//   ...
//
// one line per input in order (content-based inputs use the content digest in place of the
// input's key, so only the files the op reads matter). The version line changes whenever
// this derivation changes, so old records simply stop matching.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "oci/digest.h"

namespace hoist::solver {

struct CacheKeyInput {
  // Exactly one of key (with output) and content is used: content when set.
  oci::Digest key;
  int64_t output = 0;
  std::optional<oci::Digest> content;
  std::optional<oci::Digest> selector;
};

oci::Digest ComputeCacheKey(const oci::Digest& op_digest, const std::vector<CacheKeyInput>& inputs);

// A key's shape: the same derivation (version line `hoist.cacheshape.v1`) with each content
// line cut to `input <i> content [selector <digest>]`, so it is known before any content is
// checksummed. Keys of one shape differ only in the contents their op reads; a vertex whose
// shape no cache record has cannot hit, whatever its inputs' contents turn out to be. (The
// `content` of `inputs` is only looked at for whether it is set.)
oci::Digest ComputeShapeKey(const oci::Digest& op_digest, const std::vector<CacheKeyInput>& inputs);

}  // namespace hoist::solver
