// The rules that decide what a layer entry means, shared by everything that materialises a layer
// (ApplyLayer into a directory, WriteLayerErofs into an image): name limits, whiteout and opaque
// marker classification, owner and device number validation, time bounds and the quoting used in
// error messages. Keeping them in one place is what makes the two writers refuse the same
// entries with the same codes; apply.h documents the semantics.
//
// Thread-safety: pure functions.
#pragma once

#include <time.h>

#include <climits>
#include <cstdint>
#include <string>
#include <string_view>

#include "archive/tar_reader.h"
#include "base/error.h"

namespace hoist::archive::internal {

inline constexpr size_t kMaxPathLength = PATH_MAX;
inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
inline constexpr std::string_view kAufsMetaPrefix = ".wh..wh.";
inline constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";
inline constexpr char kOverlayOpaqueXattr[] = "trusted.overlay.opaque";
inline constexpr std::string_view kCapabilityXattr = "security.capability";

// "name" with quotes, backslashes and control bytes escaped, for error messages.
std::string Quote(std::string_view s);

// The entry's mtime (or atime) as the kernel is given it: times before 1970 and past what Go's
// time.Unix(0, MaxInt64) can hold become the epoch, as containerd bounds them.
struct timespec BoundTime(const TarTime& t);

// Errors for a cleaned entry path longer than PATH_MAX.
Status CheckPathLength(std::string_view path);
// Errors for a final component longer than NAME_MAX.
Status CheckComponentLength(std::string_view base);

// Checks made before anything is written for a non-whiteout entry: a known type; then, when
// owners are restored, for everything but hardlinks (whose owner belongs to the shared inode),
// an owner that chown can set ((uid_t)-1 means "leave unchanged").
Status CheckEntryType(const TarEntry& e);
Status CheckOwner(const TarEntry& e);

// What a name starting with ".wh." asks for.
enum class WhiteoutKind {
  kWhiteout,  // delete (or, in overlay mode, hide) the sibling named by `target`
  kOpaque,    // empty (or mark opaque) the marker's directory
  kAufsMeta,  // AUFS bookkeeping such as .wh..wh.plnk: ignored
};
// Classifies the whiteout entry `e` whose final component is `base` (which starts with ".wh.").
// Markers must be regular files or hardlinks; `.wh.`, `.wh..` and `.wh...` are errors, and so is
// a target longer than NAME_MAX. Sets *target for kWhiteout.
Result<WhiteoutKind> ClassifyWhiteout(const TarEntry& e, std::string_view base,
                                      std::string_view* target);

// Cleans a hardlink entry's target into *out and splits it; errors for the root, for PATH_MAX
// and NAME_MAX overruns.
Status CleanHardlinkTarget(const TarEntry& e, std::string* out, std::string_view* dir,
                           std::string_view* base);

// Errors for a symlink target that the kernel would refuse (PATH_MAX with its NUL).
Status CheckSymlinkTarget(const TarEntry& e);

// Checks a device entry's numbers against what mknod can take: 32-bit values, and (glibc and
// Linux's dev_t) a major below 4096 and a minor below 2^20. On success sets the numbers.
Status CheckDeviceNumber(const TarEntry& e, uint32_t* major, uint32_t* minor);

}  // namespace hoist::archive::internal
