// Layer diffs: the tar of the changes between two filesystem trees, in the layer format of the
// OCI image spec (whiteouts `.wh.NAME` for deletions, `.wh..wh..opq` for opaque directories).
//
// Two ways to find the changes:
//  - WriteTreeDiff compares a lower and an upper tree (the native snapshotter's case, and any
//    two directories);
//  - WriteOverlayUpperDiff reads an overlayfs upper directory, where the kernel has already
//    recorded the changes: every entry in it is new or changed, a character device 0:0 is a
//    deletion, and `trusted.overlay.opaque=y` marks a directory that hides the lower one.
//
// Both write entries in depth-first order with siblings in byte order of their names, so a
// parent directory always comes before its children; whiteouts sort by the name they delete.
// A changed entry brings its parent directories along (with their upper metadata) if they were
// not written already, because appliers need the parents to exist. The root itself is never
// written. Sockets are skipped (a tar cannot hold them). Overlay's own `trusted.overlay.*`
// xattrs are never copied into the layer. Whiteouts are empty regular files with mode 0, owner
// 0:0 and mtime equal to the writer's SOURCE_DATE_EPOCH clamp (0 without one), so the output
// depends on the trees alone; all other normalisation (clamping, sub-second times, owner names)
// is the TarWriter's. Output is therefore deterministic.
//
// Hardlinks: within the upper tree, non-directories with the same inode are written once as the
// file and then as hardlink entries naming it. In a tree diff, an unchanged file that shares its
// inode with a changed or added one is written as a hardlink too (after the first written
// name), so that the link survives in the applied image, as containerd does.
//
// What "changed" means in a tree diff (the rule containerd's and BuildKit's differs follow,
// made explicit):
//  - the file type, permission bits, uid or gid differ, or the xattrs do (all names and values,
//    overlay's excepted), or for devices the device number;
//  - directories: nothing else (their mtimes change whenever a child is added or removed, which
//    the children's own entries already say);
//  - symlinks: the target differs;
//  - other non-directories: the size differs, or the mtime (seconds or nanoseconds) differs; when
//    both agree and both mtimes have zero nanoseconds the timestamps may have been truncated
//    (copies through tar, coarse filesystems), so regular files are then compared byte by byte.
//    DiffOptions::always_compare_content compares bytes whenever size and mtime agree.
//
// An upper entry whose own name starts with `.wh.` is kInvalidArgument: in a layer it would
// read back as a whiteout.
//
// Safety: below the two roots nothing is followed: every step is an *at() call relative to the
// parent's descriptor with O_NOFOLLOW, and xattrs are read through /proc/self/fd/<parent>/<name>
// with the l*xattr calls. The roots themselves are opened as given. A file that changes size
// while it is read is kAborted (the trees must be quiescent).
//
// Thread-safety: the functions are reentrant; each call uses its own writer.
#pragma once

#include <string>

#include "archive/tar_writer.h"
#include "base/cancel.h"
#include "base/error.h"

namespace hoist::archive {

struct DiffOptions {
  // Compare regular file bytes whenever size and mtime agree, not only for whole-second mtimes.
  bool always_compare_content = false;
  // Checked once per directory; may be null.
  const CancelContext* cancel = nullptr;
};

// Writes the changes from `lower` to `upper` as layer entries. Does not Close() the writer.
// REQUIRES: lower and upper are directories.
Status WriteTreeDiff(const std::string& lower, const std::string& upper, TarWriter* out,
                     const DiffOptions& options = {});

// Writes the changes recorded in the overlayfs upper directory `upper` as layer entries. Does
// not Close() the writer. An upper dir that needs its lower layers to be understood, i.e. holds
// `trusted.overlay.redirect` (renamed directories, redirect_dir=on) or
// `trusted.overlay.metacopy` (metadata-only copy-ups, metacopy=on), is kFailedPrecondition:
// diff such a mount with WriteTreeDiff against the merged view instead.
Status WriteOverlayUpperDiff(const std::string& upper, TarWriter* out,
                             const DiffOptions& options = {});

}  // namespace hoist::archive
