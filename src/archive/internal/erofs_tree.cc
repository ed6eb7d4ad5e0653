#include "archive/internal/erofs_tree.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>

#include "archive/internal/root_resolver.h"
#include "archive/internal/tree_ops.h"

namespace hoist::archive::internal {
namespace {

// The kernel's limit on symlinks followed in one path walk (MAXSYMLINKS).
constexpr int kMaxKernelSymlinks = 40;

// Splits off the next component of `s` from `*at`; empty components and "." are skipped by
// the callers.
std::string_view NextComponent(const std::string& s, size_t* at) {
  size_t slash = s.find('/', *at);
  size_t end = slash == std::string::npos ? s.size() : slash;
  std::string_view comp(s.data() + *at, end - *at);
  *at = slash == std::string::npos ? s.size() : slash + 1;
  return comp;
}

}  // namespace

ErofsTree::ErofsTree(int64_t build_time) : build_time_(build_time) {
  NewInode(S_IFDIR | 0755, kRootDir);  // the root: inode 0, directory kRootDir
}

uint32_t ErofsTree::NewInode(uint32_t mode, uint32_t parent_dir) {
  ErofsInode ino;
  ino.mode = mode;
  ino.mtime = build_time_;
  if (S_ISDIR(mode)) {
    ino.aux = static_cast<uint32_t>(dirs_.size());
    ErofsDir d;
    d.inode = static_cast<uint32_t>(inodes_.size());
    d.parent = dirs_.empty() ? kRootDir : parent_dir;
    dirs_.push_back(std::move(d));
  }
  inodes_.push_back(ino);
  return static_cast<uint32_t>(inodes_.size() - 1);
}

void ErofsTree::Link(uint32_t dir, std::string_view name, uint32_t inode) {
  dirs_[dir].children.emplace(std::string(name), inode);
  ErofsInode& ino = inodes_[inode];
  if (S_ISDIR(ino.mode)) dirs_[ino.aux].parent = dir;
}

void ErofsTree::SetTarget(uint32_t inode, std::string target) {
  ErofsInode& ino = inodes_[inode];
  ino.size = target.size();
  if (ino.aux == kNoIndex) {
    ino.aux = static_cast<uint32_t>(targets_.size());
    targets_.push_back(std::move(target));
  } else {
    targets_[ino.aux] = std::move(target);
  }
}

XattrMap& ErofsTree::MutableXattrs(uint32_t inode) {
  ErofsInode& ino = inodes_[inode];
  if (ino.xattrs == kNoIndex) {
    ino.xattrs = static_cast<uint32_t>(xattrs_.size());
    xattrs_.emplace_back();
  }
  return xattrs_[ino.xattrs];
}

std::optional<uint32_t> ErofsTree::Lookup(uint32_t dir, std::string_view name) const {
  const auto& children = dirs_[dir].children;
  auto it = children.find(name);
  if (it == children.end()) return std::nullopt;
  return it->second;
}

uint32_t ErofsTree::MakeParent(uint32_t dir, std::string_view name) {
  uint32_t inode = NewInode(S_IFDIR | 0755, dir);
  Link(dir, name, inode);
  return inodes_[inode].aux;
}

void ErofsTree::Unlink(uint32_t dir, std::string_view name) {
  auto& children = dirs_[dir].children;
  auto it = children.find(name);
  if (it != children.end()) children.erase(it);
}

int ErofsTree::Remove(uint32_t dir, std::string_view name) { return RemoveAtDepth(dir, name, 0); }

int ErofsTree::RemoveAtDepth(uint32_t dir, std::string_view name, int depth) {
  std::optional<uint32_t> inode = Lookup(dir, name);
  if (!inode) return 0;
  const ErofsInode& ino = inodes_[*inode];
  if (S_ISDIR(ino.mode)) {
    if (depth >= kMaxTreeDepth) return ENAMETOOLONG;
    ErofsDir& sub = dirs_[ino.aux];
    while (!sub.children.empty()) {
      std::string child = sub.children.begin()->first;
      if (int r = RemoveAtDepth(ino.aux, child, depth + 1); r != 0) return r;
    }
  }
  Unlink(dir, name);
  return 0;
}

int ErofsTree::ResolveDir(std::string_view path, bool create, uint32_t* dir) {
  int r = ResolvePhysical(path, dir);
  if (r != ENOENT && r != ENOTDIR) return r;
  return ResolveLexical(path, create, dir);
}

int ErofsTree::ResolvePhysical(std::string_view path, uint32_t* dir) {
  rest_.assign(path);
  uint32_t cur = kRootDir;
  int links = 0;
  size_t at = 0;
  while (at < rest_.size()) {
    std::string_view comp = NextComponent(rest_, &at);
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      cur = dirs_[cur].parent;
      continue;
    }
    if (comp.size() > NAME_MAX) return ENAMETOOLONG;
    std::optional<uint32_t> child = Lookup(cur, comp);
    if (!child) return ENOENT;
    const ErofsInode& ino = inodes_[*child];
    if (S_ISDIR(ino.mode)) {
      cur = ino.aux;
      continue;
    }
    if (!S_ISLNK(ino.mode)) return ENOTDIR;
    if (++links > kMaxKernelSymlinks) return ELOOP;
    const std::string& link = targets_[ino.aux];
    if (link.empty()) return ENOENT;
    // The target is walked from the link's directory (or the root), then the rest of the path.
    scratch_.assign(link);
    scratch_.push_back('/');
    scratch_.append(rest_, at, std::string::npos);
    rest_.swap(scratch_);
    at = 0;
    if (link[0] == '/') cur = kRootDir;
  }
  *dir = cur;
  return 0;
}

int ErofsTree::ResolveLexical(std::string_view path, bool create, uint32_t* dir) {
  rest_.assign(path);
  pos_.clear();
  pos_dirs_.clear();
  pos_ends_.clear();
  uint32_t cur = kRootDir;
  int hops = 0;
  size_t at = 0;
  while (at < rest_.size()) {
    std::string_view comp = NextComponent(rest_, &at);
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      if (!pos_dirs_.empty()) {
        pos_dirs_.pop_back();
        pos_ends_.pop_back();
        pos_.resize(pos_ends_.empty() ? 0 : pos_ends_.back());
        cur = pos_dirs_.empty() ? kRootDir : pos_dirs_.back();
      }
      continue;
    }
    if (comp.size() > NAME_MAX) return ENAMETOOLONG;
    std::optional<uint32_t> child = Lookup(cur, comp);
    uint32_t next = kNoIndex;
    if (!child) {
      if (!create) return ENOENT;
      next = MakeParent(cur, comp);
    } else if (S_ISDIR(inodes_[*child].mode)) {
      next = inodes_[*child].aux;
    } else if (S_ISLNK(inodes_[*child].mode)) {
      if (++hops > kMaxSymlinkHops) return ELOOP;
      const std::string& link = targets_[inodes_[*child].aux];
      if (link.empty()) return ENOENT;
      // Continue from the root with the target in place of the link, cleaned lexically
      // together with the link's directory, then what was left of the path.
      if (link[0] == '/') {
        CleanRootedPath(link, &scratch_);
      } else {
        pos_.push_back('/');
        pos_.append(link);
        CleanRootedPath(pos_, &scratch_);
      }
      scratch_.push_back('/');
      scratch_.append(rest_, at, std::string::npos);
      rest_.swap(scratch_);
      at = 0;
      pos_.clear();
      pos_dirs_.clear();
      pos_ends_.clear();
      cur = kRootDir;
      continue;
    } else {
      // A file, device or FIFO where a directory must be.
      if (!create) return ENOTDIR;
      Unlink(cur, comp);
      next = MakeParent(cur, comp);
    }
    if (!pos_.empty()) pos_.push_back('/');
    pos_.append(comp);
    pos_ends_.push_back(static_cast<uint32_t>(pos_.size()));
    pos_dirs_.push_back(next);
    cur = next;
  }
  *dir = cur;
  return 0;
}

}  // namespace hoist::archive::internal
