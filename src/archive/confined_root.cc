#include "archive/confined_root.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

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

}  // namespace hoist::archive
