// The `local` source: a client directory (the build context, a named local context) mirrored
// into a directory the engine owns, incrementally, and the content checksums that make a COPY's
// cache key (BuildKit's filesync and contenthash). Where the client's directory is on the
// engine's own disk (the embedded engine), it is read in place instead (in_place_context.h),
// with the entries SelectContext picks by the same rules.
//
// The client side is reached through ContextReader, which the session implements over its
// file-sync stream; LocalDirReader implements it over a directory on this machine (tests).
// Paths given to and by a reader are slash-separated and relative to the context root ("a/b");
// the engine never learns the client's own path.
//
// Sync rules (BuildKit's local source with fsutil's DiffCopy):
//  - exclude patterns (dockerignore semantics) drop paths, include patterns keep only matching
//    ones (a directory that may hold a match is walked, and created only if something in it is
//    kept), follow paths keep only those paths, their parents, and what is below them;
//  - an entry whose type, size, mtime and mode equal the target's, and owner too, is kept
//    without re-reading it; a changed one is rewritten (written beside, renamed over);
//  - everything in the target that the client no longer has (or that is now filtered out) is
//    deleted;
//  - owner, mode (with set-id bits), mtime, symlink targets and hard links (within one sync) are
//    reproduced. Entries of other types (devices, sockets, FIFOs) are skipped.
//
// Thread-safety: LocalSync and Checksum may run concurrently on different targets; one target
// must not be synced or changed by anything else while a sync runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "oci/digest.h"
#include "session/session.h"
#include "source/checksum_cache.h"
#include "source/path_patterns.h"

namespace hoist::source {

class InPlaceContext;

// One entry of a client directory.
struct ContextEntry {
  std::string path;          // relative, cleaned, slash-separated; never empty
  uint32_t mode = 0;         // st_mode: type bits and permission/set-id bits
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;         // regular files
  int64_t mtime_ns = 0;      // Unix nanoseconds
  std::string link_target;   // symlinks
  std::string hardlink_to;   // when this file is a hard link of an earlier entry: its path
};

// The entry a session's client directory reports.
ContextEntry ContextEntryOf(const session::FileEntry& e);

// What a sync asks the client for; readers may filter with it to save work, and the syncer
// filters again (the client is not trusted to have done so).
struct ContextFilter {
  std::vector<std::string> include_patterns;
  std::vector<std::string> exclude_patterns;
  std::vector<std::string> follow_paths;
};

// The client's directory. Implementations: the session's file-sync client, LocalDirReader.
class ContextReader {
 public:
  virtual ~ContextReader() = default;

  // Calls `fn` for every entry, depth first in byte order of names, each directory before its
  // children. Stops at and returns the first error of `fn`.
  virtual Status Walk(const ContextFilter& filter,
                      const std::function<Status(const ContextEntry&)>& fn) = 0;

  // Streams the contents of the regular file at `path` to `sink` in chunks.
  virtual Status ReadFile(std::string_view path,
                          const std::function<Status(std::string_view chunk)>& sink) = 0;

  // A hint: the files the caller reads next, in order (session::ClientDir::Prefetch).
  virtual void Prefetch(const std::vector<std::string>& paths) { (void)paths; }
  // Whether Prefetch does anything (session::ClientDir::ReadsAhead).
  virtual bool ReadsAhead() const { return false; }
};

// A ContextReader over a directory of this machine. It walks everything (filtering is left to
// the syncer) and never follows symlinks; paths are confined to the directory.
class LocalDirReader final : public ContextReader {
 public:
  // REQUIRES: `root` is an existing directory; it is opened on first use.
  explicit LocalDirReader(std::string root) : root_(std::move(root)) {}

  Status Walk(const ContextFilter& filter,
              const std::function<Status(const ContextEntry&)>& fn) override;
  Status ReadFile(std::string_view path,
                  const std::function<Status(std::string_view chunk)>& sink) override;

 private:
  std::string root_;
};

// The entries of `reader` that a sync under `filter` keeps (the sync rules above: the filters,
// directories only on the way to something kept, hard links to dropped files made files of
// their own), parents before children. Devices, FIFOs and sockets are still among them.
// Errors as LocalSync's.
Result<std::vector<ContextEntry>> SelectContext(ContextReader& reader, const ContextFilter& filter);

struct SyncOptions {
  ContextFilter filter;
};

struct SyncStats {
  uint64_t entries = 0;        // entries kept after filtering
  uint64_t files_read = 0;     // regular files whose contents were read from the client
  uint64_t bytes_read = 0;
  uint64_t unchanged = 0;      // entries left as they were
  uint64_t deleted = 0;        // target entries removed (a removed tree counts once)
};

// Makes the directory `target` (created if missing) mirror what `reader` holds under
// `options.filter`. Errors name the context path: `sync "a/b": ...`; pattern errors are
// kInvalidArgument.
Result<SyncStats> LocalSync(ContextReader& reader, const std::string& target,
                            const SyncOptions& options = {});

// The content checksum of `path` inside `root` (a synced context, or any directory), as the
// cache key of a COPY from it (BuildKit's contenthash.Checksum). `path` is resolved inside
// `root` as if `root` were `/`; with `follow_links` a symlink at `path` itself is followed (ones
// in parent components always are). With `wildcard`, `path` may hold glob characters and the
// checksum covers every match (in order); no match is an error unless nothing is selected
// legitimately, see below.
//
// Format (version 1; changing it changes every cache key):
//  - a non-directory: sha256 over "hoist.contenthash.v1\0", a header line
//    "<type> <perm-octal> <uid> <gid> <size> <link target>\0" and, for a regular file, the
//    sha256 of its contents. Times are not included (BuildKit leaves them out too), so a
//    touched but unchanged file keeps its checksum.
//  - a directory: sha256 over the same prefix, its own header, and for each child in byte
//    order its name, '\0' and its checksum.
//  - a wildcard: sha256 over "hoist.contenthash.v1 wildcard\0" and, per match, its cleaned
//    path, '\0' and checksum.
// Errors: `lstat /a/missing: no such file or directory` (kNotFound) for a missing path, or
// for a wildcard matching nothing.
//
// With `options.cache`, the contents of regular files whose stat identity the cache knows are
// not read again (checksum_cache.h); the result is the same with or without it.
struct ChecksumStats {
  uint64_t files_hashed = 0;  // regular files read and hashed
  uint64_t bytes_hashed = 0;
  uint64_t files_reused = 0;  // regular files whose content digest came from the cache
};

struct ChecksumOptions {
  // May be null (no cache). Must outlive the call.
  ChecksumCache* cache = nullptr;
  // The cache's name for `root`: the same tree gets the same scope across calls and engine
  // restarts (e.g. a context mirror's or a snapshot's ID), another tree another one.
  // Without one the cache is not used.
  std::string scope;
  // A file whose mtime or ctime is less than `racy_margin_ns` before the moment hashing
  // started is hashed but not recorded: a change to it in the same timestamp tick would go
  // unseen.
  int64_t racy_margin_ns = int64_t{2} * 1000000000;
  // The moment hashing starts, Unix nanoseconds; 0: the system clock. Tests set it.
  int64_t now_ns = 0;
  // May be null. Counts are added to it.
  ChecksumStats* stats = nullptr;
  // When `root` is an in-place context's view (in_place_context.h): every entry read is
  // checked against what the context's walk saw, and every file's digest is recorded there.
  // Not owned; may be null.
  InPlaceContext* in_place = nullptr;
};

Result<oci::Digest> Checksum(const std::string& root, std::string_view path, bool follow_links,
                             bool wildcard, const ChecksumOptions& options = {});

}  // namespace hoist::source
