#include "cmd/cache_commands.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/file_system.h"
#include "cmd/engine.h"
#include "cmd/output.h"
#include "control/cache_usage.h"

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

// One row per record, as `buildctl du`.
struct UsageRow {
  std::string id;
  int64_t size = 0;
  int64_t last_used_ns = 0;
  std::string description;
};

void PrintUsage(const std::vector<UsageRow>& records, bool verbose) {
  std::vector<std::vector<std::string>> rows = {{"ID", "SIZE", "LAST ACCESSED", "DESCRIPTION"}};
  int64_t total = 0;
  for (const auto& r : records) {
    total += r.size;
    std::string id = r.id;
    if (!verbose && id.size() > 19) id = id.substr(7, 12);
    rows.push_back({id, HumanSize(r.size), Ago(r.last_used_ns), r.description});
  }
  std::fputs(FormatTable(rows).c_str(), stdout);
  std::printf("Total:\t%s\n", HumanSize(total).c_str());
}

Status Du(const GlobalOptions& global, bool verbose) {
  std::vector<UsageRow> rows;
  if (const std::string addr = client::DaemonAddress(global.addr); !addr.empty()) {
    HOIST_ASSIGN_OR_RETURN(auto connected, client::RemoteEngine::Connect(addr, global.tls));
    client::ProcessRemoteEngine remote(connected.release());
    HOIST_ASSIGN_OR_RETURN(auto records, remote->DiskUsage());
    for (const auto& r : records) rows.push_back({r.id, r.size, r.last_used_ns, r.description});
  } else {
    HOIST_ASSIGN_OR_RETURN(auto engine, Engine::Open({.root = global.root,
                                                      .snapshotter = global.snapshotter,
                                                      .need_executor = false,
                                                      .need_registry = false}));
    HOIST_ASSIGN_OR_RETURN(auto records, control::DiskUsage(engine->parts()));
    for (const auto& r : records) rows.push_back({r.cache_key, r.size, r.last_used_ns, r.description});
  }
  PrintUsage(rows, verbose);
  return OkStatus();
}

Status Prune(const GlobalOptions& global, bool all, const std::string& keep_storage) {
  control::PruneRequest request{.all = all};
  if (!keep_storage.empty()) {
    HOIST_ASSIGN_OR_RETURN(int64_t bytes, ParseStorageSize(keep_storage));
    request.keep_storage = bytes;
  }
  if (const std::string addr = client::DaemonAddress(global.addr); !addr.empty()) {
    HOIST_ASSIGN_OR_RETURN(auto connected, client::RemoteEngine::Connect(addr, global.tls));
    client::ProcessRemoteEngine remote(connected.release());
    HOIST_ASSIGN_OR_RETURN(auto removed, remote->Prune(request.all, request.keep_storage));
    int64_t total = 0;
    for (const auto& r : removed) {
      std::printf("%s\t%s\n", r.id.c_str(), r.description.c_str());
      total += r.size;
    }
    std::printf("Total:\t%s\n", HumanSize(total).c_str());
    return OkStatus();
  }
  // Alone on the root: nothing a running build uses may go.
  HOIST_ASSIGN_OR_RETURN(auto engine, Engine::Open({.root = global.root,
                                                      .snapshotter = global.snapshotter,
                                                      .need_executor = false,
                                                      .need_registry = false,
                                                      .exclusive = true}));
  HOIST_ASSIGN_OR_RETURN(control::PruneResult result, control::PruneCache(engine->parts(), request));
  for (const auto& r : result.removed) {
    std::printf("%s\t%s\n", r.cache_key.c_str(), r.description.c_str());
  }
  std::printf("Total:\t%s\n", HumanSize(result.reclaimed).c_str());
  return OkStatus();
}

}  // namespace


void RegisterCacheCommands(CLI::App& app, const GlobalOptions* global, Status* status) {
  auto verbose = std::make_shared<bool>(false);
  CLI::App* du = app.add_subcommand("du", "Show the disk usage of the build cache");
  du->add_flag("-v,--verbose", *verbose, "Show full cache keys");
  du->callback([=] { *status = Du(*global, *verbose); });

  auto all = std::make_shared<bool>(false);
  auto keep = std::make_shared<std::string>();
  CLI::App* prune = app.add_subcommand("prune", "Remove build cache");
  prune->add_flag("-a,--all", *all,
                  "Also remove build context mirrors and cache mount contents");
  prune->add_option("--keep-storage", *keep, "Keep this much cache (e.g. 10GB), most recent first");
  prune->callback([=] { *status = Prune(*global, *all, *keep); });
}

}  // namespace hoist::cmd
