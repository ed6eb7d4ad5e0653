// The build cache's disk usage and pruning (`buildctl du`, `buildctl prune`), over the
// engine's cache records, snapshots and blobs.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/error.h"
#include "control/engine_parts.h"
#include "solver/cache_db.h"

namespace hoist::control {

// Every cache record, most recently used last (as CacheDb lists them).
Result<std::vector<solver::CacheRecord>> DiskUsage(const EngineParts& engine);

struct PruneRequest {
  // Also remove context mirrors, cache mount contents and fetched git repositories (they hold
  // no records).
  bool all = false;
  // Keep this many bytes of records, most recent first; nullopt: remove every record.
  std::optional<int64_t> keep_storage;
};

struct PruneResult {
  std::vector<solver::CacheRecord> removed;
  int64_t reclaimed = 0;  // bytes of snapshots and blobs freed
};

// REQUIRES: no build runs on the engine meanwhile (Controller::Prune ensures it).
Result<PruneResult> PruneCache(const EngineParts& engine, const PruneRequest& request);

}  // namespace hoist::control
