// The tar header block layout that TarReader and TarWriter share: the block size and the POSIX
// ustar (IEEE Std 1003.1-1988) header fields. GNU and star headers reuse the bytes after
// kDevminor differently; the reader, the only side that parses them, defines those fields itself.
//
// Format: an archive is a sequence of 512-byte blocks. Each entry is a header block followed by
// its body, zero-padded to a whole block; two zero blocks end the archive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hoist::archive::internal {

inline constexpr size_t kBlockSize = 512;

// Zero bytes that follow a body of `size` bytes to reach the next block boundary.
constexpr uint64_t BlockPadding(uint64_t size) {
  return (kBlockSize - size % kBlockSize) % kBlockSize;
}

// A fixed-size field of a header block.
struct Field {
  size_t offset;
  size_t size;
};

inline constexpr Field kName{0, 100};
inline constexpr Field kMode{100, 8};
inline constexpr Field kUid{108, 8};
inline constexpr Field kGid{116, 8};
inline constexpr Field kSize{124, 12};
inline constexpr Field kMtime{136, 12};
inline constexpr Field kChksum{148, 8};
inline constexpr size_t kTypeflag = 156;
inline constexpr Field kLinkname{157, 100};
inline constexpr Field kMagic{257, 6};
inline constexpr Field kVersion{263, 2};
inline constexpr Field kUname{265, 32};
inline constexpr Field kGname{297, 32};
inline constexpr Field kDevmajor{329, 8};
inline constexpr Field kDevminor{337, 8};
inline constexpr Field kUstarPrefix{345, 155};

// The magic and version of a POSIX ustar header (GNU writes "ustar " and " \0" instead).
inline constexpr std::string_view kUstarMagic("ustar\0", 6);
inline constexpr std::string_view kUstarVersion("00", 2);

}  // namespace hoist::archive::internal
