#include "base/temp_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "base/unique_fd.h"

namespace hoist {
namespace {

// Removes everything inside the directory `dfd`, depth first, never following symlinks.
Status RemoveContentsAt(int dfd, const std::string& display) {
  int dup = ::fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return Unexpected(ErrnoError(errno, "dup " + display));
  DIR* dir = ::fdopendir(dup);
  if (dir == nullptr) {
    int e = errno;
    ::close(dup);
    return Unexpected(ErrnoError(e, "opendir " + display));
  }
  std::vector<std::pair<std::string, bool>> entries;
  while (struct dirent* de = ::readdir(dir)) {
    std::string_view n = de->d_name;
    if (n == "." || n == "..") continue;
    entries.emplace_back(std::string(n), de->d_type == DT_DIR);
  }
  ::closedir(dir);
  for (auto& [name, is_dir] : entries) {
    if (::unlinkat(dfd, name.c_str(), 0) == 0) continue;
    if (errno != EISDIR && errno != EPERM) {
      if (errno == ENOENT) continue;
      return Unexpected(ErrnoError(errno, "remove " + display + "/" + name));
    }
    UniqueFd child(::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child) {
      // Might be a read-only directory we may not descend into; make it writable and retry.
      return Unexpected(ErrnoError(errno, "open " + display + "/" + name));
    }
    ::fchmod(child.get(), 0700);
    HOIST_TRY(RemoveContentsAt(child.get(), display + "/" + name));
    if (::unlinkat(dfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return Unexpected(ErrnoError(errno, "remove " + display + "/" + name));
    }
    (void)is_dir;
  }
  return {};
}

}  // namespace

Status RemoveAll(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return Unexpected(ErrnoError(errno, "stat " + path));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Unexpected(ErrnoError(errno, "remove " + path));
    }
    return {};
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return Unexpected(ErrnoError(errno, "open " + path));
  HOIST_TRY(RemoveContentsAt(fd.get(), path));
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
    return Unexpected(ErrnoError(errno, "remove " + path));
  }
  return {};
}

Result<TempDir> TempDir::Create(std::string_view prefix, std::string parent) {
  if (parent.empty()) {
    const char* t = ::getenv("TMPDIR");
    parent = (t != nullptr && *t != '\0') ? t : "/tmp";
  }
  std::string tmpl = parent + "/" + std::string(prefix) + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return Unexpected(ErrnoError(errno, "create temporary directory in " + parent));
  }
  return TempDir(std::move(tmpl));
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)RemoveAll(path_);
}

TempDir::TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& o) noexcept {
  if (this != &o) {
    if (!path_.empty()) (void)RemoveAll(path_);
    path_ = std::exchange(o.path_, {});
  }
  return *this;
}

std::string TempDir::Release() { return std::exchange(path_, {}); }

}  // namespace hoist
