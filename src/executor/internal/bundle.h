// Bundle housekeeping for RuncExecutor: writing small files and removing mount stubs (what is
// mounted under a directory: base/mount.h). Internal to src/executor.
// Thread-safety: functions only; concurrent calls on the same directory race.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::executor::internal {

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

// /proc, /dev and /sys stay in a step's layer when the runtime had to create them (BuildKit's
// do). Runtimes differ in the mode they give them (runc 0755, crun 1755 for /dev), so those
// missing are made here first, as runc makes them: root's directories, mode 0755. A rootfs that
// cannot be written is left to the runtime.
void MakeKeptMountPoints(const std::string& rootfs);

}  // namespace hoist::executor::internal
