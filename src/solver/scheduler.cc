#include "solver/scheduler.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <utility>

#include <fmt/format.h>

#include "base/log.h"
#include "solver/cache_key.h"
#include "solver/internal/graph.h"
#include "solver/internal/thread_pool.h"

namespace hoist::solver {
namespace internal {

// One execution of an op under a cache key, which concurrent vertices with the same key join.
struct Flight {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Result<std::vector<ResultRef>> result = std::vector<ResultRef>{};
};

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(10);
constexpr const char* kCanceledText = "context canceled";

std::string VertexName(const GraphVertex& v, const Op& op) {
  auto it = v.metadata.description.find("llb.customname");
  if (it != v.metadata.description.end() && !it->second.empty()) return it->second;
  std::string name = op.Name();
  return name.empty() ? v.digest.str() : name;
}

enum class Outcome { kExecuted, kCached, kMerged };

// The pieces of a vertex's work that run on pool threads.
enum class Task { kCacheMap, kKey, kLookup, kExec };

// What a pool thread reports back to the solve's thread.
struct Completion {
  size_t vertex = 0;
  Task task = Task::kCacheMap;
  std::optional<Error> error;
  std::optional<CacheMap> cache_map;  // kCacheMap
  std::string cache_key;              // kKey
  std::string shape;                  // kKey: the key's shape (cache_key.h)
  bool looked_up = false;             // kKey: the cache was consulted
  // kKey and kLookup: set on a hit; kExec: what the op produced (or the run it joined).
  std::optional<std::vector<ResultRef>> outputs;
  Outcome outcome = Outcome::kExecuted;
  progress::Time at{};  // when a hit was found
};

}  // namespace

class SolveRun {
 public:
  SolveRun(Solver& solver, Graph graph, const SolveOptions& options,
           std::shared_ptr<CancelContext> cancel)
      : solver_(solver),
        graph_(std::move(graph)),
        options_(options),
        outer_(std::move(cancel)),
        ctx_(outer_->Child()) {}

  Result<SolveResult> Run();

 private:
  // Scheduler-thread state of one vertex. A vertex is demanded for its cache key (a child
  // derives its own key from it) or for its result (the head, an input of a vertex that runs,
  // an input whose content a child's key digests). It moves forward only as far as demanded:
  // CacheMap, then key, then (for a result) lookup, then (on a miss) its inputs' results and
  // Exec. `op` and `name` are fixed before any task starts; pool threads read only those.
  struct VertexState {
    std::unique_ptr<Op> op;
    std::string name;
    std::vector<size_t> children;
    bool ignore_cache = false;  // no lookup: metadata ignore_cache or SolveOptions.no_cache
    bool want_key = false;
    bool want_result = false;
    bool busy = false;  // a task of this vertex is on the pool
    std::optional<CacheMap> cache_map;
    std::string cache_key;
    std::string shape;
    bool looked_up = false;  // the cache was consulted and had nothing usable
    bool run_decided = false;  // whether it is sure to run was settled (Advance)
    bool done = false;       // outputs hold the results
    bool skipped = false;    // its result turned out to be needed by no one
    std::vector<ResultRef> outputs;
  };
  enum class Need { kKey, kResult };

  // Scheduler thread.
  void Want(size_t v, Need need);
  void Advance(size_t v);
  bool KeyKnown(size_t v) const;
  // REQUIRES: the edge's vertex is done and has that output (CheckOutputs).
  const ResultRef& OutputOf(const Edge& e) const {
    return states_[e.vertex].outputs[static_cast<size_t>(e.output)];
  }
  bool HasChecksum(size_t v, size_t input) const;
  // Whether a cache record may match v's key: false when none has the key's shape (cache_key.h).
  // REQUIRES: v's CacheMap, and the keys of the inputs it takes by key.
  bool MayHit(size_t v);
  // v's key inputs with their outputs and selectors, neither keys nor contents yet.
  // REQUIRES: v's CacheMap.
  std::vector<CacheKeyInput> KeyInputsOf(size_t v) const;
  std::optional<Error> CheckOutputs(size_t v, bool content_only) const;
  void Launch(size_t v, std::function<Completion()> work);
  void Handle(Completion c, SolveResult& result);
  void Fail(size_t v, Error e);
  void SkipUnneeded(size_t v, std::vector<size_t>* skipped);
  bool Stopping() const { return failure_.has_value() || ctx_->cancelled(); }

  // Pool threads.
  Completion CacheMapTask(size_t v);
  Completion KeyTask(size_t v, CacheMap cm, std::vector<CacheKeyInput> key_inputs,
                     const std::vector<std::string>& input_keys,
                     std::vector<ResultRef> content_inputs, bool lookup);
  Completion LookupTask(size_t v, std::string key);
  Completion ExecTask(size_t v, std::string key, std::string shape, std::vector<ResultRef> inputs);
  Result<std::vector<ResultRef>> RunOrJoin(size_t v, const std::string& key,
                                           const std::string& shape, const OpContext& ctx,
                                           const std::vector<ResultRef>& inputs,
                                           bool may_use_cache, Outcome* outcome,
                                           progress::Time* started);
  Result<std::optional<std::vector<ResultRef>>> LoadCached(const std::string& key);
  // Looks c->cache_key up and records the outcome (a hit's outputs, or none) in `c`.
  Status LookUpInto(Completion* c);
  OpContext MakeContext(size_t v) const;

  void Emit(size_t v, std::optional<progress::Time> started, std::optional<progress::Time> completed,
            bool cached, std::string error);
  std::vector<std::string> InputDigests(size_t v) const;

  Solver& solver_;
  Graph graph_;
  SolveOptions options_;
  std::shared_ptr<CancelContext> outer_;
  std::shared_ptr<CancelContext> ctx_;
  std::vector<VertexState> states_;
  std::optional<Error> failure_;
  size_t running_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Completion> completions_;
};

std::vector<std::string> SolveRun::InputDigests(size_t v) const {
  std::vector<std::string> out;
  for (const Edge& e : graph_.vertices[v].inputs) out.push_back(graph_.vertices[e.vertex].digest.str());
  return out;
}

void SolveRun::Emit(size_t v, std::optional<progress::Time> started,
                    std::optional<progress::Time> completed, bool cached, std::string error) {
  if (options_.progress == nullptr) return;
  progress::Vertex pv;
  pv.digest = graph_.vertices[v].digest.str();
  pv.inputs = InputDigests(v);
  pv.name = states_[v].name;
  pv.started = started;
  pv.completed = completed;
  pv.cached = cached;
  pv.error = std::move(error);
  progress::SolveStatus s;
  s.vertexes.push_back(std::move(pv));
  options_.progress->Write(std::move(s));
}

OpContext SolveRun::MakeContext(size_t v) const {
  return OpContext{ctx_,
                   progress::VertexProgress(options_.progress, graph_.vertices[v].digest.str())};
}

Result<std::optional<std::vector<ResultRef>>> SolveRun::LoadCached(const std::string& key) {
  HOIST_ASSIGN_OR_RETURN(std::optional<CacheRecord> rec, solver_.cache_->Lookup(key));
  if (!rec) return std::nullopt;
  std::vector<ResultRef> refs;
  for (const std::string& id : rec->result_ids) {
    HOIST_ASSIGN_OR_RETURN(std::optional<ResultRef> ref, solver_.results_->Load(id));
    if (!ref) {
      HOIST_LOG(kInfo, "cache record {}: result {} is gone; running again", key, id);
      return std::nullopt;
    }
    refs.push_back(std::move(*ref));
  }
  return refs;
}

Result<std::vector<ResultRef>> SolveRun::RunOrJoin(size_t v, const std::string& key,
                                                   const std::string& shape, const OpContext& ctx,
                                                   const std::vector<ResultRef>& inputs,
                                                   bool may_use_cache, Outcome* outcome,
                                                   progress::Time* started) {
  for (;;) {
    HOIST_TRY(ctx.cancel->Check());
    std::shared_ptr<Flight> flight;
    bool owner = false;
    {
      std::lock_guard<std::mutex> lock(solver_.flights_mu_);
      auto& slot = solver_.flights_[key];
      if (!slot) {
        slot = std::make_shared<Flight>();
        owner = true;
      }
      flight = slot;
    }
    *started = progress::Clock::now();
    Emit(v, *started, std::nullopt, false, "");
    if (owner) {
      *outcome = Outcome::kExecuted;
      // Another solve may have finished this very work between our cache lookup and taking
      // the flight (it records before it lets go of the flight): look again.
      std::optional<std::vector<ResultRef>> recorded;
      if (may_use_cache) {
        auto again = LoadCached(key);
        if (again && *again) {
          recorded = std::move(**again);
          *outcome = Outcome::kMerged;
        }
      }
      Result<std::vector<ResultRef>> out =
          recorded ? Result<std::vector<ResultRef>>(std::move(*recorded))
                   : states_[v].op->Exec(ctx, inputs);
      if (out && !recorded) {
        int64_t size = 0;
        CacheRecord rec;
        rec.cache_key = key;
        rec.shape = shape;
        for (const ResultRef& r : *out) {
          if (r.empty()) {
            out = MakeError(Code::kInternal, "the op returned an empty result");
            break;
          }
          rec.result_ids.push_back(r.id());
          size += solver_.results_->Size(r.id());
        }
        rec.size = size;
        rec.description = states_[v].name;
        if (out) {
          Status st = solver_.cache_->Put(rec);
          if (!st) HOIST_LOG(kWarning, "record cache {}: {}", key, st.error().message());
        }
      }
      {
        std::lock_guard<std::mutex> lock(solver_.flights_mu_);
        solver_.flights_.erase(key);
      }
      {
        std::lock_guard<std::mutex> lock(flight->mu);
        flight->result = out;
        flight->done = true;
      }
      flight->cv.notify_all();
      return out;
    }
    // Someone else runs the same work: wait for it, staying responsive to cancellation.
    *outcome = Outcome::kMerged;
    std::unique_lock<std::mutex> lock(flight->mu);
    while (!flight->done) {
      if (ctx.cancel->cancelled()) return Unexpected(ctx.cancel->Check().error());
      flight->cv.wait_for(lock, kPollInterval);
    }
    if (!flight->result && flight->result.error().code() == Code::kCancelled &&
        !ctx.cancel->cancelled()) {
      continue;  // the other solve gave up, not us: run it ourselves
    }
    return flight->result;
  }
}

Completion SolveRun::CacheMapTask(size_t v) {
  Completion c{.vertex = v, .task = Task::kCacheMap};
  OpContext ctx = MakeContext(v);
  auto cm = [&]() -> Result<CacheMap> {
    HOIST_TRY(ctx_->Check());
    HOIST_ASSIGN_OR_RETURN(CacheMap m, states_[v].op->GetCacheMap(ctx));
    if (!m.digest.valid()) return MakeError(Code::kInternal, "the op gave no cache key digest");
    return m;
  }();
  if (cm) {
    c.cache_map = std::move(*cm);
  } else {
    c.error = std::move(cm).error();
  }
  return c;
}

Completion SolveRun::KeyTask(size_t v, CacheMap cm, std::vector<CacheKeyInput> key_inputs,
                             const std::vector<std::string>& input_keys,
                             std::vector<ResultRef> content_inputs, bool lookup) {
  Completion c{.vertex = v, .task = Task::kKey};
  OpContext ctx = MakeContext(v);
  Status st = [&]() -> Status {
    HOIST_TRY(ctx_->Check());
    for (size_t i = 0; i < key_inputs.size(); ++i) {
      HOIST_ASSIGN_OR_RETURN(key_inputs[i].key, oci::Digest::Parse(input_keys[i]));
      if (i >= cm.deps.size() || !cm.deps[i].compute_digest) continue;
      auto content = cm.deps[i].compute_digest(ctx, content_inputs[i]);
      if (!content) {
        return Unexpected(std::move(content).error().Wrap(fmt::format("checksum input {}", i)));
      }
      key_inputs[i].content = *content;
    }
    c.cache_key = ComputeCacheKey(cm.digest, key_inputs).str();
    c.shape = ComputeShapeKey(cm.digest, key_inputs).str();
    if (!lookup) return OkStatus();
    return LookUpInto(&c);
  }();
  if (!st) c.error = std::move(st).error();
  return c;
}

Completion SolveRun::LookupTask(size_t v, std::string key) {
  Completion c{.vertex = v, .task = Task::kLookup, .cache_key = key};
  Status st = [&]() -> Status {
    HOIST_TRY(ctx_->Check());
    return LookUpInto(&c);
  }();
  if (!st) c.error = std::move(st).error();
  return c;
}

Status SolveRun::LookUpInto(Completion* c) {
  HOIST_ASSIGN_OR_RETURN(c->outputs, LoadCached(c->cache_key));
  c->looked_up = true;
  c->outcome = Outcome::kCached;
  c->at = progress::Clock::now();
  return OkStatus();
}

Completion SolveRun::ExecTask(size_t v, std::string key, std::string shape,
                              std::vector<ResultRef> inputs) {
  Completion c{.vertex = v, .task = Task::kExec, .cache_key = key};
  OpContext ctx = MakeContext(v);
  progress::Time started{};
  auto out = RunOrJoin(v, key, shape, ctx, inputs, !states_[v].ignore_cache, &c.outcome, &started);
  progress::Time done = progress::Clock::now();
  if (out) {
    Emit(v, started, done, false, "");
    c.outputs = std::move(*out);
  } else {
    Emit(v, started, done, false,
         out.error().code() == Code::kCancelled ? kCanceledText : out.error().message());
    c.error = std::move(out).error();
  }
  return c;
}

void SolveRun::Launch(size_t v, std::function<Completion()> work) {
  states_[v].busy = true;
  ++running_;
  solver_.pool_->Submit([this, work = std::move(work)]() {
    Completion c = work();
    {
      std::lock_guard<std::mutex> lock(mu_);
      completions_.push_back(std::move(c));
    }
    cv_.notify_one();
  });
}

// A child can use an input's key once it is computed, except for a vertex that skips the
// cache: as in BuildKit, its key stands only for a result it has produced in this solve.
bool SolveRun::KeyKnown(size_t v) const {
  const VertexState& s = states_[v];
  return !s.cache_key.empty() && (!s.ignore_cache || s.done);
}

// REQUIRES: states_[v].cache_map.
bool SolveRun::HasChecksum(size_t v, size_t input) const {
  const CacheMap& cm = *states_[v].cache_map;
  return input < cm.deps.size() && static_cast<bool>(cm.deps[input].compute_digest);
}

std::vector<CacheKeyInput> SolveRun::KeyInputsOf(size_t v) const {
  const CacheMap& cm = *states_[v].cache_map;
  std::vector<CacheKeyInput> out;
  for (size_t i = 0; i < graph_.vertices[v].inputs.size(); ++i) {
    CacheKeyInput in;
    in.output = graph_.vertices[v].inputs[i].output;
    if (i < cm.deps.size()) in.selector = cm.deps[i].selector;
    out.push_back(std::move(in));
  }
  return out;
}

bool SolveRun::MayHit(size_t v) {
  std::vector<CacheKeyInput> key_inputs = KeyInputsOf(v);
  for (size_t i = 0; i < key_inputs.size(); ++i) {
    if (HasChecksum(v, i)) {
      key_inputs[i].content.emplace();  // a content line; the shape leaves out its digest
      continue;
    }
    auto key = oci::Digest::Parse(states_[graph_.vertices[v].inputs[i].vertex].cache_key);
    if (!key) return true;  // the key task reports it
    key_inputs[i].key = *key;
  }
  const std::string shape = ComputeShapeKey(states_[v].cache_map->digest, key_inputs).str();
  auto may = solver_.cache_->MayMatchShape(shape);
  if (!may) {
    HOIST_LOG(kWarning, "cache: {}", may.error().message());
    return true;  // as if it might: the lookup decides, as without shapes
  }
  return *may;
}

void SolveRun::Want(size_t v, Need need) {
  VertexState& s = states_[v];
  if (need == Need::kResult || s.ignore_cache) {
    if (s.want_result) return;
    // A skipped vertex had every child settled without it; nothing can ask again.
    if (s.skipped) {
      HOIST_LOG(kError, "solver: result of skipped vertex {} wanted",
                graph_.vertices[v].digest.str());
      return;
    }
    s.want_result = true;
  } else {
    if (s.want_key || s.want_result) return;
    s.want_key = true;
  }
  Advance(v);
}

std::optional<Error> SolveRun::CheckOutputs(size_t v, bool content_only) const {
  const GraphVertex& gv = graph_.vertices[v];
  for (size_t i = 0; i < gv.inputs.size(); ++i) {
    if (content_only && !HasChecksum(v, i)) continue;
    const Edge& e = gv.inputs[i];
    size_t have = states_[e.vertex].outputs.size();
    if (static_cast<size_t>(e.output) >= have) {
      return Error(
          Code::kInvalidArgument,
          fmt::format("LLB op {}: input {} selects output {} of {}, which has {} outputs",
                      gv.digest.str(), i, e.output, graph_.vertices[e.vertex].digest.str(), have));
    }
  }
  return std::nullopt;
}

// Moves vertex v one step towards what is demanded of it, when it can: each step is one pool
// task, and Handle calls Advance again when it completes.
void SolveRun::Advance(size_t v) {
  VertexState& s = states_[v];
  if (Stopping() || s.busy || s.done || s.skipped || !(s.want_key || s.want_result)) return;
  const GraphVertex& gv = graph_.vertices[v];
  if (!s.cache_map) {
    // The inputs' keys are needed whatever the CacheMap says; work them out meanwhile.
    for (const Edge& e : gv.inputs) Want(e.vertex, Need::kKey);
    if (Stopping()) return;
    Launch(v, [this, v] { return CacheMapTask(v); });
    return;
  }
  if (s.cache_key.empty()) {
    // The key needs each input's key, or its result where the op digests its content.
    bool ready = true;
    bool checksums = false;
    bool others_keyed = true;  // every input taken by key has its key
    for (size_t i = 0; i < gv.inputs.size(); ++i) {
      const size_t in = gv.inputs[i].vertex;
      const bool content = HasChecksum(v, i);
      Want(in, content ? Need::kResult : Need::kKey);
      ready = ready && (content ? states_[in].done : KeyKnown(in));
      checksums = checksums || content;
      if (!content) others_keyed = others_keyed && KeyKnown(in);
    }
    if (Stopping()) return;
    if (s.want_result && checksums && others_keyed && !s.run_decided) {
      // Decided once, as soon as the shape is known (before the content inputs are even
      // there): when the op is sure to run (it skips the cache, or no record has its key's
      // shape, so none can match whatever the checksums give: BuildKit's
      // noCacheMatchPossible), its other inputs' results are got meanwhile instead of after a
      // lookup that cannot hit.
      s.run_decided = true;
      if (s.ignore_cache || !MayHit(v)) {
        for (const Edge& e : gv.inputs) Want(e.vertex, Need::kResult);
        if (Stopping()) return;
      }
    }
    if (!ready) return;
    if (auto bad = CheckOutputs(v, /*content_only=*/true)) {
      failure_ = std::move(*bad);
      ctx_->Cancel("invalid graph");
      return;
    }
    std::vector<CacheKeyInput> key_inputs = KeyInputsOf(v);
    std::vector<std::string> input_keys;
    std::vector<ResultRef> content_inputs;
    for (size_t i = 0; i < gv.inputs.size(); ++i) {
      const Edge& e = gv.inputs[i];
      input_keys.push_back(states_[e.vertex].cache_key);
      content_inputs.push_back(HasChecksum(v, i) ? OutputOf(e) : ResultRef());
    }
    const bool lookup = s.want_result && !s.ignore_cache;
    Launch(v, [this, v, cm = *s.cache_map, key_inputs = std::move(key_inputs),
               input_keys = std::move(input_keys), content_inputs = std::move(content_inputs),
               lookup]() mutable {
      return KeyTask(v, std::move(cm), std::move(key_inputs), input_keys, std::move(content_inputs),
                     lookup);
    });
    return;
  }
  if (!s.want_result) return;  // the key is all anyone asked for
  if (!s.ignore_cache && !s.looked_up) {
    Launch(v, [this, v, key = s.cache_key] { return LookupTask(v, key); });
    return;
  }
  // A miss: the op runs, on its inputs' results (each of which may itself come from the cache).
  bool ready = true;
  for (const Edge& e : gv.inputs) {
    Want(e.vertex, Need::kResult);
    ready = ready && states_[e.vertex].done;
  }
  if (!ready || Stopping()) return;
  if (auto bad = CheckOutputs(v, /*content_only=*/false)) {
    failure_ = std::move(*bad);
    ctx_->Cancel("invalid graph");
    return;
  }
  std::vector<ResultRef> inputs;
  for (const Edge& e : gv.inputs) inputs.push_back(OutputOf(e));
  Launch(v, [this, v, key = s.cache_key, shape = s.shape, inputs = std::move(inputs)]() mutable {
    return ExecTask(v, std::move(key), std::move(shape), std::move(inputs));
  });
}

// After v was served from the cache: its inputs, and theirs, whose results no child needs
// any more are skipped. A vertex is settled once it is done or skipped; an input is skipped
// when every child is settled and none asked for its result.
void SolveRun::SkipUnneeded(size_t v, std::vector<size_t>* skipped) {
  for (const Edge& e : graph_.vertices[v].inputs) {
    VertexState& in = states_[e.vertex];
    if (in.done || in.skipped || in.busy || in.want_result) continue;
    bool settled = std::all_of(in.children.begin(), in.children.end(),
                               [&](size_t c) { return states_[c].done || states_[c].skipped; });
    if (!settled) continue;
    in.skipped = true;
    skipped->push_back(e.vertex);
    SkipUnneeded(e.vertex, skipped);
  }
}

void SolveRun::Fail(size_t v, Error e) {
  if (failure_) return;
  if (e.code() == Code::kCancelled && outer_->cancelled()) {
    failure_ = outer_->Check().error();
    return;
  }
  const VertexState& s = states_[v];
  const std::string digest = graph_.vertices[v].digest.str();
  std::string who = s.name == digest ? digest : fmt::format("\"{}\" ({})", s.name, digest);
  failure_ = std::move(e).Wrap(who);
  ctx_->Cancel("another vertex failed");
}

void SolveRun::Handle(Completion c, SolveResult& result) {
  const size_t v = c.vertex;
  VertexState& s = states_[v];
  s.busy = false;
  if (c.error) {
    Fail(v, std::move(*c.error));
    return;
  }
  switch (c.task) {
    case Task::kCacheMap:
      s.cache_map = std::move(c.cache_map);
      break;
    case Task::kKey:
    case Task::kLookup:
      s.cache_key = std::move(c.cache_key);
      if (c.task == Task::kKey) s.shape = std::move(c.shape);
      s.looked_up = c.looked_up;
      if (c.outputs) {
        s.outputs = std::move(*c.outputs);
        s.done = true;
        ++result.cached;
        // Skipped inputs show as cached, before the vertex that made them unnecessary (as
        // BuildKit's progress marks the unfinished inputs of a started vertex).
        std::vector<size_t> skipped;
        SkipUnneeded(v, &skipped);
        std::sort(skipped.begin(), skipped.end());  // the graph's order: inputs first
        for (size_t u : skipped) Emit(u, c.at, c.at, true, "");
        result.skipped += static_cast<int>(skipped.size());
        Emit(v, c.at, c.at, true, "");
      }
      break;
    case Task::kExec:
      s.outputs = std::move(*c.outputs);
      s.done = true;
      if (c.outcome == Outcome::kMerged) {
        ++result.merged;
      } else {
        ++result.executed;
      }
      break;
  }
  Advance(v);
  for (size_t child : s.children) Advance(child);
}

Result<SolveResult> SolveRun::Run() {
  SolveResult result;
  if (!graph_.head) return result;
  const size_t n = graph_.vertices.size();
  states_.resize(n);
  for (size_t v = 0; v < n; ++v) {
    const GraphVertex& gv = graph_.vertices[v];
    auto op = solver_.resolver_->Resolve(gv.digest, gv.op_bytes, gv.metadata);
    if (!op) return Unexpected(std::move(op).error().Wrap(fmt::format("load op {}", gv.digest.str())));
    states_[v].op = std::move(*op);
    states_[v].name = VertexName(gv, *states_[v].op);
    states_[v].ignore_cache = options_.no_cache || gv.metadata.ignore_cache;
    for (const Edge& e : gv.inputs) states_[e.vertex].children.push_back(v);
  }
  // An op that appears twice as an input of one vertex has the vertex twice in children.

  const Edge& head = *graph_.head;
  Want(head.vertex, Need::kResult);
  while (running_ > 0) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, kPollInterval, [&] { return !completions_.empty(); });
    if (outer_->cancelled() && !ctx_->cancelled()) ctx_->Cancel("solve cancelled");
    if (completions_.empty()) continue;
    Completion c = std::move(completions_.front());
    completions_.pop_front();
    lock.unlock();
    --running_;
    Handle(std::move(c), result);
  }
  if (failure_) return Unexpected(std::move(*failure_));
  if (outer_->cancelled()) return Unexpected(outer_->Check().error());
  VertexState& hs = states_[head.vertex];
  if (!hs.done) {
    return MakeError(Code::kInternal,
                     fmt::format("solver: {} has no result and nothing is left to run",
                                 graph_.vertices[head.vertex].digest.str()));
  }
  if (static_cast<size_t>(head.output) >= hs.outputs.size()) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("LLB definition: the result selects output {} of {}, which has {} outputs",
                                 head.output, graph_.vertices[head.vertex].digest.str(), hs.outputs.size()));
  }
  result.ref = hs.outputs[static_cast<size_t>(head.output)];
  result.cache_key = hs.cache_key;
  for (size_t v = 0; v < states_.size(); ++v) {
    const VertexState& s = states_[v];
    if (s.cache_key.empty()) continue;
    SolvedVertex sv{.cache_key = s.cache_key, .shape = s.shape, .name = s.name,
                    .digest = graph_.vertices[v].digest,
                    .pin = s.op->Pin()};
    if (s.done) {
      for (const ResultRef& r : s.outputs) sv.result_ids.push_back(r.empty() ? "" : r.id());
    } else if (s.skipped) {
      // Not needed here, but a cache export of every step still wants what its record names,
      // when the results are still there (checked, not materialised: the ResultStore's Load).
      auto rec = solver_.cache_->Lookup(s.cache_key);
      if (rec && *rec) {
        for (const std::string& id : (*rec)->result_ids) {
          auto ref = solver_.results_->Load(id);
          if (!ref || !*ref) {
            sv.result_ids.clear();
            break;
          }
          sv.result_ids.push_back(id);
        }
      }
    }
    result.vertices.push_back(std::move(sv));
  }
  return result;
}

}  // namespace internal

Solver::Solver(OpResolver* resolver, ResultStore* results, CacheDb* cache, SolverOptions options)
    : resolver_(resolver),
      results_(results),
      cache_(cache),
      pool_(std::make_unique<internal::ThreadPool>(options.max_parallelism)) {}

Solver::~Solver() = default;

Result<SolveResult> Solver::Solve(const llb::Definition& definition, const SolveOptions& options,
                                  std::shared_ptr<CancelContext> cancel) {
  if (!cancel) cancel = CancelContext::Background();
  HOIST_ASSIGN_OR_RETURN(internal::Graph graph, internal::LoadGraph(definition));
  for (const internal::GraphVertex& v : graph.vertices) {
    auto it = v.metadata.description.find("llb.customname");
    const std::string name = it != v.metadata.description.end() && !it->second.empty()
                                 ? fmt::format("\"{}\"", it->second)
                                 : fmt::format("op {}", v.digest.str());
    HOIST_TRY(CheckEntitlements(v.op_bytes, name, options.entitlements));
  }
  internal::SolveRun run(*this, std::move(graph), options, std::move(cancel));
  return run.Run();
}

}  // namespace hoist::solver
