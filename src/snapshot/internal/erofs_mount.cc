#include "snapshot/internal/erofs_mount.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include "archive/byte_source.h"
#include "archive/erofs_writer.h"
#include "base/atomic_file.h"
#include "base/file_system.h"
#include "base/host.h"
#include "base/log.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"

namespace hoist::snapshot::internal {
namespace {

Error MountError(int err, const std::string& target) {
  return ErrnoError(err, "mount EROFS image on " + target);
}

// Attaches `image` to a free loop device, read-only with autoclear, and returns the device's
// open fd (the device stays attached while it or a mount holds it).
Result<UniqueFd> AttachLoop(const std::string& image, std::string* device) {
  UniqueFd file(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) return Unexpected(ErrnoError(errno, "open EROFS image"));
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!control) return Unexpected(ErrnoError(errno, "open /dev/loop-control"));
  // Another process may take the device between GET_FREE and CONFIGURE (EBUSY): ask again.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return Unexpected(ErrnoError(errno, "find a free loop device"));
    std::string path = "/dev/loop" + std::to_string(n);
    UniqueFd loop(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!loop) return Unexpected(ErrnoError(errno, "open " + path));
    loop_config config;
    std::memset(&config, 0, sizeof(config));
    config.fd = static_cast<uint32_t>(file.get());
    config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    if (::ioctl(loop.get(), LOOP_CONFIGURE, &config) == 0) {
      *device = std::move(path);
      return loop;
    }
    if (errno != EBUSY) return Unexpected(ErrnoError(errno, "configure " + path));
  }
  return MakeError(Code::kResourceExhausted, "no loop device stayed free");
}

}  // namespace

Status MountErofs(const std::string& image, const std::string& target,
                  const ErofsMountOptions& options) {
  if (!options.force_loop_for_testing) {
    if (::mount(image.c_str(), target.c_str(), "erofs", MS_RDONLY, nullptr) == 0) return {};
    // ENOTBLK: this kernel mounts EROFS only from block devices.
    if (errno != ENOTBLK && errno != EINVAL) return Unexpected(MountError(errno, target));
  }
  std::string device;
  HOIST_ASSIGN_OR_RETURN(UniqueFd loop, AttachLoop(image, &device));
  if (::mount(device.c_str(), target.c_str(), "erofs", MS_RDONLY, nullptr) != 0) {
    return Unexpected(MountError(errno, target).Wrap("through " + device));
  }
  // Closing `loop` leaves the mount as the device's only user; autoclear frees it on unmount.
  return {};
}

Status DetachMount(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) return {};
  if (errno == EINVAL || errno == ENOENT) return {};  // not a mount point, or gone
  return Unexpected(ErrnoError(errno, "unmount " + path));
}

}  // namespace hoist::snapshot::internal

namespace hoist::snapshot {

Status ProbeErofs(const std::string& scratch_dir) {
  // A pass is remembered for this boot (the kernel cannot change without one); a failure is
  // probed again each time.
  const std::string record = scratch_dir + "/erofs-probe";
  const std::string boot = BootId();
  const std::string expected = "hoist.erofs-probe 1 " + boot + "\n";
  {
    std::ifstream in(record);
    std::string line;
    if (!boot.empty() && std::getline(in, line) && line + "\n" == expected) return OkStatus();
  }
  HOIST_TRY(internal::MountOnce(scratch_dir));
  if (!boot.empty()) {
    if (auto w = WriteFileAtomic(PosixFileSystem(), record, expected, 0600); !w) {
      HOIST_LOG(kWarning, "remember the EROFS probe: {}", w.error().message());
    }
  }
  return OkStatus();
}

}  // namespace hoist::snapshot

namespace hoist::snapshot::internal {

Status MountOnce(const std::string& scratch_dir) {
  HOIST_ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(".erofs-probe-", scratch_dir));
  const std::string image = dir.path() + "/probe.erofs";
  const std::string mnt = dir.path() + "/mnt";
  if (::mkdir(mnt.c_str(), 0700) != 0) return Unexpected(ErrnoError(errno, "mkdir " + mnt));
  {
    UniqueFd out(::open(image.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) return Unexpected(ErrnoError(errno, "create " + image));
    // An empty layer: the end-of-archive marker alone.
    static const std::string kEmptyTar(1024, '\0');
    archive::StringByteSource tar(kEmptyTar);
    HOIST_TRY(archive::WriteLayerErofs(tar, out.get()).map([](auto&&) {}));
  }
  HOIST_TRY(MountErofs(image, mnt));
  return DetachMount(mnt);
}

}  // namespace hoist::snapshot::internal
