// The EROFS on-disk format as WriteLayerErofs writes it (Linux Documentation/filesystems/erofs.rst,
// fs/erofs/erofs_fs.h), and the writer of everything but file bodies.
//
// Image layout (format "EROFS, uncompressed, 4 KiB blocks"; the kernel versions the format
// through feature bits, of which none are set, so any kernel since 5.4 reads these images):
//
//   block 0              the superblock at byte 1024 (128 bytes; no checksum, zero UUID)
//   blocks 1 .. D-1      regular file bodies, each starting on a block, in archive order
//                        (written by the caller while the tar streams)
//   blocks D .. M-1      the metadata area (meta_blkaddr = D): 64-byte extended inodes at
//                        32-byte aligned offsets (nid = offset / 32), the root first (nid 0),
//                        then breadth first; each followed by its inline xattrs and, for
//                        symlinks and the last partial block of directories, the data itself
//                        (FLAT_INLINE), as are regular files smaller than a block that
//                        the writer kept in memory. No inode record crosses a block
//                        boundary unless its xattrs alone need more than a block.
//   blocks M .. end      full directory blocks, and the symlinks and small files that do not
//                        fit beside their inode
//
// Directories are blocks of 12-byte dirents followed by the names, every entry ("." and ".."
// included) sorted bytewise across the blocks; a directory's size ends with its last name.
//
// Thread-safety: none needed; one writer uses these from one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "archive/internal/erofs_tree.h"
#include "base/error.h"

namespace hoist::archive::internal {

inline constexpr unsigned kErofsBlockBits = 12;
inline constexpr uint64_t kErofsBlockSize = uint64_t{1} << kErofsBlockBits;
inline constexpr uint32_t kErofsSuperMagic = 0xE0F5E1E2;

// The EROFS name index for an xattr name and the length of its indexed prefix, or nullopt when
// EROFS has no index for its namespace (the kernel could not read it back).
struct XattrIndex {
  uint8_t index;
  uint8_t prefix_len;
};
std::optional<XattrIndex> ErofsXattrIndex(std::string_view name);

// Bytes of the inline xattr body for `xattrs` (0 when empty).
uint64_t ErofsXattrBodySize(const XattrMap& xattrs);

// Writes the metadata of `tree` (every inode reachable from the root) to `fd`, after the data
// blocks [1, data_end_block) holding the regular files' bodies, then the superblock, and sizes
// the file to the image's length. Fills in the inodes' nlink, ino and nid.
Status WriteErofsMetadata(ErofsTree& tree, int fd, uint32_t data_end_block);

}  // namespace hoist::archive::internal
