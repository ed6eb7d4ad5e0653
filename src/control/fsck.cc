#include "control/fsck.h"

#include <dirent.h>

#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "base/file_system.h"
#include "base/hash.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "oci/platform.h"
#include "solver/ops/worker.h"

namespace hoist::control {
namespace {

class Checker {
 public:
  Checker(const EngineParts& parts, const FsckOptions& options, CancelContext* cancel)
      : parts_(parts), options_(options), cancel_(cancel) {}

  Result<FsckReport> Run() {
    HOIST_TRY(CheckDatabase());
    HOIST_TRY(CheckMounts());
    HOIST_TRY(CheckIngest());
    HOIST_TRY(CheckSnapshots());
    HOIST_TRY(CheckRecords());
    HOIST_TRY(CheckBlobs());
    return std::move(report_);
  }

 private:
  Status Cancelled() { return cancel_ != nullptr ? cancel_->Check() : OkStatus(); }

  // Records a problem and, with repair, tries `fix`; its failure leaves the problem counted.
  void Problem(std::string what, const std::function<Status()>& fix, std::string repaired) {
    report_.problems.push_back(what);
    if (!options_.repair || !fix) {
      ++report_.unrepaired;
      return;
    }
    if (auto s = fix(); !s) {
      report_.failures.push_back(what + ": not repaired: " + s.error().message());
      ++report_.unrepaired;
      return;
    }
    report_.repairs.push_back(std::move(repaired));
  }

  Status CheckDatabase() {
    HOIST_ASSIGN_OR_RETURN(std::vector<std::string> problems, parts_.cache->CheckIntegrity());
    for (const std::string& p : problems) {
      Problem(fmt::format("cache database: {} (move cache.db, cache.db-wal and cache.db-shm "
                          "aside: the next start begins an empty cache)",
                          p),
              nullptr, "");
    }
    return OkStatus();
  }

  Status CheckMounts() {
    HOIST_ASSIGN_OR_RETURN(std::vector<std::string> mounts, MountsUnder(parts_.root));
    for (const std::string& m : mounts) {
      // The root may be a filesystem of its own; nothing of ours is mounted on it.
      if (m.size() <= parts_.root.size()) continue;
      const std::string rel = m.substr(parts_.root.size() + 1);
      Problem(fmt::format("mount {}: still mounted while no build runs", rel),
              [&] { return UnmountAllUnder(m); }, fmt::format("mount {}: detached", rel));
    }
    return OkStatus();
  }

  Status CheckIngest() {
    const std::string dir = parts_.content->ingest_dir();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return OkStatus();  // made by the first writer
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    for (const std::string& name : names) {
      Problem(fmt::format("ingest file {}: left by a write that never finished", name),
              [&] { return RemoveAll(dir + "/" + name); },
              fmt::format("ingest file {}: removed", name));
    }
    return OkStatus();
  }

  Status CheckSnapshots() {
    std::vector<snapshot::Info> all;
    HOIST_TRY(parts_.snapshotter->Walk([&](const snapshot::Info& i) {
      all.push_back(i);
      return OkStatus();
    }));
    report_.snapshots = static_cast<int64_t>(all.size());
    std::multimap<std::string, std::string> children;  // parent → child
    for (const snapshot::Info& i : all) {
      if (!i.parent.empty()) children.emplace(i.parent, i.name);
    }
    for (const snapshot::Info& i : all) {
      HOIST_TRY(Cancelled());
      if (i.kind != snapshot::Kind::kCommitted) {
        Problem(fmt::format("snapshot {}: {} left by a build that never finished", i.name,
                            i.kind == snapshot::Kind::kView ? "view" : "active snapshot"),
                [&] { return RemoveTree(i.name, children); },
                fmt::format("snapshot {}: removed", i.name));
        continue;
      }
      if (auto usage = parts_.snapshotter->GetUsage(i.name); !usage) {
        Problem(fmt::format("snapshot {}: its tree is unreadable: {}", i.name, usage.error().message()),
                [&] { return RemoveTree(i.name, children); },
                fmt::format("snapshot {}: removed, with the snapshots built on it", i.name));
      }
    }
    return OkStatus();
  }

  // Removes `name` and everything built on it, children first.
  Status RemoveTree(const std::string& name, const std::multimap<std::string, std::string>& children) {
    if (removed_.contains(name)) return OkStatus();
    auto [first, last] = children.equal_range(name);
    for (auto it = first; it != last; ++it) HOIST_TRY(RemoveTree(it->second, children));
    if (auto s = parts_.snapshotter->Remove(name); !s && s.error().code() != Code::kNotFound) {
      return s;
    }
    removed_.insert(name);
    return OkStatus();
  }

  Status CheckRecords() {
    solver::ops::Worker worker(solver::ops::WorkerOptions{.snapshotter = parts_.snapshotter,
                                                          .layers = parts_.layers,
                                                          .content = parts_.content,
                                                          .sessions = parts_.sessions,
                                                          .state_dir = parts_.root + "/ops",
                                                          .default_platform = oci::HostPlatform()});
    HOIST_ASSIGN_OR_RETURN(std::vector<solver::CacheRecord> records, parts_.cache->List());
    report_.records = static_cast<int64_t>(records.size());
    for (const solver::CacheRecord& r : records) {
      HOIST_TRY(Cancelled());
      for (const std::string& id : r.result_ids) {
        // A context read in place is a result of its build alone: never loaded again (the
        // local source runs in every build), so there is nothing to check.
        if (id.starts_with(solver::ops::kInPlaceIdPrefix)) continue;
        HOIST_ASSIGN_OR_RETURN(auto ref, worker.Load(id));
        if (ref) continue;
        Problem(fmt::format("cache record {}: its result {} is gone", r.cache_key, id),
                [&] { return parts_.cache->Delete(r.cache_key); },
                fmt::format("cache record {}: deleted (the step runs again when next needed)",
                            r.cache_key));
        break;
      }
    }
    return OkStatus();
  }

  Status CheckBlobs() {
    std::vector<content::BlobInfo> blobs;
    HOIST_TRY(parts_.content->Walk([&](const content::BlobInfo& b) {
      blobs.push_back(b);
      return OkStatus();
    }));
    std::string buf(1 << 20, '\0');
    for (const content::BlobInfo& b : blobs) {
      HOIST_TRY(Cancelled());
      ++report_.blobs;
      report_.blob_bytes += b.size;
      auto reader = parts_.content->ReaderAt(b.digest);
      if (!reader) {
        Problem(fmt::format("blob {}: unreadable: {}", b.digest.str(), reader.error().message()),
                [&] { return parts_.content->Delete(b.digest); },
                fmt::format("blob {}: deleted", b.digest.str()));
        continue;
      }
      Hasher h(HashAlgorithm::kSha256);
      int64_t off = 0;
      std::optional<Error> failed;
      for (;;) {
        auto n = (*reader)->ReadAt(off, buf.data(), buf.size());
        if (!n) {
          failed = n.error();
          break;
        }
        if (*n == 0) break;
        h.Update(buf.data(), *n);
        off += static_cast<int64_t>(*n);
      }
      reader->reset();
      const std::string actual = failed ? "" : "sha256:" + h.HexDigest();
      if (b.digest.algorithm() != "sha256" || actual == b.digest.str()) continue;
      Problem(failed ? fmt::format("blob {}: unreadable: {}", b.digest.str(), failed->message())
                     : fmt::format("blob {}: its content hashes to {}", b.digest.str(), actual),
              [&] { return parts_.content->Delete(b.digest); },
              fmt::format("blob {}: deleted (fetched or built again when next needed)",
                          b.digest.str()));
    }
    return OkStatus();
  }

  const EngineParts& parts_;
  const FsckOptions& options_;
  CancelContext* cancel_;
  FsckReport report_;
  std::set<std::string> removed_;
};

}  // namespace

Result<FsckReport> Fsck(const EngineParts& parts, const FsckOptions& options, CancelContext* cancel) {
  return Checker(parts, options, cancel).Run();
}

}  // namespace hoist::control
