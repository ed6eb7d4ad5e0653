#include "solver/ops/internal/tree_util.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/log.h"
#include "solver/ops/file_actions.h"
#include "solver/ops/internal/ops.h"
#include "source/local_source.h"

namespace hoist::solver::ops::internal {

Status CopyTree(const std::string& from, const std::string& to, CancelContext* cancel) {
  CopyAction copy;
  copy.src = "/";
  copy.dest = "/";
  copy.dir_copy_contents = true;
  copy.always_replace_existing_dest_paths = true;
  FileActionOptions options;
  options.cancel = cancel;
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
  const source::ChecksumOptions options{
      .cache = worker.options().checksums, .scope = ref.id(), .stats = &stats};
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
