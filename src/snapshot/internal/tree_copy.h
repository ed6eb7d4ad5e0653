// Tree helpers for the snapshotters: a faithful copy of a directory tree (the native
// snapshotter's Prepare) and disk usage.
//
// CopyTree keeps file types (regular files, directories, symlinks, devices, FIFOs, sockets),
// owners, modes with set-id and sticky bits, extended attributes (security.capability too),
// nanosecond atime/mtime, and hard links among the copied files. File data goes through
// copy_file_range (reflinks where the filesystem shares extents). Nothing is followed below
// the roots: every step is an *at() call with O_NOFOLLOW.
//
// Thread-safety: reentrant; the source must not change during the copy.
#pragma once

#include <string>

#include "base/cancel.h"
#include "base/error.h"
#include "snapshot/snapshotter.h"

namespace hoist::snapshot::internal {

// Copies the contents and metadata of directory `src` into the existing empty directory `dst`.
Status CopyTree(const std::string& src, const std::string& dst,
                const CancelContext* cancel = nullptr);

// Blocks and distinct inodes used by the tree at `path` (the root included); for a regular
// file (an image), its blocks and one inode.
Result<Usage> DiskUsage(const std::string& path);

}  // namespace hoist::snapshot::internal
