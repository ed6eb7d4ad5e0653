#include "solver/cache_db.h"

#include <fstream>
#include <sqlite3.h>

#include <gtest/gtest.h>

#include "base/temp_dir.h"

namespace hoist::solver {
namespace {

class CacheDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("cache-db-test");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
  }
  std::filesystem::path root() const { return std::filesystem::path(dir_.path()) / "root"; }
  std::unique_ptr<CacheDb> OpenDb() {
    auto db = CacheDb::Open(root(), [this] { return clock_; });
    EXPECT_TRUE(db) << db.error().message();
    return db ? std::move(*db) : nullptr;
  }
  static CacheRecord Rec(std::string key, std::vector<std::string> ids, int64_t size) {
    CacheRecord r;
    r.cache_key = std::move(key);
    r.result_ids = std::move(ids);
    r.size = size;
    r.description = "desc " + r.cache_key;
    return r;
  }

  TempDir dir_;
  int64_t clock_ = 1000;
};

TEST_F(CacheDbTest, PutLookupRoundTripAndTouch) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  EXPECT_FALSE(db->recovered_from_corruption());
  auto missing = db->Lookup("sha256:none");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());

  ASSERT_TRUE(db->Put(Rec("k1", {"snap-a", "snap-b"}, 42)));
  clock_ = 5000;
  auto got = db->Lookup("k1");
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->result_ids, (std::vector<std::string>{"snap-a", "snap-b"}));
  EXPECT_EQ((*got)->created_ns, 1000);
  EXPECT_EQ((*got)->last_used_ns, 5000);
  EXPECT_EQ((*got)->size, 42);
  EXPECT_EQ((*got)->description, "desc k1");

  // Put replaces, outputs included.
  ASSERT_TRUE(db->Put(Rec("k1", {"snap-c"}, 7)));
  got = db->Lookup("k1");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->result_ids, std::vector<std::string>{"snap-c"});
  ASSERT_TRUE(db->Delete("k1"));
  got = db->Lookup("k1");
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->has_value());
}

// Each build opens and closes the database once: closing neither checkpoints nor deletes the
// WAL (which would cost syncs every time); what it holds is there for the next process, and
// many opens and closes never lose a record.
TEST_F(CacheDbTest, TheWalOutlivesEachConnection) {
  for (int i = 0; i < 20; ++i) {
    auto db = OpenDb();
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Put(Rec("k" + std::to_string(i), {"r" + std::to_string(i)}, i)));
  }
  EXPECT_TRUE(std::filesystem::exists(root() / "cache.db-wal"));
  EXPECT_GT(std::filesystem::file_size(root() / "cache.db-wal"), 0u);
  auto db = OpenDb();
  ASSERT_TRUE(db);
  for (int i = 0; i < 20; ++i) {
    auto got = db->Lookup("k" + std::to_string(i));
    ASSERT_TRUE(got && got->has_value()) << i;
    EXPECT_EQ((*got)->result_ids, std::vector<std::string>{"r" + std::to_string(i)});
  }
}

TEST_F(CacheDbTest, RecordsSurviveReopen) {
  {
    auto db = OpenDb();
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Put(Rec("k1", {"a"}, 1)));
  }
  auto db = OpenDb();
  ASSERT_TRUE(db);
  auto got = db->Lookup("k1");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->result_ids, std::vector<std::string>{"a"});
  EXPECT_TRUE(std::filesystem::exists(root() / "cache.db"));
}

TEST_F(CacheDbTest, ListIsMostRecentlyUsedFirstAndTotals) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  clock_ = 10;
  ASSERT_TRUE(db->Put(Rec("old", {"a"}, 100)));
  clock_ = 20;
  ASSERT_TRUE(db->Put(Rec("mid", {"b"}, 200)));
  clock_ = 30;
  ASSERT_TRUE(db->Put(Rec("new", {"c"}, 300)));
  clock_ = 40;
  ASSERT_TRUE(db->Lookup("old"));  // now the most recent
  auto list = db->List();
  ASSERT_TRUE(list) << list.error().message();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].cache_key, "old");
  EXPECT_EQ((*list)[1].cache_key, "new");
  EXPECT_EQ((*list)[2].cache_key, "mid");
  EXPECT_EQ((*list)[0].result_ids, std::vector<std::string>{"a"});
  auto total = db->TotalSize();
  ASSERT_TRUE(total);
  EXPECT_EQ(*total, 600);
}

TEST_F(CacheDbTest, PruneKeepStorageRemovesLeastRecentlyUsedFirst) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  clock_ = 10;
  ASSERT_TRUE(db->Put(Rec("a", {"ra"}, 100)));
  clock_ = 20;
  ASSERT_TRUE(db->Put(Rec("b", {"rb"}, 100)));
  clock_ = 30;
  ASSERT_TRUE(db->Put(Rec("c", {"rc"}, 100)));
  clock_ = 40;
  ASSERT_TRUE(db->Lookup("a"));  // a is now the most recently used
  std::vector<std::string> released;
  auto report = db->Prune({.all = false, .keep_storage = 150}, [&](const CacheRecord& r) {
    released.push_back(r.result_ids[0]);
    return OkStatus();
  });
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(released, (std::vector<std::string>{"rb", "rc"}));
  ASSERT_EQ(report->removed.size(), 2u);
  EXPECT_EQ(report->removed[0].cache_key, "b");
  EXPECT_EQ(report->reclaimed, 200);
  auto list = db->List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].cache_key, "a");

  // Nothing to do when already under the limit, or with no option at all.
  report = db->Prune({.all = false, .keep_storage = 1000}, nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->removed.empty());
  report = db->Prune({}, nullptr);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->removed.empty());

  report = db->Prune({.all = true}, nullptr);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->removed.size(), 1u);
  auto total = db->TotalSize();
  ASSERT_TRUE(total);
  EXPECT_EQ(*total, 0);
}

TEST_F(CacheDbTest, PruneStopsWhenReleaseFailsAndKeepsThatRecord) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  clock_ = 10;
  ASSERT_TRUE(db->Put(Rec("a", {"ra"}, 1)));
  clock_ = 20;
  ASSERT_TRUE(db->Put(Rec("b", {"rb"}, 1)));
  auto report = db->Prune({.all = true}, [](const CacheRecord& r) -> Status {
    if (r.cache_key == "b") return MakeError(Code::kUnavailable, "snapshot rb is in use");
    return OkStatus();
  });
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code(), Code::kUnavailable);
  EXPECT_EQ(report.error().message(), "prune b: snapshot rb is in use");
  auto list = db->List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].cache_key, "b");
}

TEST_F(CacheDbTest, CorruptFileIsMovedAsideAndRebuilt) {
  std::filesystem::create_directories(root());
  {
    std::ofstream f(root() / "cache.db", std::ios::binary);
    f << std::string(8192, 'x');
  }
  clock_ = 1700000000LL * 1000000000LL;
  auto db = OpenDb();
  ASSERT_TRUE(db);
  EXPECT_TRUE(db->recovered_from_corruption());
  EXPECT_TRUE(std::filesystem::exists(root() / "cache.db.corrupt-1700000000"));
  auto list = db->List();
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
  ASSERT_TRUE(db->Put(Rec("k", {"a"}, 1)));
  db.reset();
  db = OpenDb();
  ASSERT_TRUE(db);
  EXPECT_FALSE(db->recovered_from_corruption());
  auto got = db->Lookup("k");
  ASSERT_TRUE(got && got->has_value());
}

TEST_F(CacheDbTest, ShapesRoundTripAndSayWhetherARecordMayMatch) {
  auto db = OpenDb();
  ASSERT_TRUE(db);
  auto none = db->MayMatchShape("sha256:s1");
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_FALSE(*none);  // an empty cache
  CacheRecord r = Rec("k1", {"snap-a"}, 1);
  r.shape = "sha256:s1";
  ASSERT_TRUE(db->Put(r));
  auto got = db->Lookup("k1");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->shape, "sha256:s1");
  EXPECT_EQ(*db->MayMatchShape("sha256:s1"), true);
  EXPECT_EQ(*db->MayMatchShape("sha256:s2"), false);
  // A record of unknown shape may be anyone's.
  ASSERT_TRUE(db->Put(Rec("k2", {"snap-b"}, 1)));
  EXPECT_EQ(*db->MayMatchShape("sha256:s2"), true);
  auto listed = db->List();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2u);
  for (const CacheRecord& l : *listed) EXPECT_EQ(l.shape, l.cache_key == "k1" ? "sha256:s1" : "");
  ASSERT_TRUE(db->Delete("k2"));
  EXPECT_EQ(*db->MayMatchShape("sha256:s2"), false);
}

TEST_F(CacheDbTest, AVersion1DatabaseKeepsItsRecordsWithUnknownShapes) {
  // The schema hoist wrote before shapes, with one record.
  std::filesystem::create_directories(root());
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((root() / "cache.db").c_str(), &raw), SQLITE_OK);
  const char* v1 = R"sql(
    CREATE TABLE records (cache_key TEXT PRIMARY KEY, created_ns INTEGER NOT NULL,
      last_used_ns INTEGER NOT NULL, size INTEGER NOT NULL, description TEXT NOT NULL);
    CREATE TABLE outputs (cache_key TEXT NOT NULL REFERENCES records(cache_key) ON DELETE CASCADE,
      output INTEGER NOT NULL, result_id TEXT NOT NULL, PRIMARY KEY (cache_key, output));
    CREATE INDEX records_last_used ON records(last_used_ns);
    INSERT INTO records VALUES ('old', 1, 2, 3, 'an old step');
    INSERT INTO outputs VALUES ('old', 0, 'snap-old');
    PRAGMA user_version=1;
  )sql";
  ASSERT_EQ(sqlite3_exec(raw, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto db = OpenDb();
  ASSERT_TRUE(db);
  auto old = db->Lookup("old");
  ASSERT_TRUE(old && old->has_value()) << (old ? "" : old.error().message());
  EXPECT_EQ((*old)->result_ids, std::vector<std::string>{"snap-old"});
  EXPECT_EQ((*old)->description, "an old step");
  EXPECT_EQ((*old)->shape, "");
  EXPECT_EQ(*db->MayMatchShape("sha256:any"), true);
  CacheRecord r = Rec("new", {"snap-new"}, 1);
  r.shape = "sha256:s";
  ASSERT_TRUE(db->Put(r));
  db.reset();
  db = OpenDb();  // upgraded once: opening again changes nothing
  ASSERT_TRUE(db);
  auto again = db->Lookup("new");
  ASSERT_TRUE(again && again->has_value());
  EXPECT_EQ((*again)->shape, "sha256:s");
  EXPECT_TRUE(db->Lookup("old")->has_value());
}

TEST_F(CacheDbTest, NewerSchemaIsRefusedAndLeftAlone) {
  std::filesystem::create_directories(root());
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((root() / "cache.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version=9", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto db = CacheDb::Open(root());
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(db.error().message(),
            "cache database cache.db: schema version 9 is newer than this hoist supports (2); "
            "use a newer hoist or remove the file");
  EXPECT_TRUE(std::filesystem::exists(root() / "cache.db"));
}

TEST_F(CacheDbTest, UnwritableRootIsAClearError) {
  std::filesystem::create_directories(std::filesystem::path(dir_.path()));
  {
    std::ofstream f(std::filesystem::path(dir_.path()) / "file");
    f << "x";
  }
  auto db = CacheDb::Open(std::filesystem::path(dir_.path()) / "file" / "sub");
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message().find("create cache root"), std::string::npos)
      << db.error().message();
}

}  // namespace
}  // namespace hoist::solver
