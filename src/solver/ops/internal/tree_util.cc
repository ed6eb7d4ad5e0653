#include "solver/ops/internal/tree_util.h"

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
  if (paths.size() == 1) return source::Checksum(view->path(), paths[0], follow_links, wildcard);
  std::string all;
  for (const std::string& p : paths) {
    HOIST_ASSIGN_OR_RETURN(oci::Digest d,
                           source::Checksum(view->path(), p, follow_links, wildcard));
    all += p + '\0' + d.str() + '\n';
  }
  return DigestOf(all);
}

}  // namespace hoist::solver::ops::internal
