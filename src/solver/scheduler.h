// Solver: runs LLB graphs. It loads a Definition into a DAG of vertices (one per distinct op
// digest), derives cache keys bottom-up (cache_key.h), reuses cached results, runs the misses
// in parallel on a bounded pool of threads and records what they produced in the CacheDb.
//
// Scheduling: each Solve keeps all graph state on its calling thread; pool threads run one
// vertex's work (CacheMap, content checksums, cache lookup, Exec) and post the outcome back.
// A vertex starts when all its inputs have results. Identical work merges: within a solve by
// op digest, and across vertices and concurrent solves on one Solver by cache key (the second
// waits for the first and shares its result: single-flight).
//
// Caching: a vertex whose metadata says ignore_cache, or any vertex when SolveOptions.no_cache
// is set, skips the lookup but still records its result. A record whose results the
// ResultStore no longer has is treated as a miss.
//
// Progress: for each vertex, a started update (name from metadata `llb.customname`, else
// Op::Name(), else the digest), then completed, with cached=true for a hit or the error
// text ("context canceled" when cancelled). Ops report statuses and logs through OpContext.
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
};

// One vertex of a finished solve: its cache key and what it produced (for cache export).
struct SolvedVertex {
  std::string cache_key;
  std::vector<std::string> result_ids;  // one per output
  std::string name;
};

struct SolveResult {
  // The result the definition selects; empty for an empty definition.
  ResultRef ref;
  // Its vertex's cache key (empty for an empty definition).
  std::string cache_key;
  // How many vertices ran here, were served from the cache, or shared another solve's run.
  int executed = 0;
  int cached = 0;
  int merged = 0;
  // Every vertex of the graph, in load order (dependencies first).
  std::vector<SolvedVertex> vertices;
};

class Solver {
 public:
  Solver(OpResolver* resolver, ResultStore* results, CacheDb* cache, SolverOptions options = {});
  ~Solver();
  Solver(const Solver&) = delete;
  Solver& operator=(const Solver&) = delete;

  // Runs `definition`. Errors: kInvalidArgument for a malformed graph (bad op bytes, an input
  // that names no op, a cycle), the resolver's error for an op it cannot make, the failing
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
