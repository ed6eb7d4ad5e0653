#include "archive/internal/root_resolver.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

namespace hoist::archive::internal {
namespace {

// Set once the kernel said ENOSYS, so later resolvers skip straight to the userspace walk.
std::atomic<bool> g_openat2_missing{false};

constexpr int kPathFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

int OpenRoot(int root_fd, UniqueFd* out) {
  int fd = ::openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  out->Reset(fd);
  return 0;
}

}  // namespace

void CleanRootedPath(std::string_view name, std::string* out) {
  out->clear();
  size_t i = 0;
  while (i <= name.size()) {
    size_t slash = name.find('/', i);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view comp = name.substr(i, slash - i);
    i = slash + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      size_t last = out->rfind('/');
      out->resize(last == std::string::npos ? 0 : last);
      continue;
    }
    if (!out->empty()) out->push_back('/');
    out->append(comp);
  }
}

void SplitPath(std::string_view path, std::string_view* dir, std::string_view* base) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) {
    *dir = {};
    *base = path;
  } else {
    *dir = path.substr(0, slash);
    *base = path.substr(slash + 1);
  }
}

RootResolver::RootResolver(int root_fd, bool force_userspace)
    : root_fd_(root_fd), use_openat2_(!force_userspace && !g_openat2_missing.load()) {}

int RootResolver::OpenDir(std::string_view path, bool create, UniqueFd* out) {
  if (use_openat2_) {
    int r = Openat2Dir(path, out);
    if (r == ENOSYS) {
      g_openat2_missing.store(true);
      use_openat2_ = false;
    } else if (r != ENOENT && r != ENOTDIR) {
      return r;
    }
    // Something is missing or in the way for the kernel: the walk below resolves symlink
    // targets lexically, as containerd does, and creates or replaces what is missing if asked.
  }
  return WalkDir(path, create, out);
}

int RootResolver::Openat2Dir(std::string_view path, UniqueFd* out) {
  if (path.empty()) return OpenRoot(root_fd_, out);
  cpath_.assign(path);
  struct open_how how;
  std::memset(&how, 0, sizeof(how));
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  // EAGAIN: the kernel saw a concurrent rename or mount and could not prove confinement; the
  // man page says to retry.
  for (int attempt = 0; attempt < 16; ++attempt) {
    long fd = ::syscall(SYS_openat2, root_fd_, cpath_.c_str(), &how, sizeof(how));
    if (fd >= 0) {
      out->Reset(static_cast<int>(fd));
      return 0;
    }
    if (errno != EAGAIN && errno != EINTR) return errno;
  }
  return EAGAIN;
}

int RootResolver::ReopenPosition(UniqueFd* out) {
  UniqueFd cur;
  if (int r = OpenRoot(root_fd_, &cur); r != 0) return r;
  char name[NAME_MAX + 1];
  size_t start = 0;
  for (uint32_t end : pos_ends_) {
    size_t len = end - start;
    std::memcpy(name, pos_.data() + start, len);
    name[len] = '\0';
    int fd = ::openat(cur.get(), name, kPathFlags);
    if (fd < 0) return errno;
    cur.Reset(fd);
    start = end + 1;
  }
  *out = std::move(cur);
  return 0;
}

int RootResolver::WalkDir(std::string_view path, bool create, UniqueFd* out) {
  rest_.assign(path);
  pos_.clear();
  pos_ends_.clear();
  UniqueFd cur;
  if (int r = OpenRoot(root_fd_, &cur); r != 0) return r;
  int hops = 0;
  size_t at = 0;
  char name[NAME_MAX + 1];
  while (at < rest_.size()) {
    size_t slash = rest_.find('/', at);
    size_t end = slash == std::string::npos ? rest_.size() : slash;
    std::string_view comp(rest_.data() + at, end - at);
    at = slash == std::string::npos ? rest_.size() : slash + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      // Never ask the kernel for "..": step back along our own record, stopping at the root.
      if (!pos_ends_.empty()) {
        pos_ends_.pop_back();
        pos_.resize(pos_ends_.empty() ? 0 : pos_ends_.back());
        if (int r = ReopenPosition(&cur); r != 0) return r;
      }
      continue;
    }
    if (comp.size() > NAME_MAX) return ENAMETOOLONG;
    std::memcpy(name, comp.data(), comp.size());
    name[comp.size()] = '\0';

    bool followed_link = false;
    // A few attempts: open; if missing create; if in the way replace; then open again.
    for (int attempt = 0;; ++attempt) {
      int fd = ::openat(cur.get(), name, kPathFlags);
      if (fd >= 0) {
        cur.Reset(fd);
        break;
      }
      int err = errno;
      if (attempt >= 4) return err;
      if (err == ENOENT) {
        if (!create) return ENOENT;
        if (::mkdirat(cur.get(), name, 0755) == 0) {
          // The umask may have narrowed the mode; parents get 0755 whatever the process umask.
          if (::fchmodat(cur.get(), name, 0755, 0) != 0) return errno;
        } else if (errno != EEXIST) {
          return errno;
        }
        continue;
      }
      if (err != ENOTDIR) return err;
      struct stat st;
      if (::fstatat(cur.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return errno;
      }
      if (S_ISDIR(st.st_mode)) continue;  // changed under us; try again
      if (S_ISLNK(st.st_mode)) {
        if (++hops > kMaxSymlinkHops) return ELOOP;
        link_.resize(PATH_MAX);
        ssize_t n = ::readlinkat(cur.get(), name, link_.data(), link_.size());
        if (n < 0) return errno;
        if (static_cast<size_t>(n) >= link_.size()) return ENAMETOOLONG;
        if (n == 0) return ENOENT;
        link_.resize(static_cast<size_t>(n));
        // Continue from the root with the target in place of the link, cleaned lexically
        // together with the link's directory (as containerd's resolver joins them, so that
        // "missing/../x" works), then what was left of the path.
        if (link_[0] == '/') {
          CleanRootedPath(link_, &scratch_);
        } else {
          pos_.push_back('/');
          pos_.append(link_);
          CleanRootedPath(pos_, &scratch_);
        }
        scratch_.push_back('/');
        scratch_.append(rest_, at, std::string::npos);
        rest_.swap(scratch_);
        at = 0;
        pos_.clear();
        pos_ends_.clear();
        if (int r = OpenRoot(root_fd_, &cur); r != 0) return r;
        followed_link = true;
        break;
      }
      // A file, device or FIFO where a directory must be.
      if (!create) return ENOTDIR;
      if (::unlinkat(cur.get(), name, 0) != 0 && errno != ENOENT) return errno;
    }
    if (followed_link) continue;
    if (!pos_.empty()) pos_.push_back('/');
    pos_.append(name);
    pos_ends_.push_back(static_cast<uint32_t>(pos_.size()));
  }
  *out = std::move(cur);
  return 0;
}

}  // namespace hoist::archive::internal
