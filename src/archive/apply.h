// Applying an image layer (an OCI changeset, image-spec layer.md) to a directory, with the
// semantics of containerd's pkg/archive Apply, which BuildKit uses:
//
//  - Names are cleaned as paths rooted at `/` and every path (entry names, hardlink targets,
//    symlinks met on the way) is resolved inside the root as if it were `/`: absolute names and
//    `..` never leave it, and neither does anything a symlink or hardlink points at. Entries that
//    resolve to the root itself ("", ".", "..", "/") are ignored, as containerd ignores them,
//    unless root_metadata asks for a directory entry's metadata on the root (GNU tar, umoci).
//    Missing parent directories are created with mode 0755; a non-directory in the way of a
//    parent is replaced by a directory (umoci).
//  - Whiteouts: `.wh.NAME` deletes NAME and `DIR/.wh..wh..opq` empties DIR, acting only on what
//    lower layers left (what this layer writes survives, whether it comes before or after the
//    marker). Markers must be regular files (hardlinks are tolerated, as old AUFS-based tools
//    wrote them); `.wh.` with no name, whiteouts of `.` or `..`, and markers of any other type
//    are errors. Other `.wh..wh.` names are AUFS metadata and are skipped. After a deletion the
//    parent directory's times are restored.
//  - An entry replaces whatever is at its path, except that a directory over a directory merges
//    (children kept, the new metadata applied). Writing a file over an existing hardlink unlinks
//    and recreates it, never writing through the shared inode.
//  - Hardlinks point to files of this or lower layers, never to directories; a hardlink to a
//    symlink links the symlink itself. The hardlink entry's own owner, mode and times are not
//    applied (they would change the shared inode).
//  - Metadata: owner (lchown, when restore_ownership), then mode including set-id and sticky bits
//    (after chown, which clears set-id bits), then extended attributes from PAX SCHILY.xattr
//    records (after chown, which clears security.capability), then atime/mtime with
//    nanoseconds. Directory times are set after the whole layer, so that writing their children
//    does not change them. Times before 1970 become the epoch (as containerd bounds them).
//    Extended attributes: `trusted.overlay.*` is never taken from a layer (it would forge
//    overlayfs metadata); EOPNOTSUPP is tolerated (and counted) for every name except
//    `security.capability`, whose loss would silently break binaries such as ping, so that is an
//    error; EPERM for `user.*` on symlinks (which Linux forbids) is tolerated too.
//  - Overlay mode writes deletions for an overlayfs upper directory instead: `.wh.NAME` becomes a
//    0:0 character device NAME (or makes an existing directory NAME of this layer opaque), and an
//    opaque marker sets `trusted.overlay.opaque=y` on its directory. The target is expected to be
//    a fresh upper directory: everything in it counts as this layer's.
//
// Errors name the entry: `apply layer: entry "usr/bin/x": ...`. Malformed archives are the tar
// reader's kDataLoss errors. A failed apply can leave the root partly modified: callers unpack
// into a temporary directory and rename it into place only on success (or discard it).
//
// Limits: names and hardlink targets up to PATH_MAX bytes, components up to NAME_MAX; unknown
// entry types are kUnimplemented; a whiteout or replacement deletes trees at most 256 levels
// deep (one descriptor per level); xattrs on symlinks, devices and FIFOs go through
// /proc/self/fd and need /proc.
//
// Performance: one pass over the stream, a reused 1 MiB buffer (file bodies are written in
// 1 MiB writes; the input is a decompressed stream, so copy_file_range does not apply), the
// directory of the previous entry kept open (sorted layers resolve few paths), creation tried
// first and stat only when something is in the way.
//
// Thread-safety: ApplyLayer may run concurrently on different roots. One root must not be
// modified by anything else while a layer is applied to it (with openat2 confinement holds even
// then; the userspace fallback assumes it).
#pragma once

#include <cstdint>
#include <string>

#include "archive/byte_source.h"
#include "base/cancel.h"
#include "base/error.h"

namespace hoist::archive {

struct ApplyOptions {
  // Write overlayfs whiteouts and opaque xattrs instead of deleting lower content.
  bool overlay = false;
  // lchown entries to their uid/gid (needs CAP_CHOWN; hoist runs as root). Off: files belong to
  // the applying user.
  bool restore_ownership = true;
  // A directory entry naming the root itself (`./`) sets the root's owner, mode, xattrs and
  // times, as GNU tar and umoci do. Off, it is ignored, as containerd (and so BuildKit, whose
  // snapshots' roots are always 0755 root:root) ignores it.
  bool root_metadata = false;
  // Checked between entries and between chunks of large files; not owned, may be null.
  CancelContext* cancel = nullptr;
  // Tests only: resolve paths with the userspace walk even where openat2 exists, so that the
  // fallback for kernels before 5.6 is exercised.
  bool force_userspace_resolver_for_testing = false;
};

struct ApplyStats {
  uint64_t entries = 0;        // tar entries read
  uint64_t bytes_written = 0;  // regular file contents
  uint64_t files = 0;          // regular files
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t hardlinks = 0;
  uint64_t specials = 0;        // devices and FIFOs
  uint64_t whiteouts = 0;       // whiteouts and opaque markers
  uint64_t ignored = 0;         // entries naming the root itself, AUFS metadata
  uint64_t xattrs_skipped = 0;  // trusted.overlay.* or unsupported by the filesystem
  bool used_openat2 = false;    // which resolver did the work
};

// Applies the uncompressed tar stream `tar_stream` to the directory `root_fd` (any open mode,
// O_PATH included; not owned). Reads the stream to its end-of-archive marker.
Result<ApplyStats> ApplyLayer(ByteSource& tar_stream, int root_fd,
                              const ApplyOptions& options = {});

// The same, opening `root_path` (which must be an existing directory; a symlink there is
// followed, once, by the caller's choice of path).
Result<ApplyStats> ApplyLayer(ByteSource& tar_stream, const std::string& root_path,
                              const ApplyOptions& options = {});

}  // namespace hoist::archive
