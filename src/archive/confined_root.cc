#include "archive/confined_root.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include <fmt/format.h>

#include "archive/internal/root_resolver.h"

namespace hoist::archive {

std::string CleanInRoot(std::string_view path) {
  std::string out;
  internal::CleanRootedPath(path, &out);
  return out;
}

ConfinedRoot::ConfinedRoot(UniqueFd fd, bool force_userspace)
    : fd_(std::move(fd)),
      resolver_(std::make_unique<internal::RootResolver>(fd_.get(), force_userspace)) {}
ConfinedRoot::ConfinedRoot(ConfinedRoot&&) noexcept = default;
ConfinedRoot& ConfinedRoot::operator=(ConfinedRoot&&) noexcept = default;
ConfinedRoot::~ConfinedRoot() = default;

Result<ConfinedRoot> ConfinedRoot::Open(const std::string& path, bool force_userspace) {
  int fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Unexpected(ErrnoError(errno, "open root " + path));
  return ConfinedRoot(UniqueFd(fd), force_userspace);
}

int ConfinedRoot::OpenDir(std::string_view path, UniqueFd* out) {
  return resolver_->OpenDir(path, /*create=*/false, out);
}

int ConfinedRoot::OpenParent(std::string_view path, UniqueFd* dir, std::string* base) {
  std::string_view d, b;
  internal::SplitPath(path, &d, &b);
  *base = std::string(b);
  return resolver_->OpenDir(d, /*create=*/false, dir);
}

int ConfinedRoot::FollowPath(std::string_view path, std::string* out) {
  std::string cur(path);
  std::string target(PATH_MAX, '\0');
  for (int hops = 0; hops <= internal::kMaxSymlinkHops; ++hops) {
    if (cur.empty()) {
      *out = cur;
      return 0;
    }
    UniqueFd dir;
    std::string base;
    int r = OpenParent(cur, &dir, &base);
    if (r == ENOENT || r == ENOTDIR) {  // nothing to follow below a missing directory
      *out = cur;
      return 0;
    }
    if (r != 0) return r;
    struct stat st;
    if (::fstatat(dir.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) {  // a missing last component is still a path
        *out = cur;
        return 0;
      }
      return errno;
    }
    if (!S_ISLNK(st.st_mode)) {
      *out = cur;
      return 0;
    }
    ssize_t n = ::readlinkat(dir.get(), base.c_str(), target.data(), target.size());
    if (n < 0) return errno;
    std::string_view link(target.data(), static_cast<size_t>(n));
    std::string joined;
    if (!link.empty() && link[0] == '/') {
      joined = std::string(link);
    } else {
      std::string_view d, b;
      internal::SplitPath(cur, &d, &b);
      joined = std::string(d) + "/" + std::string(link);
    }
    internal::CleanRootedPath(joined, &cur);
  }
  return ELOOP;
}

Result<std::string> ReadFileAt(int dir, const std::string& base, std::string_view name,
                               uint64_t max_size) {
  // O_NONBLOCK: a FIFO must not hold the reader; it is refused below as not a regular file.
  UniqueFd fd(::openat(dir, base.empty() ? "." : base.c_str(),
                       O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  int e = fd ? 0 : errno;
  struct stat st;
  if (e == 0 && ::fstat(fd.get(), &st) != 0) e = errno;
  if (e == 0 && !S_ISREG(st.st_mode)) e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
  if (e != 0) return Unexpected(ErrnoError(e, fmt::format("open {}", name)));
  if (static_cast<uint64_t>(st.st_size) > max_size) {
    return MakeError(Code::kResourceExhausted,
                     fmt::format("{}: larger than {} bytes", name, max_size));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

Result<std::string> ReadFileInTree(const std::string& root, const std::string& name,
                                   uint64_t max_size) {
  HOIST_ASSIGN_OR_RETURN(ConfinedRoot tree, ConfinedRoot::Open(root));
  std::string resolved;
  int e = tree.FollowPath(CleanInRoot(name), &resolved);
  UniqueFd dir;
  std::string base;
  if (e == 0) e = tree.OpenParent(resolved, &dir, &base);
  if (e != 0) return Unexpected(ErrnoError(e, "open " + name));
  return ReadFileAt(dir.get(), base, name, max_size);
}

}  // namespace hoist::archive
