#include "solver/cache_db.h"

#include <sqlite3.h>

#include <chrono>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "base/log.h"

namespace hoist::solver {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS records (
  cache_key    TEXT PRIMARY KEY,
  created_ns   INTEGER NOT NULL,
  last_used_ns INTEGER NOT NULL,
  size         INTEGER NOT NULL,
  description  TEXT NOT NULL,
  shape        TEXT);
CREATE TABLE IF NOT EXISTS outputs (
  cache_key TEXT NOT NULL REFERENCES records(cache_key) ON DELETE CASCADE,
  output    INTEGER NOT NULL,
  result_id TEXT NOT NULL,
  PRIMARY KEY (cache_key, output));
CREATE INDEX IF NOT EXISTS records_last_used ON records(last_used_ns);
CREATE INDEX IF NOT EXISTS records_shape ON records(shape);
)sql";

// Version 1 had no shapes: its records keep an unknown (NULL) one.
constexpr const char* kUpgradeFrom1 = "ALTER TABLE records ADD COLUMN shape TEXT";

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error DbError(sqlite3* db, std::string_view what, const std::filesystem::path& path) {
  int rc = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  Code code = Code::kInternal;
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      code = Code::kDataLoss;
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = Code::kUnavailable;
      break;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      code = Code::kPermissionDenied;
      break;
    case SQLITE_FULL:
      code = Code::kResourceExhausted;
      break;
    default:
      break;
  }
  return Error(code, fmt::format("cache database {}: {}: {}", path.filename().string(), what,
                                 db ? sqlite3_errmsg(db) : "out of memory"));
}

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void Bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

Status Exec(sqlite3* db, const char* sql, const std::filesystem::path& path) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Unexpected(DbError(db, sql, path));
  }
  return OkStatus();
}

Result<int> UserVersion(sqlite3* db, const std::filesystem::path& path) {
  Stmt st(db, "PRAGMA user_version");
  if (!st.ok() || st.Step() != SQLITE_ROW) return Unexpected(DbError(db, "read schema version", path));
  return static_cast<int>(st.Int(0));
}

// Opens and checks the database; kDataLoss when the file is not a usable database.
Result<sqlite3*> OpenChecked(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  auto fail = [&](std::string_view what) -> Result<sqlite3*> {
    Error e = DbError(db, what, path);
    sqlite3_close(db);
    return Unexpected(std::move(e));
  };
  if (rc != SQLITE_OK) return fail("open");
  // Builds of other processes on the root write here too; their transactions are short, but a
  // loaded machine can stretch them.
  sqlite3_busy_timeout(db, 60000);
  // Every build is a new process that opens and closes the database once. By default the last
  // connection to close checkpoints the WAL (syncing it and the database) and deletes it, and the
  // next process creates it again (syncing the directory): three syncs per build for a cache
  // whose writes need no durability (synchronous=NORMAL; a record lost to a power cut is a step
  // run again). The WAL is kept and checkpointed when it grows, by whichever write fills it.
  int persist = 1;
  sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  // Reading the schema is the first access to the file's contents: a non-database fails here.
  if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("set WAL journal");
  }
  {
    Stmt check(db, "PRAGMA quick_check");
    if (!check.ok() || check.Step() != SQLITE_ROW) return fail("integrity check");
    std::string verdict = check.Text(0);
    if (verdict != "ok") {
      sqlite3_close(db);
      return MakeError(Code::kDataLoss, fmt::format("cache database {}: integrity check: {}",
                                                     path.filename().string(), verdict));
    }
  }
  if (sqlite3_exec(db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL", nullptr, nullptr,
                   nullptr) != SQLITE_OK) {
    return fail("configure");
  }
  return db;
}

}  // namespace

CacheDb::CacheDb(std::filesystem::path path, sqlite3* db, std::function<int64_t()> now,
                 bool recovered)
    : path_(std::move(path)), db_(db), now_(std::move(now)), recovered_(recovered) {}

CacheDb::~CacheDb() { sqlite3_close(db_); }

int64_t CacheDb::Now() const { return now_ ? now_() : SystemNowNs(); }

Result<std::unique_ptr<CacheDb>> CacheDb::Open(const std::filesystem::path& root,
                                                std::function<int64_t()> now) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return Unexpected(ErrnoError(ec.value(), "create cache root"));
  std::filesystem::path path = root / "cache.db";
  bool recovered = false;
  auto opened = OpenChecked(path);
  if (!opened && opened.error().code() == Code::kDataLoss) {
    // The cache is only a cache: keep the broken file for inspection and start afresh.
    int64_t secs = (now ? now() : SystemNowNs()) / 1000000000;
    std::filesystem::path aside = root / fmt::format("cache.db.corrupt-{}", secs);
    HOIST_LOG(kWarning, "{}; moving it aside to {} and starting an empty cache",
              opened.error().message(), aside.filename().string());
    std::filesystem::rename(path, aside, ec);
    if (ec) {
      return Unexpected(ErrnoError(ec.value(), "move corrupt cache database aside")
                            .Wrap(opened.error().message()));
    }
    for (const char* suffix : {"-wal", "-shm"}) {
      std::filesystem::remove(root / (std::string("cache.db") + suffix), ec);
    }
    recovered = true;
    opened = OpenChecked(path);
  }
  if (!opened) return Unexpected(std::move(opened).error());
  sqlite3* db = *opened;
  std::unique_ptr<CacheDb> out(new CacheDb(path, db, std::move(now), recovered));
  HOIST_ASSIGN_OR_RETURN(int version, UserVersion(db, path));
  if (version > kCacheDbSchemaVersion) {
    return MakeError(Code::kFailedPrecondition,
                     fmt::format("cache database {}: schema version {} is newer than this hoist "
                                 "supports ({}); use a newer hoist or remove the file",
                                 path.filename().string(), version, kCacheDbSchemaVersion));
  }
  if (version < kCacheDbSchemaVersion) {
    HOIST_TRY(Exec(db, "BEGIN IMMEDIATE", path));
    Status st = version == 1 ? Exec(db, kUpgradeFrom1, path) : OkStatus();
    if (st) st = Exec(db, kSchema, path);
    if (st) st = Exec(db, fmt::format("PRAGMA user_version={}", kCacheDbSchemaVersion).c_str(), path);
    if (!st) {
      (void)Exec(db, "ROLLBACK", path);
      return Unexpected(std::move(st).error());
    }
    HOIST_TRY(Exec(db, "COMMIT", path));
  }
  return out;
}

Result<std::optional<CacheRecord>> CacheDb::Lookup(const std::string& cache_key) {
  std::lock_guard<std::mutex> lock(mu_);
  CacheRecord rec;
  {
    Stmt st(db_,
            "SELECT created_ns, last_used_ns, size, description, COALESCE(shape, '') FROM records "
            "WHERE cache_key=?");
    if (!st.ok()) return Unexpected(DbError(db_, "look up " + cache_key, path_));
    st.Bind(1, cache_key);
    int rc = st.Step();
    if (rc == SQLITE_DONE) return std::nullopt;
    if (rc != SQLITE_ROW) return Unexpected(DbError(db_, "look up " + cache_key, path_));
    rec.cache_key = cache_key;
    rec.created_ns = st.Int(0);
    rec.size = st.Int(2);
    rec.description = st.Text(3);
    rec.shape = st.Text(4);
  }
  {
    Stmt st(db_, "SELECT result_id FROM outputs WHERE cache_key=? ORDER BY output");
    if (!st.ok()) return Unexpected(DbError(db_, "read outputs of " + cache_key, path_));
    st.Bind(1, cache_key);
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) rec.result_ids.push_back(st.Text(0));
    if (rc != SQLITE_DONE) return Unexpected(DbError(db_, "read outputs of " + cache_key, path_));
  }
  rec.last_used_ns = Now();
  Stmt up(db_, "UPDATE records SET last_used_ns=? WHERE cache_key=?");
  if (!up.ok()) return Unexpected(DbError(db_, "touch " + cache_key, path_));
  up.Bind(1, rec.last_used_ns);
  up.Bind(2, cache_key);
  if (up.Step() != SQLITE_DONE) return Unexpected(DbError(db_, "touch " + cache_key, path_));
  return rec;
}

Status CacheDb::Put(const CacheRecord& record) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = Now();
  HOIST_TRY(Exec(db_, "BEGIN IMMEDIATE", path_));
  auto body = [&]() -> Status {
    Stmt del(db_, "DELETE FROM records WHERE cache_key=?");
    if (!del.ok()) return Unexpected(DbError(db_, "replace " + record.cache_key, path_));
    del.Bind(1, record.cache_key);
    if (del.Step() != SQLITE_DONE) return Unexpected(DbError(db_, "replace " + record.cache_key, path_));
    Stmt ins(db_,
             "INSERT INTO records (cache_key, created_ns, last_used_ns, size, description, shape) "
             "VALUES (?, ?, ?, ?, ?, NULLIF(?, ''))");
    if (!ins.ok()) return Unexpected(DbError(db_, "insert " + record.cache_key, path_));
    ins.Bind(1, record.cache_key);
    ins.Bind(2, record.created_ns ? record.created_ns : now);
    ins.Bind(3, record.last_used_ns ? record.last_used_ns : now);
    ins.Bind(4, record.size);
    ins.Bind(5, record.description);
    ins.Bind(6, record.shape);
    if (ins.Step() != SQLITE_DONE) return Unexpected(DbError(db_, "insert " + record.cache_key, path_));
    for (size_t i = 0; i < record.result_ids.size(); ++i) {
      Stmt out(db_, "INSERT INTO outputs (cache_key, output, result_id) VALUES (?, ?, ?)");
      if (!out.ok()) return Unexpected(DbError(db_, "insert outputs of " + record.cache_key, path_));
      out.Bind(1, record.cache_key);
      out.Bind(2, static_cast<int64_t>(i));
      out.Bind(3, record.result_ids[i]);
      if (out.Step() != SQLITE_DONE) {
        return Unexpected(DbError(db_, "insert outputs of " + record.cache_key, path_));
      }
    }
    return OkStatus();
  };
  Status st = body();
  if (!st) {
    (void)Exec(db_, "ROLLBACK", path_);
    return st;
  }
  return Exec(db_, "COMMIT", path_);
}

Status CacheDb::Delete(const std::string& cache_key) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt del(db_, "DELETE FROM records WHERE cache_key=?");
  if (!del.ok()) return Unexpected(DbError(db_, "delete " + cache_key, path_));
  del.Bind(1, cache_key);
  if (del.Step() != SQLITE_DONE) return Unexpected(DbError(db_, "delete " + cache_key, path_));
  return OkStatus();
}

Result<bool> CacheDb::MayMatchShape(const std::string& shape) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st(db_, "SELECT 1 FROM records WHERE shape=? OR shape IS NULL LIMIT 1");
  if (!st.ok()) return Unexpected(DbError(db_, "look up shape " + shape, path_));
  st.Bind(1, shape);
  int rc = st.Step();
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) return Unexpected(DbError(db_, "look up shape " + shape, path_));
  return false;
}

Result<std::vector<std::string>> CacheDb::CheckIntegrity() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st(db_, "PRAGMA integrity_check");
  if (!st.ok()) return Unexpected(DbError(db_, "integrity check", path_));
  std::vector<std::string> problems;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    std::string line = st.Text(0);
    if (line != "ok") problems.push_back(std::move(line));
  }
  if (rc != SQLITE_DONE) return Unexpected(DbError(db_, "integrity check", path_));
  return problems;
}

Result<std::vector<CacheRecord>> CacheDb::List() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<CacheRecord> out;
  {
    Stmt st(db_,
            "SELECT cache_key, created_ns, last_used_ns, size, description, "
            "COALESCE(shape, '') FROM records ORDER BY last_used_ns DESC, cache_key");
    if (!st.ok()) return Unexpected(DbError(db_, "list records", path_));
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      CacheRecord r;
      r.cache_key = st.Text(0);
      r.created_ns = st.Int(1);
      r.last_used_ns = st.Int(2);
      r.size = st.Int(3);
      r.description = st.Text(4);
      r.shape = st.Text(5);
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return Unexpected(DbError(db_, "list records", path_));
  }
  for (CacheRecord& r : out) {
    Stmt st(db_, "SELECT result_id FROM outputs WHERE cache_key=? ORDER BY output");
    if (!st.ok()) return Unexpected(DbError(db_, "list outputs", path_));
    st.Bind(1, r.cache_key);
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) r.result_ids.push_back(st.Text(0));
    if (rc != SQLITE_DONE) return Unexpected(DbError(db_, "list outputs", path_));
  }
  return out;
}

Result<int64_t> CacheDb::TotalSize() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st(db_, "SELECT COALESCE(SUM(size), 0) FROM records");
  if (!st.ok() || st.Step() != SQLITE_ROW) return Unexpected(DbError(db_, "sum sizes", path_));
  return st.Int(0);
}

Result<PruneReport> CacheDb::Prune(const PruneOptions& options,
                                   const std::function<Status(const CacheRecord&)>& release) {
  PruneReport report;
  if (!options.all && !options.keep_storage) return report;
  HOIST_ASSIGN_OR_RETURN(std::vector<CacheRecord> records, List());
  HOIST_ASSIGN_OR_RETURN(int64_t total, TotalSize());
  // List() is most recently used first; prune from the other end.
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    if (!options.all && total <= *options.keep_storage) break;
    if (release) {
      Status st = release(*it);
      if (!st) return Unexpected(std::move(st).error().Wrap("prune " + it->cache_key));
    }
    HOIST_TRY(Delete(it->cache_key));
    total -= it->size;
    report.reclaimed += it->size;
    report.removed.push_back(std::move(*it));
  }
  return report;
}

}  // namespace hoist::solver
