#include "archive/apply.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "archive/internal/layer_rules.h"
#include "archive/internal/root_resolver.h"
#include "archive/internal/tree_ops.h"
#include "archive/tar_reader.h"
#include "base/unique_fd.h"

namespace hoist::archive {
namespace {

using internal::BoundTime;
using internal::CleanRootedPath;
using internal::kOverlayOpaqueXattr;
using internal::kOverlayXattrPrefix;
using internal::kWhiteoutPrefix;
using internal::Quote;
using internal::RootResolver;
using internal::SplitPath;
using internal::UpperSet;

// One buffer per apply: large enough that big files go out in few write(2) calls.
constexpr size_t kCopyBufferSize = size_t{1} << 20;

// atime is the later of the entry's atime and mtime, as containerd sets it.
void EntryTimes(const TarEntry& e, struct timespec times[2]) {
  const TarTime* atime = &e.mtime;
  if (e.atime && (e.atime->sec > e.mtime.sec ||
                  (e.atime->sec == e.mtime.sec && e.atime->nsec > e.mtime.nsec))) {
    atime = &*e.atime;
  }
  times[0] = BoundTime(*atime);
  times[1] = BoundTime(e.mtime);
}

Error Errno(int err, std::string_view what) { return ErrnoError(err, what); }

// A directory of this layer whose times are set once the whole layer is written.
struct DeferredDir {
  size_t path_begin;  // in LayerApplier::dir_paths_
  size_t path_len;
  dev_t dev;
  ino_t ino;
  struct timespec times[2];
};

// Applies one layer. Owns the descriptors it opens; borrows the root descriptor and options.
class LayerApplier {
 public:
  LayerApplier(int root_fd, const ApplyOptions& options)
      : options_(options),
        resolver_(root_fd, options.force_userspace_resolver_for_testing),
        buf_(std::make_unique_for_overwrite<char[]>(kCopyBufferSize)) {}

  Result<ApplyStats> Run(ByteSource& source);

 private:
  Status ApplyEntry(TarReader& reader, const TarEntry& e);
  Status ApplyWhiteout(const TarEntry& e, std::string_view dir, std::string_view base);
  Status ApplyOpaque(std::string_view dir);
  Status CreateDirectory(const TarEntry& e);
  // The root's own entry, with root_metadata: its metadata now, its times at the end.
  Status ApplyRoot(const TarEntry& e);
  Status CreateFile(TarReader& reader, const TarEntry& e);
  Status CreateSymlink(const TarEntry& e);
  Status CreateHardlink(const TarEntry& e);
  Status CreateSpecial(const TarEntry& e);
  Status CopyBody(TarReader& reader, int fd);
  // Owner, mode and xattrs through a descriptor (files and directories).
  Status SetFdMetadata(const TarEntry& e, int fd);
  // Owner, mode, xattrs and times by name in the parent (symlinks, devices, FIFOs).
  Status SetNamedMetadata(const TarEntry& e, bool is_symlink);
  Status SetXattrs(const TarEntry& e, int fd, bool is_symlink);
  // Removes whatever is at base_ in the parent, to make room for the entry.
  Status ClearName();
  Status FinishDirectoryTimes();
  Status CheckCancel() const {
    return options_.cancel != nullptr ? options_.cancel->Check() : OkStatus();
  }
  // Makes the parent cache hold the directory `dir` (a cleaned path); 0 or an errno.
  int OpenParent(std::string_view dir, bool create);
  // Copies a final component into base_, NUL-terminated.
  Status SetBase(std::string_view base);

  const ApplyOptions& options_;
  RootResolver resolver_;
  UpperSet upper_;
  ApplyStats stats_;
  std::unique_ptr<char[]> buf_;
  std::string path_;       // the current entry's cleaned name
  std::string link_path_;  // a hardlink's cleaned target
  char base_[NAME_MAX + 1] = {};

  // The directory of the previous entry: layers are mostly sorted, so consecutive entries share
  // it and skip path resolution. Every removal happens inside the cached directory or below
  // it, so it can never change what the cached path resolves to; no invalidation is needed.
  bool parent_valid_ = false;
  std::string parent_path_;
  UniqueFd parent_fd_;
  dev_t parent_dev_ = 0;
  ino_t parent_ino_ = 0;

  std::vector<DeferredDir> dirs_;
  std::string dir_paths_;  // the deferred directories' paths, back to back
  UniqueFd root_dir_;      // the root, opened by ApplyRoot; its times are set last
  struct timespec root_times_[2] = {};
};

Result<ApplyStats> LayerApplier::Run(ByteSource& source) {
  TarReader reader(&source);
  for (;;) {
    if (Status st = CheckCancel(); !st)
      return Unexpected(std::move(st.error()).Wrap("apply layer"));
    auto next = reader.Next();
    if (!next) return Unexpected(std::move(next.error()).Wrap("apply layer"));
    if (!next->has_value()) break;
    const TarEntry& e = **next;
    ++stats_.entries;
    if (Status st = ApplyEntry(reader, e); !st) {
      return Unexpected(std::move(st.error()).Wrap("entry " + Quote(e.name)).Wrap("apply layer"));
    }
  }
  if (Status st = FinishDirectoryTimes(); !st) {
    return Unexpected(std::move(st.error()).Wrap("apply layer"));
  }
  stats_.used_openat2 = resolver_.uses_openat2();
  return stats_;
}

int LayerApplier::OpenParent(std::string_view dir, bool create) {
  if (parent_valid_ && dir == parent_path_) return 0;
  UniqueFd fd;
  if (int r = resolver_.OpenDir(dir, create, &fd); r != 0) return r;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return errno;
  parent_fd_ = std::move(fd);
  parent_path_.assign(dir);
  parent_dev_ = st.st_dev;
  parent_ino_ = st.st_ino;
  parent_valid_ = true;
  return 0;
}

Status LayerApplier::SetBase(std::string_view base) {
  HOIST_TRY(internal::CheckComponentLength(base));
  std::memcpy(base_, base.data(), base.size());
  base_[base.size()] = '\0';
  return OkStatus();
}

Status LayerApplier::ApplyEntry(TarReader& reader, const TarEntry& e) {
  CleanRootedPath(e.name, &path_);
  HOIST_TRY(internal::CheckPathLength(path_));
  if (path_.empty()) {  // the root itself: containerd ignores such entries
    if (options_.root_metadata && e.type == TarEntryType::kDirectory) return ApplyRoot(e);
    ++stats_.ignored;
    return OkStatus();
  }
  std::string_view dir, base;
  SplitPath(path_, &dir, &base);
  if (base.starts_with(kWhiteoutPrefix)) return ApplyWhiteout(e, dir, base);
  HOIST_TRY(SetBase(base));

  // Validate before touching the filesystem.
  HOIST_TRY(internal::CheckEntryType(e));
  if (options_.restore_ownership) HOIST_TRY(internal::CheckOwner(e));

  if (int r = OpenParent(dir, /*create=*/true); r != 0) {
    return Unexpected(Errno(r, "open parent directory"));
  }
  if (!options_.overlay) upper_.Add(parent_dev_, parent_ino_, base);

  switch (e.type) {
    case TarEntryType::kDirectory:
      return CreateDirectory(e);
    case TarEntryType::kRegular:
      return CreateFile(reader, e);
    case TarEntryType::kSymlink:
      return CreateSymlink(e);
    case TarEntryType::kHardlink:
      return CreateHardlink(e);
    case TarEntryType::kCharDevice:
    case TarEntryType::kBlockDevice:
    case TarEntryType::kFifo:
      return CreateSpecial(e);
    case TarEntryType::kOther:
      break;
  }
  return MakeError(Code::kInternal, "unreachable entry type");
}

Status LayerApplier::ClearName() {
  if (int r = internal::RemoveTreeAt(parent_fd_.get(), base_); r != 0) {
    return Unexpected(Errno(r, "remove existing entry"));
  }
  return OkStatus();
}

Status LayerApplier::CreateDirectory(const TarEntry& e) {
  const int pfd = parent_fd_.get();
  if (::mkdirat(pfd, base_, 0700) != 0) {
    if (errno != EEXIST) return Unexpected(Errno(errno, "create directory"));
    struct stat st;
    if (::fstatat(pfd, base_, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Unexpected(Errno(errno, "stat existing entry"));
    }
    // A directory over a directory merges; anything else is replaced.
    if (!S_ISDIR(st.st_mode)) {
      HOIST_TRY(ClearName());
      if (::mkdirat(pfd, base_, 0700) != 0) return Unexpected(Errno(errno, "create directory"));
    }
  }
  UniqueFd dfd(::openat(pfd, base_, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dfd) return Unexpected(Errno(errno, "open directory"));
  struct stat st;
  if (::fstat(dfd.get(), &st) != 0) return Unexpected(Errno(errno, "stat directory"));
  HOIST_TRY(SetFdMetadata(e, dfd.get()));

  DeferredDir d;
  d.path_begin = dir_paths_.size();
  d.path_len = path_.size();
  d.dev = st.st_dev;
  d.ino = st.st_ino;
  EntryTimes(e, d.times);
  dir_paths_.append(path_);
  dirs_.push_back(d);
  ++stats_.dirs;

  // The next entries are most likely this directory's children.
  parent_fd_ = std::move(dfd);
  parent_path_.assign(path_);
  parent_dev_ = st.st_dev;
  parent_ino_ = st.st_ino;
  parent_valid_ = true;
  return OkStatus();
}

Status LayerApplier::ApplyRoot(const TarEntry& e) {
  if (options_.restore_ownership) HOIST_TRY(internal::CheckOwner(e));
  UniqueFd path_fd;
  if (int r = resolver_.OpenDir("", /*create=*/false, &path_fd); r != 0) {
    return Unexpected(Errno(r, "open root directory"));
  }
  // The resolver's descriptors are O_PATH, which fchmod and fchown refuse.
  UniqueFd dfd(::openat(path_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) return Unexpected(Errno(errno, "open root directory"));
  HOIST_TRY(SetFdMetadata(e, dfd.get()));
  EntryTimes(e, root_times_);
  root_dir_ = std::move(dfd);
  ++stats_.dirs;
  return OkStatus();
}

Status LayerApplier::CreateFile(TarReader& reader, const TarEntry& e) {
  const int pfd = parent_fd_.get();
  // O_EXCL: never open (and write through) whatever is there, be it a symlink or a hardlink
  // shared with another name; replace it instead.
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::openat(pfd, base_, kFlags, 0600);
  if (fd < 0 && errno == EEXIST) {
    HOIST_TRY(ClearName());
    fd = ::openat(pfd, base_, kFlags, 0600);
  }
  if (fd < 0) return Unexpected(Errno(errno, "create file"));
  UniqueFd file(fd);
  if (e.size > 0) HOIST_TRY(CopyBody(reader, file.get()));
  // After the body: writing clears security.capability, so xattrs come last but for times.
  HOIST_TRY(SetFdMetadata(e, file.get()));
  struct timespec times[2];
  EntryTimes(e, times);
  if (::futimens(file.get(), times) != 0) return Unexpected(Errno(errno, "set times"));
  ++stats_.files;
  return OkStatus();
}

Status LayerApplier::CopyBody(TarReader& reader, int fd) {
  char* buf = buf_.get();
  for (;;) {
    size_t filled = 0;
    while (filled < kCopyBufferSize) {
      HOIST_ASSIGN_OR_RETURN(size_t n, reader.Read(buf + filled, kCopyBufferSize - filled));
      if (n == 0) break;
      filled += n;
    }
    for (size_t done = 0; done < filled;) {
      ssize_t w = ::write(fd, buf + done, filled - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Unexpected(Errno(errno, "write file"));
      }
      done += static_cast<size_t>(w);
    }
    stats_.bytes_written += filled;
    if (filled < kCopyBufferSize) return OkStatus();
    HOIST_TRY(CheckCancel());
  }
}

Status LayerApplier::CreateSymlink(const TarEntry& e) {
  const int pfd = parent_fd_.get();
  HOIST_TRY(internal::CheckSymlinkTarget(e));
  // The target is stored as written; it is only ever resolved inside the root.
  if (::symlinkat(e.linkname.c_str(), pfd, base_) != 0) {
    if (errno != EEXIST) return Unexpected(Errno(errno, "create symlink"));
    HOIST_TRY(ClearName());
    if (::symlinkat(e.linkname.c_str(), pfd, base_) != 0) {
      return Unexpected(Errno(errno, "create symlink"));
    }
  }
  HOIST_TRY(SetNamedMetadata(e, /*is_symlink=*/true));
  ++stats_.symlinks;
  return OkStatus();
}

Status LayerApplier::CreateHardlink(const TarEntry& e) {
  const int pfd = parent_fd_.get();
  std::string_view tdir, tbase;
  HOIST_TRY(internal::CleanHardlinkTarget(e, &link_path_, &tdir, &tbase));
  char target_name[NAME_MAX + 1];
  std::memcpy(target_name, tbase.data(), tbase.size());
  target_name[tbase.size()] = '\0';

  // The target's directory is resolved inside the root (symlinks followed as in a chroot); its
  // final component is linked as it is, so a symlink there is linked itself, never followed.
  UniqueFd tfd;
  int r = resolver_.OpenDir(tdir, /*create=*/false, &tfd);
  struct stat tst;
  if (r == 0 && ::fstatat(tfd.get(), target_name, &tst, AT_SYMLINK_NOFOLLOW) != 0) r = errno;
  if (r != 0) {
    if (r == ENOTDIR) r = ENOENT;
    return Unexpected(Errno(r, "hardlink target " + Quote(e.linkname)));
  }
  if (S_ISDIR(tst.st_mode)) {
    return MakeError(Code::kInvalidArgument,
                     "hardlink target " + Quote(e.linkname) + " is a directory");
  }
  if (::linkat(tfd.get(), target_name, pfd, base_, 0) != 0) {
    if (errno != EEXIST) return Unexpected(Errno(errno, "create hardlink"));
    struct stat st;
    if (::fstatat(pfd, base_, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == tst.st_dev &&
        st.st_ino == tst.st_ino) {
      ++stats_.hardlinks;  // already the same inode (the entry names its own target)
      return OkStatus();
    }
    HOIST_TRY(ClearName());
    if (::linkat(tfd.get(), target_name, pfd, base_, 0) != 0) {
      return Unexpected(Errno(errno, "create hardlink"));
    }
  }
  // No owner, mode, xattrs or times: they belong to the shared inode, set by its own entry.
  ++stats_.hardlinks;
  return OkStatus();
}

Status LayerApplier::CreateSpecial(const TarEntry& e) {
  const int pfd = parent_fd_.get();
  mode_t type = S_IFIFO;
  dev_t dev = 0;
  if (e.type != TarEntryType::kFifo) {
    type = e.type == TarEntryType::kCharDevice ? S_IFCHR : S_IFBLK;
    uint32_t major = 0, minor = 0;
    HOIST_TRY(internal::CheckDeviceNumber(e, &major, &minor));
    dev = makedev(major, minor);
  }
  if (::mknodat(pfd, base_, type | 0600, dev) != 0) {
    if (errno != EEXIST) return Unexpected(Errno(errno, "create device or FIFO"));
    HOIST_TRY(ClearName());
    if (::mknodat(pfd, base_, type | 0600, dev) != 0) {
      return Unexpected(Errno(errno, "create device or FIFO"));
    }
  }
  HOIST_TRY(SetNamedMetadata(e, /*is_symlink=*/false));
  ++stats_.specials;
  return OkStatus();
}

Status LayerApplier::SetFdMetadata(const TarEntry& e, int fd) {
  // chown first: it clears set-id bits and security.capability, which come after.
  if (options_.restore_ownership &&
      ::fchown(fd, static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid)) != 0) {
    return Unexpected(Errno(errno, "chown"));
  }
  if (::fchmod(fd, e.mode & 07777) != 0) return Unexpected(Errno(errno, "chmod"));
  return SetXattrs(e, fd, /*is_symlink=*/false);
}

Status LayerApplier::SetNamedMetadata(const TarEntry& e, bool is_symlink) {
  const int pfd = parent_fd_.get();
  if (options_.restore_ownership &&
      ::fchownat(pfd, base_, static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid),
                 AT_SYMLINK_NOFOLLOW) != 0) {
    return Unexpected(Errno(errno, "chown"));
  }
  // Linux has no modes on symlinks. For the device or FIFO just made, following is moot.
  if (!is_symlink && ::fchmodat(pfd, base_, e.mode & 07777, 0) != 0) {
    return Unexpected(Errno(errno, "chmod"));
  }
  HOIST_TRY(SetXattrs(e, -1, is_symlink));
  struct timespec times[2];
  EntryTimes(e, times);
  if (::utimensat(pfd, base_, times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Unexpected(Errno(errno, "set times"));
  }
  return OkStatus();
}

Status LayerApplier::SetXattrs(const TarEntry& e, int fd, bool is_symlink) {
  if (e.xattrs.empty()) return OkStatus();
  // Without a descriptor (symlinks, devices, FIFOs, which cannot be opened for this), go
  // through the parent's descriptor in /proc; lsetxattr does not follow the final name.
  char proc_path[64 + NAME_MAX];
  if (fd < 0) {
    std::snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d/%s", parent_fd_.get(), base_);
  }
  for (const auto& [name, value] : e.xattrs) {
    std::string_view n = name;
    if (n.starts_with(kOverlayXattrPrefix)) {
      ++stats_.xattrs_skipped;
      continue;
    }
    int r = fd >= 0 ? ::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0)
                    : ::lsetxattr(proc_path, name.c_str(), value.data(), value.size(), 0);
    if (r == 0) continue;
    int err = errno;
    if ((err == EOPNOTSUPP || err == ENOTSUP) && n != "security.capability") {
      ++stats_.xattrs_skipped;
      continue;
    }
    if (err == EPERM && is_symlink && n.starts_with("user.")) {
      ++stats_.xattrs_skipped;
      continue;
    }
    return Unexpected(Errno(err, "set xattr " + Quote(name)));
  }
  return OkStatus();
}

Status LayerApplier::ApplyWhiteout(const TarEntry& e, std::string_view dir, std::string_view base) {
  std::string_view target;
  HOIST_ASSIGN_OR_RETURN(internal::WhiteoutKind kind, internal::ClassifyWhiteout(e, base, &target));
  if (kind == internal::WhiteoutKind::kOpaque) return ApplyOpaque(dir);
  if (kind == internal::WhiteoutKind::kAufsMeta) {
    ++stats_.ignored;
    return OkStatus();
  }
  HOIST_TRY(SetBase(target));
  ++stats_.whiteouts;
  // The marker says its directory exists in this layer, so it is created like any parent.
  if (int r = OpenParent(dir, /*create=*/true); r != 0) {
    return Unexpected(Errno(r, "open parent directory"));
  }
  const int pfd = parent_fd_.get();
  struct stat st;
  bool exists = ::fstatat(pfd, base_, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT) return Unexpected(Errno(errno, "stat whiteout target"));

  if (options_.overlay) {
    if (!exists) {
      if (::mknodat(pfd, base_, S_IFCHR, makedev(0, 0)) != 0) {
        return Unexpected(Errno(errno, "create overlay whiteout"));
      }
    } else if (S_ISDIR(st.st_mode)) {
      // This layer's own directory of that name stays; only the lower one is hidden.
      UniqueFd dfd(::openat(pfd, base_, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!dfd || ::fsetxattr(dfd.get(), kOverlayOpaqueXattr, "y", 1, 0) != 0) {
        return Unexpected(Errno(errno, "mark directory opaque"));
      }
    }
    // A non-directory of this layer hides the lower one by itself.
    return OkStatus();
  }

  upper_.AddDir(parent_dev_, parent_ino_);
  if (!exists) return OkStatus();
  struct stat pst;
  if (::fstat(pfd, &pst) != 0) return Unexpected(Errno(errno, "stat directory"));
  bool is_upper = upper_.Contains(parent_dev_, parent_ino_, target);
  bool removed = false;
  if (S_ISDIR(st.st_mode)) {
    // Lower content goes; whatever this layer put there stays.
    UniqueFd dfd(::openat(pfd, base_, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dfd) return Unexpected(Errno(errno, "open whiteout target"));
    bool kept = false;
    if (int r = internal::PruneLower(dfd.get(), upper_, &kept); r != 0) {
      return Unexpected(Errno(r, "remove whiteout target"));
    }
    if (!is_upper && !kept && !upper_.ContainsDir(st.st_dev, st.st_ino)) {
      if (::unlinkat(pfd, base_, AT_REMOVEDIR) != 0) {
        return Unexpected(Errno(errno, "remove whiteout target"));
      }
      removed = true;
    }
  } else if (!is_upper) {
    if (::unlinkat(pfd, base_, 0) != 0) return Unexpected(Errno(errno, "remove whiteout target"));
    removed = true;
  }
  if (removed) {
    struct timespec times[2] = {pst.st_atim, pst.st_mtim};
    if (int r = internal::SetTimesOnFd(pfd, times); r != 0) {
      return Unexpected(Errno(r, "restore directory times"));
    }
  }
  return OkStatus();
}

Status LayerApplier::ApplyOpaque(std::string_view dir) {
  ++stats_.whiteouts;
  if (int r = OpenParent(dir, /*create=*/true); r != 0) {
    return Unexpected(Errno(r, "open directory"));
  }
  UniqueFd dfd(::openat(parent_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) return Unexpected(Errno(errno, "open directory"));
  if (options_.overlay) {
    if (::fsetxattr(dfd.get(), kOverlayOpaqueXattr, "y", 1, 0) != 0) {
      return Unexpected(Errno(errno, "mark directory opaque"));
    }
    return OkStatus();
  }
  upper_.AddDir(parent_dev_, parent_ino_);
  bool kept = false;
  if (int r = internal::PruneLower(dfd.get(), upper_, &kept); r != 0) {
    return Unexpected(Errno(r, "empty opaque directory"));
  }
  return OkStatus();
}

Status LayerApplier::FinishDirectoryTimes() {
  for (const DeferredDir& d : dirs_) {
    std::string_view path(dir_paths_.data() + d.path_begin, d.path_len);
    std::string_view dir, base;
    SplitPath(path, &dir, &base);
    HOIST_TRY(SetBase(base));
    // Skip directories that later entries removed or replaced.
    if (OpenParent(dir, /*create=*/false) != 0) continue;
    struct stat st;
    if (::fstatat(parent_fd_.get(), base_, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISDIR(st.st_mode) || st.st_dev != d.dev || st.st_ino != d.ino) continue;
    if (::utimensat(parent_fd_.get(), base_, d.times, AT_SYMLINK_NOFOLLOW) != 0) {
      return Unexpected(Errno(errno, "set times of directory " + Quote(path)));
    }
  }
  if (root_dir_ && ::futimens(root_dir_.get(), root_times_) != 0) {
    return Unexpected(Errno(errno, "set times of the root directory"));
  }
  return OkStatus();
}

}  // namespace

Result<ApplyStats> ApplyLayer(ByteSource& tar_stream, int root_fd, const ApplyOptions& options) {
  LayerApplier applier(root_fd, options);
  return applier.Run(tar_stream);
}

Result<ApplyStats> ApplyLayer(ByteSource& tar_stream, const std::string& root_path,
                              const ApplyOptions& options) {
  UniqueFd root(::open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Unexpected(ErrnoError(errno, "apply layer: open root " + root_path));
  return ApplyLayer(tar_stream, root.get(), options);
}

}  // namespace hoist::archive
