// ApplyCopy: fsutil's copy semantics over confined roots. See file_actions.h.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "archive/apply.h"
#include "archive/byte_source.h"
#include "archive/compression.h"
#include "archive/confined_root.h"
#include "archive/internal/tree_ops.h"
#include "archive/tar_reader.h"
#include "solver/ops/file_actions.h"
#include "solver/ops/internal/file_util.h"
#include "oci/digest.h"
#include "source/in_place_context.h"
#include "source/path_patterns.h"

namespace hoist::solver::ops {
namespace {

using internal::Display;
using internal::Owner;
using internal::PathError;

std::string Join(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  return std::string(a) + "/" + std::string(b);
}

std::string_view BaseName(std::string_view p) {
  size_t s = p.rfind('/');
  return s == std::string_view::npos ? p : p.substr(s + 1);
}

// A destination directory of the copy, created when first needed (include patterns delay it).
struct DirFrame {
  DirFrame* parent = nullptr;
  std::string name;       // in the parent's directory
  std::string dest_path;  // cleaned, in the destination root
  struct stat st {};      // the source directory's
  bool overwrite_metadata = false;
  UniqueFd fd;            // open once the directory exists
  bool created = false;
};

class Copier {
 public:
  Copier(archive::ConfinedRoot& src, archive::ConfinedRoot& dst, const CopyAction& a,
         std::optional<Owner> owner, const FileActionOptions& options)
      : src_(src), dst_(dst), a_(a), owner_(owner), time_(internal::ToTimespec(a.timestamp)),
        options_(options) {}

  Status Init() {
    if (!a_.exclude_patterns.empty()) {
      auto m = PatternMatcher::Create(a_.exclude_patterns);
      if (!m) return Unexpected(std::move(m).error().Wrap("invalid excludepatterns"));
      exclude_.emplace(std::move(*m));
    }
    if (!a_.mode_str.empty()) HOIST_TRY(ApplySymbolicMode(a_.mode_str, 0, false));
    return OkStatus();
  }

  // Copies the source path `src` (cleaned, in the source root) to `dest` (cleaned, in the
  // destination root, `dest_is_dir` when it ended in '/').
  Status CopyOne(const std::string& src, const std::string& dest) {
    std::string followed = src;
    if (a_.follow_symlink) {
      int r = src_.FollowPath(src, &followed);
      if (r != 0) return Unexpected(PathError(r, "lstat", src));
    }
    UniqueFd sdir;
    std::string sbase;
    int r = OpenEntryParent(src_, followed, &sdir, &sbase);
    struct stat sst;
    if (r == 0 && ::fstatat(sdir.get(), sbase.c_str(), &sst, AT_SYMLINK_NOFOLLOW) != 0) r = errno;
    if (r != 0) return Unexpected(PathError(r, "lstat", src));
    src_base_ = followed;
    if (in_place_ != nullptr) {
      // Checked and pinned by where the source is, symlinks on the way resolved.
      HOIST_ASSIGN_OR_RETURN(src_base_,
                             source::InPlaceContext::PathInRoot(src_.fd(), sdir.get(), sbase));
      HOIST_TRY(in_place_->CheckEntry(src_base_, sst));
    }
    bool src_dir = S_ISDIR(sst.st_mode);

    std::string dest_path;
    r = dst_.FollowPath(dest, &dest_path);
    if (r != 0) return Unexpected(PathError(r, "stat", dest));
    bool dest_exists = false, dest_dir = false;
    {
      UniqueFd fd;
      struct stat dst_st;
      std::string b;
      if (OpenEntryParent(dst_, dest_path, &fd, &b) == 0 &&
          ::fstatat(fd.get(), b.c_str(), &dst_st, 0) == 0) {
        dest_exists = true;
        dest_dir = S_ISDIR(dst_st.st_mode);
      }
    }
    if ((!a_.dir_copy_contents && src_dir && dest_exists) || (!src_dir && dest_exists && dest_dir)) {
      dest_path = Join(dest_path, src.empty() ? "" : BaseName(src));
    }
    std::string target = dest_path;
    if (!(a_.dir_copy_contents && src_dir && !dest_exists)) {
      size_t s = target.rfind('/');
      target = s == std::string::npos ? "" : target.substr(0, s);
    }
    HOIST_TRY(internal::MkdirAll(dst_, target, 0755, owner_, time_));
    if (a_.attempt_unpack_docker_compatibility && S_ISREG(sst.st_mode)) {
      // ADD: a tar archive is extracted rather than copied.
      HOIST_ASSIGN_OR_RETURN(bool unpacked, TryUnpack(sdir.get(), sbase, src, dest));
      if (unpacked) return OkStatus();
    }

    // The destination's parent directory is the top frame; the copy target is its child.
    DirFrame top;
    std::string dparent_path, dbase;
    {
      size_t s = dest_path.rfind('/');
      dparent_path = s == std::string::npos ? "" : dest_path.substr(0, s);
      dbase = s == std::string::npos ? dest_path : dest_path.substr(s + 1);
    }
    if (dbase.empty()) {
      // Copying onto the root itself: only a directory can go there.
      if (!src_dir) return Unexpected(PathError(EISDIR, "open", dest_path));
      r = dst_.OpenDir("", &top.fd);
      if (r != 0) return Unexpected(PathError(r, "open", ""));
      DirFrame self;
      self.dest_path = "";
      self.st = sst;
      r = dst_.OpenDir("", &self.fd);
      if (r != 0) return Unexpected(PathError(r, "open", ""));
      return CopyDirChildren(sdir.get(), sbase, "", &self, false, a_.include_patterns.empty());
    }
    r = dst_.OpenDir(dparent_path, &top.fd);
    if (r != 0) return Unexpected(PathError(r, "open", dparent_path));
    top.dest_path = dparent_path;
    return CopyEntry(sdir.get(), sbase, sst, "", &top, dbase, false, a_.include_patterns.empty());
  }

 private:
  // Like OpenParent, but the root itself ("") is opened as its own entry ".".
  static int OpenEntryParent(archive::ConfinedRoot& root, const std::string& path, UniqueFd* dir,
                             std::string* base) {
    if (path.empty()) {
      *base = ".";
      return root.OpenDir("", dir);
    }
    return root.OpenParent(path, dir, base);
  }

  Status EnsureDir(DirFrame* f) {
    if (f->fd) return OkStatus();
    HOIST_TRY(EnsureDir(f->parent));
    int pfd = f->parent->fd.get();
    const char* name = f->name.c_str();
    struct stat st;
    if (::fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) return Unexpected(PathError(errno, "lstat", f->dest_path));
      if (::mkdirat(pfd, name, f->st.st_mode & 07777) != 0) {
        return Unexpected(PathError(errno, "mkdir", f->dest_path));
      }
      f->created = true;
    } else if (!S_ISDIR(st.st_mode)) {
      if (!a_.always_replace_existing_dest_paths) {
        return MakeError(Code::kFailedPrecondition,
                         "cannot copy to non-directory: " + Display(f->dest_path));
      }
      int r = archive::internal::RemoveTreeAt(pfd, name);
      if (r == 0 && ::mkdirat(pfd, name, f->st.st_mode & 07777) != 0) r = errno;
      if (r != 0) return Unexpected(PathError(r, "mkdir", f->dest_path));
      f->created = true;
    } else if (f->overwrite_metadata) {
      if (::fchmodat(pfd, name, Mode(f->st), 0) != 0) {
        return Unexpected(PathError(errno, "chmod", f->dest_path));
      }
    }
    int fd = ::openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Unexpected(PathError(errno, "open", f->dest_path));
    f->fd.Reset(fd);
    return OkStatus();
  }

  mode_t Mode(const struct stat& st) const {
    uint32_t m = st.st_mode & 07777;
    if (!a_.mode_str.empty()) {
      auto r = ApplySymbolicMode(a_.mode_str, m, S_ISDIR(st.st_mode));
      if (r) m = *r;  // validated in Init
    } else if (a_.mode >= 0) {
      m = (m & ~0777u) | (static_cast<uint32_t>(a_.mode) & 0777);
    }
    return m;
  }

  Status CopyFileInfo(int dir_fd, const char* name, const struct stat& st,
                      const std::string& dest_path) {
    Owner o = owner_ ? *owner_ : Owner{st.st_uid, st.st_gid};
    bool link = S_ISLNK(st.st_mode);
    int r = internal::SetMetadata(dir_fd, name, link, o, link ? -1 : Mode(st), std::nullopt);
    if (r != 0) return Unexpected(PathError(r, "chown", dest_path));
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    if (time_) ts[0] = ts[1] = *time_;
    if (::utimensat(dir_fd, name, ts, AT_SYMLINK_NOFOLLOW) != 0) {
      return Unexpected(PathError(errno, "utimes", dest_path));
    }
    return OkStatus();
  }

  // fsutil's include(): whether to keep `rel` and whether its children need no more checks.
  std::pair<bool, bool> Include(const std::string& rel, bool is_dir) const {
    bool matched = false, partial = true;
    for (const std::string& p : a_.include_patterns) {
      std::string pat = p;
      while (is_dir && pat.size() > 1 && pat.back() == '/') pat.pop_back();
      auto m = source::MatchIncludePattern(pat, rel, is_dir);
      if (m.matched) {
        matched = true;
        if (!m.partial) {
          partial = false;
          break;
        }
      }
    }
    if (!matched) return {false, false};
    if (is_dir) return {true, !partial};
    return {!partial, !partial};
  }

  Result<bool> Exclude(const std::string& rel, bool is_dir) const {
    if (!exclude_) return false;
    return source::Excluded(*exclude_, rel, is_dir);
  }

  // Copies the source entry (`sdir`, `sname`, stat `st`; `rel` its path below the copy source)
  // to `dname` in the directory of `parent`.
  Status CopyEntry(int sdir, const std::string& sname, const struct stat& st,
                   const std::string& rel, DirFrame* parent, const std::string& dname,
                   bool overwrite_metadata, bool skip_include) {
    if (options_.cancel != nullptr) HOIST_TRY(options_.cancel->Check());
    bool is_dir = S_ISDIR(st.st_mode);
    bool include = false;
    if (!rel.empty()) {
      if (!skip_include) {
        auto [inc, skip] = Include(rel, is_dir);
        if (!inc) return OkStatus();
        include = inc;
        skip_include = skip;
      }
      HOIST_ASSIGN_OR_RETURN(bool ex, Exclude(rel, is_dir));
      if (ex) return OkStatus();
    }
    std::string dest_path = Join(parent->dest_path, dname);
    if (is_dir) {
      DirFrame self;
      self.parent = parent;
      self.name = dname;
      self.dest_path = dest_path;
      self.st = st;
      self.overwrite_metadata = overwrite_metadata;
      if (skip_include) HOIST_TRY(EnsureDir(&self));
      HOIST_TRY(CopyDirChildren(sdir, sname, rel, &self, overwrite_metadata, skip_include));
      return OkStatus();
    }
    (void)include;
    HOIST_TRY(EnsureDir(parent));
    int pfd = parent->fd.get();
    const char* name = dname.c_str();
    struct stat dst_st;
    if (::fstatat(pfd, name, &dst_st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(dst_st.st_mode)) {
        if (!a_.always_replace_existing_dest_paths) {
          return MakeError(Code::kFailedPrecondition,
                           "cannot replace to directory " + Display(dest_path) + " with file");
        }
        int r = archive::internal::RemoveTreeAt(pfd, name);
        if (r != 0) return Unexpected(PathError(r, "remove", dest_path));
      } else if (::unlinkat(pfd, name, 0) != 0) {
        return Unexpected(PathError(errno, "remove", dest_path));
      }
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = inodes_.find(key);
      if (it != inodes_.end()) {
        UniqueFd ldir;
        std::string lbase;
        int r = dst_.OpenParent(it->second, &ldir, &lbase);
        if (r == 0 && ::linkat(ldir.get(), lbase.c_str(), pfd, name, 0) != 0) r = errno;
        if (r != 0) return Unexpected(PathError(r, "link", dest_path));
        return OkStatus();
      }
      inodes_.emplace(key, dest_path);
    }
    if (S_ISREG(st.st_mode)) {
      HOIST_TRY(CopyFileData(sdir, sname, rel, pfd, name, dest_path));
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(st.st_size + 1 > 4096 ? st.st_size + 1 : 4096, '\0');
      ssize_t n = ::readlinkat(sdir, sname.c_str(), target.data(), target.size());
      if (n < 0) return Unexpected(PathError(errno, "readlink", Join(a_.src, rel)));
      target.resize(static_cast<size_t>(n));
      if (::symlinkat(target.c_str(), pfd, name) != 0) {
        return Unexpected(PathError(errno, "symlink", dest_path));
      }
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
      if (::mknodat(pfd, name, st.st_mode, st.st_rdev) != 0) {
        return Unexpected(PathError(errno, "mknod", dest_path));
      }
    } else {
      return MakeError(Code::kUnimplemented, "copy " + Display(dest_path) + ": unsupported file type");
    }
    return CopyFileInfo(pfd, name, st, dest_path);
  }

  Status CopyDirChildren(int sdir, const std::string& sname, const std::string& rel,
                         DirFrame* self, bool overwrite_metadata, bool skip_include) {
    (void)overwrite_metadata;
    int fd = ::openat(sdir, sname.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Unexpected(PathError(errno, "open", Join(a_.src, rel)));
    UniqueFd dir(fd);
    std::vector<std::string> names;
    int r = internal::ListDir(fd, &names);
    if (r != 0) return Unexpected(PathError(r, "open", Join(a_.src, rel)));
    if (in_place_ != nullptr) HOIST_TRY(in_place_->CheckDir(Join(src_base_, rel), names));
    for (const std::string& n : names) {
      struct stat st;
      if (::fstatat(fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return Unexpected(PathError(errno, "lstat", Join(a_.src, Join(rel, n))));
      }
      if (in_place_ != nullptr) HOIST_TRY(in_place_->CheckEntry(Join(src_base_, Join(rel, n)), st));
      HOIST_TRY(CopyEntry(fd, n, st, Join(rel, n), self, n, true, skip_include));
    }
    // Metadata after the children, so writing them does not change the times. A directory
    // that existed before keeps its own unless it was reached inside the copied tree.
    if (self->fd && (self->created || (overwrite_metadata && skip_include))) {
      if (self->parent != nullptr) {
        HOIST_TRY(CopyFileInfo(self->parent->fd.get(), self->name.c_str(), self->st, self->dest_path));
      }
    }
    return OkStatus();
  }

  Status CopyFileData(int sdir, const std::string& sname, const std::string& rel, int ddir,
                      const char* dname, const std::string& dest_path) {
    int in = ::openat(sdir, sname.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0) return Unexpected(PathError(errno, "open", Join(a_.src, rel)));
    UniqueFd src(in);
    int out = ::openat(ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) return Unexpected(PathError(errno, "open", dest_path));
    UniqueFd dst(out);
    if (in_place_ != nullptr) return CopyPinned(in, out, Join(src_base_, rel), dest_path);
    // Between filesystems copy_file_range fails at once; after the first such failure this copy
    // reads and writes (other errors may be the file's own, so only this one sticks).
    bool fallback = copy_range_crosses_devices_;
    for (;;) {
      if (!fallback) {
        ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
        if (n > 0) continue;
        if (n == 0) break;
        if (errno == EXDEV) copy_range_crosses_devices_ = true;
        if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
          fallback = true;
          continue;
        }
        return Unexpected(PathError(errno, "copy", dest_path));
      }
      char buf[1 << 16];
      ssize_t n = ::read(in, buf, sizeof(buf));
      if (n < 0) return Unexpected(PathError(errno, "read", Join(a_.src, rel)));
      if (n == 0) break;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(out, buf + off, static_cast<size_t>(n - off));
        if (w < 0) return Unexpected(PathError(errno, "write", dest_path));
        off += w;
      }
    }
    CopyXattrs(in, out);
    return OkStatus();
  }

  // Copies an in-place context's file `path` (relative to the context) from `in` to `out`,
  // hashing what it copies: the file must be the one the context pinned when it was first
  // read (or is pinned now), unchanged while it is copied. With `out` < 0 it only checks.
  Status CopyPinned(int in, int out, const std::string& path, const std::string& dest_path) {
    struct stat before;
    if (::fstat(in, &before) != 0) return Unexpected(PathError(errno, "stat", Display(path)));
    HOIST_TRY(in_place_->CheckEntry(path, before));
    const source::FileIdentity identity = source::StatIdentity(before);
    const std::optional<source::InPlaceContext::Pinned> pinned = in_place_->Find(path);
    if (pinned && !(pinned->identity == identity)) {
      return Unexpected(in_place_->Changed(path, "it was modified or replaced since it was first read"));
    }
    constexpr size_t kBufSize = 1 << 20;
    thread_local const std::unique_ptr<char[]> buf = std::make_unique_for_overwrite<char[]>(kBufSize);
    oci::Digester digester;
    for (;;) {
      ssize_t n = ::read(in, buf.get(), kBufSize);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Unexpected(PathError(errno, "read", Display(path)));
      }
      if (n == 0) break;
      digester.Update(buf.get(), static_cast<size_t>(n));
      for (ssize_t off = 0; out >= 0 && off < n;) {
        ssize_t w = ::write(out, buf.get() + off, static_cast<size_t>(n - off));
        if (w < 0) return Unexpected(PathError(errno, "write", dest_path));
        off += w;
      }
    }
    struct stat after;
    if (::fstat(in, &after) != 0) return Unexpected(PathError(errno, "stat", Display(path)));
    if (!(source::StatIdentity(after) == identity)) {
      return Unexpected(in_place_->Changed(path, "it was modified while it was copied"));
    }
    const oci::Digest digest = digester.Finish();
    if (pinned && digest != pinned->digest) {
      return Unexpected(in_place_->Changed(path, "its contents differ from when it was first read"));
    }
    if (!pinned) HOIST_TRY(in_place_->Record(path, identity, digest));
    return OkStatus();
  }

  // Extended attributes, best effort (BuildKit logs and ignores failures).
  static void CopyXattrs(int in, int out) {
    char names[65536];
    ssize_t len = ::flistxattr(in, names, sizeof(names));
    if (len <= 0) return;
    std::string value(65536, '\0');
    for (ssize_t i = 0; i < len;) {
      const char* n = names + i;
      i += static_cast<ssize_t>(std::strlen(n)) + 1;
      ssize_t vl = ::fgetxattr(in, n, value.data(), value.size());
      if (vl >= 0) ::fsetxattr(out, n, value.data(), static_cast<size_t>(vl), 0);
    }
  }

  Result<bool> TryUnpack(int sdir, const std::string& sname, const std::string& src,
                         const std::string& dest);
  Status ChownExtracted(int fd, const std::string& dest_dir, const std::string& src);

  archive::ConfinedRoot& src_;
  archive::ConfinedRoot& dst_;
  const CopyAction& a_;
  std::optional<Owner> owner_;
  std::optional<struct timespec> time_;
  const FileActionOptions& options_;
  std::optional<PatternMatcher> exclude_;
  std::map<std::pair<dev_t, ino_t>, std::string> inodes_;
  source::InPlaceContext* in_place_ = options_.in_place_source;
  std::string src_base_;  // the source path being copied, relative to the source root
  bool copy_range_crosses_devices_ = false;
};

// Reads a file descriptor from its current offset.
class FdSource final : public archive::ByteSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  Result<size_t> Read(void* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::read(fd_, buf, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return Unexpected(ErrnoError(errno, "read archive"));
    }
  }

 private:
  int fd_;
};

// Whether 512 bytes are a tar header: its checksum field matches (unsigned sum, as tar does).
bool LooksLikeTarHeader(const unsigned char* h) {
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
  unsigned stored = 0;
  bool digits = false;
  for (int i = 148; i < 156; ++i) {
    if (h[i] >= '0' && h[i] <= '7') {
      stored = stored * 8 + (h[i] - '0');
      digits = true;
    } else if (digits) {
      break;
    }
  }
  return digits && stored == sum;
}

// The owner override for what an archive put under `dest_dir`: a second pass over the archive
// names the entries (as Docker's ChownOpts, only those; implied parents stay root's).
Status Copier::ChownExtracted(int fd, const std::string& dest_dir, const std::string& src) {
  if (::lseek(fd, 0, SEEK_SET) != 0) return Unexpected(PathError(errno, "seek", src));
  FdSource raw(fd);
  HOIST_ASSIGN_OR_RETURN(auto dec, archive::NewAutoDecompressor(&raw));
  archive::TarReader reader(dec.get());
  std::set<std::string> done;
  for (;;) {
    HOIST_ASSIGN_OR_RETURN(auto entry, reader.Next());
    if (!entry) break;
    std::string path = archive::CleanInRoot(entry->name);
    if (!path.empty() && done.insert(path).second) {
      std::string full = dest_dir.empty() ? path : dest_dir + "/" + path;
      UniqueFd dir;
      std::string base;
      if (dst_.OpenParent(full, &dir, &base) == 0) {
        // Entries the extraction skipped (whiteouts) are simply absent.
        if (::fchownat(dir.get(), base.c_str(), owner_->uid, owner_->gid, AT_SYMLINK_NOFOLLOW) != 0 &&
            errno != ENOENT) {
          return Unexpected(PathError(errno, "chown", full));
        }
      }
    }
  }
  return OkStatus();
}

Result<bool> Copier::TryUnpack(int sdir, const std::string& sname, const std::string& src,
                               const std::string& dest) {
  int fd = ::openat(sdir, sname.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Unexpected(PathError(errno, "open", src));
  UniqueFd file(fd);
  struct stat pinned;
  if (in_place_ != nullptr) {
    // The archive is read more than once: it is checked whole first, and its identity after.
    HOIST_TRY(CopyPinned(fd, -1, src_base_, ""));
    if (::fstat(fd, &pinned) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) {
      return Unexpected(PathError(errno, "read", src));
    }
  }
  auto unchanged = [&]() -> Status {
    struct stat now;
    if (in_place_ == nullptr) return OkStatus();
    if (::fstat(fd, &now) != 0) return Unexpected(PathError(errno, "stat", src));
    if (!(source::StatIdentity(now) == source::StatIdentity(pinned))) {
      return Unexpected(in_place_->Changed(src_base_, "it was modified while it was read"));
    }
    return OkStatus();
  };
  unsigned char header[512];
  {
    FdSource raw(fd);
    archive::Compression c;
    auto dec = archive::NewAutoDecompressor(&raw, &c);
    if (!dec) return false;
    size_t got = 0;
    while (got < sizeof(header)) {
      auto n = (*dec)->Read(header + got, sizeof(header) - got);
      if (!n || *n == 0) return false;
      got += *n;
    }
    if (!LooksLikeTarHeader(header)) return false;
  }
  HOIST_TRY(unchanged());
  if (::lseek(fd, 0, SEEK_SET) != 0) return Unexpected(PathError(errno, "seek", src));
  std::string dest_dir;
  int r = dst_.FollowPath(dest, &dest_dir);
  if (r != 0) return Unexpected(PathError(r, "stat", dest));
  HOIST_TRY(internal::MkdirAll(dst_, dest_dir, 0755, owner_, time_));
  UniqueFd dfd;
  r = dst_.OpenDir(dest_dir, &dfd);
  if (r != 0) return Unexpected(PathError(r, "open", dest));
  FdSource raw(fd);
  HOIST_ASSIGN_OR_RETURN(auto dec, archive::NewAutoDecompressor(&raw));
  archive::ApplyOptions ao;
  ao.cancel = options_.cancel;
  ao.force_userspace_resolver_for_testing = options_.force_userspace_resolver_for_testing;
  auto st = archive::ApplyLayer(*dec, dfd.get(), ao);
  if (!st) return Unexpected(std::move(st).error().Wrap("unpack " + Display(src)));
  if (owner_) HOIST_TRY(ChownExtracted(fd, dest_dir, src));
  HOIST_TRY(unchanged());
  return true;
}

}  // namespace

Status ApplyCopy(const std::string& src_root, const std::string& dest_root,
                 const CopyAction& action, const FileActionOptions& options) {
  HOIST_ASSIGN_OR_RETURN(auto src, archive::ConfinedRoot::Open(src_root, options.force_userspace_resolver_for_testing));
  HOIST_ASSIGN_OR_RETURN(auto dst, archive::ConfinedRoot::Open(dest_root, options.force_userspace_resolver_for_testing));
  std::string src_path = archive::CleanInRoot(action.src);
  std::string dest_path = archive::CleanInRoot(action.dest);
  bool dest_slash = !action.dest.empty() &&
                    (action.dest.back() == '/' || action.dest.ends_with("/."));
  HOIST_ASSIGN_OR_RETURN(auto owner, internal::ResolveOwner(dst, action.owner));
  auto time = internal::ToTimespec(action.timestamp);

  if (!action.create_dest_path) {
    // BuildKit: the destination's parent must exist unless asked to create it.
    std::string followed;
    int r = dst.FollowPath(dest_path, &followed);
    size_t s = followed.rfind('/');
    std::string parent = s == std::string::npos ? "" : followed.substr(0, s);
    UniqueFd fd;
    if (r == 0) r = dst.OpenDir(parent, &fd);
    if (r != 0) return Unexpected(PathError(r, "failed to stat", dest_path));
  }
  // fsutil: a destination ending in '/' is made a directory; otherwise its parent is made.
  {
    std::string ensure = dest_path;
    if (!dest_slash) {
      size_t s = ensure.rfind('/');
      ensure = s == std::string::npos ? "" : ensure.substr(0, s);
    }
    std::string followed;
    int r = dst.FollowPath(ensure, &followed);
    if (r != 0) return Unexpected(PathError(r, "mkdir", ensure));
    HOIST_TRY(internal::MkdirAll(dst, followed, 0755, owner, time));
  }

  Copier copier(src, dst, action, owner, options);
  HOIST_TRY(copier.Init());
  std::vector<std::string> srcs{src_path};
  if (action.allow_wildcard) {
    HOIST_ASSIGN_OR_RETURN(srcs, internal::ResolveWildcards(src, src_path, action.follow_symlink));
    if (srcs.empty()) {
      if (action.allow_empty_wildcard) return OkStatus();
      return MakeError(Code::kNotFound, Display(src_path) + " not found");
    }
  }
  for (const std::string& s : srcs) HOIST_TRY(copier.CopyOne(s, dest_path));
  return OkStatus();
}

}  // namespace hoist::solver::ops
