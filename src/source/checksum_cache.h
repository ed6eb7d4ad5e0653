// ChecksumCache: the sha256 of regular files' contents, remembered by stat identity, so that
// a content checksum (local_source.h: Checksum) re-reads only files that changed. It is a pure
// speed-up: a checksum computed with or without it is the same.
//
// An entry is keyed by a scope (a stable name of the tree the file lives in: a local context
// mirror or a committed snapshot, never a client path or a mount point) and the file's path
// relative to that tree's root, and it holds the file's identity at the time it was hashed
// (inode, size, mtime, ctime, mode). A lookup hits only when the identity is unchanged. ctime
// is what makes that safe: every write, truncate, chmod or chown sets it to the current time
// and nothing can set it back, and a file replaced by rename has another inode. What the cache
// cannot see is a change within the timestamp granularity right after the hash was taken (the
// "racily clean" file of git and ninja); Checksum therefore stores no entry whose mtime or ctime
// is not clearly older than the moment it started hashing.
//
// Implementations: FileChecksumCache (persisted in the engine root), InMemoryChecksumCache
// (tests; counts what happens).
//
// Thread-safety: implementations are thread-safe.
#pragma once

#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/file_system.h"
#include "oci/digest.h"

namespace hoist::source {

// What stat says about a regular file, as far as its contents go.
struct FileIdentity {
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint32_t mode = 0;  // st_mode, type and permission bits

  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

// The identity of what `st` describes.
FileIdentity StatIdentity(const struct stat& st);

// One file hashed: what Commit records.
struct CachedChecksum {
  std::string path;  // relative to the scope's root, slash-separated
  FileIdentity identity;
  oci::Digest digest;  // sha256 of the contents
};

class ChecksumCache {
 public:
  virtual ~ChecksumCache() = default;

  // The sha256 of the contents of `path` in `scope` if it was recorded with exactly
  // `identity`; nullopt otherwise. A hit counts as a use of the entry (for Prune).
  virtual std::optional<oci::Digest> Lookup(std::string_view scope, std::string_view path,
                                            const FileIdentity& identity) = 0;

  // Records `entries` of `scope` (replacing what their paths held before) and the uses of
  // earlier Lookups, as one batch: a persistent cache writes once per call, and not at all when
  // there is nothing new. An error leaves the cache usable (the batch may be lost).
  virtual Status Commit(std::string_view scope, std::vector<CachedChecksum> entries) = 0;

  // Drops the entries of every scope for which `live` is false, and entries unused for longer
  // than the implementation's limit.
  virtual Status Prune(const std::function<bool(const std::string& scope)>& live) = 0;
};

// The in-memory store both implementations share. Not thread-safe by itself.
class ChecksumTable {
 public:
  struct Entry {
    FileIdentity identity;
    std::array<unsigned char, 32> sha256{};
    uint32_t last_used_day = 0;  // days since the Unix epoch
  };
  using Scope = std::unordered_map<std::string, Entry>;  // relative path → entry

  // Returns the entry on a hit, having marked it used on `day`; *touched says whether that
  // changed its last-use day.
  const Entry* Lookup(std::string_view scope, std::string_view path,
                      const FileIdentity& identity, uint32_t day, bool* touched);
  void Put(std::string_view scope, const CachedChecksum& c, uint32_t day);
  // Drops dead scopes and entries last used before `oldest_day`; then, past `max_entries`,
  // the least recently used ones. Returns how many entries went.
  size_t Prune(const std::function<bool(const std::string& scope)>& live, uint32_t oldest_day,
               size_t max_entries);
  size_t size() const;
  std::map<std::string, Scope, std::less<>>& scopes() { return scopes_; }
  const std::map<std::string, Scope, std::less<>>& scopes() const { return scopes_; }

 private:
  std::map<std::string, Scope, std::less<>> scopes_;
};

// A ChecksumCache in memory, for tests: it forgets everything with the object and counts
// lookups, hits and commits.
class InMemoryChecksumCache final : public ChecksumCache {
 public:
  std::optional<oci::Digest> Lookup(std::string_view scope, std::string_view path,
                                    const FileIdentity& identity) override;
  Status Commit(std::string_view scope, std::vector<CachedChecksum> entries) override;
  Status Prune(const std::function<bool(const std::string& scope)>& live) override;

  size_t entries() const;
  size_t lookups() const;
  size_t hits() const;
  size_t commits() const;  // Commit calls that brought entries

 private:
  mutable std::mutex mu_;
  ChecksumTable table_;
  size_t lookups_ = 0, hits_ = 0, commits_ = 0;
};

// A ChecksumCache kept in one file, `<engine root>/checksums`, loaded whole on Open and
// rewritten whole (through an AtomicFile) by a Commit that brings something new: a crash leaves
// the old or the new file, never a mix. Processes sharing the file write it under an flock on
// `<file>.lock`, first merging in what another wrote since this one read it.
//
// File format, version 1 (integers little-endian):
//
//   magic      16 bytes  "hoist.checksums\0"
//   version    u32       1
//   scopes     u32       count, then per scope:
//     name     u32 length + bytes
//     entries  u32       count, then per entry:
//       path           u32 length + bytes (relative, slash-separated)
//       ino, size      u64, u64
//       mtime, ctime   i64, i64 (Unix nanoseconds)
//       mode           u32 (st_mode)
//       last_used_day  u32 (days since the Unix epoch)
//       sha256         32 bytes (of the file's contents)
//   trailer    64 bytes  sha256 of everything before it, lowercase hex
//
// A missing file is an empty cache. A file that is truncated, garbled, fails its trailer or
// carries another version is ignored with a log message and replaced by the next write: the
// cache is a cache, losing it costs only hashing time.
//
// Growth is bounded: entries unused for `max_unused_days` are dropped on Open and by Prune,
// and past `max_entries` the least recently used go at the next write.
class FileChecksumCache final : public ChecksumCache {
 public:
  static constexpr uint32_t kFormatVersion = 1;

  struct Options {
    uint32_t max_unused_days = 30;
    size_t max_entries = size_t{1} << 20;
    // Unix nanoseconds; default: the system clock. Tests pass a fake.
    std::function<int64_t()> now;
  };

  // Loads `path` if it exists. Never fails for a bad file (see above); only the FileSystem
  // `fs`, which must outlive the cache, is needed.
  static std::unique_ptr<FileChecksumCache> Open(FileSystem* fs, std::string path,
                                                 Options options);
  static std::unique_ptr<FileChecksumCache> Open(FileSystem* fs, std::string path) {
    return Open(fs, std::move(path), Options{});
  }

  std::optional<oci::Digest> Lookup(std::string_view scope, std::string_view path,
                                    const FileIdentity& identity) override;
  Status Commit(std::string_view scope, std::vector<CachedChecksum> entries) override;
  Status Prune(const std::function<bool(const std::string& scope)>& live) override;

  size_t entries() const;
  // Whether Open found a file it could not use.
  bool discarded_file() const { return discarded_; }
  const std::string& path() const { return path_; }

 private:
  FileChecksumCache(FileSystem* fs, std::string path, Options options)
      : fs_(fs), path_(std::move(path)), options_(std::move(options)) {}
  uint32_t Today() const;
  // The file's inode, size and mtime when this cache last read or wrote it (every write
  // replaces the file, so a new version has another inode than the one it replaced).
  struct Stamp {
    uint64_t ino = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    friend bool operator==(const Stamp&, const Stamp&) = default;
  };
  static std::optional<Stamp> StampOf(const std::string& path);
  void Load();
  // Adds the file's entries to *table and sets *stamp; false when there is no file (*why
  // empty) or it cannot be used (*why says why).
  bool ReadInto(ChecksumTable* table, std::string* why, std::optional<Stamp>* stamp) const;
  // REQUIRES: mu_ held.
  Status WriteLocked();

  FileSystem* const fs_;
  const std::string path_;
  const Options options_;
  mutable std::mutex mu_;
  ChecksumTable table_;
  bool dirty_ = false;  // the table holds what the file does not
  std::optional<Stamp> stamp_;
  bool discarded_ = false;
};

}  // namespace hoist::source
