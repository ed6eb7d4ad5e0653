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

}  // namespace hoist::solver
