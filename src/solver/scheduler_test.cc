#include "solver/scheduler.h"

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "api/llb/ops.pb.h"
#include "base/temp_dir.h"
#include "solver/internal/graph.h"

namespace hoist::solver {
namespace {

using Files = std::map<std::string, std::string>;
using std::chrono::milliseconds;

// Results as file maps, with reference counts, like a snapshot store would keep them.
class FakeResultStore final : public ResultStore {
 public:
  ResultRef Add(Files files) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string id = fmt::format("result-{}", next_++);
    results_[id] = std::move(files);
    refs_[id] = 1;
    return ResultRef::Adopt(id, [this](const std::string& rid) { Release(rid); });
  }
  Result<std::optional<ResultRef>> Load(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!results_.count(id)) return std::nullopt;
    ++refs_[id];
    return ResultRef::Adopt(id, [this](const std::string& rid) { Release(rid); });
  }
  int64_t Size(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t n = 0;
    for (const auto& [k, v] : results_[id]) n += static_cast<int64_t>(k.size() + v.size());
    return n;
  }
  Files Get(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.at(id);
  }
  void Erase(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    results_.erase(id);
  }
  int TotalRefs() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [id, c] : refs_) n += c;
    return n;
  }

 private:
  void Release(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    --refs_[id];
  }
  std::mutex mu_;
  int next_ = 0;
  std::map<std::string, Files> results_;
  std::map<std::string, int> refs_;
};

// What a fake op named NAME does (the pb.Op's source identifier is "fake://NAME").
struct Behavior {
  // Output from the inputs' files; default: the union of the inputs plus NAME=NAME.
  std::function<Result<Files>(const std::vector<Files>&)> exec;
  // When set, the op's key reads only this file of input 0 (content-based), with a selector.
  std::optional<std::string> reads_only;
  // The op's own key digest; default: its pb.Op digest.
  std::optional<std::string> key;
  milliseconds delay{0};
  bool block_until_cancelled = false;
  std::string name;  // Op::Name()
  // Called as the content checksum of a `reads_only` op finishes.
  std::function<void()> on_checksum;
};

class World : public OpResolver {
 public:
  std::map<std::string, Behavior> behaviors;
  FakeResultStore store;
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::mutex mu;

  int Executions(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu);
    return executions_[name];
  }
  void CountExecution(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu);
    ++executions_[name];
  }

  Result<std::unique_ptr<Op>> Resolve(const oci::Digest& digest, std::string_view op_bytes,
                                      const llb::OpMetadata&) override;

 private:
  std::map<std::string, int> executions_;
};

class FakeOp final : public Op {
 public:
  FakeOp(World* world, std::string name, oci::Digest digest)
      : world_(world), name_(std::move(name)), digest_(std::move(digest)) {}

  Result<CacheMap> GetCacheMap(const OpContext&) override {
    const Behavior& b = world_->behaviors.at(name_);
    CacheMap cm;
    cm.digest = b.key ? oci::Digest::Sha256Of(*b.key) : digest_;
    if (b.reads_only) {
      std::string path = *b.reads_only;
      CacheMap::Dep dep;
      dep.selector = oci::Digest::Sha256Of(path);
      dep.compute_digest = [this, path](const OpContext&, const ResultRef& in) -> Result<oci::Digest> {
        Files f = world_->store.Get(in.id());
        auto it = f.find(path);
        if (it == f.end()) return MakeError(Code::kNotFound, path + ": not found");
        const Behavior& b = world_->behaviors.at(name_);
        if (b.on_checksum) b.on_checksum();
        return oci::Digest::Sha256Of(it->second);
      };
      cm.deps.push_back(std::move(dep));
    }
    return cm;
  }

  Result<std::vector<ResultRef>> Exec(const OpContext& ctx,
                                      const std::vector<ResultRef>& inputs) override {
    const Behavior& b = world_->behaviors.at(name_);
    world_->CountExecution(name_);
    int now = ++world_->running;
    int prev = world_->max_running.load();
    while (now > prev && !world_->max_running.compare_exchange_weak(prev, now)) {
    }
    struct Leave {
      World* w;
      ~Leave() { --w->running; }
    } leave{world_};
    ctx.progress.Log(1, name_ + " running\n");
    auto deadline = std::chrono::steady_clock::now() + b.delay;
    while (std::chrono::steady_clock::now() < deadline || b.block_until_cancelled) {
      HOIST_TRY(ctx.cancel->Check());
      std::this_thread::sleep_for(milliseconds(2));
    }
    std::vector<Files> in;
    for (const ResultRef& r : inputs) in.push_back(world_->store.Get(r.id()));
    Files out;
    if (b.exec) {
      HOIST_ASSIGN_OR_RETURN(out, b.exec(in));
    } else {
      for (const Files& f : in) out.insert(f.begin(), f.end());
      out[name_] = name_;
    }
    return std::vector<ResultRef>{world_->store.Add(std::move(out))};
  }

  std::string Name() const override { return world_->behaviors.at(name_).name; }

 private:
  World* world_;
  std::string name_;
  oci::Digest digest_;
};

Result<std::unique_ptr<Op>> World::Resolve(const oci::Digest& digest, std::string_view op_bytes,
                                           const llb::OpMetadata&) {
  pb::Op op;
  if (!op.ParseFromArray(op_bytes.data(), static_cast<int>(op_bytes.size())) || !op.has_source()) {
    return MakeError(Code::kUnimplemented, "not a fake op");
  }
  std::string id = op.source().identifier();
  if (id.rfind("fake://", 0) != 0) return MakeError(Code::kUnimplemented, "unknown source " + id);
  std::string name = id.substr(7);
  std::lock_guard<std::mutex> lock(mu);
  if (!behaviors.count(name)) return MakeError(Code::kNotFound, "no behavior " + name);
  return std::unique_ptr<Op>(new FakeOp(this, name, digest));
}

// Builds definitions of fake ops.
class Graph {
 public:
  // Adds op NAME with the given inputs (earlier ops' digests, output 0); returns its digest.
  oci::Digest Add(const std::string& name, std::vector<oci::Digest> inputs = {},
                  llb::OpMetadata md = {}) {
    pb::Op op;
    for (const oci::Digest& in : inputs) {
      pb::Input* i = op.add_inputs();
      i->set_digest(in.str());
      i->set_index(0);
    }
    op.mutable_source()->set_identifier("fake://" + name);
    std::string bytes;
    op.SerializeToString(&bytes);
    oci::Digest d = oci::Digest::Sha256Of(bytes);
    def_.def.push_back(bytes);
    def_.metadata[d] = md;
    return d;
  }
  llb::Definition Finish(const oci::Digest& head, int64_t output = 0) const {
    llb::Definition def = def_;
    pb::Op op;
    pb::Input* i = op.add_inputs();
    i->set_digest(head.str());
    i->set_index(output);
    std::string bytes;
    op.SerializeToString(&bytes);
    def.def.push_back(bytes);
    return def;
  }

 private:
  llb::Definition def_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("scheduler-test");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
    Reopen();
  }
  void Reopen(int parallelism = 4) {
    solver_.reset();
    db_.reset();
    auto db = CacheDb::Open(std::filesystem::path(dir_.path()) / "root");
    ASSERT_TRUE(db) << db.error().message();
    db_ = std::move(*db);
    solver_ = std::make_unique<Solver>(&world_, &world_.store, db_.get(),
                                       SolverOptions{.max_parallelism = parallelism});
  }
  Result<SolveResult> Solve(const llb::Definition& def, SolveOptions opts = {},
                            std::shared_ptr<CancelContext> cancel = nullptr) {
    if (opts.progress == nullptr) opts.progress = &progress_;
    return solver_->Solve(def, opts, cancel ? cancel : CancelContext::Background());
  }

  TempDir dir_;
  World world_;
  progress::RecordingProgressWriter progress_;
  std::unique_ptr<CacheDb> db_;
  std::unique_ptr<Solver> solver_;
};

TEST_F(SchedulerTest, NoOpRebuildRunsNothing) {
  for (const char* n : {"base", "left", "right", "join"}) world_.behaviors[n] = {};
  Graph g;
  auto base = g.Add("base");
  auto left = g.Add("left", {base});
  auto right = g.Add("right", {base});
  auto join = g.Add("join", {left, right});
  auto def = g.Finish(join);

  auto first = Solve(def);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->executed, 4);
  EXPECT_EQ(first->cached, 0);
  EXPECT_EQ(world_.store.Get(first->ref.id()),
            (Files{{"base", "base"}, {"left", "left"}, {"right", "right"}, {"join", "join"}}));

  auto second = Solve(def);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->executed, 0);
  // The head is a hit; what lies below it is not even loaded.
  EXPECT_EQ(second->cached, 1);
  EXPECT_EQ(second->skipped, 3);
  EXPECT_EQ(second->ref.id(), first->ref.id());
  EXPECT_EQ(second->cache_key, first->cache_key);
  for (const char* n : {"base", "left", "right", "join"}) EXPECT_EQ(world_.Executions(n), 1) << n;
}

TEST_F(SchedulerTest, CacheSurvivesReopeningTheRoot) {
  world_.behaviors["a"] = {};
  world_.behaviors["b"] = {};
  Graph g;
  auto def = g.Finish(g.Add("b", {g.Add("a")}));
  auto first = Solve(def);
  ASSERT_TRUE(first) << first.error().message();
  std::string id = first->ref.id();
  Reopen();
  auto second = Solve(def);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->executed, 0);
  EXPECT_EQ(second->ref.id(), id);
  EXPECT_EQ(world_.Executions("a"), 1);
  EXPECT_EQ(world_.Executions("b"), 1);
}

TEST_F(SchedulerTest, ContentBasedSelectorIgnoresUnrelatedFiles) {
  Files context = {{"app.c", "int main;"}, {"README", "v1"}};
  world_.behaviors["context"].exec = [&](const std::vector<Files>&) -> Result<Files> { return context; };
  // A local context changes identity whenever its files change.
  world_.behaviors["context"].key = "context";
  world_.behaviors["copy"].reads_only = "app.c";
  world_.behaviors["copy"].exec = [](const std::vector<Files>& in) -> Result<Files> {
    return Files{{"app.c", in[0].at("app.c")}};
  };
  world_.behaviors["build"] = {};
  Graph g;
  auto ctx = g.Add("context", {}, {.ignore_cache = true});
  auto def = g.Finish(g.Add("build", {g.Add("copy", {ctx})}));

  ASSERT_TRUE(Solve(def));
  context["README"] = "v2";  // not read by copy
  auto again = Solve(def);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(world_.Executions("context"), 2);
  EXPECT_EQ(world_.Executions("copy"), 1);
  EXPECT_EQ(world_.Executions("build"), 1);

  context["app.c"] = "int main() {}";
  auto changed = Solve(def);
  ASSERT_TRUE(changed) << changed.error().message();
  EXPECT_EQ(world_.Executions("copy"), 2);
  EXPECT_EQ(world_.Executions("build"), 2);
  EXPECT_EQ(world_.store.Get(changed->ref.id()).at("app.c"), "int main() {}");
}

TEST_F(SchedulerTest, IndependentOpsRunInParallelWithinTheBound) {
  Graph g;
  std::vector<oci::Digest> leaves;
  for (int i = 0; i < 4; ++i) {
    std::string n = fmt::format("slow{}", i);
    world_.behaviors[n].delay = milliseconds(300);
    leaves.push_back(g.Add(n));
  }
  world_.behaviors["join"] = {};
  auto def = g.Finish(g.Add("join", leaves));
  auto start = std::chrono::steady_clock::now();
  auto r = Solve(def);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(world_.max_running.load(), 4);
  EXPECT_LT(took, milliseconds(1000));  // sequential would take 1200 ms

  // With one thread, never more than one at a time.
  world_.max_running = 0;
  Reopen(1);
  auto seq = Solve(def, {.no_cache = true});
  ASSERT_TRUE(seq) << seq.error().message();
  EXPECT_EQ(world_.max_running.load(), 1);
}

TEST_F(SchedulerTest, ConcurrentSolvesShareOneExecution) {
  world_.behaviors["slow"].delay = milliseconds(300);
  world_.behaviors["after"] = {};
  Graph g;
  auto def = g.Finish(g.Add("after", {g.Add("slow")}));
  Result<SolveResult> a = MakeError(Code::kUnknown, "unset");
  Result<SolveResult> b = MakeError(Code::kUnknown, "unset");
  std::thread t1([&] { a = Solve(def); });
  std::thread t2([&] { b = Solve(def); });
  t1.join();
  t2.join();
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(world_.Executions("slow"), 1);
  EXPECT_EQ(world_.Executions("after"), 1);
  EXPECT_EQ(a->ref.id(), b->ref.id());
  EXPECT_EQ(a->executed + b->executed, 2);
  // The later solve joined both runs, or (had it come late) hit `after` and skipped `slow`.
  EXPECT_EQ(a->merged + b->merged + a->cached + b->cached + a->skipped + b->skipped, 2);
}

TEST_F(SchedulerTest, VerticesWithTheSameCacheKeyRunOnce) {
  // Different ops (different digests) whose keys coincide, like two spellings of one command.
  world_.behaviors["one"] = {.key = "same", .delay = milliseconds(200)};
  world_.behaviors["two"] = {.key = "same", .delay = milliseconds(200)};
  world_.behaviors["join"] = {};
  Graph g;
  auto def = g.Finish(g.Add("join", {g.Add("one"), g.Add("two")}));
  auto r = Solve(def);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(world_.Executions("one") + world_.Executions("two"), 1);
  EXPECT_EQ(r->merged + r->cached, 1);
}

TEST_F(SchedulerTest, IgnoreCacheRerunsOnlyThatVertexAndNoCacheRerunsAll) {
  world_.behaviors["base"] = {};
  world_.behaviors["volatile"] = {};
  world_.behaviors["top"] = {};
  Graph g;
  auto base = g.Add("base");
  auto vol = g.Add("volatile", {base}, {.ignore_cache = true});
  auto def = g.Finish(g.Add("top", {vol}));
  ASSERT_TRUE(Solve(def));
  auto second = Solve(def);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(world_.Executions("base"), 1);
  EXPECT_EQ(world_.Executions("volatile"), 2);
  EXPECT_EQ(world_.Executions("top"), 1);  // same key below it: still a hit

  auto all = Solve(def, {.no_cache = true});
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->executed, 3);
  EXPECT_EQ(world_.Executions("base"), 2);
  EXPECT_EQ(world_.Executions("top"), 2);
}

TEST_F(SchedulerTest, FailureNamesTheVertexAndCancelsTheRest) {
  world_.behaviors["ok"] = {};
  // bad fails once hang runs (however slowly the pool gets to it), so there is a run to cancel.
  world_.behaviors["bad"].exec = [this](const std::vector<Files>&) -> Result<Files> {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (world_.Executions("hang") == 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    return MakeError(Code::kUnknown,
                     "process \"/bin/sh -c make\" did not complete successfully: exit code: 2");
  };
  world_.behaviors["hang"].block_until_cancelled = true;
  world_.behaviors["after"] = {};
  Graph g;
  auto bad = g.Add("bad", {g.Add("ok")}, {.description = {{"llb.customname", "[2/3] RUN make"}}});
  auto hang = g.Add("hang");
  auto def = g.Finish(g.Add("after", {bad, hang}));
  auto start = std::chrono::steady_clock::now();
  auto r = Solve(def);
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  EXPECT_EQ(r.error().code(), Code::kUnknown);
  EXPECT_EQ(r.error().message(),
            fmt::format("\"[2/3] RUN make\" ({}): process \"/bin/sh -c make\" did not complete "
                        "successfully: exit code: 2",
                        bad.str()));
  EXPECT_EQ(world_.Executions("after"), 0);
  bool saw_error = false, saw_canceled = false;
  for (const progress::Vertex& v : progress_.vertexes()) {
    if (v.digest == bad.str() && v.completed) {
      EXPECT_EQ(v.name, "[2/3] RUN make");
      EXPECT_EQ(v.error, "process \"/bin/sh -c make\" did not complete successfully: exit code: 2");
      saw_error = true;
    }
    if (v.digest == hang.str() && v.completed) {
      EXPECT_EQ(v.error, "context canceled");
      saw_canceled = true;
    }
  }
  EXPECT_TRUE(saw_error);
  EXPECT_TRUE(saw_canceled);
  // A failed op leaves no record: fixing nothing and retrying runs it again.
  auto again = Solve(def);
  ASSERT_FALSE(again);
  EXPECT_EQ(world_.Executions("bad"), 2);
  EXPECT_EQ(world_.Executions("ok"), 1);
}

TEST_F(SchedulerTest, CancellationStopsPromptlyAndCleanly) {
  world_.behaviors["hang"].block_until_cancelled = true;
  world_.behaviors["after"] = {};
  Graph g;
  auto def = g.Finish(g.Add("after", {g.Add("hang")}));
  auto cancel = CancelContext::Background()->Child();
  std::thread canceller([&] {
    while (world_.running.load() == 0) std::this_thread::sleep_for(milliseconds(1));
    cancel->Cancel("user pressed ^C");
  });
  auto start = std::chrono::steady_clock::now();
  auto r = Solve(def, {}, cancel);
  canceller.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kCancelled);
  EXPECT_NE(r.error().message().find("user pressed ^C"), std::string::npos) << r.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  EXPECT_EQ(world_.running.load(), 0);
  EXPECT_EQ(world_.Executions("after"), 0);
  EXPECT_EQ(world_.store.TotalRefs(), 0);
  auto list = db_->List();
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
}

TEST_F(SchedulerTest, ProgressReportsStartedCachedAndNames) {
  world_.behaviors["a"] = {.name = "op-a"};
  world_.behaviors["b"] = {};
  Graph g;
  auto a = g.Add("a");
  auto b = g.Add("b", {a}, {.description = {{"llb.customname", "[1/1] RUN b"}}});
  auto def = g.Finish(b);
  ASSERT_TRUE(Solve(def));
  auto first = progress_.vertexes();
  ASSERT_EQ(first.size(), 4u);  // started and completed for each
  EXPECT_EQ(first[0].digest, a.str());
  EXPECT_EQ(first[0].name, "op-a");
  EXPECT_TRUE(first[0].started && !first[0].completed);
  EXPECT_TRUE(first[1].completed && !first[1].cached);
  EXPECT_EQ(first[2].name, "[1/1] RUN b");
  EXPECT_EQ(first[2].inputs, std::vector<std::string>{a.str()});
  bool saw_log = false;
  for (const auto& batch : progress_.batches()) {
    for (const auto& l : batch.logs) saw_log |= l.vertex == a.str() && l.data == "a running\n";
  }
  EXPECT_TRUE(saw_log);

  progress::RecordingProgressWriter second;
  ASSERT_TRUE(Solve(def, {.progress = &second}));
  auto v = second.vertexes();
  ASSERT_EQ(v.size(), 2u);
  // `a` was skipped: it shows as cached, before the hit that made it unnecessary.
  EXPECT_EQ(v[0].digest, a.str());
  EXPECT_EQ(v[1].digest, b.str());
  for (const auto& x : v) {
    EXPECT_TRUE(x.cached);
    EXPECT_TRUE(x.started && x.completed);
  }
}

TEST_F(SchedulerTest, StaleRecordRunsAgainAndReferencesAreReleased) {
  world_.behaviors["a"] = {};
  Graph g;
  auto def = g.Finish(g.Add("a"));
  std::string id;
  {
    auto r = Solve(def);
    ASSERT_TRUE(r) << r.error().message();
    id = r->ref.id();
    EXPECT_EQ(r->ref.use_count(), 1);
  }
  EXPECT_EQ(world_.store.TotalRefs(), 0);
  world_.store.Erase(id);  // pruned behind the cache's back
  auto r = Solve(def);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(world_.Executions("a"), 2);
  EXPECT_NE(r->ref.id(), id);
}

// The result IDs a solve reports for the vertex named `name` (by its progress name).
std::vector<std::string> ResultIdsOf(const SolveResult& r, const std::string& name) {
  for (const SolvedVertex& v : r.vertices) {
    if (v.name == name) return v.result_ids;
  }
  return {};
}

// Every progress update of vertex `d`.
std::vector<progress::Vertex> UpdatesOf(const progress::RecordingProgressWriter& p,
                                        const oci::Digest& d) {
  std::vector<progress::Vertex> out;
  for (const progress::Vertex& v : p.vertexes()) {
    if (v.digest == d.str()) out.push_back(v);
  }
  return out;
}

TEST_F(SchedulerTest, AHitSkipsItsInputsEvenWhenTheirOwnRecordsAreGone) {
  for (const char* n : {"a", "b", "c"}) world_.behaviors[n] = {.name = n};
  Graph g;
  auto a = g.Add("a");
  auto b = g.Add("b", {a});
  auto c = g.Add("c", {b});
  auto def = g.Finish(c);
  auto first = Solve(def);
  ASSERT_TRUE(first) << first.error().message();
  // A and B's results are gone (as after an import of the last step only): C's key is still
  // derived from theirs, C hits, and neither A nor B runs or is loaded.
  world_.store.Erase(ResultIdsOf(*first, "a").at(0));
  world_.store.Erase(ResultIdsOf(*first, "b").at(0));
  progress::RecordingProgressWriter p;
  auto second = Solve(def, {.progress = &p});
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->ref.id(), first->ref.id());
  EXPECT_EQ(second->executed, 0);
  EXPECT_EQ(second->cached, 1);
  EXPECT_EQ(second->skipped, 2);
  for (const char* n : {"a", "b", "c"}) EXPECT_EQ(world_.Executions(n), 1) << n;
  // No skipped vertex is ever shown as started without being cached; none holds a reference.
  for (const auto& d : {a, b}) {
    auto u = UpdatesOf(p, d);
    ASSERT_EQ(u.size(), 1u) << d.str();
    EXPECT_TRUE(u[0].cached && u[0].completed);
  }
  EXPECT_TRUE(ResultIdsOf(*second, "a").empty());  // gone: nothing to export
  EXPECT_EQ(ResultIdsOf(*second, "c"), std::vector<std::string>{first->ref.id()});
  second->ref = {};
  first->ref = {};
  EXPECT_EQ(world_.store.TotalRefs(), 0);
}

TEST_F(SchedulerTest, SkippedVerticesReportTheirRecordedResultsForCacheExport) {
  world_.behaviors["a"] = {.name = "a"};
  world_.behaviors["b"] = {.name = "b"};
  Graph g;
  auto def = g.Finish(g.Add("b", {g.Add("a")}));
  auto first = Solve(def);
  ASSERT_TRUE(first) << first.error().message();
  auto second = Solve(def);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->skipped, 1);
  EXPECT_EQ(ResultIdsOf(*second, "a"), ResultIdsOf(*first, "a"));
  ASSERT_EQ(second->vertices.size(), 2u);
}

TEST_F(SchedulerTest, AHitWhoseResultWasPrunedRunsOnInputsLoadedFromTheCache) {
  for (const char* n : {"a", "b", "c"}) world_.behaviors[n] = {.name = n};
  Graph g;
  auto a = g.Add("a");
  auto b = g.Add("b", {a});
  auto c = g.Add("c", {b});
  auto def = g.Finish(c);
  auto first = Solve(def);
  ASSERT_TRUE(first) << first.error().message();
  const std::string c_id = first->ref.id();
  first->ref = {};
  world_.store.Erase(c_id);  // pruned behind the cache's back
  progress::RecordingProgressWriter p;
  auto second = Solve(def, {.progress = &p});
  ASSERT_TRUE(second) << second.error().message();
  // C runs again, on B loaded from the cache; A, below the hit B, is skipped.
  EXPECT_EQ(world_.Executions("c"), 2);
  EXPECT_EQ(world_.Executions("b"), 1);
  EXPECT_EQ(world_.Executions("a"), 1);
  EXPECT_EQ(second->executed, 1);
  EXPECT_EQ(second->cached, 1);
  EXPECT_EQ(second->skipped, 1);
  EXPECT_NE(second->ref.id(), c_id);
  EXPECT_EQ(world_.store.Get(second->ref.id()), (Files{{"a", "a"}, {"b", "b"}, {"c", "c"}}));
  auto cu = UpdatesOf(p, c);
  ASSERT_EQ(cu.size(), 2u);
  EXPECT_FALSE(cu[1].cached);
  EXPECT_EQ(UpdatesOf(p, a).size(), 1u);
}

TEST_F(SchedulerTest, AnInputWhoseContentTheKeyDigestsIsResolvedEvenWhenTheChildHits) {
  world_.behaviors["src"] = {.name = "src"};
  world_.behaviors["src"].exec = [](const std::vector<Files>&) -> Result<Files> {
    return Files{{"app.c", "int main;"}, {"README", "v1"}};
  };
  world_.behaviors["copy"] = {.reads_only = "app.c", .name = "copy"};
  world_.behaviors["copy"].exec = [](const std::vector<Files>& in) -> Result<Files> {
    return Files{{"app.c", in[0].at("app.c")}};
  };
  world_.behaviors["build"] = {.name = "build"};
  Graph g;
  auto src = g.Add("src");
  auto copy = g.Add("copy", {src});
  auto def = g.Finish(g.Add("build", {copy}));
  auto first = Solve(def);
  ASSERT_TRUE(first) << first.error().message();
  // src's result is gone: the copy's key needs its content, so src runs again even though
  // build is a hit; the copy itself (key only) is skipped.
  world_.store.Erase(ResultIdsOf(*first, "src").at(0));
  auto second = Solve(def);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(world_.Executions("src"), 2);
  EXPECT_EQ(world_.Executions("copy"), 1);
  EXPECT_EQ(world_.Executions("build"), 1);
  EXPECT_EQ(second->executed, 1);
  EXPECT_EQ(second->cached, 1);
  EXPECT_EQ(second->skipped, 1);
  EXPECT_EQ(second->ref.id(), first->ref.id());
  // With src cached, it is loaded for the checksum, not run.
  auto third = Solve(def);
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_EQ(world_.Executions("src"), 2);
  EXPECT_EQ(third->cached, 2);
  EXPECT_EQ(third->skipped, 1);
}

TEST_F(SchedulerTest, DiamondWithOneBranchHitAndOneMiss) {
  for (const char* n : {"base", "left", "right", "join"}) world_.behaviors[n] = {.name = n};
  Graph g;
  auto base = g.Add("base");
  auto left = g.Add("left", {base});
  auto right = g.Add("right", {base});
  auto def = g.Finish(g.Add("join", {left, right}));
  auto first = Solve(def);
  ASSERT_TRUE(first) << first.error().message();
  // join and right must run again; left is a hit, but right needs base's result.
  world_.store.Erase(ResultIdsOf(*first, "join").at(0));
  world_.store.Erase(ResultIdsOf(*first, "right").at(0));
  first->ref = {};
  progress::RecordingProgressWriter p;
  auto second = Solve(def, {.progress = &p});
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(world_.Executions("base"), 1);
  EXPECT_EQ(world_.Executions("left"), 1);
  EXPECT_EQ(world_.Executions("right"), 2);
  EXPECT_EQ(world_.Executions("join"), 2);
  EXPECT_EQ(second->executed, 2);
  EXPECT_EQ(second->cached, 2);  // left, and base loaded for right
  EXPECT_EQ(second->skipped, 0);
  EXPECT_EQ(world_.store.Get(second->ref.id()),
            (Files{{"base", "base"}, {"left", "left"}, {"right", "right"}, {"join", "join"}}));
  // base is reported once, as loaded from the cache: never as skipped and then used.
  auto bu = UpdatesOf(p, base);
  ASSERT_EQ(bu.size(), 1u);
  EXPECT_TRUE(bu[0].cached);

  // Now only right's branch misses, and base's result is gone: base runs for right alone.
  world_.store.Erase(ResultIdsOf(*second, "join").at(0));
  world_.store.Erase(ResultIdsOf(*second, "right").at(0));
  world_.store.Erase(ResultIdsOf(*second, "base").at(0));
  second->ref = {};
  auto third = Solve(def);
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_EQ(world_.Executions("base"), 2);
  EXPECT_EQ(world_.Executions("left"), 1);
  EXPECT_EQ(world_.Executions("right"), 3);
  EXPECT_EQ(world_.Executions("join"), 3);
}

TEST_F(SchedulerTest, NoCacheRunsEveryVertexEvenBelowARecordedHead) {
  for (const char* n : {"a", "b", "c"}) world_.behaviors[n] = {};
  Graph g;
  auto def = g.Finish(g.Add("c", {g.Add("b", {g.Add("a")})}));
  ASSERT_TRUE(Solve(def));
  auto all = Solve(def, {.no_cache = true});
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->executed, 3);
  EXPECT_EQ(all->cached, 0);
  EXPECT_EQ(all->skipped, 0);
  for (const char* n : {"a", "b", "c"}) EXPECT_EQ(world_.Executions(n), 2) << n;
}

TEST_F(SchedulerTest, ConcurrentSolvesOfAPartlyCachedChainMergeTheMisses) {
  for (const char* n : {"a", "b"}) world_.behaviors[n] = {.name = n};
  world_.behaviors["c"] = {.delay = milliseconds(300), .name = "c"};
  Graph g;
  auto def = g.Finish(g.Add("c", {g.Add("b", {g.Add("a")})}));
  auto first = Solve(def);
  ASSERT_TRUE(first) << first.error().message();
  world_.store.Erase(first->ref.id());
  first->ref = {};
  Result<SolveResult> x = MakeError(Code::kUnknown, "unset");
  Result<SolveResult> y = MakeError(Code::kUnknown, "unset");
  std::thread t1([&] { x = Solve(def); });
  std::thread t2([&] { y = Solve(def); });
  t1.join();
  t2.join();
  ASSERT_TRUE(x) << x.error().message();
  ASSERT_TRUE(y) << y.error().message();
  EXPECT_EQ(world_.Executions("c"), 2);  // once more, for both solves
  EXPECT_EQ(world_.Executions("b"), 1);
  EXPECT_EQ(world_.Executions("a"), 1);
  EXPECT_EQ(x->ref.id(), y->ref.id());
  EXPECT_EQ(x->executed + y->executed, 1);
}

TEST_F(SchedulerTest, MalformedDefinitionsAreRejected) {
  world_.behaviors["a"] = {};
  llb::Definition garbage;
  garbage.def = {"\xff\xff\xff", "x"};
  auto r = Solve(garbage);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error().message(),
            fmt::format("LLB op {} (#0 in the definition): not a valid pb.Op",
                        oci::Digest::Sha256Of("\xff\xff\xff").str()));

  Graph g;
  auto a = g.Add("a");
  auto missing = oci::Digest::Sha256Of("nothing");
  auto b = g.Add("a", {missing});
  r = Solve(g.Finish(b));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            fmt::format("LLB op {}: input {} is not in the definition", b.str(), missing.str()));

  Graph g2;
  auto u = g2.Add("nobody");
  r = Solve(g2.Finish(u));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_EQ(r.error().message(), fmt::format("load op {}: no behavior nobody", u.str()));

  Graph g3;
  auto ok = g3.Add("a");
  r = Solve(g3.Finish(ok, 3));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            fmt::format("LLB definition: the result selects output 3 of {}, which has 1 outputs",
                        ok.str()));
  (void)a;

  auto empty = Solve(llb::Definition{});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->ref.empty());
}

// LLB a client sends is checked as BuildKit checks it before anything is resolved: the shape of
// each op, the inputs an op refers to, the capabilities it names and the limits.
TEST_F(SchedulerTest, InvalidOpsAndUnknownCapsAreRefusedBeforeAnythingRuns) {
  auto solve_one = [&](const pb::Op& op, llb::OpMetadata md = {}) {
    std::string bytes;
    op.SerializeToString(&bytes);
    const oci::Digest d = oci::Digest::Sha256Of(bytes);
    llb::Definition def;
    def.def.push_back(bytes);
    def.metadata[d] = md;
    pb::Op head;
    head.add_inputs()->set_digest(d.str());
    std::string head_bytes;
    head.SerializeToString(&head_bytes);
    def.def.push_back(head_bytes);
    auto r = Solve(def);
    EXPECT_FALSE(r);
    if (r) return std::string("solved");
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    std::string prefix = fmt::format("LLB op {}: ", d.str());
    std::string msg = r.error().message();
    return msg.starts_with(prefix) ? msg.substr(prefix.size()) : msg;
  };

  pb::Op exec;
  exec.mutable_exec()->mutable_meta();
  EXPECT_EQ(solve_one(exec), "invalid exec op with no args");
  exec.mutable_exec()->mutable_meta()->add_args("true");
  EXPECT_EQ(solve_one(exec), "invalid exec op with no mounts");
  pb::Mount* m = exec.mutable_exec()->add_mounts();
  m->set_dest("/work");
  m->set_input(-1);
  EXPECT_EQ(solve_one(exec), "invalid exec op with no rootfs");
  m->set_dest("/");
  m->set_input(2);
  EXPECT_EQ(solve_one(exec), "mount /: input 2 out of range");

  pb::Op file;
  file.mutable_file();
  EXPECT_EQ(solve_one(file), "invalid file op with no actions");
  pb::FileAction* a = file.mutable_file()->add_actions();
  a->set_input(-1);
  a->set_secondaryinput(-1);
  EXPECT_EQ(solve_one(file), "file action 0: no action in it");
  a->mutable_mkdir()->set_path("/x");
  a->set_input(1);  // no inputs, no earlier action
  EXPECT_EQ(solve_one(file), "file action 0: input out of range");

  pb::Op merge;
  merge.mutable_merge();
  EXPECT_EQ(solve_one(merge), "invalid merge op with no inputs");

  pb::Op source;
  source.mutable_source()->set_identifier("fake://a");
  world_.behaviors["a"] = {};
  llb::OpMetadata md;
  md.caps["exec.mount.teleport"] = true;
  EXPECT_EQ(solve_one(source, md), "unknown API capability exec.mount.teleport");
  md.caps = {{"source.local", true}, {"exec.meta.removemountstubs.recursive", true}};
  Graph g;
  auto ok = g.Add("a", {}, md);
  EXPECT_TRUE(Solve(g.Finish(ok)));

  pb::Op big;
  big.mutable_source()->set_identifier("fake://" + std::string(internal::kMaxOpBytes, 'a'));
  EXPECT_NE(solve_one(big).find("more than the 16777216 allowed"), std::string::npos);
}

// A COPY-like op: its key digests a file of `src` (input 0) and takes `base` (input 1) by key.
// Its checksum waits up to a second for base to have run `want` times in all, and records how
// many runs it saw: whether base's result was asked for while the checksum was taken.
class SpeculationTest : public SchedulerTest {
 protected:
  void SetUp() override {
    SchedulerTest::SetUp();
    world_.behaviors["src"] = {.name = "src"};
    world_.behaviors["src"].exec = [](const std::vector<Files>&) -> Result<Files> {
      return Files{{"app.c", "int main;"}};
    };
    world_.behaviors["base"] = {.name = "base"};
    world_.behaviors["copy"] = {.reads_only = "app.c", .name = "copy"};
    world_.behaviors["copy"].on_checksum = [this] {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (world_.Executions("base") < want_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(milliseconds(2));
      }
      seen_ = world_.Executions("base");
    };
    Graph g;
    src_ = g.Add("src");
    base_ = g.Add("base");
    copy_ = g.Add("copy", {src_, base_});
    def_ = g.Finish(copy_);
  }

  std::atomic<int> want_{1};
  std::atomic<int> seen_{-1};
  oci::Digest src_, base_, copy_;
  llb::Definition def_;
};

TEST_F(SpeculationTest, AStepNoRecordCanMatchGetsItsOtherInputsWhileItsChecksumIsTaken) {
  auto first = Solve(def_);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(seen_, 1);  // base ran during the checksum: no record had the copy's shape
  EXPECT_EQ(first->executed, 3);
  EXPECT_EQ(world_.store.Get(first->ref.id()),
            (Files{{"app.c", "int main;"}, {"base", "base"}, {"copy", "copy"}}));
  // The records now carry their shapes; the copy's differs from its key.
  auto rec = db_->Lookup(first->cache_key);
  ASSERT_TRUE(rec && *rec);
  EXPECT_TRUE(oci::Digest::Parse((*rec)->shape)) << (*rec)->shape;
  EXPECT_NE((*rec)->shape, (*rec)->cache_key);
}

TEST_F(SpeculationTest, TheOtherInputsStartEvenBeforeTheContentInputIsThere) {
  // src itself (a context being transferred) waits for base: the decision needs only the
  // shape, not src's result.
  std::atomic<int> seen_by_src{-1};
  world_.behaviors["src"].exec = [&](const std::vector<Files>&) -> Result<Files> {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (world_.Executions("base") < 1 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(2));
    }
    seen_by_src = world_.Executions("base");
    return Files{{"app.c", "int main;"}};
  };
  auto first = Solve(def_);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(seen_by_src, 1);
  EXPECT_EQ(first->executed, 3);
}

TEST_F(SpeculationTest, AStepARecordMayMatchTakesItsChecksumFirst) {
  auto first = Solve(def_);
  ASSERT_TRUE(first) << first.error().message();
  // A hit: base is neither run nor loaded, before or after the checksum.
  want_ = 2;
  auto second = Solve(def_);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(seen_, 1);
  EXPECT_EQ(second->cached, 2);  // src, loaded for the checksum, and the copy
  EXPECT_EQ(second->skipped, 1);
  EXPECT_EQ(world_.Executions("base"), 1);
  // The copy's and base's results are gone: a record with the copy's shape exists (stale), so
  // base waits for the lookup, then runs.
  world_.store.Erase(ResultIdsOf(*second, "copy").at(0));
  world_.store.Erase(ResultIdsOf(*first, "base").at(0));
  first->ref = {};
  second->ref = {};
  auto third = Solve(def_);
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_EQ(seen_, 1);
  EXPECT_EQ(world_.Executions("base"), 2);
  EXPECT_EQ(world_.Executions("copy"), 2);
}

TEST_F(SpeculationTest, NoCacheOrNoShapesDecideWithoutLookingAtShapes) {
  // A record of unknown shape (an older database, an imported cache without shapes) may be
  // the copy's: base waits for the lookup.
  ASSERT_TRUE(db_->Put({.cache_key = oci::Digest::Sha256Of("old record").str(),
                        .result_ids = {"result-none"}}));
  want_ = 1;
  auto first = Solve(def_);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(seen_, 0);
  EXPECT_EQ(world_.Executions("base"), 1);
  // --no-cache: the copy runs whatever the cache holds, so base comes at once.
  want_ = 2;
  auto second = Solve(def_, {.no_cache = true});
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(seen_, 2);
  EXPECT_EQ(world_.Executions("copy"), 2);
}

}  // namespace
}  // namespace hoist::solver
