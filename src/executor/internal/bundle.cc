#include "executor/internal/bundle.h"

#include <fcntl.h>
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
