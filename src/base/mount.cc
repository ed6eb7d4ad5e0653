#include "base/mount.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>

#include "base/unique_fd.h"

#include <fmt/format.h>

namespace hoist {
namespace {

// Options that are mount(2) flags rather than filesystem data, as mount(8) and containerd read
// them: the flag to set, or to clear.
struct FlagOption {
  std::string_view name;
  bool clear;
  unsigned long flag;
};
constexpr FlagOption kFlagOptions[] = {
    {"ro", false, MS_RDONLY},        {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},      {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS}, {"async", true, MS_SYNCHRONOUS},
    {"noatime", false, MS_NOATIME},  {"atime", true, MS_NOATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME}, {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
};

// Splits options into mount flags and the data string.
void SplitOptions(const std::vector<std::string>& options, unsigned long* flags,
                  std::string* data) {
  for (const std::string& o : options) {
    bool is_flag = false;
    for (const FlagOption& f : kFlagOptions) {
      if (o == f.name) {
        if (f.clear) *flags &= ~f.flag;
        else *flags |= f.flag;
        is_flag = true;
        break;
      }
    }
    if (is_flag || o == "bind" || o == "rbind") continue;
    if (!data->empty()) *data += ',';
    *data += o;
  }
}

bool HasOption(const std::vector<std::string>& options, std::string_view name) {
  for (const std::string& o : options) {
    if (o == name) return true;
  }
  return false;
}

// mount(2) takes the data string as one page.
constexpr size_t kMaxMountData = 4095;

// An overlay whose options do not fit in a page: built through the filesystem-context API
// (fsopen/fsconfig/fsmount), one `lowerdir+` call per lower dir (Linux 6.8 and later).
Status MountOverlayInParts(const Mount& m, const std::string& target, unsigned long flags) {
  auto fail = [&](const std::string& what) {
    return tl::unexpected(ErrnoError(errno, fmt::format("overlay mount on {}: {}", target, what)));
  };
  UniqueFd fs(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fs) return fail("fsopen");
  if ((flags & MS_RDONLY) != 0 && ::fsconfig(fs.get(), FSCONFIG_SET_FLAG, "ro", nullptr, 0) != 0) {
    return fail("ro");
  }
  for (const std::string& o : m.options) {
    bool is_flag = o == "bind" || o == "rbind";
    for (const FlagOption& f : kFlagOptions) is_flag = is_flag || o == f.name;
    if (is_flag) continue;
    const size_t eq = o.find('=');
    if (eq == std::string::npos) {
      if (::fsconfig(fs.get(), FSCONFIG_SET_FLAG, o.c_str(), nullptr, 0) != 0) return fail(o);
      continue;
    }
    const std::string key = o.substr(0, eq);
    const std::string value = o.substr(eq + 1);
    if (key != "lowerdir") {
      if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) != 0) {
        return fail(key);
      }
      continue;
    }
    for (size_t start = 0; start <= value.size();) {
      size_t colon = value.find(':', start);
      if (colon == std::string::npos) colon = value.size();
      const std::string dir = value.substr(start, colon - start);
      if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", dir.c_str(), 0) != 0) {
        return fail("lowerdir+ " + dir);
      }
      start = colon + 1;
    }
  }
  if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) return fail("create");
  unsigned int attrs = 0;
  if ((flags & MS_RDONLY) != 0) attrs |= MOUNT_ATTR_RDONLY;
  if ((flags & MS_NOSUID) != 0) attrs |= MOUNT_ATTR_NOSUID;
  if ((flags & MS_NODEV) != 0) attrs |= MOUNT_ATTR_NODEV;
  if ((flags & MS_NOEXEC) != 0) attrs |= MOUNT_ATTR_NOEXEC;
  UniqueFd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, attrs));
  if (!mnt) return fail("fsmount");
  if (::move_mount(mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return fail("move_mount");
  }
  return {};
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
    unsigned long extra = 0;
    std::string ignored;
    SplitOptions(m.options, &extra, &ignored);
    if (read_only || (extra & (MS_NOSUID | MS_NODEV | MS_NOEXEC)) != 0) {
      if (::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | extra, nullptr) != 0) {
        int err = errno;
        ::umount2(target.c_str(), MNT_DETACH);
        return tl::unexpected(ErrnoError(err, fmt::format("read-only remount of {}", target)));
      }
    }
    return {};
  }
  std::string data;
  unsigned long flags = 0;
  SplitOptions(m.options, &flags, &data);
  if (m.type == "overlay" && data.size() > kMaxMountData) {
    return MountOverlayInParts(m, target, flags);
  }
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

bool OverlayTakesLowerDirsOneByOne() {
  static const bool supported = [] {
    UniqueFd fs(::fsopen("overlay", FSOPEN_CLOEXEC));
    return fs && ::fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", "/", 0) == 0;
  }();
  return supported;
}

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      out += static_cast<char>(v);
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> MountsUnder(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return Unexpected(ErrnoError(errno, "read /proc/self/mountinfo"));
  std::vector<std::string> out;
  std::string line;
  const std::string prefix = dir + "/";
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    if (!(fields >> id >> parent >> devno >> root >> point)) continue;
    std::string p = Unescape(point);
    if (p == dir || p.rfind(prefix, 0) == 0) out.push_back(std::move(p));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  return out;
}

Status UnmountAllUnder(const std::string& dir) {
  for (int round = 0; round < 64; ++round) {
    HOIST_ASSIGN_OR_RETURN(std::vector<std::string> points, MountsUnder(dir));
    if (points.empty()) return OkStatus();
    bool progress = false;
    for (auto it = points.rbegin(); it != points.rend(); ++it) {
      if (::umount2(it->c_str(), MNT_DETACH) == 0) progress = true;
    }
    if (!progress) {
      return Unexpected(ErrnoError(errno, fmt::format("unmount {}", points.back())));
    }
  }
  return MakeError(Code::kInternal, fmt::format("unmount under {}: mounts keep appearing", dir));
}

namespace {
std::atomic<bool> g_private_mount_namespace{false};
}  // namespace

Status EnterPrivateMountNamespace() {
  if (::unshare(CLONE_NEWNS) != 0) return Unexpected(ErrnoError(errno, "new mount namespace"));
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
    return Unexpected(ErrnoError(errno, "make the mounts of the new namespace slaves"));
  }
  g_private_mount_namespace = true;
  return OkStatus();
}

bool InPrivateMountNamespace() { return g_private_mount_namespace; }

}  // namespace hoist
