// Confined path resolution for applying layers: every path is resolved beneath a root directory
// as if that directory were `/` (chroot semantics, as containerd and umoci apply layers): `..`
// stops at the root, absolute symlink targets start again at the root, and no step ever reaches
// outside it.
//
// Two implementations give the same answers:
//  - openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS (Linux 5.6+): the kernel walks the
//    path and guarantees confinement even against concurrent renames;
//  - a userspace walk for kernels without openat2 (ENOSYS): one component at a time with
//    O_PATH | O_NOFOLLOW, reading symlinks itself and never handing `..` to the kernel. Like
//    containerd's resolver (continuity's fs.RootPath), it joins a symlink's target to the
//    link's directory and cleans the result lexically, so "missing/../../etc" means "/etc"
//    even though "missing" does not exist (POSIX would say ENOENT), then walks on from the root.
// When the kernel finds nothing (ENOENT, ENOTDIR), the openat2 mode asks the userspace walk too:
// it resolves what containerd would resolve, and creates directories, which openat2 cannot.
// (The two can differ only for a target like "a/../b" where "a" is itself a symlink: the
// kernel follows "a" first; both stay inside the root.)
//
// Results are errno values rather than Errors: callers turn expected failures (ENOENT for a
// whiteout whose directory is absent) into no-ops without building messages.
//
// Thread-safety: a resolver is used by one thread at a time (it reuses internal buffers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"

namespace hoist::archive::internal {

// Symlinks followed in one resolution before ELOOP (userspace walk; openat2 has the kernel's 40).
inline constexpr int kMaxSymlinkHops = 255;

// Cleans a tar entry name as a path rooted at `/` and returns it without the leading slash:
// "./a//b/../c/" is "a/c", "../../x" is "x" (`..` above the root is dropped, as containerd
// does), and "", ".", "..", "/" are all "" (the root itself). `out` is a reused buffer.
void CleanRootedPath(std::string_view name, std::string* out);

// Splits a cleaned path at its last '/': "a/b/c" gives "a/b" and "c"; "c" gives "" and "c".
void SplitPath(std::string_view path, std::string_view* dir, std::string_view* base);

class RootResolver {
 public:
  // `root_fd` is a directory (any open mode, O_PATH included). Not owned; it must stay open
  // while the resolver is used. With `force_userspace` the openat2 path is never tried (tests
  // use this to cover the fallback on kernels that have openat2).
  RootResolver(int root_fd, bool force_userspace);

  // Opens the directory at `path` (a cleaned path; "" is the root), following every symlink
  // inside the root. On success returns 0 and stores an O_PATH descriptor (usable as the dirfd of
  // *at calls) in *out. Errors: ENOENT or ENOTDIR when a component is missing or not a
  // directory, ELOOP, ENAMETOOLONG, or whatever the kernel reported.
  //
  // With `create`, missing directories are created with mode 0755 (as containerd creates the
  // parents of an entry) and a non-directory in the way (after following symlinks) is replaced
  // by an empty directory (as umoci does); a dangling symlink is followed and its target created.
  int OpenDir(std::string_view path, bool create, UniqueFd* out);

  // Whether resolutions go through openat2 (false after ENOSYS or when forced off).
  bool uses_openat2() const { return use_openat2_; }

 private:
  int Openat2Dir(std::string_view path, UniqueFd* out);
  int WalkDir(std::string_view path, bool create, UniqueFd* out);
  // Re-opens the directory named by the components in pos_ (real directories, no symlinks).
  int ReopenPosition(UniqueFd* out);

  int root_fd_;
  bool use_openat2_;
  // Reused buffers: a NUL-terminated copy of the path, the remaining components of a walk, a
  // symlink target, and the walk's current position as components ("a/b" plus their ends).
  std::string cpath_;
  std::string rest_;
  std::string scratch_;
  std::string link_;
  std::string pos_;
  std::vector<uint32_t> pos_ends_;
};

}  // namespace hoist::archive::internal
