#include "archive/internal/tree_ops.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

#include "base/unique_fd.h"

namespace hoist::archive::internal {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t EntryKey(dev_t dev, ino_t ino, std::string_view name) {
  uint64_t h = Mix(static_cast<uint64_t>(dev) * 0x9e3779b97f4a7c15ULL ^ Mix(ino));
  return Mix(h ^ std::hash<std::string_view>{}(name));
}

// An open directory stream; owns the descriptor it was made from.
class DirStream {
 public:
  // Takes ownership of fd (closed even on failure).
  explicit DirStream(int fd) {
    dir_ = ::fdopendir(fd);
    if (dir_ == nullptr) {
      err_ = errno;
      ::close(fd);
    }
  }
  ~DirStream() {
    if (dir_ != nullptr) ::closedir(dir_);
  }
  DirStream(const DirStream&) = delete;
  DirStream& operator=(const DirStream&) = delete;

  int error() const { return err_; }
  int fd() const { return ::dirfd(dir_); }
  // The next entry other than "." and "..", or nullptr at the end (errno set on error).
  struct dirent* Next() {
    for (;;) {
      errno = 0;
      struct dirent* e = ::readdir(dir_);
      if (e == nullptr) return nullptr;
      const char* n = e->d_name;
      if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
      return e;
    }
  }
  void Rewind() { ::rewinddir(dir_); }

 private:
  DIR* dir_ = nullptr;
  int err_ = 0;
};

int RemoveTreeAtDepth(int dir_fd, const char* name, int depth) {
  if (::unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT) return 0;
  // Linux says EISDIR for a directory; some filesystems say EPERM.
  int unlink_err = errno;
  if (unlink_err != EISDIR && unlink_err != EPERM) return unlink_err;
  if (depth >= kMaxTreeDepth) return ENAMETOOLONG;
  int fd = ::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOTDIR ? unlink_err : errno;
  DirStream dir(fd);
  if (dir.error() != 0) return dir.error();
  // Entries removed while reading are not returned again; a second pass catches any that a
  // filesystem's readdir order hid from the first.
  for (int pass = 0; pass < 4; ++pass) {
    while (struct dirent* e = dir.Next()) {
      if (int r = RemoveTreeAtDepth(dir.fd(), e->d_name, depth + 1); r != 0) return r;
    }
    if (errno != 0) return errno;
    if (::unlinkat(dir_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) return 0;
    if (errno != ENOTEMPTY) return errno;
    dir.Rewind();
  }
  return ENOTEMPTY;
}

int PruneAtDepth(int dir_fd, const UpperSet& upper, bool* kept_any, int depth) {
  *kept_any = false;
  if (depth >= kMaxTreeDepth) return ENAMETOOLONG;
  struct stat dst;
  if (::fstat(dir_fd, &dst) != 0) return errno;
  int dup_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return errno;
  DirStream dir(dup_fd);
  if (dir.error() != 0) return dir.error();
  bool removed = false;
  while (struct dirent* e = dir.Next()) {
    const char* name = e->d_name;
    bool is_upper = upper.Contains(dst.st_dev, dst.st_ino, name);
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return errno;
      }
      is_dir = S_ISDIR(st.st_mode);
    }
    if (!is_dir) {
      if (is_upper) {
        *kept_any = true;
      } else {
        if (::unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT) return errno;
        removed = true;
      }
      continue;
    }
    UniqueFd child(::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child) return errno;
    struct stat cst;
    if (::fstat(child.get(), &cst) != 0) return errno;
    bool child_kept = false;
    if (int r = PruneAtDepth(child.get(), upper, &child_kept, depth + 1); r != 0) return r;
    if (is_upper || child_kept || upper.ContainsDir(cst.st_dev, cst.st_ino)) {
      *kept_any = true;
    } else {
      if (::unlinkat(dir_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) return errno;
      removed = true;
    }
  }
  if (errno != 0) return errno;
  if (removed) {
    struct timespec times[2] = {dst.st_atim, dst.st_mtim};
    if (::futimens(dir_fd, times) != 0) return errno;
  }
  return 0;
}

}  // namespace

void UpperSet::Add(dev_t dev, ino_t dir_ino, std::string_view name) {
  entries_.insert(EntryKey(dev, dir_ino, name));
}

bool UpperSet::Contains(dev_t dev, ino_t dir_ino, std::string_view name) const {
  return !entries_.empty() && entries_.count(EntryKey(dev, dir_ino, name)) != 0;
}

void UpperSet::AddDir(dev_t dev, ino_t ino) { dirs_.insert(EntryKey(dev, ino, {})); }

bool UpperSet::ContainsDir(dev_t dev, ino_t ino) const {
  return !dirs_.empty() && dirs_.count(EntryKey(dev, ino, {})) != 0;
}

int RemoveTreeAt(int dir_fd, const char* name) { return RemoveTreeAtDepth(dir_fd, name, 0); }

int PruneLower(int dir_fd, const UpperSet& upper, bool* kept_any) {
  return PruneAtDepth(dir_fd, upper, kept_any, 0);
}

int SetTimesOnFd(int fd, const struct timespec times[2]) {
  if (::utimensat(fd, "", times, AT_EMPTY_PATH) == 0) return 0;
  if (errno != EINVAL && errno != ENOENT && errno != EBADF) return errno;
  // Kernels before AT_EMPTY_PATH support in utimensat: go through the descriptor's /proc link.
  char path[40];
  std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  if (::utimensat(AT_FDCWD, path, times, 0) != 0) return errno;
  return 0;
}

}  // namespace hoist::archive::internal
