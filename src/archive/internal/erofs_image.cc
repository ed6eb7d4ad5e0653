#include "archive/internal/erofs_image.h"

#include <endian.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace hoist::archive::internal {
namespace {

constexpr uint64_t kSuperblockOffset = 1024;
constexpr size_t kSuperblockSize = 128;
constexpr size_t kInodeSize = 64;  // erofs_inode_extended
constexpr size_t kXattrHeaderSize = 12;
constexpr size_t kXattrEntryHeaderSize = 4;
constexpr size_t kDirentSize = 12;
constexpr uint64_t kSlotSize = 32;  // nids count 32-byte slots of the metadata area
constexpr size_t kFlushSize = size_t{1} << 20;

// i_format: bit 0 is the inode version (1: extended), bits 1-3 the data layout.
constexpr uint16_t kLayoutFlatPlain = 0;
constexpr uint16_t kLayoutFlatInline = 2;
constexpr uint16_t kExtendedInode = 1;

// EROFS xattr name indexes (the kernel's handlers; 5, Lustre, has none).
constexpr uint8_t kXattrUser = 1;
constexpr uint8_t kXattrPosixAclAccess = 2;
constexpr uint8_t kXattrPosixAclDefault = 3;
constexpr uint8_t kXattrTrusted = 4;
constexpr uint8_t kXattrSecurity = 6;

void Put16(char* p, uint16_t v) {
  v = htole16(v);
  std::memcpy(p, &v, 2);
}
void Put32(char* p, uint32_t v) {
  v = htole32(v);
  std::memcpy(p, &v, 4);
}
void Put64(char* p, uint64_t v) {
  v = htole64(v);
  std::memcpy(p, &v, 8);
}

uint64_t RoundUp(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

// The dirent file type (the kernel's FT_* values).
uint8_t FileType(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 1;
    case S_IFDIR:
      return 2;
    case S_IFCHR:
      return 3;
    case S_IFBLK:
      return 4;
    case S_IFIFO:
      return 5;
    case S_IFSOCK:
      return 6;
    case S_IFLNK:
      return 7;
    default:
      return 0;
  }
}

Status PwriteAll(int fd, const char* data, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, "write EROFS image"));
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return OkStatus();
}

// Appends bytes at increasing absolute offsets of the image and writes them out in large
// chunks; the gaps between records are zeros.
class SequentialWriter {
 public:
  SequentialWriter(int fd, uint64_t start) : fd_(fd), base_(start) {}
  // Returns a zeroed span of n bytes at image offset `offset` (>= everything placed so far).
  Result<char*> Place(uint64_t offset, size_t n) {
    if (buf_.size() >= kFlushSize) HOIST_TRY(Flush());
    uint64_t rel = offset - base_;
    buf_.resize(rel + n, '\0');
    return buf_.data() + rel;
  }
  Status Flush() {
    HOIST_TRY(PwriteAll(fd_, buf_.data(), buf_.size(), base_));
    base_ += buf_.size();
    buf_.clear();
    return OkStatus();
  }

 private:
  int fd_;
  uint64_t base_;
  std::string buf_;
};

struct DirEntryRef {
  std::string_view name;
  uint32_t inode;
};

// A directory's entries, "." and ".." included, in the bytewise order EROFS requires.
void SortedEntries(const ErofsTree& tree, uint32_t dir_index, std::vector<DirEntryRef>* out) {
  const ErofsDir& d = tree.dir(dir_index);
  out->clear();
  out->reserve(d.children.size() + 2);
  out->push_back({".", d.inode});
  out->push_back({"..", tree.dir(d.parent).inode});
  for (const auto& [name, inode] : d.children) out->push_back({name, inode});
  std::sort(out->begin(), out->end(),
            [](const DirEntryRef& a, const DirEntryRef& b) { return a.name < b.name; });
}

// Packs entries into directory blocks. With `out`, writes them (zero padding between blocks);
// returns the directory's size either way: whole blocks, then the last block up to its last name.
uint64_t PackDir(const ErofsTree& tree, const std::vector<DirEntryRef>& ents, std::string* out) {
  uint64_t size = 0;
  size_t i = 0;
  while (i < ents.size()) {
    size_t n = 0, used = 0;
    while (i + n < ents.size() && used + kDirentSize + ents[i + n].name.size() <= kErofsBlockSize) {
      used += kDirentSize + ents[i + n].name.size();
      ++n;
    }
    if (out != nullptr) {
      size_t block = out->size();
      out->resize(block + kErofsBlockSize, '\0');
      char* p = out->data() + block;
      size_t nameoff = n * kDirentSize;
      for (size_t k = 0; k < n; ++k) {
        const DirEntryRef& e = ents[i + k];
        const ErofsInode& ino = tree.inode(e.inode);
        Put64(p + k * kDirentSize, ino.nid);
        Put16(p + k * kDirentSize + 8, static_cast<uint16_t>(nameoff));
        p[k * kDirentSize + 10] = static_cast<char>(FileType(ino.mode));
        std::memcpy(p + nameoff, e.name.data(), e.name.size());
        nameoff += e.name.size();
      }
    }
    i += n;
    size = (i < ents.size()) ? size + kErofsBlockSize : size + used;
  }
  if (out != nullptr) out->resize(size);
  return size;
}

// Where an inode's data goes; decided once, used when sizing and when writing.
struct DataPlan {
  uint16_t layout = kLayoutFlatPlain;
  uint64_t size = 0;         // i_size
  uint64_t inline_size = 0;  // bytes after the inode and its xattrs
  uint64_t blocks = 0;       // whole blocks in the area after the metadata
};

DataPlan PlanData(const ErofsTree& tree, uint32_t inode, uint64_t xattr_size,
                  std::vector<DirEntryRef>* scratch) {
  const ErofsInode& ino = tree.inode(inode);
  DataPlan plan;
  uint64_t room = kErofsBlockSize - kInodeSize - std::min(xattr_size, kErofsBlockSize - kInodeSize);
  if (S_ISDIR(ino.mode)) {
    SortedEntries(tree, ino.aux, scratch);
    plan.size = PackDir(tree, *scratch, nullptr);
  } else if (S_ISLNK(ino.mode) || (S_ISREG(ino.mode) && ino.aux != kNoIndex)) {
    plan.size = ino.size;
  } else {
    plan.size = S_ISREG(ino.mode) ? ino.size : 0;
    return plan;  // other file bodies are already in the data area
  }
  uint64_t tail = plan.size % kErofsBlockSize;
  if (tail != 0 && tail <= room) {
    plan.layout = kLayoutFlatInline;
    plan.inline_size = tail;
    plan.blocks = plan.size / kErofsBlockSize;
  } else {
    plan.blocks = RoundUp(plan.size, kErofsBlockSize) / kErofsBlockSize;
  }
  return plan;
}

void EncodeXattrs(const XattrMap& xattrs, char* p) {
  // Header: no name filter, no shared xattrs.
  std::memset(p, 0, kXattrHeaderSize);
  p += kXattrHeaderSize;
  for (const auto& [name, value] : xattrs) {
    std::optional<XattrIndex> idx = ErofsXattrIndex(name);
    std::string_view suffix = std::string_view(name).substr(idx->prefix_len);
    p[0] = static_cast<char>(suffix.size());
    p[1] = static_cast<char>(idx->index);
    Put16(p + 2, static_cast<uint16_t>(value.size()));
    std::memcpy(p + kXattrEntryHeaderSize, suffix.data(), suffix.size());
    std::memcpy(p + kXattrEntryHeaderSize + suffix.size(), value.data(), value.size());
    p += RoundUp(kXattrEntryHeaderSize + suffix.size() + value.size(), 4);
  }
}

void EncodeInode(const ErofsInode& ino, const DataPlan& plan, uint64_t xattr_size, uint32_t blkaddr,
                 char* p) {
  Put16(p + 0, static_cast<uint16_t>(kExtendedInode | (plan.layout << 1)));
  Put16(p + 2,
        static_cast<uint16_t>(xattr_size == 0 ? 0 : (xattr_size - kXattrHeaderSize) / 4 + 1));
  Put16(p + 4, static_cast<uint16_t>(ino.mode));
  Put64(p + 8, plan.size);
  uint32_t iu = (S_ISCHR(ino.mode) || S_ISBLK(ino.mode)) ? ino.rdev : blkaddr;
  Put32(p + 16, iu);
  Put32(p + 20, ino.ino);
  Put32(p + 24, ino.uid);
  Put32(p + 28, ino.gid);
  Put64(p + 32, static_cast<uint64_t>(ino.mtime));
  Put32(p + 40, ino.mtime_nsec);
  Put32(p + 44, ino.nlink);
}

}  // namespace

std::optional<XattrIndex> ErofsXattrIndex(std::string_view name) {
  struct Prefix {
    std::string_view prefix;
    uint8_t index;
    bool whole;  // the name must be exactly the prefix
  };
  static constexpr Prefix kPrefixes[] = {
      {"user.", kXattrUser, false},
      {"system.posix_acl_access", kXattrPosixAclAccess, true},
      {"system.posix_acl_default", kXattrPosixAclDefault, true},
      {"trusted.", kXattrTrusted, false},
      {"security.", kXattrSecurity, false},
  };
  for (const Prefix& p : kPrefixes) {
    if (p.whole ? name == p.prefix : name.starts_with(p.prefix)) {
      return XattrIndex{p.index, static_cast<uint8_t>(p.prefix.size())};
    }
  }
  return std::nullopt;
}

uint64_t ErofsXattrBodySize(const XattrMap& xattrs) {
  if (xattrs.empty()) return 0;
  uint64_t size = kXattrHeaderSize;
  for (const auto& [name, value] : xattrs) {
    size_t suffix = name.size() - ErofsXattrIndex(name)->prefix_len;
    size += RoundUp(kXattrEntryHeaderSize + suffix + value.size(), 4);
  }
  return size;
}

Status WriteErofsMetadata(ErofsTree& tree, int fd, uint32_t data_end_block) {
  std::vector<ErofsInode>& inodes = tree.mutable_inodes();
  for (ErofsInode& ino : inodes) ino.nlink = 0;

  // Breadth first from the root: an inode's first name decides its place; link counts are
  // the names found (directories: their own, ".", and each subdirectory's "..").
  std::vector<uint32_t> order;
  order.push_back(0);
  inodes[0].nlink = 2;
  for (size_t i = 0; i < order.size(); ++i) {
    const ErofsInode& ino = inodes[order[i]];
    if (!S_ISDIR(ino.mode)) continue;
    for (const auto& [name, child] : tree.dir(ino.aux).children) {
      ErofsInode& c = inodes[child];
      if (S_ISDIR(c.mode)) {
        inodes[order[i]].nlink++;
        c.nlink = 2;
        order.push_back(child);
      } else if (c.nlink++ == 0) {
        order.push_back(child);
      }
    }
  }
  if (order.size() > UINT32_MAX - 1) {
    return MakeError(Code::kResourceExhausted, "too many inodes for an EROFS image");
  }

  // Place every inode record in the metadata area.
  std::vector<DirEntryRef> ents;
  std::vector<uint64_t> offsets(order.size());
  uint64_t cursor = 0;
  uint64_t extra_blocks = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    ErofsInode& ino = inodes[order[i]];
    ino.ino = static_cast<uint32_t>(i + 1);
    const XattrMap* x = tree.xattrs(order[i]);
    uint64_t xsize = x != nullptr ? ErofsXattrBodySize(*x) : 0;
    DataPlan plan = PlanData(tree, order[i], xsize, &ents);
    uint64_t record = kInodeSize + xsize + plan.inline_size;
    cursor = RoundUp(cursor, kSlotSize);
    if (cursor % kErofsBlockSize + record > kErofsBlockSize && record <= kErofsBlockSize) {
      cursor = RoundUp(cursor, kErofsBlockSize);
    }
    offsets[i] = cursor;
    ino.nid = cursor / kSlotSize;
    cursor += record;
    extra_blocks += plan.blocks;
  }
  const uint64_t meta_blocks = RoundUp(cursor, kErofsBlockSize) / kErofsBlockSize;
  const uint64_t meta_start = uint64_t{data_end_block} * kErofsBlockSize;
  const uint64_t extra_start = data_end_block + meta_blocks;
  const uint64_t total_blocks = extra_start + extra_blocks;
  if (total_blocks > UINT32_MAX) {
    return MakeError(Code::kResourceExhausted, "layer too large for an EROFS image (16 TiB)");
  }

  // Write the records in order, and the directory and symlink blocks beside them.
  SequentialWriter meta(fd, meta_start);
  SequentialWriter extra(fd, extra_start * kErofsBlockSize);
  uint64_t next_extra = extra_start;
  std::string data;
  for (size_t i = 0; i < order.size(); ++i) {
    const ErofsInode& ino = inodes[order[i]];
    const XattrMap* x = tree.xattrs(order[i]);
    uint64_t xsize = x != nullptr ? ErofsXattrBodySize(*x) : 0;
    DataPlan plan = PlanData(tree, order[i], xsize, &ents);
    data.clear();
    if (S_ISDIR(ino.mode)) {
      PackDir(tree, ents, &data);      // ents: sorted by PlanData
    } else if (ino.aux != kNoIndex) {  // a symlink, or a small file's body
      data = tree.target(order[i]);
    }
    uint32_t blkaddr = S_ISREG(ino.mode) ? ino.blkaddr : 0;
    if (plan.blocks > 0) {
      blkaddr = static_cast<uint32_t>(next_extra);
      uint64_t bytes = plan.blocks * kErofsBlockSize;
      HOIST_ASSIGN_OR_RETURN(char* p, extra.Place(next_extra * kErofsBlockSize, bytes));
      std::memcpy(p, data.data(), std::min<uint64_t>(bytes, data.size()));
      next_extra += plan.blocks;
    }
    uint64_t record = kInodeSize + xsize + plan.inline_size;
    HOIST_ASSIGN_OR_RETURN(char* p, meta.Place(meta_start + offsets[i], record));
    EncodeInode(ino, plan, xsize, blkaddr, p);
    if (xsize > 0) EncodeXattrs(*x, p + kInodeSize);
    if (plan.inline_size > 0) {
      std::memcpy(p + kInodeSize + xsize, data.data() + plan.blocks * kErofsBlockSize,
                  plan.inline_size);
    }
  }
  HOIST_TRY(meta.Flush());
  HOIST_TRY(extra.Flush());

  char sb[kSuperblockSize] = {};
  Put32(sb + 0, kErofsSuperMagic);
  sb[12] = static_cast<char>(kErofsBlockBits);
  Put16(sb + 14, static_cast<uint16_t>(inodes[0].nid));
  Put64(sb + 16, order.size());
  Put64(sb + 24, static_cast<uint64_t>(tree.build_time()));
  Put32(sb + 36, static_cast<uint32_t>(total_blocks));
  Put32(sb + 40, data_end_block);
  HOIST_TRY(PwriteAll(fd, sb, sizeof(sb), kSuperblockOffset));
  if (::ftruncate(fd, static_cast<off_t>(total_blocks * kErofsBlockSize)) != 0) {
    return Unexpected(ErrnoError(errno, "size EROFS image"));
  }
  return OkStatus();
}

}  // namespace hoist::archive::internal
