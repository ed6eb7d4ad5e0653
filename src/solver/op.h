// The op interface: what the scheduler needs from a source, exec or file op (implemented in
// solver/ops/), modelled on BuildKit's solver.Op.
//
// An op first describes its cache key without running (CacheMap): its own digest, which
// must not depend on its inputs' identities, plus per input an optional selector (e.g. the
// path COPY reads) and an optional content-based checksum function (BuildKit's
// ComputeDigestFunc) that digests only what the op uses from that input's result, so that
// changing unrelated files in a build context does not bust the cache. The scheduler combines
// those with its inputs' cache keys (see cache_key.h). Exec then runs the op on its inputs'
// results and returns one result per output.
//
// Results are opaque to the solver: a ResultRef names a result the ops layer understands by
// an ID string (a snapshot ID, say) and holds one reference on it; copies share that reference
// and the last copy releases it through the ops layer. ResultStore turns IDs recorded in the
// cache back into refs. Protobuf stays out of this header: ops receive their pb.Op as bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "llb/definition.h"
#include "oci/digest.h"
#include "progress/event.h"

namespace hoist::solver {

// A counted reference to a result owned by the ops layer. Copyable (copies share one
// reference); thread-safe like std::shared_ptr. An empty ResultRef refers to nothing.
class ResultRef {
 public:
  using Releaser = std::function<void(const std::string& id)>;

  ResultRef() = default;
  // Takes over one reference on `id` that the caller already holds; `release` runs once,
  // when the last copy goes away (on whichever thread drops it). `release` may be empty.
  static ResultRef Adopt(std::string id, Releaser release);

  bool empty() const { return holder_ == nullptr; }
  explicit operator bool() const { return holder_ != nullptr; }
  // REQUIRES: !empty().
  const std::string& id() const { return holder_->id; }
  // How many copies share the reference (for tests).
  long use_count() const { return holder_.use_count(); }

 private:
  struct Holder {
    std::string id;
    Releaser release;
    Holder() = default;
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;
    ~Holder();
  };
  std::shared_ptr<const Holder> holder_;
};

// What an op gets while it runs: cancellation, and a progress handle for its vertex (statuses
// such as byte counts, and process output as logs).
struct OpContext {
  std::shared_ptr<CancelContext> cancel;
  progress::VertexProgress progress;
};

// Given an input's result, a digest of exactly the content the op uses from it.
using ComputeDigestFunc =
    std::function<Result<oci::Digest>(const OpContext& ctx, const ResultRef& input)>;

// BuildKit's CacheMap.
struct CacheMap {
  struct Dep {
    // Narrows what the op uses of the input (e.g. a path); part of the key when set.
    std::optional<oci::Digest> selector;
    // When set, the input contributes the digest this returns instead of its cache key.
    ComputeDigestFunc compute_digest;
  };
  // The op's own key; the same op on the same inputs must give the same digest.
  oci::Digest digest;
  // One per input, in input order; missing trailing entries mean "no selector, no checksum".
  std::vector<Dep> deps;
};

// One vertex's operation. Each Op object serves one vertex of one solve; the scheduler calls
// CacheMap then, on a miss, Exec, each at most once, from a pool thread.
class Op {
 public:
  virtual ~Op() = default;
  virtual Result<CacheMap> GetCacheMap(const OpContext& ctx) = 0;
  // `inputs` holds one result per input edge, in order. Returns one result per output (most
  // ops have one). Must return promptly with kCancelled once ctx.cancel is cancelled.
  virtual Result<std::vector<ResultRef>> Exec(const OpContext& ctx,
                                              const std::vector<ResultRef>& inputs) = 0;
  // A name for progress when the op metadata has no `llb.customname`; empty: the digest.
  virtual std::string Name() const { return {}; }
  // What a source resolved to once its cache map is known (BuildKit's Pin): an image's manifest
  // digest, a git commit, a download's digest; empty for other ops. Provenance records it.
  virtual std::string Pin() const { return {}; }
};

// Makes ops from LLB. `op_bytes` are the wire bytes of the pb.Op whose sha256 is `digest`.
// Thread-safe: called from the scheduler's thread.
class OpResolver {
 public:
  virtual ~OpResolver() = default;
  virtual Result<std::unique_ptr<Op>> Resolve(const oci::Digest& digest,
                                               std::string_view op_bytes,
                                               const llb::OpMetadata& metadata) = 0;
};

// Where results live, as seen by the cache: turns recorded result IDs back into references.
// Implemented by the ops layer; thread-safe.
class ResultStore {
 public:
  virtual ~ResultStore() = default;
  // A new reference to result `id`, or nullopt when it no longer exists (the cache record is
  // then stale and the op runs again).
  virtual Result<std::optional<ResultRef>> Load(const std::string& id) = 0;
  // Bytes the result takes on disk, for `hoist du`; 0 when unknown.
  virtual int64_t Size(const std::string& id) = 0;
};

}  // namespace hoist::solver
