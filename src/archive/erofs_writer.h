// Writing one image layer as an EROFS image: the layer's tar stream becomes a read-only
// filesystem image (Linux Documentation/filesystems/erofs.rst, fs/erofs/erofs_fs.h) that is
// mounted as one overlayfs lower layer instead of being extracted into a directory.
//
// The image holds the layer alone, exactly as ApplyLayer with `overlay = true` would write it
// into an empty upper directory (archive/apply.h): the same name cleaning and confinement, the
// same replacement rules inside the layer, OCI whiteouts as 0:0 character devices and opaque
// markers as `trusted.overlay.opaque=y` on their directory, `trusted.overlay.*` never taken
// from the layer, the same errors for the same entries. The format: uncompressed, 4 KiB
// blocks, extended (64-byte) inodes keeping owners, modes, nanosecond mtimes, hard link counts
// and device numbers; extended attributes inline in the inode; no compression, no shared
// xattrs, no chunks. The superblock's build time is `options.build_time` and its UUID is zero,
// so the same tar always gives the same image bytes.
//
// Streaming: file bodies are copied into data blocks as the tar streams; the directory tree and
// the inodes are kept in memory (a few hundred bytes per entry) and written after the last
// entry. The image is written with pwrite from offset 0 of `out_fd`; a failed write leaves a
// partial file that the caller discards.
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
