// Directory-tree operations for applying layers: removing trees, pruning what lower layers left in
// a directory (opaque directories and whiteouts), and the record of what the current layer wrote.
// Everything works on directory descriptors and single names, never on paths, and never follows
// a symlink: callers pass descriptors that RootResolver confined to the root.
//
// Results are errno values (0 for success), as in root_resolver.h.
//
// Thread-safety: none needed; one apply uses these from one thread.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <unordered_set>

namespace hoist::archive::internal {

// How deep RemoveTreeAt and PruneLower descend; they hold one descriptor per level, so a
// hostile layer nesting thousands of directories gets ENAMETOOLONG instead of running the
// process out of descriptors.
inline constexpr int kMaxTreeDepth = 256;

// What the layer being applied has written, so that its whiteouts and opaque markers act on
// lower layers only (OCI image-spec: "whiteout files MUST only apply to resources in
// lower/parent layers"), wherever the marker sits in the archive.
//
// Entries are keyed by (device, inode of their directory, name) rather than by path, so an entry
// reached through a symlink counts where it really is. Keys are stored as 64-bit hashes: a
// collision would only keep a lower-layer file that a whiteout of this same layer should have
// hidden (never anything outside the root), and saves an allocation per entry.
class UpperSet {
 public:
  void Add(dev_t dev, ino_t dir_ino, std::string_view name);
  bool Contains(dev_t dev, ino_t dir_ino, std::string_view name) const;
  // Directories that the layer implies exist because it put a marker (whiteout or opaque) in
  // them; an enclosing opaque directory keeps them.
  void AddDir(dev_t dev, ino_t ino);
  bool ContainsDir(dev_t dev, ino_t ino) const;

 private:
  std::unordered_set<uint64_t> entries_;
  std::unordered_set<uint64_t> dirs_;
};

// Removes `name` from the directory `dir_fd`, whatever it is (a directory with its whole tree;
// a symlink itself, never its target). A missing name is success.
int RemoveTreeAt(int dir_fd, const char* name);

// Removes from the directory `dir_fd` (opened O_RDONLY) every entry that the layer did not
// write, descending into directories: a directory stays if the layer wrote it, wrote something
// inside it, or marked it (UpperSet::AddDir); it loses its lower-layer content either way.
// Sets *kept_any when anything stays. If anything was removed, the directory's atime and mtime
// are put back as they were (umoci keeps them; the layer did not change the directory itself).
int PruneLower(int dir_fd, const UpperSet& upper, bool* kept_any);

// Sets atime and mtime of what `fd` refers to; `fd` may be an O_PATH descriptor.
int SetTimesOnFd(int fd, const struct timespec times[2]);

}  // namespace hoist::archive::internal
