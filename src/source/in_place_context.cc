#include "source/in_place_context.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include <fmt/format.h>

#include "base/stat_time.h"
#include "source/path_patterns.h"

namespace hoist::source {
namespace {

std::string ParentOf(std::string_view p) {
  size_t s = p.rfind('/');
  return s == std::string_view::npos ? std::string() : std::string(p.substr(0, s));
}

std::string BaseOf(std::string_view p) {
  size_t s = p.rfind('/');
  return std::string(s == std::string_view::npos ? p : p.substr(s + 1));
}

std::string Join(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  return std::string(a) + "/" + std::string(b);
}

std::mutex g_hook_mu;
std::function<void()>* g_hook = nullptr;

}  // namespace

Result<std::unique_ptr<InPlaceContext>> InPlaceContext::Create(ContextReader& reader,
                                                               UniqueFd root,
                                                               InPlaceOptions options) {
  if (!root) return MakeError(Code::kInvalidArgument, "in-place context: no directory");
  std::unique_ptr<InPlaceContext> c(new InPlaceContext(std::move(root), std::move(options)));
  HOIST_TRY(c->Build(reader));
  return c;
}

InPlaceContext::~InPlaceContext() = default;

Status InPlaceContext::Build(ContextReader& reader) {
  HOIST_ASSIGN_OR_RETURN(std::vector<ContextEntry> kept, SelectContext(reader, options_.filter));
  children_[""];
  for (const ContextEntry& e : kept) {
    // Devices, FIFOs and sockets are not part of a context (a sync skips them too).
    if (!S_ISREG(e.mode) && !S_ISDIR(e.mode) && !S_ISLNK(e.mode)) continue;
    entries_.emplace(e.path, Walked{.mode = e.mode,
                                    .uid = e.uid,
                                    .gid = e.gid,
                                    .size = e.size,
                                    .mtime_ns = e.mtime_ns});
    if (S_ISDIR(e.mode)) children_[e.path];
    children_[ParentOf(e.path)].push_back(BaseOf(e.path));
  }
  for (auto& [dir, names] : children_) std::sort(names.begin(), names.end());

  HOIST_ASSIGN_OR_RETURN(dir_, TempDir::Create("mnt-ctx-", options_.state_dir));
  const std::string skel = dir_.path() + "/skel";
  view_path_ = dir_.path() + "/view";
  if (::mkdir(skel.c_str(), 0755) != 0 || ::mkdir(view_path_.c_str(), 0755) != 0) {
    return Unexpected(ErrnoError(errno, "in-place context: create the view's directories"));
  }
  if (skel.find_first_of(":,") != std::string::npos) {
    return MakeError(Code::kUnavailable, "in-place context: the engine's state path holds ':' or ','");
  }
  UniqueFd skel_fd(::open(skel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!skel_fd) return Unexpected(ErrnoError(errno, "in-place context: open the skeleton"));

  // Every name in a kept directory that the view does not hold gets a whiteout, in a skeleton
  // directory made like the client's (an overlay directory takes the upper layer's metadata).
  std::set<std::string> skel_dirs;  // made below the root, deepest last when reversed
  std::function<Status(const std::string&)> ensure_dir = [&](const std::string& d) -> Status {
    if (d.empty() || skel_dirs.count(d)) return OkStatus();
    HOIST_TRY(ensure_dir(ParentOf(d)));
    if (::mkdirat(skel_fd.get(), d.c_str(), 0700) != 0) {
      return Unexpected(ErrnoError(errno, "in-place context: make the skeleton"));
    }
    skel_dirs.insert(d);
    return OkStatus();
  };
  for (const auto& [dir, kept_names] : children_) {
    // The walk said it is a directory; the kernel checks it again, following no symlink.
    UniqueFd real = OpenBeneath(root_.get(), dir, O_RDONLY | O_DIRECTORY);
    if (!real) return Unexpected(Changed(dir, ErrnoError(errno, "open").message()));
    std::vector<std::string> names;
    int r = ListDir(real.get(), &names);
    if (r != 0) return Unexpected(Changed(dir, ErrnoError(r, "read").message()));
    for (const std::string& n : names) {
      if (std::binary_search(kept_names.begin(), kept_names.end(), n)) continue;
      HOIST_TRY(ensure_dir(dir));
      const std::string w = Join(dir, n);
      if (::mknodat(skel_fd.get(), w.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0) {
        return MakeError(Code::kUnavailable,
                         "in-place context: cannot make a whiteout: " + ErrnoError(errno, "mknod").message());
      }
    }
  }
  for (auto it = skel_dirs.rbegin(); it != skel_dirs.rend(); ++it) {
    const Walked& w = entries_.at(*it);
    struct timespec ts[2] = {TimespecOf(w.mtime_ns), TimespecOf(w.mtime_ns)};
    if (::fchownat(skel_fd.get(), it->c_str(), w.uid, w.gid, AT_SYMLINK_NOFOLLOW) != 0 ||
        ::fchmodat(skel_fd.get(), it->c_str(), w.mode & 07777, 0) != 0 ||
        ::utimensat(skel_fd.get(), it->c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
      return Unexpected(ErrnoError(errno, "in-place context: make the skeleton"));
    }
  }
  // The client's directory through its descriptor: the engine never learns its path.
  const std::string lower = fmt::format("lowerdir={}:/proc/self/fd/{}", skel, root_.get());
  auto mounted = MountAll({Mount{.type = "overlay", .source = "overlay", .options = {"ro", lower}}},
                          view_path_);
  if (!mounted) {
    return MakeError(Code::kUnavailable, "in-place context: " + mounted.error().message());
  }
  mount_ = std::move(*mounted);
  return OkStatus();
}

Result<std::string> InPlaceContext::PathInRoot(int root_fd, int dir_fd, std::string_view base) {
  auto where = [](int fd) -> Result<std::string> {
    std::string link = fmt::format("/proc/self/fd/{}", fd);
    std::string out(4096, '\0');
    ssize_t n = ::readlink(link.c_str(), out.data(), out.size());
    if (n < 0 || static_cast<size_t>(n) >= out.size()) {
      return Unexpected(ErrnoError(n < 0 ? errno : ENAMETOOLONG, "in-place context: locate a directory"));
    }
    out.resize(static_cast<size_t>(n));
    return out;
  };
  HOIST_ASSIGN_OR_RETURN(std::string root, where(root_fd));
  HOIST_ASSIGN_OR_RETURN(std::string dir, where(dir_fd));
  std::string rel;
  if (dir != root) {
    if (root == "/") root.clear();
    if (!dir.starts_with(root + "/")) {
      return MakeError(Code::kInternal, "in-place context: a directory resolved outside its root");
    }
    rel = dir.substr(root.size() + 1);
  }
  if (base.empty() || base == ".") return rel;
  return Join(rel, base);
}

Error InPlaceContext::Changed(std::string_view path, std::string_view detail) const {
  return Error(Code::kFailedPrecondition,
               fmt::format("local context \"{}\": \"{}\" changed during the build ({})",
                           options_.name, path.empty() ? "." : path, detail));
}

Status InPlaceContext::CheckEntry(std::string_view path, const struct stat& st) const {
  if (path.empty()) return OkStatus();  // the root is the skeleton's
  auto it = entries_.find(std::string(path));
  if (it == entries_.end()) return Unexpected(Changed(path, "it appeared after the context was read"));
  const Walked& w = it->second;
  if ((st.st_mode & S_IFMT) != (w.mode & S_IFMT)) {
    return Unexpected(Changed(path, "it was replaced by another type of file"));
  }
  if ((st.st_mode & 07777) != (w.mode & 07777) || st.st_uid != w.uid || st.st_gid != w.gid) {
    return Unexpected(Changed(path, "its mode or owner changed"));
  }
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) != w.size) {
    return Unexpected(Changed(path, "its size changed"));
  }
  if (!S_ISDIR(st.st_mode) && MtimeNs(st) != w.mtime_ns) {
    return Unexpected(Changed(path, "it was modified"));
  }
  return OkStatus();
}

Status InPlaceContext::CheckDir(std::string_view path, const std::vector<std::string>& names) const {
  auto it = children_.find(std::string(path));
  if (it == children_.end()) return Unexpected(Changed(path, "it appeared after the context was read"));
  if (names == it->second) return OkStatus();
  for (const std::string& n : names) {
    if (!std::binary_search(it->second.begin(), it->second.end(), n)) {
      return Unexpected(Changed(Join(path, n), "it appeared after the context was read"));
    }
  }
  for (const std::string& n : it->second) {
    if (!std::binary_search(names.begin(), names.end(), n)) {
      return Unexpected(Changed(Join(path, n), "it was removed"));
    }
  }
  return Unexpected(Changed(path, "its entries changed"));
}

Status InPlaceContext::Record(std::string_view path, const FileIdentity& identity,
                              const oci::Digest& digest) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = pinned_.try_emplace(std::string(path), Pinned{identity, digest});
  if (inserted) return OkStatus();
  if (it->second.digest != digest) {
    return Unexpected(Changed(path, "its contents differ from when it was first read"));
  }
  if (!(it->second.identity == identity)) {
    return Unexpected(Changed(path, "it was modified or replaced since it was first read"));
  }
  return OkStatus();
}

std::optional<InPlaceContext::Pinned> InPlaceContext::Find(std::string_view path) const {
  std::lock_guard lock(mu_);
  auto it = pinned_.find(std::string(path));
  if (it == pinned_.end()) return std::nullopt;
  return it->second;
}

void InPlaceContext::SetChecksumHookForTesting(std::function<void()> hook) {
  std::lock_guard lock(g_hook_mu);
  delete g_hook;
  g_hook = hook ? new std::function<void()>(std::move(hook)) : nullptr;
}

void InPlaceContext::ChecksumTaken() {
  std::lock_guard lock(g_hook_mu);
  if (g_hook != nullptr) (*g_hook)();
}

}  // namespace hoist::source
