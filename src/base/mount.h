// Mount: one filesystem mount described as data (containerd's mount.Mount), and ScopedMount,
// the owner of a mount that is undone when the owner goes out of scope.
//
// Snapshotters hand out mounts as data (an overlay with its lowerdir/upperdir/workdir options,
// or a bind of a plain directory); whoever needs the files mounts them, for as long as needed.
//
// Thread-safety: values; MountAll/ScopedMount touch only the target they are given.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"

namespace hoist {

struct Mount {
  std::string type;     // "overlay", "bind", "tmpfs", ...
  std::string source;   // a path, or the fs name ("overlay", "tmpfs")
  std::vector<std::string> options;  // "ro", "rbind", "lowerdir=a:b", "upperdir=u", ...

  bool operator==(const Mount&) const = default;
};

// Owns mounts stacked on one target directory; unmounts them (last first, detaching if busy)
// on destruction or Unmount(). Move-only.
class ScopedMount {
 public:
  ScopedMount() = default;
  ~ScopedMount();
  ScopedMount(ScopedMount&& o) noexcept;
  ScopedMount& operator=(ScopedMount&& o) noexcept;
  ScopedMount(const ScopedMount&) = delete;
  ScopedMount& operator=(const ScopedMount&) = delete;

  const std::string& target() const { return target_; }
  // Unmounts now and reports the first failure.
  Status Unmount();

 private:
  friend Result<ScopedMount> MountAll(const std::vector<Mount>& mounts, const std::string& target);

  std::string target_;
  int count_ = 0;
};

// Mounts `mounts` in order on `target` (an existing directory). An overlay whose options are
// longer than the page mount(2) accepts is made through the filesystem-context API instead,
// one lower dir at a time (see OverlayTakesLowerDirsOneByOne). Options that are mount flags
// (ro, rw, nosuid, nodev, noexec, relatime, ...) become flags, as mount(8) reads them; the
// rest form the data string. A "bind" type (or "rbind" / "bind" in the options) makes a bind
// mount, remounted with the flags (read-only, nosuid...) when any are given. On failure every mount made
// so far is undone. Errors name the mount type and the target.
Result<ScopedMount> MountAll(const std::vector<Mount>& mounts, const std::string& target);

// Mount points at or below `dir` (absolute, no trailing '/'), deepest last, as listed in
// /proc/self/mountinfo (a point mounted twice appears twice).
Result<std::vector<std::string>> MountsUnder(const std::string& dir);

// Unmounts (detaching) everything at or below `dir` until nothing is left; an error names the
// first mount point that stays.
Status UnmountAllUnder(const std::string& dir);

// Whether this kernel's overlayfs takes lower dirs one by one (`lowerdir+`, Linux 6.8), which
// lifts the one-page limit on the lowerdir list. Probed once per process.
bool OverlayTakesLowerDirsOneByOne();

// Moves the calling process into a mount namespace of its own whose mounts never propagate
// back (every mount is made a slave of the host's): what hoist mounts (EROFS layers, overlays,
// the runtime's scratch tmpfs) is seen by this process and its children only, and is gone with
// the process, however it ends. Must be called before the process starts a thread: a namespace
// is per thread. Needs CAP_SYS_ADMIN; without it (or when already done) nothing changes and
// the error says why.
Status EnterPrivateMountNamespace();
// Whether EnterPrivateMountNamespace has succeeded in this process: what it unmounts then
// changes its own view only, never the host's.
bool InPrivateMountNamespace();

}  // namespace hoist
