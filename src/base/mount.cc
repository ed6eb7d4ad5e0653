#include "base/mount.h"

#include <sys/mount.h>

#include <cerrno>
#include <utility>

#include <fmt/format.h>

namespace hoist {
namespace {

bool HasOption(const std::vector<std::string>& options, std::string_view name) {
  for (const std::string& o : options) {
    if (o == name) return true;
  }
  return false;
}

Status MountOne(const Mount& m, const std::string& target) {
  const bool bind = m.type == "bind" || m.type == "rbind" || HasOption(m.options, "bind") ||
                    HasOption(m.options, "rbind");
  const bool read_only = HasOption(m.options, "ro");
  if (bind) {
    unsigned long flags = MS_BIND;
    if (m.type == "rbind" || HasOption(m.options, "rbind")) flags |= MS_REC;
    if (::mount(m.source.c_str(), target.c_str(), nullptr, flags, nullptr) != 0) {
      return tl::unexpected(ErrnoError(errno, fmt::format("bind mount on {}", target)));
    }
    if (read_only) {
      if (::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) !=
          0) {
        int err = errno;
        ::umount2(target.c_str(), MNT_DETACH);
        return tl::unexpected(ErrnoError(err, fmt::format("read-only remount of {}", target)));
      }
    }
    return {};
  }
  std::string data;
  for (const std::string& o : m.options) {
    if (o == "ro" || o == "rw") continue;
    if (!data.empty()) data += ',';
    data += o;
  }
  unsigned long flags = read_only ? MS_RDONLY : 0;
  if (::mount(m.source.c_str(), target.c_str(), m.type.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) != 0) {
    return tl::unexpected(ErrnoError(errno, fmt::format("{} mount on {}", m.type, target)));
  }
  return {};
}

}  // namespace

ScopedMount::~ScopedMount() { (void)Unmount(); }

ScopedMount::ScopedMount(ScopedMount&& o) noexcept
    : target_(std::move(o.target_)), count_(std::exchange(o.count_, 0)) {}

ScopedMount& ScopedMount::operator=(ScopedMount&& o) noexcept {
  if (this != &o) {
    (void)Unmount();
    target_ = std::move(o.target_);
    count_ = std::exchange(o.count_, 0);
  }
  return *this;
}

Status ScopedMount::Unmount() {
  Status first;
  for (; count_ > 0; --count_) {
    if (::umount2(target_.c_str(), 0) != 0) {
      int err = errno;
      if (err == EBUSY && ::umount2(target_.c_str(), MNT_DETACH) == 0) continue;
      if (first) first = tl::unexpected(ErrnoError(err, fmt::format("unmount {}", target_)));
    }
  }
  return first;
}

Result<ScopedMount> MountAll(const std::vector<Mount>& mounts, const std::string& target) {
  ScopedMount scoped;
  scoped.target_ = target;
  for (const Mount& m : mounts) {
    HOIST_TRY(MountOne(m, target));
    ++scoped.count_;
  }
  return scoped;
}

}  // namespace hoist
