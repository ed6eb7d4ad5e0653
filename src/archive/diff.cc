#include "archive/diff.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "base/unique_fd.h"

namespace hoist::archive {
namespace {

using Xattrs = std::map<std::string, std::string>;
using InodeKey = std::pair<dev_t, ino_t>;

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueWhiteout = ".wh..wh..opq";
constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";
constexpr size_t kCopyBufferSize = 1 << 20;

std::string Join(const std::string& rel, std::string_view name) {
  return rel.empty() ? std::string(name) : rel + "/" + std::string(name);
}

Error DiffErrno(int err, std::string_view op, const std::string& rel) {
  return ErrnoError(err, fmt::format("diff: {} \"{}\"", op, rel.empty() ? "." : rel));
}

// The path through which l*xattr calls reach `name` in the directory open as `dirfd` without
// resolving anything but the (already open) directory.
std::string ProcPath(int dirfd, std::string_view name) {
  return fmt::format("/proc/self/fd/{}/{}", dirfd, name);
}

Result<UniqueFd> OpenDirAt(int dirfd, const std::string& name, const std::string& rel) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Unexpected(DiffErrno(errno, "open directory", rel));
  return UniqueFd(fd);
}

Result<UniqueFd> OpenRoot(const std::string& path, std::string_view what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Unexpected(ErrnoError(errno, fmt::format("diff: open {} root", what)));
  return UniqueFd(fd);
}

// Names in a directory, without "." and "..", in byte order.
Result<std::vector<std::string>> ListDir(int dirfd, const std::string& rel) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return Unexpected(DiffErrno(errno, "dup", rel));
  DIR* dir = ::fdopendir(dup);
  if (dir == nullptr) {
    int err = errno;
    ::close(dup);
    return Unexpected(DiffErrno(err, "list", rel));
  }
  ::rewinddir(dir);  // the duplicate shares the offset of any earlier listing
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* d = ::readdir(dir);
    if (d == nullptr) {
      int err = errno;
      ::closedir(dir);
      if (err != 0) return Unexpected(DiffErrno(err, "list", rel));
      break;
    }
    std::string_view n = d->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<struct stat> StatAt(int dirfd, const std::string& name, const std::string& rel) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Unexpected(DiffErrno(errno, "stat", rel));
  }
  return st;
}

// All xattrs of the entry, overlay's own included (callers filter).
Result<Xattrs> ReadXattrs(int dirfd, const std::string& name, const std::string& rel) {
  const std::string path = ProcPath(dirfd, name);
  Xattrs out;
  std::string list;
  for (int attempt = 0;; ++attempt) {
    ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENOTSUP || errno == ENODATA) return out;
      return Unexpected(DiffErrno(errno, "list xattrs of", rel));
    }
    if (n == 0) return out;
    list.resize(static_cast<size_t>(n));
    n = ::llistxattr(path.c_str(), list.data(), list.size());
    if (n >= 0) {
      list.resize(static_cast<size_t>(n));
      break;
    }
    if (errno != ERANGE || attempt > 8) return Unexpected(DiffErrno(errno, "list xattrs of", rel));
  }
  for (size_t pos = 0; pos < list.size();) {
    size_t end = list.find('\0', pos);
    if (end == std::string::npos) end = list.size();
    std::string key = list.substr(pos, end - pos);
    pos = end + 1;
    if (key.empty()) continue;
    std::string value;
    for (int attempt = 0;; ++attempt) {
      ssize_t n = ::lgetxattr(path.c_str(), key.c_str(), nullptr, 0);
      if (n < 0) {
        if (errno == ENODATA) break;  // removed since listed
        return Unexpected(DiffErrno(errno, "read xattr " + key + " of", rel));
      }
      value.resize(static_cast<size_t>(n));
      n = ::lgetxattr(path.c_str(), key.c_str(), value.data(), value.size());
      if (n >= 0) {
        value.resize(static_cast<size_t>(n));
        out.emplace(std::move(key), std::move(value));
        break;
      }
      if (errno != ERANGE || attempt > 8) {
        return Unexpected(DiffErrno(errno, "read xattr " + key + " of", rel));
      }
    }
  }
  return out;
}

Xattrs WithoutOverlayXattrs(Xattrs x) {
  std::erase_if(x, [](const auto& kv) { return kv.first.starts_with(kOverlayXattrPrefix); });
  return x;
}

Result<std::string> ReadLinkAt(int dirfd, const std::string& name, const std::string& rel) {
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, name.c_str(), buf.data(), buf.size());
    if (n < 0) return Unexpected(DiffErrno(errno, "readlink", rel));
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

Result<UniqueFd> OpenFileAt(int dirfd, const std::string& name, const std::string& rel,
                            const struct stat& expected) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Unexpected(DiffErrno(errno, "open", rel));
  UniqueFd owned(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return Unexpected(DiffErrno(errno, "stat", rel));
  if (st.st_dev != expected.st_dev || st.st_ino != expected.st_ino) {
    return MakeError(Code::kAborted,
                     fmt::format("diff: \"{}\" was replaced while the diff ran", rel));
  }
  return owned;
}

// Reads up to n bytes, retrying short reads; fewer only at end of file.
Result<size_t> ReadFull(int fd, char* buf, size_t n, const std::string& rel) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Unexpected(DiffErrno(errno, "read", rel));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

bool IsSocket(const struct stat& st) { return S_ISSOCK(st.st_mode); }

// A file whose own name starts with ".wh." would read back as a whiteout and delete something
// in the image, so it cannot be part of a layer (Docker and containerd have the same limit).
Status CheckNotWhiteoutName(const std::string& rel) {
  size_t slash = rel.rfind('/');
  std::string_view base = std::string_view(rel).substr(slash == std::string::npos ? 0 : slash + 1);
  if (base.starts_with(kWhiteoutPrefix)) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("diff: \"{}\": names starting with \"{}\" are reserved for "
                                 "whiteouts and cannot be stored in a layer",
                                 rel, kWhiteoutPrefix));
  }
  return OkStatus();
}

TarEntryType TypeOf(const struct stat& st) {
  switch (st.st_mode & S_IFMT) {
    case S_IFREG:
      return TarEntryType::kRegular;
    case S_IFDIR:
      return TarEntryType::kDirectory;
    case S_IFLNK:
      return TarEntryType::kSymlink;
    case S_IFCHR:
      return TarEntryType::kCharDevice;
    case S_IFBLK:
      return TarEntryType::kBlockDevice;
    case S_IFIFO:
      return TarEntryType::kFifo;
    default:
      return TarEntryType::kOther;
  }
}

// Writes layer entries for one diff; holds the state that spans directories: which parent
// directories are written, and where each multiply-linked inode was first written.
class DiffWriter {
 public:
  DiffWriter(TarWriter* out, int upper_root, const DiffOptions& options)
      : out_(out), upper_root_(upper_root), options_(options) {}

  Status TreeDir(int lower_fd, int upper_fd, const std::string& rel);
  Status OverlayDir(int upper_fd, const std::string& rel);

 private:
  Status CheckCancel() const { return options_.cancel ? options_.cancel->Check() : OkStatus(); }
  Result<TarEntry> EntryAt(int dirfd, const std::string& name, const std::string& rel,
                           const struct stat& st);
  Status EnsureParents(const std::string& rel);
  Status WriteDir(int dirfd, const std::string& name, const std::string& rel,
                  const struct stat& st);
  // Writes a non-directory, as a hardlink if its inode was written before.
  Status WriteNonDir(int dirfd, const std::string& name, const std::string& rel,
                     const struct stat& st);
  Status WriteHardlink(const std::string& rel, const std::string& target, const struct stat& st);
  Status WriteWhiteout(const std::string& dir_rel, std::string_view name);
  Status WriteBody(int dirfd, const std::string& name, const std::string& rel,
                   const struct stat& st);
  Result<bool> Changed(int lower_fd, int upper_fd, const std::string& name, const std::string& rel,
                       const struct stat& l, const struct stat& u);
  Result<bool> SameContent(int lower_fd, int upper_fd, const std::string& name,
                           const std::string& rel, const struct stat& l, const struct stat& u);
  Status Unchanged(const std::string& rel, const struct stat& st);
  Status TreeAdded(int upper_fd, const std::string& name, const std::string& rel,
                   const struct stat& st);

  TarWriter* out_;
  int upper_root_;
  DiffOptions options_;
  std::set<std::string> written_dirs_;
  std::map<InodeKey, std::pair<std::string, struct stat>> link_sources_;
  // Unchanged names of multiply-linked inodes not written yet: if the inode is written later,
  // they follow it as hardlinks.
  std::map<InodeKey, std::vector<std::string>> pending_links_;
};

Result<TarEntry> DiffWriter::EntryAt(int dirfd, const std::string& name, const std::string& rel,
                                     const struct stat& st) {
  TarEntry e;
  e.name = rel;
  e.type = TypeOf(st);
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime = TarTime{st.st_mtim.tv_sec, static_cast<int32_t>(st.st_mtim.tv_nsec)};
  if (e.type == TarEntryType::kRegular) e.size = st.st_size;
  if (e.type == TarEntryType::kSymlink) {
    HOIST_ASSIGN_OR_RETURN(e.linkname, ReadLinkAt(dirfd, name, rel));
  }
  if (e.type == TarEntryType::kCharDevice || e.type == TarEntryType::kBlockDevice) {
    e.devmajor = major(st.st_rdev);
    e.devminor = minor(st.st_rdev);
  }
  HOIST_ASSIGN_OR_RETURN(Xattrs x, ReadXattrs(dirfd, name, rel));
  e.xattrs = WithoutOverlayXattrs(std::move(x));
  return e;
}

Status DiffWriter::EnsureParents(const std::string& rel) {
  // Walk down from the root, opening each ancestor without following symlinks, and write the
  // ones not yet written.
  std::vector<std::string> parts;
  for (size_t pos = 0;;) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) break;
    parts.push_back(rel.substr(pos, slash - pos));
    pos = slash + 1;
  }
  std::string prefix;
  bool all_written = true;
  for (const auto& p : parts) {
    prefix = Join(prefix, p);
    if (!written_dirs_.contains(prefix)) {
      all_written = false;
      break;
    }
  }
  if (all_written) return OkStatus();
  UniqueFd cur;
  int dirfd = upper_root_;
  prefix.clear();
  for (const auto& p : parts) {
    prefix = Join(prefix, p);
    if (!written_dirs_.contains(prefix)) {
      HOIST_ASSIGN_OR_RETURN(struct stat st, StatAt(dirfd, p, prefix));
      HOIST_ASSIGN_OR_RETURN(TarEntry e, EntryAt(dirfd, p, prefix, st));
      if (e.type != TarEntryType::kDirectory) {
        return MakeError(Code::kAborted,
                         fmt::format("diff: \"{}\" is no longer a directory", prefix));
      }
      HOIST_TRY(out_->WriteHeader(e));
      written_dirs_.insert(prefix);
    }
    HOIST_ASSIGN_OR_RETURN(UniqueFd next, OpenDirAt(dirfd, p, prefix));
    cur = std::move(next);
    dirfd = cur.get();
  }
  return OkStatus();
}

Status DiffWriter::WriteDir(int dirfd, const std::string& name, const std::string& rel,
                            const struct stat& st) {
  HOIST_TRY(CheckNotWhiteoutName(rel));
  HOIST_TRY(EnsureParents(rel));
  if (written_dirs_.contains(rel)) return OkStatus();
  HOIST_ASSIGN_OR_RETURN(TarEntry e, EntryAt(dirfd, name, rel, st));
  HOIST_TRY(out_->WriteHeader(e));
  written_dirs_.insert(rel);
  return OkStatus();
}

Status DiffWriter::WriteHardlink(const std::string& rel, const std::string& target,
                                 const struct stat& st) {
  HOIST_TRY(CheckNotWhiteoutName(rel));
  HOIST_TRY(EnsureParents(rel));
  TarEntry e;
  e.name = rel;
  e.linkname = target;
  e.type = TarEntryType::kHardlink;
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime = TarTime{st.st_mtim.tv_sec, static_cast<int32_t>(st.st_mtim.tv_nsec)};
  return out_->WriteHeader(e);
}

Status DiffWriter::WriteNonDir(int dirfd, const std::string& name, const std::string& rel,
                               const struct stat& st) {
  HOIST_TRY(CheckNotWhiteoutName(rel));
  const InodeKey key{st.st_dev, st.st_ino};
  if (st.st_nlink > 1) {
    if (auto it = link_sources_.find(key); it != link_sources_.end()) {
      return WriteHardlink(rel, it->second.first, it->second.second);
    }
  }
  HOIST_TRY(EnsureParents(rel));
  HOIST_ASSIGN_OR_RETURN(TarEntry e, EntryAt(dirfd, name, rel, st));
  HOIST_TRY(out_->WriteHeader(e));
  if (e.type == TarEntryType::kRegular && e.size > 0) HOIST_TRY(WriteBody(dirfd, name, rel, st));
  if (st.st_nlink > 1) {
    link_sources_.emplace(key, std::make_pair(rel, st));
    if (auto it = pending_links_.find(key); it != pending_links_.end()) {
      std::vector<std::string> names = std::move(it->second);
      pending_links_.erase(it);
      for (const auto& other : names) HOIST_TRY(WriteHardlink(other, rel, st));
    }
  }
  return OkStatus();
}

Status DiffWriter::WriteBody(int dirfd, const std::string& name, const std::string& rel,
                             const struct stat& st) {
  HOIST_ASSIGN_OR_RETURN(UniqueFd fd, OpenFileAt(dirfd, name, rel, st));
  std::vector<char> buf(std::min<uint64_t>(kCopyBufferSize, static_cast<uint64_t>(st.st_size)));
  uint64_t left = static_cast<uint64_t>(st.st_size);
  while (left > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), left));
    HOIST_ASSIGN_OR_RETURN(size_t got, ReadFull(fd.get(), buf.data(), want, rel));
    if (got < want) {
      return MakeError(Code::kAborted, fmt::format("diff: \"{}\" shrank while it was read", rel));
    }
    HOIST_TRY(out_->WriteData(std::string_view(buf.data(), got)));
    left -= got;
  }
  char extra;
  HOIST_ASSIGN_OR_RETURN(size_t more, ReadFull(fd.get(), &extra, 1, rel));
  if (more != 0) {
    return MakeError(Code::kAborted, fmt::format("diff: \"{}\" grew while it was read", rel));
  }
  return OkStatus();
}

Status DiffWriter::WriteWhiteout(const std::string& dir_rel, std::string_view name) {
  std::string rel = Join(dir_rel, std::string(kWhiteoutPrefix) + std::string(name));
  HOIST_TRY(EnsureParents(rel));
  TarEntry e;
  e.name = rel;
  e.type = TarEntryType::kRegular;
  e.mode = 0;
  e.mtime = TarTime{out_->options().source_date_epoch.value_or(0), 0};
  return out_->WriteHeader(e);
}

Result<bool> DiffWriter::SameContent(int lower_fd, int upper_fd, const std::string& name,
                                     const std::string& rel, const struct stat& l,
                                     const struct stat& u) {
  HOIST_ASSIGN_OR_RETURN(UniqueFd a, OpenFileAt(lower_fd, name, rel, l));
  HOIST_ASSIGN_OR_RETURN(UniqueFd b, OpenFileAt(upper_fd, name, rel, u));
  std::vector<char> ba(1 << 16), bb(1 << 16);
  for (;;) {
    HOIST_ASSIGN_OR_RETURN(size_t na, ReadFull(a.get(), ba.data(), ba.size(), rel));
    HOIST_ASSIGN_OR_RETURN(size_t nb, ReadFull(b.get(), bb.data(), bb.size(), rel));
    if (na != nb || std::memcmp(ba.data(), bb.data(), na) != 0) return false;
    if (na == 0) return true;
  }
}

Result<bool> DiffWriter::Changed(int lower_fd, int upper_fd, const std::string& name,
                                 const std::string& rel, const struct stat& l,
                                 const struct stat& u) {
  if (l.st_mode != u.st_mode || l.st_uid != u.st_uid || l.st_gid != u.st_gid) return true;
  if ((S_ISCHR(u.st_mode) || S_ISBLK(u.st_mode)) && l.st_rdev != u.st_rdev) return true;
  HOIST_ASSIGN_OR_RETURN(Xattrs lx, ReadXattrs(lower_fd, name, rel));
  HOIST_ASSIGN_OR_RETURN(Xattrs ux, ReadXattrs(upper_fd, name, rel));
  if (WithoutOverlayXattrs(std::move(lx)) != WithoutOverlayXattrs(std::move(ux))) return true;
  if (S_ISDIR(u.st_mode)) return false;
  if (S_ISLNK(u.st_mode)) {
    HOIST_ASSIGN_OR_RETURN(std::string lt, ReadLinkAt(lower_fd, name, rel));
    HOIST_ASSIGN_OR_RETURN(std::string ut, ReadLinkAt(upper_fd, name, rel));
    return lt != ut;
  }
  if (l.st_size != u.st_size) return true;
  if (l.st_mtim.tv_sec != u.st_mtim.tv_sec || l.st_mtim.tv_nsec != u.st_mtim.tv_nsec) return true;
  if (!S_ISREG(u.st_mode) || u.st_size == 0) return false;
  if (l.st_dev == u.st_dev && l.st_ino == u.st_ino) return false;  // the same file
  const bool truncated = l.st_mtim.tv_nsec == 0 && u.st_mtim.tv_nsec == 0;
  if (!truncated && !options_.always_compare_content) return false;
  HOIST_ASSIGN_OR_RETURN(bool same, SameContent(lower_fd, upper_fd, name, rel, l, u));
  return !same;
}

Status DiffWriter::Unchanged(const std::string& rel, const struct stat& st) {
  if (S_ISDIR(st.st_mode) || st.st_nlink <= 1) return OkStatus();
  const InodeKey key{st.st_dev, st.st_ino};
  if (auto it = link_sources_.find(key); it != link_sources_.end()) {
    return WriteHardlink(rel, it->second.first, it->second.second);
  }
  pending_links_[key].push_back(rel);
  return OkStatus();
}

Status DiffWriter::TreeAdded(int upper_fd, const std::string& name, const std::string& rel,
                             const struct stat& st) {
  if (IsSocket(st)) return OkStatus();
  if (!S_ISDIR(st.st_mode)) return WriteNonDir(upper_fd, name, rel, st);
  HOIST_TRY(WriteDir(upper_fd, name, rel, st));
  HOIST_ASSIGN_OR_RETURN(UniqueFd child, OpenDirAt(upper_fd, name, rel));
  return TreeDir(-1, child.get(), rel);
}

Status DiffWriter::TreeDir(int lower_fd, int upper_fd, const std::string& rel) {
  HOIST_TRY(CheckCancel());
  std::vector<std::string> lower_names;
  if (lower_fd >= 0) {
    HOIST_ASSIGN_OR_RETURN(lower_names, ListDir(lower_fd, rel));
  }
  HOIST_ASSIGN_OR_RETURN(std::vector<std::string> upper_names, ListDir(upper_fd, rel));
  size_t i = 0, j = 0;
  while (i < lower_names.size() || j < upper_names.size()) {
    int cmp = i == lower_names.size()   ? 1
              : j == upper_names.size() ? -1
                                        : lower_names[i].compare(upper_names[j]);
    if (cmp < 0) {
      HOIST_TRY(WriteWhiteout(rel, lower_names[i]));
      ++i;
      continue;
    }
    const std::string& name = upper_names[j];
    const std::string child_rel = Join(rel, name);
    HOIST_ASSIGN_OR_RETURN(struct stat u, StatAt(upper_fd, name, child_rel));
    ++j;
    if (cmp > 0) {
      HOIST_TRY(TreeAdded(upper_fd, name, child_rel, u));
      continue;
    }
    ++i;
    HOIST_ASSIGN_OR_RETURN(struct stat l, StatAt(lower_fd, name, child_rel));
    if (IsSocket(u)) {
      // A socket cannot be written; what it replaced must still go.
      if (!IsSocket(l)) HOIST_TRY(WriteWhiteout(rel, name));
      continue;
    }
    if (S_ISDIR(u.st_mode) && S_ISDIR(l.st_mode)) {
      HOIST_ASSIGN_OR_RETURN(bool changed, Changed(lower_fd, upper_fd, name, child_rel, l, u));
      if (changed) HOIST_TRY(WriteDir(upper_fd, name, child_rel, u));
      HOIST_ASSIGN_OR_RETURN(UniqueFd lc, OpenDirAt(lower_fd, name, child_rel));
      HOIST_ASSIGN_OR_RETURN(UniqueFd uc, OpenDirAt(upper_fd, name, child_rel));
      HOIST_TRY(TreeDir(lc.get(), uc.get(), child_rel));
      continue;
    }
    if ((u.st_mode & S_IFMT) != (l.st_mode & S_IFMT)) {
      // A type change: the applier replaces the old entry with the new one.
      HOIST_TRY(TreeAdded(upper_fd, name, child_rel, u));
      continue;
    }
    HOIST_ASSIGN_OR_RETURN(bool changed, Changed(lower_fd, upper_fd, name, child_rel, l, u));
    if (changed) {
      HOIST_TRY(WriteNonDir(upper_fd, name, child_rel, u));
    } else {
      HOIST_TRY(Unchanged(child_rel, u));
    }
  }
  return OkStatus();
}

Status DiffWriter::OverlayDir(int upper_fd, const std::string& rel) {
  HOIST_TRY(CheckCancel());
  HOIST_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(upper_fd, rel));
  for (const auto& name : names) {
    const std::string child_rel = Join(rel, name);
    HOIST_ASSIGN_OR_RETURN(struct stat st, StatAt(upper_fd, name, child_rel));
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
      HOIST_TRY(WriteWhiteout(rel, name));
      continue;
    }
    if (IsSocket(st)) continue;
    HOIST_ASSIGN_OR_RETURN(Xattrs x, ReadXattrs(upper_fd, name, child_rel));
    for (std::string_view key : {"trusted.overlay.redirect", "trusted.overlay.metacopy"}) {
      if (x.contains(std::string(key))) {
        return MakeError(
            Code::kFailedPrecondition,
            fmt::format("diff: overlay upper entry \"{}\" has {}, which needs the lower layers "
                        "to resolve; mount overlayfs with redirect_dir=off and metacopy=off, or "
                        "diff the merged view against the lower",
                        child_rel, key));
      }
    }
    // Newer kernels may also mark a whiteout as an empty file with this xattr ("xwhiteout").
    if (S_ISREG(st.st_mode) && st.st_size == 0 && x.contains("trusted.overlay.whiteout")) {
      HOIST_TRY(WriteWhiteout(rel, name));
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      HOIST_TRY(WriteNonDir(upper_fd, name, child_rel, st));
      continue;
    }
    HOIST_TRY(WriteDir(upper_fd, name, child_rel, st));
    auto opaque = x.find("trusted.overlay.opaque");
    if (opaque != x.end() && opaque->second == "y") {
      // Right after the directory, before its children, so an applier clears the lower
      // contents before it adds the upper ones.
      TarEntry e;
      e.name = Join(child_rel, kOpaqueWhiteout);
      e.type = TarEntryType::kRegular;
      e.mtime = TarTime{out_->options().source_date_epoch.value_or(0), 0};
      HOIST_TRY(out_->WriteHeader(e));
    }
    HOIST_ASSIGN_OR_RETURN(UniqueFd child, OpenDirAt(upper_fd, name, child_rel));
    HOIST_TRY(OverlayDir(child.get(), child_rel));
  }
  return OkStatus();
}

}  // namespace

Status WriteTreeDiff(const std::string& lower, const std::string& upper, TarWriter* out,
                     const DiffOptions& options) {
  HOIST_ASSIGN_OR_RETURN(UniqueFd lower_fd, OpenRoot(lower, "lower"));
  HOIST_ASSIGN_OR_RETURN(UniqueFd upper_fd, OpenRoot(upper, "upper"));
  DiffWriter w(out, upper_fd.get(), options);
  return w.TreeDir(lower_fd.get(), upper_fd.get(), "");
}

Status WriteOverlayUpperDiff(const std::string& upper, TarWriter* out, const DiffOptions& options) {
  HOIST_ASSIGN_OR_RETURN(UniqueFd upper_fd, OpenRoot(upper, "overlay upper"));
  DiffWriter w(out, upper_fd.get(), options);
  return w.OverlayDir(upper_fd.get(), "");
}

}  // namespace hoist::archive
