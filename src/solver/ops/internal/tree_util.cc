#include "solver/ops/internal/tree_util.h"

#include <mutex>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/log.h"
#include "solver/ops/file_actions.h"
#include "solver/ops/internal/ops.h"
#include "source/local_source.h"

namespace hoist::solver::ops::internal {

Status CopyTree(const std::string& from, const std::string& to, CancelContext* cancel,
                source::InPlaceContext* in_place) {
  CopyAction copy;
  copy.src = "/";
  copy.dest = "/";
  copy.dir_copy_contents = true;
  copy.always_replace_existing_dest_paths = true;
  FileActionOptions options;
  options.cancel = cancel;
  options.in_place_source = in_place;
  return ApplyCopy(from, to, copy, options);
}

namespace {

// Checksums of committed snapshots, which never change, and whose names are never used twice
// (random, or a chain ID that names its content): an unchanged context's mirror generation,
// or a cached step's result, is then not mounted again in this process to be checksummed
// anew. Mirror directories and in-place contexts change, and are never remembered here.
class TreeChecksums {
 public:
  static std::string Key(const std::string& id, const std::vector<std::string>& paths,
                         bool follow_links, bool wildcard) {
    std::string key = id;
    key += '\0';
    key += follow_links ? 'F' : '-';
    key += wildcard ? 'W' : '-';
    for (const std::string& p : paths) {
      key += '\0';
      key += p;
    }
    return key;
  }
  std::optional<oci::Digest> Find(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = known_.find(key);
    if (it == known_.end()) return std::nullopt;
    return it->second;
  }
  void Put(std::string key, oci::Digest d) {
    std::lock_guard lock(mu_);
    if (known_.size() >= kMax) known_.clear();
    known_.emplace(std::move(key), std::move(d));
  }

 private:
  static constexpr size_t kMax = 16384;
  std::mutex mu_;
  std::unordered_map<std::string, oci::Digest> known_;
};

TreeChecksums& Remembered() {
  static TreeChecksums* t = new TreeChecksums();
  return *t;
}

// ChecksumPaths, through a read-only mount of the result.
Result<oci::Digest> ChecksumMounted(Worker& worker, const ResultRef& ref,
                                    const std::vector<std::string>& paths, bool follow_links,
                                    bool wildcard);

}  // namespace

Result<oci::Digest> ChecksumPaths(Worker& worker, const ResultRef& ref,
                                  const std::vector<std::string>& paths, bool follow_links,
                                  bool wildcard) {
  std::string key;
  if (!IsMirrorId(ref.id()) && !IsInPlaceId(ref.id())) {
    key = TreeChecksums::Key(ref.id(), paths, follow_links, wildcard);
    if (auto known = Remembered().Find(key)) return *known;
  }
  auto d = ChecksumMounted(worker, ref, paths, follow_links, wildcard);
  if (d && !key.empty()) Remembered().Put(std::move(key), *d);
  return d;
}

namespace {

Result<oci::Digest> ChecksumMounted(Worker& worker, const ResultRef& ref,
                                    const std::vector<std::string>& paths, bool follow_links,
                                    bool wildcard) {
  HOIST_ASSIGN_OR_RETURN(auto view, MountedSnapshot::Create(*worker.options().snapshotter,
                                                            ref.id(), false,
                                                            worker.options().state_dir));
  // The result's ID names the tree for the cache: a mirror's or a committed snapshot's, stable
  // across builds, where the mount point is not.
  source::ChecksumStats stats;
  source::ChecksumOptions options{
      .cache = worker.options().checksums, .scope = ref.id(), .stats = &stats};
  // An in-place context pins what it reads; its scope names the client's directory across
  // builds (the result's ID is new in every build).
  std::shared_ptr<source::InPlaceContext> in_place;
  if (IsInPlaceId(ref.id())) {
    in_place = FindInPlace(ref.id());
    if (!in_place) {
      return MakeError(Code::kNotFound, "local context " + ref.id() + " is no longer available");
    }
    options.scope = in_place->scope();
    options.in_place = in_place.get();
  }
  struct HookOnReturn {
    bool on;
    ~HookOnReturn() {
      if (on) source::InPlaceContext::ChecksumTaken();
    }
  } hook{in_place != nullptr};
  auto log = [&](const oci::Digest& d) {
    HOIST_LOG(kDebug, "checksum of {} in {}: {} ({} files hashed, {} bytes; {} reused)",
              fmt::join(paths, ", "), ref.id(), d.str(), stats.files_hashed, stats.bytes_hashed,
              stats.files_reused);
  };
  if (paths.size() == 1) {
    HOIST_ASSIGN_OR_RETURN(oci::Digest d,
                           source::Checksum(view->path(), paths[0], follow_links, wildcard, options));
    log(d);
    return d;
  }
  std::string all;
  for (const std::string& p : paths) {
    HOIST_ASSIGN_OR_RETURN(oci::Digest d,
                           source::Checksum(view->path(), p, follow_links, wildcard, options));
    all += p + '\0' + d.str() + '\n';
  }
  oci::Digest d = DigestOf(all);
  log(d);
  return d;
}

}  // namespace

}  // namespace hoist::solver::ops::internal
