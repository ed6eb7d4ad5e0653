#include "solver/ops/file_actions.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "archive/internal/tree_ops.h"
#include "base/stat_time.h"
#include "solver/ops/internal/file_util.h"

namespace hoist::solver::ops {
namespace internal {

std::string Display(std::string_view clean_path) { return "/" + std::string(clean_path); }

Error PathError(int err, std::string_view op, std::string_view clean_path) {
  return source::GoPathError(err, op, clean_path);
}

namespace {

// Reads a small text file inside the root, following symlinks within it. nullopt if missing.
Result<std::optional<std::string>> ReadRootFile(archive::ConfinedRoot& root, std::string_view clean) {
  std::string followed;
  int r = root.FollowPath(clean, &followed);
  if (r == ENOENT || r == ENOTDIR) return std::optional<std::string>();
  if (r != 0) return Unexpected(PathError(r, "open", clean));
  UniqueFd dir;
  std::string base;
  r = root.OpenParent(followed, &dir, &base);
  if (r == ENOENT || r == ENOTDIR) return std::optional<std::string>();
  if (r != 0) return Unexpected(PathError(r, "open", clean));
  int fd = ::openat(dir.get(), base.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Unexpected(PathError(errno, "open", clean));
  }
  UniqueFd file(fd);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) return Unexpected(PathError(errno, "read", clean));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (64u << 20)) return MakeError(Code::kResourceExhausted, Display(clean) + ": too large");
  }
  return std::optional<std::string>(std::move(out));
}

// Finds the line of a passwd/group file whose first field is `name`; fields split at ':'.
std::optional<std::vector<std::string>> FindEntry(const std::string& text, std::string_view name) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    std::vector<std::string> fields;
    size_t i = 0;
    while (true) {
      size_t c = line.find(':', i);
      fields.emplace_back(line.substr(i, c == std::string_view::npos ? line.npos : c - i));
      if (c == std::string_view::npos) break;
      i = c + 1;
    }
    if (fields.size() >= 3 && fields[0] == name) return fields;
  }
  return std::nullopt;
}

std::optional<uint32_t> ParseId(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

}  // namespace

Result<std::optional<Owner>> ResolveOwner(archive::ConfinedRoot& root,
                                          const std::optional<ChownOpt>& chown) {
  if (!chown || (!chown->user && !chown->group)) return std::optional<Owner>();
  Owner o;
  if (chown->user) {
    if (chown->user->name.empty()) {
      o.uid = o.gid = chown->user->id;
    } else {
      HOIST_ASSIGN_OR_RETURN(auto passwd, ReadRootFile(root, "etc/passwd"));
      auto e = passwd ? FindEntry(*passwd, chown->user->name) : std::nullopt;
      std::optional<uint32_t> uid, gid;
      if (e && e->size() >= 4) {
        uid = ParseId((*e)[2]);
        gid = ParseId((*e)[3]);
      }
      if (!uid || !gid) {
        return MakeError(Code::kNotFound, "unable to find user " + chown->user->name +
                                              ": no matching entries in passwd file");
      }
      o.uid = *uid;
      o.gid = *gid;
    }
  }
  if (chown->group) {
    if (chown->group->name.empty()) {
      o.gid = chown->group->id;
    } else {
      HOIST_ASSIGN_OR_RETURN(auto group, ReadRootFile(root, "etc/group"));
      auto e = group ? FindEntry(*group, chown->group->name) : std::nullopt;
      std::optional<uint32_t> gid;
      if (e) gid = ParseId((*e)[2]);
      if (!gid) {
        return MakeError(Code::kNotFound, "unable to find group " + chown->group->name +
                                              ": no matching entries in group file");
      }
      o.gid = *gid;
    }
  }
  return std::optional<Owner>(o);
}

std::optional<struct timespec> ToTimespec(int64_t ns) {
  if (ns == kNoTimestamp) return std::nullopt;
  return TimespecOf(ns);
}

int SetMetadata(int dir_fd, const char* name, bool is_symlink, std::optional<Owner> owner,
                int64_t mode, const std::optional<struct timespec>& time) {
  if (owner && ::fchownat(dir_fd, name, owner->uid, owner->gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno;
  }
  if (mode >= 0 && !is_symlink && ::fchmodat(dir_fd, name, static_cast<mode_t>(mode), 0) != 0) {
    return errno;
  }
  if (time) {
    struct timespec ts[2] = {*time, *time};
    if (::utimensat(dir_fd, name, ts, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  }
  return 0;
}

Status MkdirAll(archive::ConfinedRoot& root, std::string_view path_in, uint32_t mode,
                std::optional<Owner> owner, const std::optional<struct timespec>& time) {
  std::string path(path_in);
  size_t end = 0;
  int hops = 0;
  while (end < path.size()) {
    size_t slash = path.find('/', end);
    if (slash == std::string::npos) slash = path.size();
    std::string prefix = path.substr(0, slash);
    end = slash + 1;
    UniqueFd fd;
    int r = root.OpenDir(prefix, &fd);
    if (r == 0) continue;
    if (r != ENOENT) return Unexpected(PathError(r, "mkdir", prefix));
    UniqueFd parent;
    std::string base;
    r = root.OpenParent(prefix, &parent, &base);
    if (r != 0) return Unexpected(PathError(r, "mkdir", prefix));
    struct stat st;
    if (::fstatat(parent.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (!S_ISLNK(st.st_mode) || ++hops > 255) {
        return Unexpected(PathError(S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR, "mkdir", prefix));
      }
      // A dangling symlink: go on from its target inside the root (as fs.RootPath resolves
      // the whole path before MkdirAll).
      std::string followed;
      r = root.FollowPath(prefix, &followed);
      if (r != 0) return Unexpected(PathError(r, "mkdir", prefix));
      std::string rest = slash < path.size() ? path.substr(slash + 1) : "";
      path = rest.empty() ? followed : (followed.empty() ? rest : followed + "/" + rest);
      end = 0;
      continue;
    }
    if (::mkdirat(parent.get(), base.c_str(), mode & 07777) != 0) {
      return Unexpected(PathError(errno, "mkdir", prefix));
    }
    r = SetMetadata(parent.get(), base.c_str(), false, owner, mode & 07777, time);
    if (r != 0) return Unexpected(PathError(r, "chown", prefix));
  }
  return OkStatus();
}

}  // namespace internal

using internal::Display;
using internal::PathError;

namespace {

Result<archive::ConfinedRoot> OpenRoot(const std::string& root, const FileActionOptions& options) {
  return archive::ConfinedRoot::Open(root, options.force_userspace_resolver_for_testing);
}

}  // namespace

Status ApplyMkdir(const std::string& root_path, const MkdirAction& action,
                  const FileActionOptions& options) {
  HOIST_ASSIGN_OR_RETURN(auto root, OpenRoot(root_path, options));
  std::string path = archive::CleanInRoot(action.path);
  HOIST_ASSIGN_OR_RETURN(auto owner, internal::ResolveOwner(root, action.owner));
  auto time = internal::ToTimespec(action.timestamp);
  std::string followed;
  int r = root.FollowPath(path, &followed);
  if (r != 0) return Unexpected(PathError(r, "mkdir", path));
  if (action.make_parents) {
    return internal::MkdirAll(root, followed, action.mode & 0777, owner, time);
  }
  if (followed.empty()) return OkStatus();  // the root exists
  UniqueFd dir;
  std::string base;
  r = root.OpenParent(followed, &dir, &base);
  if (r != 0) return Unexpected(PathError(r, "mkdir", path));
  if (::mkdirat(dir.get(), base.c_str(), action.mode & 0777) != 0) {
    if (errno == EEXIST) return OkStatus();  // BuildKit: an existing path is no error
    return Unexpected(PathError(errno, "mkdir", path));
  }
  r = internal::SetMetadata(dir.get(), base.c_str(), false, owner, action.mode & 0777, time);
  if (r != 0) return Unexpected(PathError(r, "chown", path));
  return OkStatus();
}

Status ApplyMkfile(const std::string& root_path, const MkfileAction& action,
                   const FileActionOptions& options) {
  HOIST_ASSIGN_OR_RETURN(auto root, OpenRoot(root_path, options));
  std::string path = archive::CleanInRoot(action.path);
  HOIST_ASSIGN_OR_RETURN(auto owner, internal::ResolveOwner(root, action.owner));
  std::string followed;
  int r = root.FollowPath(path, &followed);
  if (r != 0) return Unexpected(PathError(r, "open", path));
  if (followed.empty()) return Unexpected(PathError(EISDIR, "open", path));
  UniqueFd dir;
  std::string base;
  r = root.OpenParent(followed, &dir, &base);
  if (r != 0) return Unexpected(PathError(r, "open", path));
  bool created = true;
  int fd = ::openat(dir.get(), base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    action.mode & 0777);
  if (fd < 0 && errno == EEXIST) {
    created = false;  // like os.WriteFile: an existing file keeps its mode
    fd = ::openat(dir.get(), base.c_str(), O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return Unexpected(PathError(errno, "open", path));
  UniqueFd file(fd);
  size_t off = 0;
  while (off < action.data.size()) {
    ssize_t n = ::write(fd, action.data.data() + off, action.data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(PathError(errno, "write", path));
    }
    off += static_cast<size_t>(n);
  }
  r = internal::SetMetadata(dir.get(), base.c_str(), false, owner,
                            created ? static_cast<int64_t>(action.mode & 0777) : -1,
                            internal::ToTimespec(action.timestamp));
  if (r != 0) return Unexpected(PathError(r, "chown", path));
  return OkStatus();
}

namespace {

Status RmPath(archive::ConfinedRoot& root, std::string_view path, bool allow_not_found) {
  if (path.empty()) return MakeError(Code::kInvalidArgument, "rmPath: invalid empty path");
  UniqueFd dir;
  std::string base;
  int r = root.OpenParent(path, &dir, &base);
  if (r == 0) {
    struct stat st;
    if (::fstatat(dir.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) r = errno;
  }
  if (r == ENOENT || r == ENOTDIR) {
    if (allow_not_found) return OkStatus();
    return Unexpected(PathError(r, "lstat", path));
  }
  if (r != 0) return Unexpected(PathError(r, "lstat", path));
  r = archive::internal::RemoveTreeAt(dir.get(), base.c_str());
  if (r != 0) return Unexpected(PathError(r, "remove", path));
  return OkStatus();
}

}  // namespace

Status ApplyRm(const std::string& root_path, const RmAction& action,
               const FileActionOptions& options) {
  HOIST_ASSIGN_OR_RETURN(auto root, OpenRoot(root_path, options));
  std::string path = archive::CleanInRoot(action.path);
  if (!action.allow_wildcard) return RmPath(root, path, action.allow_not_found);
  auto matches = internal::ResolveWildcards(root, path, false);
  if (!matches) {
    if (action.allow_not_found && matches.error().code() == Code::kNotFound) return OkStatus();
    return Unexpected(std::move(matches).error());
  }
  for (const std::string& m : *matches) HOIST_TRY(RmPath(root, m, action.allow_not_found));
  return OkStatus();
}

Status ApplySymlink(const std::string& root_path, const SymlinkAction& action,
                    const FileActionOptions& options) {
  HOIST_ASSIGN_OR_RETURN(auto root, OpenRoot(root_path, options));
  std::string path = archive::CleanInRoot(action.newpath);
  HOIST_ASSIGN_OR_RETURN(auto owner, internal::ResolveOwner(root, action.owner));
  if (path.empty()) return Unexpected(PathError(EEXIST, "symlink " + action.oldpath, path));
  UniqueFd dir;
  std::string base;
  int r = root.OpenParent(path, &dir, &base);
  if (r == 0 && ::symlinkat(action.oldpath.c_str(), dir.get(), base.c_str()) != 0) r = errno;
  if (r != 0) return Unexpected(PathError(r, "symlink " + action.oldpath, path));
  r = internal::SetMetadata(dir.get(), base.c_str(), true, owner, -1,
                            internal::ToTimespec(action.timestamp));
  if (r != 0) return Unexpected(PathError(r, "lchown", path));
  return OkStatus();
}

Result<uint32_t> ApplySymbolicMode(std::string_view spec, uint32_t mode, bool is_dir) {
  auto bad = [&] {
    return MakeError(Code::kInvalidArgument, "invalid chmod mode \"" + std::string(spec) + "\"");
  };
  if (spec.empty()) return bad();
  size_t i = 0;
  while (true) {
    uint32_t who = 0;
    for (; i < spec.size() && std::strchr("ugoa", spec[i]) && spec[i] != '\0'; ++i) {
      switch (spec[i]) {
        case 'u': who |= 04700; break;
        case 'g': who |= 02070; break;
        case 'o': who |= 01007; break;
        default: who |= 07777; break;
      }
    }
    if (who == 0) who = 07777;
    if (i >= spec.size() || !std::strchr("+-=", spec[i])) return bad();
    while (i < spec.size() && spec[i] != ',') {
      char op = spec[i++];
      if (!std::strchr("+-=", op)) return bad();
      uint32_t perm = 0;
      for (; i < spec.size() && spec[i] != ',' && !std::strchr("+-=", spec[i]); ++i) {
        switch (spec[i]) {
          case 'r': perm |= 0444; break;
          case 'w': perm |= 0222; break;
          case 'x': perm |= 0111; break;
          case 'X': if (is_dir || (mode & 0111)) perm |= 0111; break;
          case 's': perm |= 06000; break;
          case 't': perm |= 01000; break;
          // Permission copies (g=u): the class's bits from the mode before this clause.
          case 'u': perm |= ((mode >> 6) & 7) * 0111; break;
          case 'g': perm |= ((mode >> 3) & 7) * 0111; break;
          case 'o': perm |= (mode & 7) * 0111; break;
          default: return bad();
        }
      }
      perm &= who;
      if (op == '+') mode |= perm;
      if (op == '-') mode &= ~perm;
      if (op == '=') mode = (mode & ~(who & 07777)) | perm;
    }
    if (i >= spec.size()) break;
    ++i;  // ','
    if (i >= spec.size()) return bad();
  }
  return mode & 07777;
}

}  // namespace hoist::solver::ops
