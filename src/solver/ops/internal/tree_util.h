// Helpers the ops share for trees on disk (copies, content checksums). Internal to the module.
#pragma once

#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "oci/digest.h"
#include "solver/op.h"
#include "solver/ops/worker.h"

namespace hoist::solver::ops::internal {

// Copies the contents of directory `from` into directory `to`, keeping owners, modes, times,
// links and xattrs; entries already in `to` are replaced. With `in_place`, `from` is that
// context's view and the copy is checked as FileActionOptions::in_place_source says.
Status CopyTree(const std::string& from, const std::string& to, CancelContext* cancel,
                source::InPlaceContext* in_place = nullptr);

// The content checksum of `paths` inside result `ref` (mounted read-only for the purpose), for
// content-based cache keys: one path's checksum, or a digest over several. A committed
// snapshot's checksums are remembered for the process (it never changes).
Result<oci::Digest> ChecksumPaths(Worker& worker, const ResultRef& ref,
                                  const std::vector<std::string>& paths, bool follow_links,
                                  bool wildcard);

}  // namespace hoist::solver::ops::internal
