#include "cmd/cache_commands.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/file_system.h"
#include "base/temp_dir.h"
#include "cmd/engine.h"
#include "cmd/output.h"
#include "exporter/snapshot_image.h"
#include "solver/ops/worker.h"

namespace hoist::cmd {
namespace {

std::string Ago(int64_t ns) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t s = std::max<int64_t>(0, (now - ns) / 1000000000);
  if (s < 60) return fmt::format("{} seconds ago", s);
  if (s < 3600) return fmt::format("{} minutes ago", s / 60);
  if (s < 86400) return fmt::format("{} hours ago", s / 3600);
  return fmt::format("{} days ago", s / 86400);
}

Status Du(const std::string& root, bool verbose) {
  HOIST_ASSIGN_OR_RETURN(auto engine, Engine::Open({.root = root, .need_executor = false, .need_registry = false}));
  HOIST_ASSIGN_OR_RETURN(std::vector<solver::CacheRecord> records, engine->cache().List());
  std::vector<std::vector<std::string>> rows = {{"ID", "SIZE", "LAST ACCESSED", "DESCRIPTION"}};
  int64_t total = 0;
  for (const auto& r : records) {
    total += r.size;
    std::string id = r.cache_key;
    if (!verbose && id.size() > 19) id = id.substr(7, 12);
    rows.push_back({id, HumanSize(r.size), Ago(r.last_used_ns), r.description});
  }
  std::fputs(FormatTable(rows).c_str(), stdout);
  std::printf("Total:\t%s\n", HumanSize(total).c_str());
  return OkStatus();
}

// Removes committed snapshots no remaining record needs (with their ancestors kept), and
// leftovers of interrupted work (active snapshots and views: the engine lock says no one
// is using them). Children go before parents.
Result<int64_t> CollectSnapshots(Engine& engine, const std::set<std::string>& roots) {
  snapshot::Snapshotter& s = engine.snapshotter();
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
Result<int64_t> CollectBlobs(Engine& engine) {
  std::set<std::string> keep;
  HOIST_TRY(engine.snapshotter().Walk([&](const snapshot::Info& info) -> Status {
    if (auto it = info.labels.find(std::string(exporter::kLabelLayerDigest)); it != info.labels.end()) {
      keep.insert(it->second);
    }
    return OkStatus();
  }));
  std::vector<content::BlobInfo> drop;
  HOIST_TRY(engine.content().Walk([&](const content::BlobInfo& b) -> Status {
    if (!keep.contains(b.digest.str())) drop.push_back(b);
    return OkStatus();
  }));
  int64_t reclaimed = 0;
  for (const auto& b : drop) {
    HOIST_TRY(engine.content().Delete(b.digest));
    reclaimed += b.size;
  }
  return reclaimed;
}

Status Prune(const std::string& root, bool all, const std::string& keep_storage) {
  solver::PruneOptions options;
  if (!keep_storage.empty()) {
    HOIST_ASSIGN_OR_RETURN(int64_t bytes, ParseStorageSize(keep_storage));
    options.keep_storage = bytes;
  } else {
    options.all = true;  // as buildctl prune: everything not in use
  }
  HOIST_ASSIGN_OR_RETURN(auto engine, Engine::Open({.root = root, .need_executor = false, .need_registry = false}));
  HOIST_ASSIGN_OR_RETURN(solver::PruneReport report,
                         engine->cache().Prune(options, [](const solver::CacheRecord&) {
                           return OkStatus();
                         }));
  std::set<std::string> roots = {std::string(solver::ops::kEmptySnapshot)};
  HOIST_ASSIGN_OR_RETURN(std::vector<solver::CacheRecord> left, engine->cache().List());
  for (const auto& r : left) roots.insert(r.result_ids.begin(), r.result_ids.end());
  HOIST_ASSIGN_OR_RETURN(int64_t snapshots, CollectSnapshots(*engine, roots));
  HOIST_ASSIGN_OR_RETURN(int64_t blobs, CollectBlobs(*engine));
  if (all) {
    // Context mirrors and cache mounts hold no records; --all drops them too.
    HOIST_TRY(RemoveAll(engine->root() + "/ops/local"));
    HOIST_TRY(RemoveAll(engine->root() + "/ops/cache-mounts"));
    HOIST_TRY(RemoveAll(engine->root() + "/ops/http"));
  }
  HOIST_TRY(RemoveAll(engine->root() + "/diffs"));
  for (const auto& r : report.removed) {
    std::printf("%s\t%s\n", r.cache_key.c_str(), r.description.c_str());
  }
  std::printf("Total:\t%s\n", HumanSize(snapshots + blobs).c_str());
  return OkStatus();
}

}  // namespace

Result<int64_t> ParseStorageSize(std::string_view s) {
  auto invalid = [&] {
    return MakeError(Code::kInvalidArgument, fmt::format("invalid size: '{}'", s));
  };
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return invalid();
  char* end = nullptr;
  const std::string num(s.substr(0, i));
  double v = std::strtod(num.c_str(), &end);
  if (end == nullptr || *end != '\0') return invalid();
  std::string unit(s.substr(i));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::map<std::string, double> kUnits = {
      {"", 1},          {"b", 1},          {"k", 1024.0},     {"m", 1048576.0},
      {"g", 1073741824.0}, {"t", 1099511627776.0}, {"kb", 1e3}, {"mb", 1e6},
      {"gb", 1e9},      {"tb", 1e12},      {"kib", 1024.0},   {"mib", 1048576.0},
      {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return invalid();
  return static_cast<int64_t>(std::llround(v * it->second));
}

void RegisterCacheCommands(CLI::App& app, const std::string* root, Status* status) {
  auto verbose = std::make_shared<bool>(false);
  CLI::App* du = app.add_subcommand("du", "Show the disk usage of the build cache");
  du->add_flag("-v,--verbose", *verbose, "Show full cache keys");
  du->callback([=] { *status = Du(*root, *verbose); });

  auto all = std::make_shared<bool>(false);
  auto keep = std::make_shared<std::string>();
  CLI::App* prune = app.add_subcommand("prune", "Remove build cache");
  prune->add_flag("-a,--all", *all,
                  "Also remove build context mirrors and cache mount contents");
  prune->add_option("--keep-storage", *keep, "Keep this much cache (e.g. 10GB), most recent first");
  prune->callback([=] { *status = Prune(*root, *all, *keep); });
}

}  // namespace hoist::cmd
