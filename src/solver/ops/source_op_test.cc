// The local source through a real Worker and solver: a build reads only its own sessions'
// directories, whatever session ID its LLB names.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "base/cancel.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "content/local_content_store.h"
#include "llb/file_action.h"
#include "llb/marshal.h"
#include "llb/source.h"
#include "llb/state.h"
#include "oci/platform.h"
#include "session/client_session.h"
#include "session/session_manager.h"
#include "snapshot/layer_cache.h"
#include "snapshot/snapshotter.h"
#include "solver/cache_db.h"
#include "solver/ops/internal/tree_util.h"
#include "solver/ops/worker.h"
#include "solver/scheduler.h"

namespace hoist::solver::ops {
namespace {

class LocalSourceSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("local-source-test-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
    const std::string root = dir_.path();
    ASSERT_TRUE(PosixFileSystem()->MakeDirs(root + "/ops", 0700));
    auto content = content::LocalContentStore::Open(PosixFileSystem(), root + "/content");
    ASSERT_TRUE(content) << content.error().message();
    content_ = std::move(*content);
    auto snapshotter = snapshot::OpenNativeSnapshotter(root + "/snapshots");
    ASSERT_TRUE(snapshotter) << snapshotter.error().message();
    snapshotter_ = std::move(*snapshotter);
    layers_ = std::make_unique<snapshot::LayerCache>(*snapshotter_, *content_);
    auto cache = CacheDb::Open(root + "/cache");
    ASSERT_TRUE(cache) << cache.error().message();
    cache_ = std::move(*cache);

    // Two clients, each with a context of its own.
    for (const char* who : {"mine", "theirs"}) {
      const std::string ctx = root + "/" + who;
      ASSERT_TRUE(PosixFileSystem()->MakeDirs(ctx, 0755));
      std::ofstream(ctx + "/file") << who;
      auto s = std::make_shared<session::ClientSession>();
      ASSERT_TRUE(s->AttachLocalDir("context", ctx));
      ASSERT_TRUE(sessions_.Register(s));
      (std::string(who) == "mine" ? mine_ : theirs_) = s->id();
    }
    worker_ = std::make_unique<Worker>(WorkerOptions{.snapshotter = snapshotter_.get(),
                                                     .layers = layers_.get(),
                                                     .content = content_.get(),
                                                     .sessions = &sessions_,
                                                     .session_ids = {mine_},
                                                     .state_dir = root + "/ops",
                                                     .default_platform = oci::HostPlatform()});
  }

  Result<SolveResult> SolveLocal(const std::string& session_id) {
    auto def = llb::Marshal(llb::Local("context", {.session_id = session_id}));
    if (!def) return Unexpected(def.error());
    Solver solver(worker_.get(), worker_.get(), cache_.get());
    return solver.Solve(*def, SolveOptions{}, CancelContext::Background());
  }

  TempDir dir_;
  std::unique_ptr<content::LocalContentStore> content_;
  std::unique_ptr<snapshot::Snapshotter> snapshotter_;
  std::unique_ptr<snapshot::LayerCache> layers_;
  std::unique_ptr<CacheDb> cache_;
  session::SessionManager sessions_;
  std::string mine_, theirs_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(LocalSourceSessionTest, ABuildReadsItsOwnSessionsDirectory) {
  auto r = SolveLocal(mine_);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r->ref.empty());
}

TEST_F(LocalSourceSessionTest, LLBNamingAnotherBuildsSessionIsRefused) {
  auto r = SolveLocal(theirs_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kPermissionDenied);
  EXPECT_NE(r.error().message().find("local://context: session " + theirs_ +
                                     " is not a session of this build"),
            std::string::npos)
      << r.error().message();
}

TEST_F(LocalSourceSessionTest, ChecksumsOfASnapshotAreRememberedPerWayOfReadingIt) {
  // A committed snapshot's checksums are remembered for the process; following a symlink and
  // not following it are different checksums of the same path, and stay so.
  auto def = llb::Marshal(
      llb::Scratch().File(llb::Mkfile("/f", 0644, "content").Symlink("f", "/link")));
  ASSERT_TRUE(def) << def.error().message();
  Solver solver(worker_.get(), worker_.get(), cache_.get());
  auto made = solver.Solve(*def, SolveOptions{}, CancelContext::Background());
  ASSERT_TRUE(made) << made.error().message();
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    auto as_link = internal::ChecksumPaths(*worker_, made->ref, {"link"}, false, false);
    auto followed = internal::ChecksumPaths(*worker_, made->ref, {"link"}, true, false);
    auto file = internal::ChecksumPaths(*worker_, made->ref, {"f"}, false, false);
    ASSERT_TRUE(as_link && followed && file);
    EXPECT_NE(*as_link, *followed);
    EXPECT_EQ(*followed, *file);
  }
}

}  // namespace
}  // namespace hoist::solver::ops
