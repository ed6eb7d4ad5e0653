// CacheDb: the solver's cache records in SQLite, at `<root>/cache.db` (WAL journal).
//
// A record maps a cache key (see cache_key.h) to the result IDs of each output of the op that
// produced it, with its creation and last-use times (unix nanoseconds), its size in bytes and
// a description (the vertex name). Lookups refresh last-use; prune removes least recently used
// records first and delegates freeing the results to a callback (the ops layer releases its
// refs), so the database never deletes anything it does not own.
//
// A record may also name its shape (cache_key.h: ComputeShapeKey), what its key was computed
// from except the content checksums, so the solver can ask whether any record could possibly
// match a vertex before it has checksummed that vertex's inputs.
//
// On-disk format, schema version 2 (kept in `PRAGMA user_version`; version 1 lacked `shape`,
// and a database of version 1 gets the column, NULL for its records, when opened):
//
//   CREATE TABLE records (
//     cache_key   TEXT PRIMARY KEY,   -- "sha256:<hex>"
//     created_ns  INTEGER NOT NULL,
//     last_used_ns INTEGER NOT NULL,
//     size        INTEGER NOT NULL,   -- bytes, 0 when unknown
//     description TEXT NOT NULL,
//     shape       TEXT);              -- "sha256:<hex>"; NULL when unknown
//   CREATE TABLE outputs (
//     cache_key TEXT NOT NULL REFERENCES records(cache_key) ON DELETE CASCADE,
//     output    INTEGER NOT NULL,     -- output index of the op
//     result_id TEXT NOT NULL,        -- opaque to the solver, meaningful to the ops layer
//     PRIMARY KEY (cache_key, output));
//
// Crash safety: every change is one SQLite transaction, so a crash leaves either the old or
// the new state. A file that is not a usable database (garbage, truncated, failed integrity
// check) is moved aside to `cache.db.corrupt-<unix seconds>` and a fresh, empty database is
// created: the cache is a cache, and losing it costs only rebuild time. A database written by
// a newer hoist (higher schema version) is refused with kFailedPrecondition, never modified.
//
// Thread-safety: all methods are thread-safe (one connection behind a mutex).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

struct sqlite3;

namespace hoist::solver {

inline constexpr int kCacheDbSchemaVersion = 2;

struct CacheRecord {
  std::string cache_key;
  std::vector<std::string> result_ids;  // one per output
  int64_t created_ns = 0;
  int64_t last_used_ns = 0;
  int64_t size = 0;
  std::string description;
  // The key's shape (cache_key.h); empty when unknown (records of older versions, of caches
  // imported without shapes).
  std::string shape;

  friend bool operator==(const CacheRecord&, const CacheRecord&) = default;
};

struct PruneOptions {
  // Remove every record.
  bool all = false;
  // Otherwise remove least recently used records until the total size is at most this.
  // nullopt with all=false removes nothing.
  std::optional<int64_t> keep_storage;
};

struct PruneReport {
  std::vector<CacheRecord> removed;  // in removal order
  int64_t reclaimed = 0;
};

class CacheDb {
 public:
  // Opens or creates `<root>/cache.db` (creating `root` if needed). `now` supplies the clock
  // in unix nanoseconds (tests pass a fake); default: the system clock.
  static Result<std::unique_ptr<CacheDb>> Open(const std::filesystem::path& root,
                                                std::function<int64_t()> now = {});
  ~CacheDb();
  CacheDb(const CacheDb&) = delete;
  CacheDb& operator=(const CacheDb&) = delete;

  // The record for `cache_key`, refreshing its last-use time; nullopt when there is none.
  Result<std::optional<CacheRecord>> Lookup(const std::string& cache_key);
  // Inserts or replaces the record for `record.cache_key`. created_ns/last_used_ns of 0 mean
  // "now".
  Status Put(const CacheRecord& record);
  Status Delete(const std::string& cache_key);
  // Every record, most recently used first (for `hoist du`).
  Result<std::vector<CacheRecord>> List();
  // Sum of record sizes.
  Result<int64_t> TotalSize();
  // Removes records per `options`, least recently used first. For each record, `release` is
  // called first; when it fails, pruning stops with its error and that record is kept.
  Result<PruneReport> Prune(const PruneOptions& options,
                            const std::function<Status(const CacheRecord&)>& release);

  // Whether a record with shape `shape` may exist: false only when no record has that shape
  // and none has an unknown one.
  Result<bool> MayMatchShape(const std::string& shape);

  // SQLite's full integrity check (Open runs the quick one): the problems it finds, none when
  // the database is sound.
  Result<std::vector<std::string>> CheckIntegrity();

  // True when Open found a corrupt file and started afresh.
  bool recovered_from_corruption() const { return recovered_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  CacheDb(std::filesystem::path path, sqlite3* db, std::function<int64_t()> now, bool recovered);
  int64_t Now() const;

  std::filesystem::path path_;
  std::mutex mu_;
  sqlite3* db_;
  std::function<int64_t()> now_;
  bool recovered_;
};

}  // namespace hoist::solver
