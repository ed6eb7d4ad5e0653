// The in-memory filesystem tree that WriteLayerErofs builds from a layer before it writes the
// image: inodes (hard links share one), directories with their children sorted bytewise (the
// order EROFS directories need), symlink targets and extended attributes.
//
// It answers path resolution exactly as ApplyLayer's RootResolver does on a real directory
// (root_resolver.h), so that a layer means the same in an image as on disk:
//  - first as openat2(RESOLVE_IN_ROOT) would: symlinks followed physically (`..` after a
//    symlink goes to the parent of where the link led), at most 40 of them, `..` stopping at
//    the root;
//  - when that finds nothing (ENOENT, ENOTDIR), as the userspace walk does: symlink targets
//    joined to the link's directory and cleaned lexically, at most 255 links, missing
//    directories created (0755, root-owned, stamped with the build time) and non-directories
//    in the way replaced, when asked to create.
// Results are errno values, as in root_resolver.h.
//
// Memory: one ErofsInode (64 bytes) per inode and one map node per name, so a layer of 50,000
// entries takes a few MiB.
//
// Thread-safety: a tree is used by one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hoist::archive::internal {

inline constexpr uint32_t kNoIndex = UINT32_MAX;

struct ErofsInode {
  uint32_t mode = 0;  // S_IF* type and 07777 permission bits
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t mtime_nsec = 0;
  int64_t mtime = 0;
  uint64_t size = 0;     // regular files: bytes; symlinks: target length
  uint32_t blkaddr = 0;  // regular files: first data block of the body
  uint32_t rdev = 0;     // devices: Linux's 32-bit encoding (new_encode_dev)
  // Directories: index in dirs(). Symlinks, and regular files kept in memory to be inlined
  // after their inode: index in targets() (their bytes).
  uint32_t aux = kNoIndex;
  uint32_t xattrs = kNoIndex;  // index in xattrs()
  // Set by the image layout.
  uint32_t nlink = 0;
  uint32_t ino = 0;
  uint64_t nid = 0;
};

// Names to values, sorted; names are complete ("user.foo").
using XattrMap = std::map<std::string, std::string, std::less<>>;

struct ErofsDir {
  uint32_t inode = kNoIndex;
  uint32_t parent = 0;  // index in dirs(); the root is its own parent
  std::map<std::string, uint32_t, std::less<>> children;  // name to inode
};

class ErofsTree {
 public:
  static constexpr uint32_t kRootDir = 0;

  // The root directory: 0755, root-owned, mtime `build_time`.
  explicit ErofsTree(int64_t build_time);

  // Resolves the directory at `path` (a cleaned path, "" for the root) as described above.
  // Returns 0 and sets *dir (an index in dirs()) or returns an errno value.
  int ResolveDir(std::string_view path, bool create, uint32_t* dir);

  // The inode named `name` in directory `dir`, if any (no symlink is followed).
  std::optional<uint32_t> Lookup(uint32_t dir, std::string_view name) const;

  // Removes `name` from `dir` (a directory with its whole tree), as RemoveTreeAt does:
  // ENAMETOOLONG when a directory to remove lies kMaxTreeDepth levels below `name`.
  int Remove(uint32_t dir, std::string_view name);

  // A new inode of type and mode `mode`, owned by root, stamped with the build time, not yet
  // linked anywhere. Directories get their ErofsDir record, with `parent_dir` as parent.
  uint32_t NewInode(uint32_t mode, uint32_t parent_dir = kRootDir);
  // Makes `name` in `dir` refer to `inode`; the name must be free.
  void Link(uint32_t dir, std::string_view name, uint32_t inode);

  // Sets the symlink target of `inode`, or the body of a small regular file kept in memory.
  void SetTarget(uint32_t inode, std::string target);
  // The xattrs of `inode`, created empty on first use.
  XattrMap& MutableXattrs(uint32_t inode);

  ErofsInode& inode(uint32_t i) { return inodes_[i]; }
  const ErofsInode& inode(uint32_t i) const { return inodes_[i]; }
  const std::vector<ErofsInode>& inodes() const { return inodes_; }
  std::vector<ErofsInode>& mutable_inodes() { return inodes_; }
  const ErofsDir& dir(uint32_t d) const { return dirs_[d]; }
  const std::string& target(uint32_t inode) const { return targets_[inodes_[inode].aux]; }
  const XattrMap* xattrs(uint32_t inode) const {
    uint32_t x = inodes_[inode].xattrs;
    return x == kNoIndex ? nullptr : &xattrs_[x];
  }
  int64_t build_time() const { return build_time_; }

 private:
  int ResolvePhysical(std::string_view path, uint32_t* dir);
  int ResolveLexical(std::string_view path, bool create, uint32_t* dir);
  // A new 0755 directory `name` in `dir`, as the resolver creates missing parents.
  uint32_t MakeParent(uint32_t dir, std::string_view name);
  int RemoveAtDepth(uint32_t dir, std::string_view name, int depth);
  void Unlink(uint32_t dir, std::string_view name);

  int64_t build_time_;
  std::vector<ErofsInode> inodes_;
  std::vector<ErofsDir> dirs_;
  std::vector<std::string> targets_;
  std::vector<XattrMap> xattrs_;
  // Reused buffers for resolution.
  std::string rest_;
  std::string scratch_;
  std::string pos_;
  std::vector<uint32_t> pos_dirs_;
  std::vector<uint32_t> pos_ends_;
};

}  // namespace hoist::archive::internal
