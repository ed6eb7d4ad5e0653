// Solver: runs LLB graphs. It loads a Definition into a DAG of vertices (one per distinct op
// digest), derives cache keys bottom-up (cache_key.h), reuses cached results, runs the misses
// in parallel on a bounded pool of threads and records what they produced in the CacheDb.
//
// Evaluation is lazy, as in BuildKit: a vertex does only what is asked of it. Its cache key
// needs its CacheMap and its inputs' keys, not their results, except for an input whose
// content the op digests (CacheMap ComputeDigestFunc: COPY sources, read-only bind mounts),
// which is resolved first. The head is asked for its result: its key is looked up and, on a
// hit whose results the ResultStore still has, it is done and its inputs are never run nor
// loaded. On a miss the inputs are asked for their results, each in the same way (a hit is
// loaded from the cache, and its own inputs are skipped), then the op runs. So a cached step
// does not run the image source below it (no layer is fetched, checked or unpacked for it;
// the cached result's snapshot already stacks on the base's layers), and steps below a hit
// whose own records are gone (an imported `mode=min` cache holds only the last) do not run.
// A vertex that skips the cache (below) offers its key to its children only once it has run,
// as BuildKit's does, so it always runs.
//
// Laziness gives way where it can only cost time. Content checksums take long (a large COPY
// context), and waiting for them before asking for the other inputs makes a cold build do
// its phases one after the other. So when a vertex whose result is wanted needs checksums and
// is sure to run (it skips the cache, or no cache record has its key's
// shape, cache_key.h, so none can match whatever the checksums give: BuildKit's
// noCacheMatchPossible), its other inputs are asked for their results at once: the base image
// is fetched and unpacked while the context is checksummed. A root whose records have no
// shapes (an older database, a cache imported without them) never does this.
//
// Scheduling: each Solve keeps all graph state on its calling thread; pool threads run one
// step of one vertex (CacheMap, content checksums with key and lookup, lookup, Exec) and post
// the outcome back. Identical work merges: within a solve by op digest, and across vertices
// and concurrent solves on one Solver by cache key (the second waits for the first and shares
// its result: single-flight).
//
// Caching: a vertex whose metadata says ignore_cache, or any vertex when SolveOptions.no_cache
// is set, skips the lookup but still records its result. A record whose results the
// ResultStore no longer has is treated as a miss.
//
// Progress: for each vertex that runs, a started update (name from metadata
// `llb.customname`, else Op::Name(), else the digest), then completed, with the error text
// ("context canceled" when cancelled). A hit is one update with cached=true, preceded by one
// such update for each input it made unnecessary (skipped): buildctl shows those as CACHED
// too, since BuildKit marks the unfinished inputs of a vertex it reports as cached. Ops
// report statuses and logs through OpContext.
//
// Errors: the first failure cancels the rest of the solve and is returned wrapped with the
// failing vertex's name and digest: `"[2/3] RUN make" (sha256:…): exit code 2`. Cancelling
// the solve's context makes Solve return kCancelled promptly once running ops return.
//
// Thread-safety: Solve may be called concurrently from several threads. The OpResolver,
// ResultStore, CacheDb and ProgressWriters are not owned and must outlive the Solver.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "llb/definition.h"
#include "oci/digest.h"
#include "progress/event.h"
#include "solver/cache_db.h"
#include "solver/entitlements.h"
#include "solver/op.h"

namespace hoist::solver {

namespace internal {
class ThreadPool;
class SolveRun;
struct Flight;
}  // namespace internal

struct SolverOptions {
  // Most vertices running at once, across all solves.
  int max_parallelism = 4;
};

struct SolveOptions {
  // --no-cache: never reuse a cached result (results are still recorded).
  bool no_cache = false;
  // Where progress goes; null: nowhere.
  progress::ProgressWriter* progress = nullptr;
  // What the build was granted (entitlements.h): a graph with an op that needs more fails as
  // it is loaded, before anything runs.
  EntitlementSet entitlements;
};

// One vertex of a finished solve: its cache key and what it produced (for cache export).
// A skipped vertex names the results of its cache record when they still exist, else none.
struct SolvedVertex {
  std::string cache_key;
  std::string shape;  // the key's shape (cache_key.h)
  std::vector<std::string> result_ids;  // one per output
  std::string name;
  oci::Digest digest;  // the op's
  std::string pin;     // Op::Pin()
};

struct SolveResult {
  // The result the definition selects; empty for an empty definition.
  ResultRef ref;
  // Its vertex's cache key (empty for an empty definition).
  std::string cache_key;
  // How many vertices ran here, were served from the cache, shared another solve's run, or
  // were skipped because a hit below them made their results unnecessary.
  int executed = 0;
  int cached = 0;
  int merged = 0;
  int skipped = 0;
  // Every vertex of the graph whose key was derived, in load order (dependencies first).
  std::vector<SolvedVertex> vertices;
};

class Solver {
 public:
  Solver(OpResolver* resolver, ResultStore* results, CacheDb* cache, SolverOptions options = {});
  ~Solver();
  Solver(const Solver&) = delete;
  Solver& operator=(const Solver&) = delete;

  // Runs `definition`. Errors: kInvalidArgument for a malformed graph (bad op bytes, an input
  // that names no op, a cycle), kPermissionDenied for an op that needs an entitlement the
  // options do not grant, the resolver's error for an op it cannot make, the failing
  // vertex's error wrapped with its name, kCancelled when `cancel` is cancelled.
  Result<SolveResult> Solve(const llb::Definition& definition, const SolveOptions& options,
                            std::shared_ptr<CancelContext> cancel);

 private:
  friend class internal::SolveRun;
  OpResolver* resolver_;
  ResultStore* results_;
  CacheDb* cache_;
  std::unique_ptr<internal::ThreadPool> pool_;

  // Work in progress by cache key, shared by concurrent solves.
  std::mutex flights_mu_;
  std::map<std::string, std::shared_ptr<internal::Flight>> flights_;
};

}  // namespace hoist::solver
