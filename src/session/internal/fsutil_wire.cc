#include "session/internal/fsutil_wire.h"

#include <sys/stat.h>

#include <algorithm>

#include "api/fsutil/stat.pb.h"

namespace hoist::session::internal {
namespace {

// Go's os.FileMode bits.
constexpr uint32_t kGoDir = 1u << 31;
constexpr uint32_t kGoSymlink = 1u << 27;
constexpr uint32_t kGoDevice = 1u << 26;
constexpr uint32_t kGoNamedPipe = 1u << 25;
constexpr uint32_t kGoSocket = 1u << 24;
constexpr uint32_t kGoSetuid = 1u << 23;
constexpr uint32_t kGoSetgid = 1u << 22;
constexpr uint32_t kGoCharDevice = 1u << 21;
constexpr uint32_t kGoSticky = 1u << 20;
constexpr uint32_t kGoIrregular = 1u << 19;
constexpr uint32_t kGoPerm = 0777;

std::string_view ParentOf(std::string_view p) {
  size_t s = p.rfind('/');
  return s == std::string_view::npos ? std::string_view() : p.substr(0, s);
}

std::string_view BaseOf(std::string_view p) {
  size_t s = p.rfind('/');
  return s == std::string_view::npos ? p : p.substr(s + 1);
}

}  // namespace

uint32_t StModeFromGoMode(uint32_t m) {
  uint32_t out = m & kGoPerm;
  if (m & kGoSetuid) out |= S_ISUID;
  if (m & kGoSetgid) out |= S_ISGID;
  if (m & kGoSticky) out |= S_ISVTX;
  if (m & kGoDir) {
    out |= S_IFDIR;
  } else if (m & kGoSymlink) {
    out |= S_IFLNK;
  } else if (m & kGoDevice) {
    out |= (m & kGoCharDevice) ? S_IFCHR : S_IFBLK;
  } else if (m & kGoCharDevice) {
    out |= S_IFCHR;
  } else if (m & kGoNamedPipe) {
    out |= S_IFIFO;
  } else if (m & kGoSocket) {
    out |= S_IFSOCK;
  } else if (m & kGoIrregular) {
    // no Unix type
  } else {
    out |= S_IFREG;
  }
  return out;
}

uint32_t GoModeFromStMode(uint32_t st) {
  uint32_t out = st & kGoPerm;
  if (st & S_ISUID) out |= kGoSetuid;
  if (st & S_ISGID) out |= kGoSetgid;
  if (st & S_ISVTX) out |= kGoSticky;
  switch (st & S_IFMT) {
    case S_IFDIR:
      out |= kGoDir;
      break;
    case S_IFLNK:
      out |= kGoSymlink;
      break;
    case S_IFBLK:
      out |= kGoDevice;
      break;
    case S_IFCHR:
      out |= kGoDevice | kGoCharDevice;
      break;
    case S_IFIFO:
      out |= kGoNamedPipe;
      break;
    // fsutil clears the socket bit before sending (tar cannot hold sockets); so do we.
    case S_IFSOCK:
      break;
    case S_IFREG:
      break;
    default:
      out |= kGoIrregular;
      break;
  }
  return out;
}

void StatFromEntry(const FileEntry& e, fsutil::types::Stat* stat) {
  stat->set_path(e.path);
  stat->set_mode(GoModeFromStMode(e.mode));
  stat->set_uid(e.uid);
  stat->set_gid(e.gid);
  stat->set_modtime(e.mtime_ns);
  if (S_ISLNK(e.mode)) {
    stat->set_size(e.size);
    stat->set_linkname(e.link_target);
  } else if (S_ISREG(e.mode) && !e.hardlink_to.empty()) {
    stat->set_linkname(e.hardlink_to);
  } else if (S_ISREG(e.mode)) {
    stat->set_size(e.size);
  }
}

FileEntry EntryFromStat(const fsutil::types::Stat& stat) {
  FileEntry e;
  e.path = stat.path();
  e.mode = StModeFromGoMode(stat.mode());
  e.uid = stat.uid();
  e.gid = stat.gid();
  e.mtime_ns = stat.modtime();
  if (S_ISLNK(e.mode)) {
    e.link_target = stat.linkname();
  } else if (S_ISREG(e.mode)) {
    if (stat.linkname().empty()) {
      e.size = std::max<int64_t>(stat.size(), 0);
    } else {
      e.hardlink_to = stat.linkname();
    }
  }
  return e;
}

bool ValidEntryPath(std::string_view p) {
  if (p.empty() || p.find('\0') != std::string_view::npos) return false;
  for (size_t start = 0;;) {
    size_t slash = p.find('/', start);
    std::string_view part =
        p.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

Status WalkOrder::Check(const FileEntry& e, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return MakeError(Code::kInvalidArgument,
                     std::string(what) + ": \"" + e.path + "\": " + std::string(why));
  };
  if (!ValidEntryPath(e.path)) return bad("invalid path");
  std::string_view dir = ParentOf(e.path), base = BaseOf(e.path);
  size_t level = stack_.size();
  while (level > 0 && stack_[level - 1].dir != dir) --level;
  if (level == 0) return bad("sent out of order or outside a directory sent before it");
  stack_.resize(level);
  Level& l = stack_.back();
  if (!l.last.empty() && !(l.last < base)) return bad("sent out of order");
  l.last = std::string(base);
  if (S_ISREG(e.mode) && !e.hardlink_to.empty()) {
    if (!files_.count(e.hardlink_to)) {
      return bad("hard link to \"" + e.hardlink_to + "\", which is not an earlier file");
    }
  } else if (S_ISREG(e.mode)) {
    files_.insert(e.path);
  }
  if (S_ISDIR(e.mode)) stack_.push_back(Level{e.path, ""});
  return OkStatus();
}

}  // namespace hoist::session::internal
