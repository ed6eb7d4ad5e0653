// Writing one image layer as an EROFS image: the layer's tar stream becomes a read-only
// filesystem image (Linux Documentation/filesystems/erofs.rst, fs/erofs/erofs_fs.h) that is
// mounted as one overlayfs lower layer instead of being extracted into a directory.
//
// The image holds the layer alone, exactly as ApplyLayer with `overlay = true` would write it
// into an empty upper directory (archive/apply.h): the same name cleaning and confinement (paths
// resolved through the layer's own symlinks as RootResolver resolves them), the same replacement
// rules inside the layer, OCI whiteouts as 0:0 character devices (mode 0, root-owned) and
// opaque markers as `trusted.overlay.opaque=y` on their directory, `trusted.overlay.*` never
// taken from the layer, the same errors (codes) for the same entries, the same ApplyStats.
// Where ApplyLayer takes a time from the clock (missing parent directories, whiteouts), the
// image has `options.build_time`; the root is 0755 root:root with that mtime. Hardlinks can
// only name files of this layer (into an empty directory there is nothing else).
//
// Extended attributes: Linux's setxattr rules are applied as the kernel would (name and value
// limits, no user.* on symlinks — dropped and counted, as ApplyLayer tolerates it — nor on
// devices and FIFOs — an error; security.capability validated and stored as the kernel stores
// it). Namespaces EROFS has no name index for (anything but user., trusted., security.,
// system.posix_acl_access and system.posix_acl_default) are dropped and counted, as ApplyLayer
// drops what its filesystem does not support. POSIX ACL values are stored as given (the kernel
// would validate them and fold an ACL equivalent to the mode into the mode).
//
// The format: uncompressed, 4 KiB blocks, extended (64-byte) inodes keeping owners, modes,
// nanosecond mtimes, hard link counts and device numbers; extended attributes inline in the
// inode; symlinks, directory tails and files smaller than a block inline after their inode; no
// compression, no shared xattrs, no chunks, no superblock checksum. internal/erofs_image.h
// documents the layout. The superblock's build time is `options.build_time` and its UUID is
// zero, so the same tar always gives the same image bytes.
//
// Streaming: file bodies of a block or more are copied into data blocks as the tar streams;
// smaller ones (up to 64 MiB of them in all), the directory tree and the inodes are kept in
// memory (about a hundred bytes per entry) and written after the last entry. The image is
// written with pwrite from offset 0 of `out_fd`; a failed write leaves a partial file that the
// caller discards. A file replaced later in the same layer keeps its data blocks (unreferenced).
//
// Limits: 2^32 blocks (16 TiB); 65535 bytes per xattr value.
//
// Thread-safety: WriteLayerErofs may run concurrently with different streams and files.
#pragma once

#include <cstdint>

#include "archive/apply.h"
#include "archive/byte_source.h"
#include "base/cancel.h"
#include "base/error.h"

namespace hoist::archive {

struct ErofsWriteOptions {
  // Checked between entries and between chunks of large files; not owned, may be null.
  CancelContext* cancel = nullptr;
  // Seconds since the epoch recorded in the superblock.
  int64_t build_time = 0;
};

// Reads the uncompressed layer tar `tar_stream` to its end-of-archive marker and writes it as an
// EROFS image to `out_fd` (a regular file, opened for writing, empty). The stats count what
// ApplyLayer would have counted for the same stream.
Result<ApplyStats> WriteLayerErofs(ByteSource& tar_stream, int out_fd,
                                   const ErofsWriteOptions& options = {});

}  // namespace hoist::archive
