#include "snapshot/internal/tree_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "base/unique_fd.h"

namespace hoist::snapshot::internal {
namespace {

constexpr int kMaxDepth = 512;

std::string ProcPath(int dir_fd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dir_fd) + (name.empty() ? "" : "/" + name);
}

// Names in a directory, sorted (for a deterministic hard link leader).
Result<std::vector<std::string>> ListNames(int dir_fd, const std::string& what) {
  int dup_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return Unexpected(ErrnoError(errno, "dup " + what));
  DIR* d = ::fdopendir(dup_fd);
  if (d == nullptr) {
    int err = errno;
    ::close(dup_fd);
    return Unexpected(ErrnoError(err, "read directory " + what));
  }
  ::rewinddir(d);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
    errno = 0;
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return Unexpected(ErrnoError(err, "read directory " + what));
  std::sort(names.begin(), names.end());
  return names;
}

Status CopyXattrs(const std::string& from, const std::string& to, const std::string& what) {
  ssize_t n = ::llistxattr(from.c_str(), nullptr, 0);
  if (n < 0) {
    if (errno == EOPNOTSUPP) return OkStatus();
    return Unexpected(ErrnoError(errno, "list xattrs of " + what));
  }
  if (n == 0) return OkStatus();
  std::string names(static_cast<size_t>(n), '\0');
  n = ::llistxattr(from.c_str(), names.data(), names.size());
  if (n < 0) return Unexpected(ErrnoError(errno, "list xattrs of " + what));
  names.resize(static_cast<size_t>(n));
  for (size_t pos = 0; pos < names.size();) {
    std::string name = names.c_str() + pos;
    pos += name.size() + 1;
    if (name.empty()) continue;
    ssize_t vn = ::lgetxattr(from.c_str(), name.c_str(), nullptr, 0);
    if (vn < 0) {
      if (errno == ENODATA) continue;
      return Unexpected(ErrnoError(errno, "read xattr " + name + " of " + what));
    }
    std::string value(static_cast<size_t>(vn), '\0');
    vn = ::lgetxattr(from.c_str(), name.c_str(), value.data(), value.size());
    if (vn < 0) return Unexpected(ErrnoError(errno, "read xattr " + name + " of " + what));
    value.resize(static_cast<size_t>(vn));
    if (::lsetxattr(to.c_str(), name.c_str(), value.data(), value.size(), 0) != 0) {
      bool tolerated = (errno == EOPNOTSUPP && name != "security.capability") ||
                       (errno == EPERM && name.rfind("user.", 0) == 0);
      if (!tolerated) return Unexpected(ErrnoError(errno, "set xattr " + name + " on " + what));
    }
  }
  return OkStatus();
}

// Owner, mode, xattrs (in that order: chown clears set-id bits and capabilities), times.
Status CopyMetadata(int src_dir, int dst_dir, const std::string& name, const struct stat& st,
                    const std::string& what) {
  if (::fchownat(dst_dir, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return Unexpected(ErrnoError(errno, "chown " + what));
  }
  if (!S_ISLNK(st.st_mode) && ::fchmodat(dst_dir, name.c_str(), st.st_mode & 07777, 0) != 0) {
    return Unexpected(ErrnoError(errno, "chmod " + what));
  }
  HOIST_TRY(CopyXattrs(ProcPath(src_dir, name), ProcPath(dst_dir, name), what));
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::utimensat(dst_dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Unexpected(ErrnoError(errno, "set times of " + what));
  }
  return OkStatus();
}

Status CopyFileData(int src_dir, int dst_dir, const std::string& name, const struct stat& st,
                    const std::string& what) {
  UniqueFd in(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in) return Unexpected(ErrnoError(errno, "open " + what));
  UniqueFd out(::openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0600));
  if (!out) return Unexpected(ErrnoError(errno, "create " + what));
  off_t left = st.st_size;
  bool use_read = false;
  std::vector<char> buf;
  while (left > 0) {
    if (!use_read) {
      ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr,
                                    static_cast<size_t>(left), 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        use_read = true;
        continue;
      }
      if (n < 0) return Unexpected(ErrnoError(errno, "copy " + what));
      if (n == 0) break;
      left -= n;
      continue;
    }
    buf.resize(1 << 20);
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, "read " + what));
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out.get(), buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        return Unexpected(ErrnoError(errno, "write " + what));
      }
      off += w;
    }
    left -= n;
  }
  if (left != 0) return MakeError(Code::kAborted, what + ": changed size while copied");
  return OkStatus();
}

struct CopyState {
  int dst_root = -1;
  const CancelContext* cancel = nullptr;
  std::map<std::pair<dev_t, ino_t>, std::string> links;  // first copy's path below dst_root
};

Status CopyDir(CopyState& s, int src_dir, int dst_dir, const std::string& rel, int depth) {
  if (depth > kMaxDepth) return MakeError(Code::kResourceExhausted, rel + ": tree is too deep");
  if (s.cancel != nullptr) HOIST_TRY(s.cancel->Check());
  HOIST_ASSIGN_OR_RETURN(auto names, ListNames(src_dir, rel.empty() ? "/" : rel));
  for (const std::string& name : names) {
    std::string child = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Unexpected(ErrnoError(errno, "stat " + child));
    }
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(dst_dir, name.c_str(), 0700) != 0) {
        return Unexpected(ErrnoError(errno, "mkdir " + child));
      }
      UniqueFd sub_src(::openat(src_dir, name.c_str(),
                                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_src) return Unexpected(ErrnoError(errno, "open " + child));
      UniqueFd sub_dst(::openat(dst_dir, name.c_str(),
                                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_dst) return Unexpected(ErrnoError(errno, "open " + child));
      HOIST_TRY(CopyDir(s, sub_src.get(), sub_dst.get(), child, depth + 1));
      HOIST_TRY(CopyMetadata(src_dir, dst_dir, name, st, child));
      continue;
    }
    if (st.st_nlink > 1) {
      auto it = s.links.find({st.st_dev, st.st_ino});
      if (it != s.links.end()) {
        if (::linkat(s.dst_root, it->second.c_str(), dst_dir, name.c_str(), 0) != 0) {
          return Unexpected(ErrnoError(errno, "link " + child + " to " + it->second));
        }
        continue;
      }
      s.links.emplace(std::make_pair(st.st_dev, st.st_ino), child);
    }
    if (S_ISREG(st.st_mode)) {
      HOIST_TRY(CopyFileData(src_dir, dst_dir, name, st, child));
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(src_dir, name.c_str(), target.data(), target.size());
      if (n < 0) return Unexpected(ErrnoError(errno, "readlink " + child));
      target.resize(static_cast<size_t>(n));
      if (::symlinkat(target.c_str(), dst_dir, name.c_str()) != 0) {
        return Unexpected(ErrnoError(errno, "symlink " + child));
      }
    } else {
      if (::mknodat(dst_dir, name.c_str(), st.st_mode, st.st_rdev) != 0) {
        return Unexpected(ErrnoError(errno, "mknod " + child));
      }
    }
    HOIST_TRY(CopyMetadata(src_dir, dst_dir, name, st, child));
  }
  return OkStatus();
}

Status UsageDir(int dir_fd, const std::string& rel, int depth,
                std::set<std::pair<dev_t, ino_t>>& seen, Usage& u) {
  if (depth > kMaxDepth) return MakeError(Code::kResourceExhausted, rel + ": tree is too deep");
  HOIST_ASSIGN_OR_RETURN(auto names, ListNames(dir_fd, rel.empty() ? "/" : rel));
  for (const std::string& name : names) {
    std::string child = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Unexpected(ErrnoError(errno, "stat " + child));
    }
    if (seen.insert({st.st_dev, st.st_ino}).second) {
      u.inodes++;
      u.size += static_cast<int64_t>(st.st_blocks) * 512;
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return Unexpected(ErrnoError(errno, "open " + child));
      HOIST_TRY(UsageDir(sub.get(), child, depth + 1, seen, u));
    }
  }
  return OkStatus();
}

}  // namespace

Status CopyTree(const std::string& src, const std::string& dst, const CancelContext* cancel) {
  UniqueFd src_fd(::open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!src_fd) return Unexpected(ErrnoError(errno, "open " + src));
  UniqueFd dst_fd(::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dst_fd) return Unexpected(ErrnoError(errno, "open " + dst));
  CopyState s;
  s.dst_root = dst_fd.get();
  s.cancel = cancel;
  HOIST_TRY(CopyDir(s, src_fd.get(), dst_fd.get(), "", 0));
  struct stat st;
  if (::fstat(src_fd.get(), &st) != 0) return Unexpected(ErrnoError(errno, "stat " + src));
  // The root's own metadata, through its descriptors.
  if (::fchown(dst_fd.get(), st.st_uid, st.st_gid) != 0) {
    return Unexpected(ErrnoError(errno, "chown " + dst));
  }
  if (::fchmod(dst_fd.get(), st.st_mode & 07777) != 0) {
    return Unexpected(ErrnoError(errno, "chmod " + dst));
  }
  HOIST_TRY(CopyXattrs(ProcPath(src_fd.get(), ""), ProcPath(dst_fd.get(), ""), "/"));
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(dst_fd.get(), times) != 0) {
    return Unexpected(ErrnoError(errno, "set times of " + dst));
  }
  return OkStatus();
}

Result<Usage> DiskUsage(const std::string& path) {
  struct stat file;
  if (::lstat(path.c_str(), &file) == 0 && S_ISREG(file.st_mode)) {
    // An image file (an EROFS layer): one inode of the host's.
    return Usage{.size = static_cast<int64_t>(file.st_blocks) * 512, .inodes = 1};
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Unexpected(ErrnoError(errno, "open " + path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Unexpected(ErrnoError(errno, "stat " + path));
  Usage u;
  std::set<std::pair<dev_t, ino_t>> seen{{st.st_dev, st.st_ino}};
  u.inodes = 1;
  u.size = static_cast<int64_t>(st.st_blocks) * 512;
  HOIST_TRY(UsageDir(fd.get(), "", 0, seen, u));
  return u;
}

}  // namespace hoist::snapshot::internal
