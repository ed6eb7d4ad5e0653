// A directory tree opened as a root in which paths resolve as if it were `/` (chroot
// semantics), for code outside this module that works on build trees: file operations
// (COPY, mkdir, rm) and content checksums. It wraps the resolver that layer application uses
// (internal/root_resolver.h: openat2 RESOLVE_IN_ROOT, or the userspace walk with the same
// rules), adding the resolution of a symlink in the last component.
//
// Paths are "cleaned" as CleanRootedPath does: relative to the root, no leading slash, "" is
// the root itself. Results are errno values (0 for success), as in root_resolver.h.
//
// Ownership: a ConfinedRoot owns its directory descriptor. Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/unique_fd.h"

namespace hoist::archive {

namespace internal {
class RootResolver;
}

// "./a//b/../c/" → "a/c"; `..` above the root is dropped; "/" and "" → "".
std::string CleanInRoot(std::string_view path);

class ConfinedRoot {
 public:
  // Opens the directory `path` (a symlink there is followed: it is the caller's choice).
  // Errors name the path: "open root /var/x: No such file or directory".
  static Result<ConfinedRoot> Open(const std::string& path, bool force_userspace = false);

  ConfinedRoot(ConfinedRoot&&) noexcept;
  ConfinedRoot& operator=(ConfinedRoot&&) noexcept;
  ~ConfinedRoot();

  // The root's descriptor (O_PATH); usable as the dirfd of *at calls for the root itself.
  int fd() const { return fd_.get(); }

  // Opens the directory at the cleaned `path`, following every symlink inside the root.
  // ENOENT / ENOTDIR when a component is missing or not a directory.
  int OpenDir(std::string_view path, UniqueFd* out);

  // Opens the parent directory of the cleaned `path` (following symlinks) and gives the last
  // component in *base ("" for the root itself, whose parent is the root).
  int OpenParent(std::string_view path, UniqueFd* dir, std::string* base);

  // The cleaned path that `path` names once symlinks in its last component are followed
  // (repeatedly, each target read relative to the link's directory, absolute ones from the
  // root). What it names need not exist. ELOOP after too many links.
  int FollowPath(std::string_view path, std::string* out);

 private:
  ConfinedRoot(UniqueFd fd, bool force_userspace);

  UniqueFd fd_;
  std::unique_ptr<internal::RootResolver> resolver_;
};

// A regular file of a tree, read with the tree as its root: neither `..` nor a symlink in the
// tree reaches anything outside it. kResourceExhausted above `max_size` bytes; errno errors
// name `name` ("open etc/x: No such file or directory"); a directory is EISDIR, anything else
// that is not a regular file (a FIFO, a device) EINVAL, without blocking on it.
Result<std::string> ReadFileInTree(const std::string& root, const std::string& name,
                                   uint64_t max_size);
// The same for the entry `base` of the open directory `dir` ("": the directory itself), not
// followed if a symlink; errors name `name`.
Result<std::string> ReadFileAt(int dir, const std::string& base, std::string_view name,
                               uint64_t max_size);

}  // namespace hoist::archive
