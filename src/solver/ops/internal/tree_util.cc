#include "solver/ops/internal/tree_util.h"

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

Result<oci::Digest> ChecksumPaths(Worker& worker, const ResultRef& ref,
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

}  // namespace hoist::solver::ops::internal
