// fsutil's file metadata on the wire: converting between a FileEntry (Unix st_mode) and an
// fsutil Stat, whose `mode` is a Go os.FileMode (type and set-id bits are high flag bits, see
// api/fsutil/stat.proto), and checking the paths a peer sends.
//
// The protobuf types are only declared here; callers include the generated header.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/error.h"
#include "session/session.h"

namespace fsutil::types {
class Stat;
}

namespace hoist::session::internal {

// Go os.FileMode ↔ st_mode. A FileMode with a type Unix has no form for (ModeIrregular) maps to
// 0 type bits, which no caller accepts as a file.
uint32_t StModeFromGoMode(uint32_t go_mode);
uint32_t GoModeFromStMode(uint32_t st_mode);

// The Stat fsutil's sender sends for `e`: a hard link carries its first path in linkname and
// size 0, a symlink its target.
void StatFromEntry(const FileEntry& e, fsutil::types::Stat* stat);
// The entry a Stat describes, without checks (see WalkOrder). A hard link's size is left 0.
FileEntry EntryFromStat(const fsutil::types::Stat& stat);

// Whether `p` is a path a peer may name: relative, clean ("a/b", no "", ".", ".." components,
// no doubled or trailing '/'), no NUL.
bool ValidEntryPath(std::string_view p);

// fsutil's order check for the entries of one transfer: each path valid, its parent sent
// before it as a directory (or the root), names in a directory strictly increasing in byte
// order, and no return to a directory already left. Hard links must name an earlier regular
// file that is not itself a link.
class WalkOrder {
 public:
  // kInvalidArgument `<what>: ...` naming the offending path.
  Status Check(const FileEntry& e, std::string_view what);

 private:
  struct Level {
    std::string dir;   // "" for the root
    std::string last;  // last name seen in it
  };
  std::vector<Level> stack_{Level{}};
  std::unordered_set<std::string> files_;  // regular files sent that are not links
};

}  // namespace hoist::session::internal
