#include "control/cache_usage.h"

#include <map>
#include <set>
#include <string>

#include "base/temp_dir.h"
#include "exporter/snapshot_image.h"
#include "solver/ops/context_snapshot.h"
#include "solver/ops/worker.h"

namespace hoist::control {
namespace {

// Adds the snapshots the context mirrors under `local_dir` name (solver::ops::
// kMirrorSnapshotSuffix) to `roots`.
Status AddMirrorSnapshots(const std::string& local_dir, std::set<std::string>* roots) {
  FileSystem* fs = PosixFileSystem();
  HOIST_ASSIGN_OR_RETURN(bool exists, fs->Exists(local_dir));
  if (!exists) return OkStatus();
  HOIST_ASSIGN_OR_RETURN(auto names, fs->ListDir(local_dir));
  for (const std::string& n : names) {
    if (!n.ends_with(solver::ops::kMirrorSnapshotSuffix)) continue;
    std::string name = solver::ops::MirrorSnapshotName(local_dir + "/" + n);
    if (!name.empty()) roots->insert(std::move(name));
  }
  return OkStatus();
}

// Removes committed snapshots no remaining record needs (with their ancestors kept), and
// leftovers of interrupted work (active snapshots and views: the engine lock says no one
// is using them). Children go before parents.
Result<int64_t> CollectSnapshots(const EngineParts& engine, const std::set<std::string>& roots) {
  snapshot::Snapshotter& s = *engine.snapshotter;
  std::map<std::string, snapshot::Info> all;
  HOIST_TRY(s.Walk([&](const snapshot::Info& info) -> Status {
    all[info.name] = info;
    return OkStatus();
  }));
  std::set<std::string> keep;
  for (std::string name : roots) {
    while (!name.empty() && all.contains(name) && keep.insert(name).second) name = all[name].parent;
  }
  int64_t reclaimed = 0;
  for (bool progress = true; progress;) {
    progress = false;
    std::set<std::string> parents;
    for (const auto& [name, info] : all) {
      if (!info.parent.empty()) parents.insert(info.parent);
    }
    for (auto it = all.begin(); it != all.end();) {
      if (keep.contains(it->first) || parents.contains(it->first)) {
        ++it;
        continue;
      }
      auto usage = s.GetUsage(it->first);
      HOIST_TRY(s.Remove(it->first));
      if (usage) reclaimed += usage->size;
      it = all.erase(it);
      progress = true;
    }
  }
  return reclaimed;
}

// Removes blobs no remaining snapshot was made from; exported images' blobs go too (they
// were written out already; the next export writes them again).
Result<int64_t> CollectBlobs(const EngineParts& engine) {
  std::set<std::string> keep;
  HOIST_TRY(engine.snapshotter->Walk([&](const snapshot::Info& info) -> Status {
    if (auto it = info.labels.find(std::string(exporter::kLabelLayerDigest)); it != info.labels.end()) {
      keep.insert(it->second);
    }
    return OkStatus();
  }));
  std::vector<content::BlobInfo> drop;
  HOIST_TRY(engine.content->Walk([&](const content::BlobInfo& b) -> Status {
    if (!keep.contains(b.digest.str())) drop.push_back(b);
    return OkStatus();
  }));
  int64_t reclaimed = 0;
  for (const auto& b : drop) {
    HOIST_TRY(engine.content->Delete(b.digest));
    reclaimed += b.size;
  }
  return reclaimed;
}

}  // namespace

Result<std::vector<solver::CacheRecord>> DiskUsage(const EngineParts& engine) {
  return engine.cache->List();
}

Result<PruneResult> PruneCache(const EngineParts& engine, const PruneRequest& request) {
  solver::PruneOptions options;
  options.keep_storage = request.keep_storage;
  options.all = !request.keep_storage.has_value();  // as buildctl prune: everything not in use
  HOIST_ASSIGN_OR_RETURN(solver::PruneReport report,
                         engine.cache->Prune(options, [](const solver::CacheRecord&) {
                           return OkStatus();
                         }));
  std::set<std::string> roots = {std::string(solver::ops::kEmptySnapshot)};
  HOIST_ASSIGN_OR_RETURN(std::vector<solver::CacheRecord> left, engine.cache->List());
  for (const auto& r : left) roots.insert(r.result_ids.begin(), r.result_ids.end());
  if (!request.all) {
    // Contexts mirrored as snapshots stay until a prune of everything, as mirror directories
    // do: each `ops/local/<mirror>.snapshot` names one.
    HOIST_TRY(AddMirrorSnapshots(engine.root + "/ops/local", &roots));
  }
  HOIST_ASSIGN_OR_RETURN(int64_t snapshots, CollectSnapshots(engine, roots));
  HOIST_ASSIGN_OR_RETURN(int64_t blobs, CollectBlobs(engine));
  if (request.all) {
    HOIST_TRY(RemoveAll(engine.root + "/ops/local"));
    HOIST_TRY(RemoveAll(engine.root + "/ops/cache-mounts"));
    HOIST_TRY(RemoveAll(engine.root + "/ops/http"));
    HOIST_TRY(RemoveAll(engine.root + "/ops/git"));  // fetched repositories, fetched again
  }
  HOIST_TRY(RemoveAll(engine.diff_cache_dir()));
  if (engine.checksums != nullptr) {
    // File digests of trees that are gone. Those of mirrors and of contexts read in place stay
    // until a prune of everything.
    HOIST_TRY(engine.checksums->Prune([&](const std::string& scope) {
      if (scope.starts_with(solver::ops::kMirrorIdPrefix) ||
          scope.starts_with(solver::ops::kInPlaceIdPrefix)) {
        return !request.all;
      }
      return engine.snapshotter->Stat(scope).has_value();
    }));
  }
  return PruneResult{.removed = std::move(report.removed), .reclaimed = snapshots + blobs};
}

}  // namespace hoist::control
