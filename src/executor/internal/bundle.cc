#include "executor/internal/bundle.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "base/unique_fd.h"

namespace hoist::executor::internal {

Status WriteFileWithMode(const std::string& path, std::string_view data, unsigned mode, long uid,
                         long gid) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Unexpected(ErrnoError(errno, fmt::format("create {}", path)));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, fmt::format("write {}", path)));
    }
    done += static_cast<size_t>(n);
  }
  if (uid >= 0 && ::fchown(fd.get(), static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) {
    return Unexpected(ErrnoError(errno, fmt::format("chown {}", path)));
  }
  if (::fchmod(fd.get(), mode) != 0) {
    return Unexpected(ErrnoError(errno, fmt::format("chmod {}", path)));
  }
  return OkStatus();
}

}  // namespace hoist::executor::internal

namespace hoist::executor::internal {
namespace {

int OpenInRoot(int root_fd, const std::string& rel, uint64_t flags) {
  struct open_how how = {};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof(how)));
}

}  // namespace

std::vector<std::string> MissingPaths(const std::string& rootfs,
                                      const std::vector<std::string>& destinations) {
  std::vector<std::string> out;
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return out;
  for (const std::string& dest : destinations) {
    std::string rel;
    size_t i = 0;
    while (i < dest.size()) {
      while (i < dest.size() && dest[i] == '/') ++i;
      size_t j = dest.find('/', i);
      if (j == std::string::npos) j = dest.size();
      if (j == i) break;
      std::string part = dest.substr(i, j - i);
      i = j;
      if (part == "." || part == "..") break;
      rel = rel.empty() ? part : rel + "/" + part;
      UniqueFd fd(OpenInRoot(root.get(), rel, O_PATH | O_NOFOLLOW));
      if (!fd && errno == ENOENT) {
        if (std::find(out.begin(), out.end(), rel) == out.end()) out.push_back(rel);
      }
    }
  }
  return out;
}

void MakeKeptMountPoints(const std::string& rootfs) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return;
  for (const char* name : {"proc", "dev", "sys"}) {
    // mkdirat never follows a symlink in the last component: one there stays as it is.
    if (::mkdirat(root.get(), name, 0755) == 0) {
      (void)::fchmodat(root.get(), name, 0755, AT_SYMLINK_NOFOLLOW);
    }
  }
}

void RemoveStubs(const std::string& rootfs, const std::vector<std::string>& paths) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return;
  std::vector<std::string> sorted = paths;
  std::stable_sort(sorted.begin(), sorted.end(), [](const std::string& a, const std::string& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  for (const std::string& rel : sorted) {
    size_t slash = rel.rfind('/');
    std::string parent = slash == std::string::npos ? "." : rel.substr(0, slash);
    std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    UniqueFd dir(OpenInRoot(root.get(), parent, O_PATH | O_DIRECTORY));
    if (!dir) continue;
    struct stat st;
    if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      ::unlinkat(dir.get(), name.c_str(), AT_REMOVEDIR);  // fails unless empty
    } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
      ::unlinkat(dir.get(), name.c_str(), 0);
    }
  }
}

}  // namespace hoist::executor::internal
