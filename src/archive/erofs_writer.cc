#include "archive/erofs_writer.h"

#include <endian.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "archive/internal/erofs_image.h"
#include "archive/internal/erofs_tree.h"
#include "archive/internal/layer_rules.h"
#include "archive/internal/root_resolver.h"
#include "archive/tar_reader.h"
#include "base/direct_io.h"

namespace hoist::archive {
namespace {

using internal::ErofsTree;
using internal::kErofsBlockSize;
using internal::Quote;

// One buffer per write: file bodies go out in 1 MiB pwrites.
constexpr size_t kCopyBufferSize = size_t{1} << 20;
// Files smaller than a block are kept in memory and written inline after their inode (as
// mkfs.erofs does), which saves most of a block each; up to this many bytes in all, so that a
// layer of millions of small files still takes bounded memory.
constexpr uint64_t kInlineBudget = uint64_t{64} << 20;
// Linux's limits on one extended attribute (XATTR_NAME_MAX, XATTR_SIZE_MAX).
constexpr size_t kXattrNameMax = 255;
constexpr size_t kXattrSizeMax = 65536;
// EROFS stores a value's size in 16 bits.
constexpr size_t kErofsXattrValueMax = 65535;

Error Errno(int err, std::string_view what) { return ErrnoError(err, what); }

// Linux's 32-bit device number encoding (new_encode_dev), which EROFS stores.
uint32_t EncodeDev(uint32_t major, uint32_t minor) {
  return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

// security.capability as the kernel stores it (cap_convert_nscap): a v2 value as given, a v3
// value with its flags reduced to "effective"; any other shape is EINVAL.
bool NormalizeCapability(std::string* value) {
  constexpr uint32_t kEffective = 1;
  constexpr uint32_t kRevision2 = 0x02000000, kRevision3 = 0x03000000;
  constexpr size_t kSize2 = 20, kSize3 = 24;
  if (value->size() < 4) return false;
  uint32_t magic;
  std::memcpy(&magic, value->data(), 4);
  magic = le32toh(magic);
  if (value->size() == kSize2 && (magic & ~kEffective) == kRevision2) return true;
  if (value->size() != kSize3 || (magic & ~kEffective) != kRevision3) return false;
  uint32_t rootid;
  std::memcpy(&rootid, value->data() + 20, 4);
  if (le32toh(rootid) == UINT32_MAX) return false;
  magic = htole32(kRevision3 | (magic & kEffective));
  std::memcpy(value->data(), &magic, 4);
  return true;
}

// A directory entry of the layer whose times are set once the whole layer is read, where its
// path still leads to it (as ApplyLayer does, so later entries cannot move them).
struct DeferredDir {
  std::string path;
  uint32_t inode;
  struct timespec mtime;
};

// Builds the tree of one layer, streaming file bodies into the image, then writes the
// metadata. Borrows the output descriptor and the options.
class ErofsLayerWriter {
 public:
  ErofsLayerWriter(int fd, const ErofsWriteOptions& options)
      : fd_(fd),
        options_(options),
        tree_(options.build_time),
        buf_(std::make_unique_for_overwrite<char[]>(kCopyBufferSize)),
        bodies_(fd, kErofsBlockSize, "EROFS image") {}

  Result<ApplyStats> Run(ByteSource& source);

 private:
  Status AddEntry(TarReader& reader, const TarEntry& e);
  Status AddWhiteout(const TarEntry& e, std::string_view dir, std::string_view base);
  Status AddDirectory(const TarEntry& e);
  Status AddFile(TarReader& reader, const TarEntry& e);
  Status AddSymlink(const TarEntry& e);
  Status AddHardlink(const TarEntry& e);
  Status AddSpecial(const TarEntry& e);
  // Removes whatever is at base_ in parent_, to make room for the entry.
  Status ClearName();
  // Links a new inode of `mode` at base_ in parent_ and gives it the entry's owner.
  uint32_t NewNode(const TarEntry& e, uint32_t mode);
  Status SetXattrs(const TarEntry& e, uint32_t inode);
  void MarkOpaque(uint32_t dir);
  Status CopyBody(TarReader& reader, uint64_t* size, uint32_t* blkaddr);
  void FinishDirectoryTimes();
  Status CheckCancel() const {
    return options_.cancel != nullptr ? options_.cancel->Check() : OkStatus();
  }

  int fd_;
  const ErofsWriteOptions& options_;
  ErofsTree tree_;
  ApplyStats stats_;
  std::unique_ptr<char[]> buf_;
  // File bodies, block after block from block 1 on, mostly around the page cache (an image
  // is read through its mount, rarely and later); the caller syncs the image.
  DirectAppender bodies_;
  uint32_t next_block_ = 1;  // block 0 holds the superblock
  uint64_t inline_budget_ = kInlineBudget;
  std::string path_;
  std::string link_path_;
  uint32_t parent_ = ErofsTree::kRootDir;  // the entry's directory
  std::string_view base_;                  // the entry's final component, in path_
  std::vector<DeferredDir> dirs_;
};

Result<ApplyStats> ErofsLayerWriter::Run(ByteSource& source) {
  TarReader reader(&source);
  for (;;) {
    if (Status st = CheckCancel(); !st) {
      return Unexpected(std::move(st.error()).Wrap("write EROFS layer"));
    }
    auto next = reader.Next();
    if (!next) return Unexpected(std::move(next.error()).Wrap("write EROFS layer"));
    if (!next->has_value()) break;
    const TarEntry& e = **next;
    ++stats_.entries;
    if (Status st = AddEntry(reader, e); !st) {
      return Unexpected(
          std::move(st.error()).Wrap("entry " + Quote(e.name)).Wrap("write EROFS layer"));
    }
  }
  FinishDirectoryTimes();
  if (Status st = bodies_.Flush(); !st) {
    return Unexpected(std::move(st.error()).Wrap("write EROFS layer"));
  }
  if (Status st = internal::WriteErofsMetadata(tree_, fd_, next_block_); !st) {
    return Unexpected(std::move(st.error()).Wrap("write EROFS layer"));
  }
  return stats_;
}

Status ErofsLayerWriter::AddEntry(TarReader& reader, const TarEntry& e) {
  internal::CleanRootedPath(e.name, &path_);
  HOIST_TRY(internal::CheckPathLength(path_));
  if (path_.empty()) {  // the root itself: ignored, as ApplyLayer ignores it
    ++stats_.ignored;
    return OkStatus();
  }
  std::string_view dir, base;
  internal::SplitPath(path_, &dir, &base);
  if (base.starts_with(internal::kWhiteoutPrefix)) return AddWhiteout(e, dir, base);
  HOIST_TRY(internal::CheckComponentLength(base));
  HOIST_TRY(internal::CheckEntryType(e));
  HOIST_TRY(internal::CheckOwner(e));
  if (int r = tree_.ResolveDir(dir, /*create=*/true, &parent_); r != 0) {
    return Unexpected(Errno(r, "open parent directory"));
  }
  base_ = base;
  switch (e.type) {
    case TarEntryType::kDirectory:
      return AddDirectory(e);
    case TarEntryType::kRegular:
      return AddFile(reader, e);
    case TarEntryType::kSymlink:
      return AddSymlink(e);
    case TarEntryType::kHardlink:
      return AddHardlink(e);
    case TarEntryType::kCharDevice:
    case TarEntryType::kBlockDevice:
    case TarEntryType::kFifo:
      return AddSpecial(e);
    case TarEntryType::kOther:
      break;
  }
  return MakeError(Code::kInternal, "unreachable entry type");
}

Status ErofsLayerWriter::ClearName() {
  if (int r = tree_.Remove(parent_, base_); r != 0) {
    return Unexpected(Errno(r, "remove existing entry"));
  }
  return OkStatus();
}

uint32_t ErofsLayerWriter::NewNode(const TarEntry& e, uint32_t mode) {
  uint32_t inode = tree_.NewInode(mode, parent_);
  tree_.Link(parent_, base_, inode);
  internal::ErofsInode& ino = tree_.inode(inode);
  ino.uid = static_cast<uint32_t>(e.uid);
  ino.gid = static_cast<uint32_t>(e.gid);
  struct timespec t = internal::BoundTime(e.mtime);
  ino.mtime = t.tv_sec;
  ino.mtime_nsec = static_cast<uint32_t>(t.tv_nsec);
  return inode;
}

Status ErofsLayerWriter::AddDirectory(const TarEntry& e) {
  std::optional<uint32_t> existing = tree_.Lookup(parent_, base_);
  uint32_t inode;
  // A directory over a directory merges: children and xattrs stay, the rest is the entry's.
  if (existing && S_ISDIR(tree_.inode(*existing).mode)) {
    inode = *existing;
    internal::ErofsInode& ino = tree_.inode(inode);
    ino.uid = static_cast<uint32_t>(e.uid);
    ino.gid = static_cast<uint32_t>(e.gid);
  } else {
    if (existing) HOIST_TRY(ClearName());
    inode = NewNode(e, S_IFDIR);
    tree_.inode(inode).mtime = options_.build_time;  // until FinishDirectoryTimes
    tree_.inode(inode).mtime_nsec = 0;
  }
  tree_.inode(inode).mode = S_IFDIR | (e.mode & 07777);
  HOIST_TRY(SetXattrs(e, inode));
  dirs_.push_back({path_, inode, internal::BoundTime(e.mtime)});
  ++stats_.dirs;
  return OkStatus();
}

Status ErofsLayerWriter::AddFile(TarReader& reader, const TarEntry& e) {
  // Never write through an existing name (it may be a hardlink shared with another): replace.
  if (tree_.Lookup(parent_, base_)) HOIST_TRY(ClearName());
  uint64_t size = 0;
  uint32_t blkaddr = 0;
  std::string small;
  if (e.size > 0 && static_cast<uint64_t>(e.size) < kErofsBlockSize &&
      static_cast<uint64_t>(e.size) <= inline_budget_) {
    HOIST_ASSIGN_OR_RETURN(small, reader.ReadBody(kErofsBlockSize - 1));
    inline_budget_ -= small.size();
    stats_.bytes_written += small.size();
  } else {
    HOIST_TRY(CopyBody(reader, &size, &blkaddr));
  }
  uint32_t inode = NewNode(e, S_IFREG | (e.mode & 07777));
  tree_.inode(inode).size = size;
  tree_.inode(inode).blkaddr = blkaddr;
  if (!small.empty()) tree_.SetTarget(inode, std::move(small));
  HOIST_TRY(SetXattrs(e, inode));
  ++stats_.files;
  return OkStatus();
}

Status ErofsLayerWriter::CopyBody(TarReader& reader, uint64_t* size, uint32_t* blkaddr) {
  HOIST_TRY(bodies_.ZeroTo(uint64_t{next_block_} * kErofsBlockSize));
  uint64_t done = 0;
  char* buf = buf_.get();
  for (;;) {
    size_t filled = 0;
    while (filled < kCopyBufferSize) {
      HOIST_ASSIGN_OR_RETURN(size_t n, reader.Read(buf + filled, kCopyBufferSize - filled));
      if (n == 0) break;
      filled += n;
    }
    if (next_block_ + (done + filled + kErofsBlockSize - 1) / kErofsBlockSize > UINT32_MAX) {
      return MakeError(Code::kResourceExhausted, "layer too large for an EROFS image (16 TiB)");
    }
    HOIST_TRY(bodies_.Append(std::string_view(buf, filled)));
    done += filled;
    stats_.bytes_written += filled;
    if (filled < kCopyBufferSize) break;
    HOIST_TRY(CheckCancel());
  }
  *size = done;
  *blkaddr = done == 0 ? 0 : next_block_;
  next_block_ += static_cast<uint32_t>((done + kErofsBlockSize - 1) / kErofsBlockSize);
  return OkStatus();
}

Status ErofsLayerWriter::AddSymlink(const TarEntry& e) {
  HOIST_TRY(internal::CheckSymlinkTarget(e));
  if (e.linkname.empty()) return Unexpected(Errno(ENOENT, "create symlink"));
  if (tree_.Lookup(parent_, base_)) HOIST_TRY(ClearName());
  uint32_t inode = NewNode(e, S_IFLNK | 0777);  // Linux has no modes on symlinks
  tree_.SetTarget(inode, e.linkname);
  HOIST_TRY(SetXattrs(e, inode));
  ++stats_.symlinks;
  return OkStatus();
}

Status ErofsLayerWriter::AddHardlink(const TarEntry& e) {
  std::string_view tdir, tbase;
  HOIST_TRY(internal::CleanHardlinkTarget(e, &link_path_, &tdir, &tbase));
  // The target's directory is resolved inside the root; its final component is linked as it
  // is, so a symlink there is linked itself.
  uint32_t target_dir = ErofsTree::kRootDir;
  int r = tree_.ResolveDir(tdir, /*create=*/false, &target_dir);
  std::optional<uint32_t> target;
  if (r == 0) {
    target = tree_.Lookup(target_dir, tbase);
    if (!target) r = ENOENT;
  }
  if (r != 0) {
    if (r == ENOTDIR) r = ENOENT;
    return Unexpected(Errno(r, "hardlink target " + Quote(e.linkname)));
  }
  if (S_ISDIR(tree_.inode(*target).mode)) {
    return MakeError(Code::kInvalidArgument,
                     "hardlink target " + Quote(e.linkname) + " is a directory");
  }
  if (std::optional<uint32_t> existing = tree_.Lookup(parent_, base_)) {
    if (*existing == *target) {  // already the same inode (the entry names its own target)
      ++stats_.hardlinks;
      return OkStatus();
    }
    HOIST_TRY(ClearName());
    // Clearing the name may have removed the target with it.
    target = tree_.Lookup(target_dir, tbase);
    if (!target) return Unexpected(Errno(ENOENT, "create hardlink"));
  }
  // No owner, mode, xattrs or times: they belong to the shared inode, set by its own entry.
  tree_.Link(parent_, base_, *target);
  ++stats_.hardlinks;
  return OkStatus();
}

Status ErofsLayerWriter::AddSpecial(const TarEntry& e) {
  uint32_t type = S_IFIFO, major = 0, minor = 0;
  if (e.type != TarEntryType::kFifo) {
    type = e.type == TarEntryType::kCharDevice ? S_IFCHR : S_IFBLK;
    HOIST_TRY(internal::CheckDeviceNumber(e, &major, &minor));
  }
  if (tree_.Lookup(parent_, base_)) HOIST_TRY(ClearName());
  uint32_t inode = NewNode(e, type | (e.mode & 07777));
  if (type != S_IFIFO) tree_.inode(inode).rdev = EncodeDev(major, minor);
  HOIST_TRY(SetXattrs(e, inode));
  ++stats_.specials;
  return OkStatus();
}

// The xattrs that ApplyLayer would leave on the inode: Linux's setxattr(2) checks in its order,
// then what EROFS can hold. Names in namespaces without an EROFS index are dropped, as
// ApplyLayer drops the ones its filesystem does not support.
Status ErofsLayerWriter::SetXattrs(const TarEntry& e, uint32_t inode) {
  if (e.xattrs.empty()) return OkStatus();
  const uint32_t mode = tree_.inode(inode).mode;
  for (const auto& [name, raw_value] : e.xattrs) {
    std::string_view n = name;
    if (n.starts_with(internal::kOverlayXattrPrefix)) {
      ++stats_.xattrs_skipped;
      continue;
    }
    const std::string what = "set xattr " + Quote(name);
    if (n.empty() || n.size() > kXattrNameMax) return Unexpected(Errno(ERANGE, what));
    if (raw_value.size() > kXattrSizeMax) return Unexpected(Errno(E2BIG, what));
    if (n.starts_with("user.") && !S_ISREG(mode) && !S_ISDIR(mode)) {
      if (!S_ISLNK(mode)) return Unexpected(Errno(EPERM, what));
      ++stats_.xattrs_skipped;  // Linux forbids user.* on symlinks; ApplyLayer tolerates it
      continue;
    }
    std::optional<internal::XattrIndex> idx = internal::ErofsXattrIndex(n);
    if (!idx) {
      ++stats_.xattrs_skipped;
      continue;
    }
    if (n.size() == idx->prefix_len && n.back() == '.') return Unexpected(Errno(EINVAL, what));
    if (n.starts_with("system.posix_acl_") && S_ISLNK(mode)) {
      ++stats_.xattrs_skipped;  // no ACLs on symlinks
      continue;
    }
    std::string value = raw_value;
    if (n == internal::kCapabilityXattr && !NormalizeCapability(&value)) {
      return Unexpected(Errno(EINVAL, what));
    }
    if (value.size() > kErofsXattrValueMax) {
      return MakeError(Code::kInvalidArgument, what + ": value too large for EROFS");
    }
    internal::XattrMap& xattrs = tree_.MutableXattrs(inode);
    xattrs.insert_or_assign(name, std::move(value));
    if (internal::ErofsXattrBodySize(xattrs) > UINT16_MAX * 4) {
      return MakeError(Code::kInvalidArgument, what + ": too many extended attributes for EROFS");
    }
  }
  return OkStatus();
}

void ErofsLayerWriter::MarkOpaque(uint32_t dir) {
  tree_.MutableXattrs(tree_.dir(dir).inode).insert_or_assign(internal::kOverlayOpaqueXattr, "y");
}

Status ErofsLayerWriter::AddWhiteout(const TarEntry& e, std::string_view dir,
                                     std::string_view base) {
  std::string_view target;
  HOIST_ASSIGN_OR_RETURN(internal::WhiteoutKind kind, internal::ClassifyWhiteout(e, base, &target));
  if (kind == internal::WhiteoutKind::kAufsMeta) {
    ++stats_.ignored;
    return OkStatus();
  }
  ++stats_.whiteouts;
  // The marker says its directory exists in this layer, so it is created like any parent.
  uint32_t d = ErofsTree::kRootDir;
  if (int r = tree_.ResolveDir(dir, /*create=*/true, &d); r != 0) {
    return Unexpected(Errno(
        r, kind == internal::WhiteoutKind::kOpaque ? "open directory" : "open parent directory"));
  }
  if (kind == internal::WhiteoutKind::kOpaque) {
    MarkOpaque(d);
    return OkStatus();
  }
  std::optional<uint32_t> existing = tree_.Lookup(d, target);
  if (!existing) {
    // An overlayfs whiteout: a 0:0 character device, made as ApplyLayer's mknod makes it.
    uint32_t inode = tree_.NewInode(S_IFCHR, d);
    tree_.Link(d, target, inode);
  } else if (S_ISDIR(tree_.inode(*existing).mode)) {
    // This layer's own directory of that name stays; only the lower one is hidden.
    MarkOpaque(tree_.inode(*existing).aux);
  }
  // A non-directory of this layer hides the lower one by itself.
  return OkStatus();
}

void ErofsLayerWriter::FinishDirectoryTimes() {
  for (const DeferredDir& d : dirs_) {
    std::string_view dir, base;
    internal::SplitPath(d.path, &dir, &base);
    // Skip directories that later entries removed, replaced or moved out of their path's way.
    uint32_t parent = ErofsTree::kRootDir;
    if (tree_.ResolveDir(dir, /*create=*/false, &parent) != 0) continue;
    if (tree_.Lookup(parent, base) != d.inode) continue;
    internal::ErofsInode& ino = tree_.inode(d.inode);
    ino.mtime = d.mtime.tv_sec;
    ino.mtime_nsec = static_cast<uint32_t>(d.mtime.tv_nsec);
  }
}

}  // namespace

Result<ApplyStats> WriteLayerErofs(ByteSource& tar_stream, int out_fd,
                                   const ErofsWriteOptions& options) {
  ErofsLayerWriter writer(out_fd, options);
  return writer.Run(tar_stream);
}

}  // namespace hoist::archive
