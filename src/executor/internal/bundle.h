// Bundle housekeeping for RuncExecutor: finding what is mounted under a directory (from
// /proc/self/mountinfo), unmounting it all, and writing small files. Internal to src/executor.
// Thread-safety: functions only; concurrent calls on the same directory race.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::executor::internal {

// Mount points at or below `dir` (absolute, no trailing '/'), deepest last, as listed in
// /proc/self/mountinfo (a point mounted twice appears twice).
Result<std::vector<std::string>> MountsUnder(const std::string& dir);

// Unmounts (detaching) everything at or below `dir` until nothing is left; an error names the
// first mount point that stays.
Status UnmountAllUnder(const std::string& dir);

// Creates or truncates `path` with `mode` (not masked by the umask), writes `data`, and,
// if uid/gid are given (>= 0), chowns it.
Status WriteFileWithMode(const std::string& path, std::string_view data, unsigned mode,
                         long uid = -1, long gid = -1);

}  // namespace hoist::executor::internal

namespace hoist::executor::internal {

// Mount stubs: a runtime creates the mount points a spec names (files and directories) in the
// rootfs when they are missing, and they would end up in the snapshot. MissingPaths lists every
// path along `destinations` (absolute in the container) that does not exist in `rootfs`, as
// rootfs-relative paths, parents before children; RemoveStubs removes those that are now empty
// files or empty directories, children first. Paths resolve inside `rootfs` only.
std::vector<std::string> MissingPaths(const std::string& rootfs,
                                      const std::vector<std::string>& destinations);
void RemoveStubs(const std::string& rootfs, const std::vector<std::string>& paths);

}  // namespace hoist::executor::internal
