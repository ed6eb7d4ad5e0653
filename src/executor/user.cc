#include "executor/user.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

#include <fmt/format.h>

#include "base/unique_fd.h"

namespace hoist::executor {
namespace {

std::optional<uint32_t> ParseId(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    size_t i = s.find(sep);
    out.push_back(s.substr(0, i));
    if (i == std::string_view::npos) break;
    s.remove_prefix(i + 1);
  }
  return out;
}

// Calls f(fields) for each non-empty, non-comment line of a colon-separated file.
template <typename F>
void ForEachEntry(std::string_view text, F&& f) {
  for (std::string_view line : Split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    f(Split(line, ':'));
  }
}

struct PasswdEntry {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

std::optional<PasswdEntry> FindPasswd(const std::optional<std::string>& passwd,
                                      std::string_view user, std::optional<uint32_t> uid) {
  if (!passwd) return std::nullopt;
  std::optional<PasswdEntry> found;
  ForEachEntry(*passwd, [&](const std::vector<std::string_view>& f) {
    if (found || f.size() < 4) return;
    auto entry_uid = ParseId(f[2]);
    auto entry_gid = ParseId(f[3]);
    if (!entry_uid || !entry_gid) return;
    bool match = uid ? *entry_uid == *uid : f[0] == user;
    if (match) found = PasswdEntry{std::string(f[0]), *entry_uid, *entry_gid};
  });
  return found;
}

Result<uint32_t> ResolveGroup(std::string_view group_arg, const std::optional<std::string>& group) {
  if (auto gid = ParseId(group_arg)) return *gid;
  std::optional<uint32_t> found;
  if (group) {
    ForEachEntry(*group, [&](const std::vector<std::string_view>& f) {
      if (found || f.size() < 3 || f[0] != group_arg) return;
      found = ParseId(f[2]);
    });
  }
  if (!found) {
    return MakeError(Code::kNotFound,
                     fmt::format("unable to find group {}: no matching entries in group file",
                                 group_arg));
  }
  return *found;
}

void AddUnique(std::vector<uint32_t>& v, uint32_t id) {
  for (uint32_t x : v) {
    if (x == id) return;
  }
  v.push_back(id);
}

}  // namespace

Result<ResolvedUser> ResolveUser(std::string_view user,
                                 const std::vector<std::string>& additional_groups,
                                 const std::optional<std::string>& passwd,
                                 const std::optional<std::string>& group) {
  std::string_view user_arg = user;
  std::string_view group_arg;
  bool has_group = false;
  if (size_t colon = user.find(':'); colon != std::string_view::npos) {
    user_arg = user.substr(0, colon);
    group_arg = user.substr(colon + 1);
    has_group = true;
    if (group_arg.empty()) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("user \"{}\": empty group after ':'", user));
    }
  }
  ResolvedUser out;
  std::optional<uint32_t> uid = user_arg.empty() ? std::optional<uint32_t>(0) : ParseId(user_arg);
  std::optional<PasswdEntry> entry = FindPasswd(passwd, user_arg, uid);
  if (entry) {
    out.uid = entry->uid;
    out.gid = entry->gid;
  } else if (uid) {
    out.uid = *uid;
  } else {
    return MakeError(Code::kNotFound,
                     fmt::format("unable to find user {}: no matching entries in passwd file",
                                 user_arg));
  }
  if (has_group) {
    HOIST_ASSIGN_OR_RETURN(out.gid, ResolveGroup(group_arg, group));
  } else if (entry && group) {
    // Supplementary groups: every group that lists the user by name.
    ForEachEntry(*group, [&](const std::vector<std::string_view>& f) {
      if (f.size() < 4) return;
      auto gid = ParseId(f[2]);
      if (!gid) return;
      for (std::string_view member : Split(f[3], ',')) {
        if (member == entry->name) AddUnique(out.additional_gids, *gid);
      }
    });
  }
  for (const std::string& g : additional_groups) {
    HOIST_ASSIGN_OR_RETURN(uint32_t gid, ResolveGroup(g, group));
    AddUnique(out.additional_gids, gid);
  }
  return out;
}

Result<std::optional<std::string>> ReadRootfsFile(const std::string& rootfs,
                                                  std::string_view path_in_rootfs) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Unexpected(ErrnoError(errno, fmt::format("open rootfs {}", rootfs)));
  std::string rel(path_in_rootfs);
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(::syscall(SYS_openat2, root.get(), rel.c_str(), &how, sizeof(how)));
  if (fd < 0 && errno == ENOSYS) {
    // Older kernels: no symlink may be followed at all, so nothing can lead outside.
    std::string cur;
    UniqueFd dir(::dup(root.get()));
    std::vector<std::string_view> parts = Split(rel, '/');
    fd = -1;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].empty() || parts[i] == ".") continue;
      if (parts[i] == "..") return std::optional<std::string>();
      std::string name(parts[i]);
      bool last = i + 1 == parts.size();
      int next = ::openat(dir.get(), name.c_str(),
                          (last ? O_RDONLY : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0) break;
      if (last) {
        fd = next;
      } else {
        dir.Reset(next);
      }
    }
    if (fd < 0) errno = errno == 0 ? ENOENT : errno;
  }
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR || err == ELOOP) return std::optional<std::string>();
    return Unexpected(ErrnoError(err, fmt::format("open {} in rootfs", path_in_rootfs)));
  }
  UniqueFd file(fd);
  std::string data;
  char buf[16384];
  while (true) {
    ssize_t n = ::read(file.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, fmt::format("read {} in rootfs", path_in_rootfs)));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return std::optional<std::string>(std::move(data));
}

}  // namespace hoist::executor
