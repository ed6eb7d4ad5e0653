// InPlaceContext: a client directory on the engine's own disk (the embedded engine, where the
// client's disk is the engine's) read where it is instead of mirrored (local_source.h).
//
// The view: the entries a sync with the same filter would keep (SelectContext), and nothing
// else, as a read-only overlay mount whose lowest layer is the client's directory (reached
// through a descriptor, never by path) and whose upper layer is a skeleton in the engine's
// state: a whiteout for every name the filters drop (dockerignore'd files, FIFOs...), the
// directories leading to them with the client's owner, mode and time, and a root made as a
// mirror's root is (0755, the engine's owner). So every reader of the result (COPY, checksums,
// RUN bind mounts, merges) sees a real directory holding exactly the mirror's entries with
// the mirror's metadata, and no file's contents are written a second time.
//
// Safety: the view shows the client's files live. What a build uses is pinned when it is
// first read: readers report each regular file's stat identity and content digest (Record),
// check each entry against what the walk saw (CheckEntry, CheckDir), and a COPY hashes what
// it copies and compares it with the recorded digest. A file changed, added, removed or
// replaced during the build fails the step that notices it, naming the file relative to the
// context: `local context "context": "a/b" changed during the build (...)`.
//
// Ownership: the object owns the client directory's descriptor, the skeleton and the mount;
// destruction unmounts, then removes the skeleton. Thread-safety: thread-safe.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "oci/digest.h"
#include "source/checksum_cache.h"
#include "source/local_source.h"

namespace hoist::source {

struct InPlaceOptions {
  std::string name;       // the local dir's name, for errors ("context")
  std::string scope;      // the checksum cache's stable name for this client directory
  std::string state_dir;  // where the skeleton and the mount point go (a `mnt-*` directory)
  ContextFilter filter;
};

class InPlaceContext {
 public:
  // Walks `reader` (the client directory that `root`, an O_PATH descriptor, opens) under
  // `options.filter`, writes the skeleton and mounts the view. kUnavailable when this machine
  // cannot make the view (no overlayfs, whiteouts refused...): the caller mirrors instead.
  static Result<std::unique_ptr<InPlaceContext>> Create(ContextReader& reader, UniqueFd root,
                                                        InPlaceOptions options);
  ~InPlaceContext();

  // The mounted view (an engine path; it names nothing of the client's).
  const std::string& path() const { return view_path_; }
  const std::string& scope() const { return options_.scope; }
  // Entries in the view, the root aside.
  size_t size() const { return entries_.size(); }

  // OK when the entry at `path` (relative to the view's root; "" is the root), stat'ed as
  // `st` without following links, is one the walk kept, with the same type, permissions,
  // owner and, for files and links, size and mtime.
  Status CheckEntry(std::string_view path, const struct stat& st) const;
  // OK when the names read from the directory `path` are those the walk kept there.
  Status CheckDir(std::string_view path, const std::vector<std::string>& names) const;

  // The content digest of the regular file at `path`, read when its identity was `identity`.
  // The first record of a path pins it; a later one that differs is an error.
  Status Record(std::string_view path, const FileIdentity& identity, const oci::Digest& digest);
  struct Pinned {
    FileIdentity identity;
    oci::Digest digest;
  };
  std::optional<Pinned> Find(std::string_view path) const;

  // Where `base` in the directory `dir_fd` is, relative to the root `root_fd` that `dir_fd`
  // was resolved in (symlinks on the way resolved): the path the checks above take. `base`
  // may be "." for the directory itself.
  static Result<std::string> PathInRoot(int root_fd, int dir_fd, std::string_view base);

  // The error for `path` having changed during the build, with `detail` in parentheses.
  Error Changed(std::string_view path, std::string_view detail) const;

  // Tests only: called after every content checksum of a view is taken (ChecksumTaken), so a
  // test can change a file between the checksum and the copy deterministically.
  static void SetChecksumHookForTesting(std::function<void()> hook);
  static void ChecksumTaken();

 private:
  struct Walked {
    uint32_t mode = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
  };

  InPlaceContext(UniqueFd root, InPlaceOptions options)
      : root_(std::move(root)), options_(std::move(options)) {}
  Status Build(ContextReader& reader);

  UniqueFd root_;
  InPlaceOptions options_;
  std::unordered_map<std::string, Walked> entries_;
  std::unordered_map<std::string, std::vector<std::string>> children_;  // sorted names
  TempDir dir_;         // holds skel/ and view/
  std::string view_path_;
  ScopedMount mount_;   // unmounted before dir_ is removed
  mutable std::mutex mu_;
  std::unordered_map<std::string, Pinned> pinned_;
};

}  // namespace hoist::source
