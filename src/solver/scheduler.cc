#include "solver/scheduler.h"

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

// What a pool thread reports back to the solve's thread.
struct Completion {
  size_t vertex = 0;
  Result<std::vector<ResultRef>> outputs = std::vector<ResultRef>{};
  std::string cache_key;
  Outcome outcome = Outcome::kExecuted;
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
  struct VertexState {
    std::unique_ptr<Op> op;
    std::string name;
    std::vector<size_t> children;
    size_t waiting_inputs = 0;
    std::vector<ResultRef> outputs;
    std::string cache_key;
    bool done = false;
  };

  void Dispatch(size_t v);
  // Runs on a pool thread.
  Completion Work(size_t v, std::vector<ResultRef> inputs, std::vector<std::string> input_keys);
  Result<std::vector<ResultRef>> RunOrJoin(size_t v, const std::string& key, const OpContext& ctx,
                                           const std::vector<ResultRef>& inputs,
                                           bool may_use_cache, Outcome* outcome,
                                           progress::Time* started);
  Result<std::optional<std::vector<ResultRef>>> LoadCached(const std::string& key);
  void Emit(size_t v, std::optional<progress::Time> started, std::optional<progress::Time> completed,
            bool cached, std::string error);
  std::vector<std::string> InputDigests(size_t v) const;

  Solver& solver_;
  Graph graph_;
  SolveOptions options_;
  std::shared_ptr<CancelContext> outer_;
  std::shared_ptr<CancelContext> ctx_;
  std::vector<VertexState> states_;

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
                                                   const OpContext& ctx,
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

Completion SolveRun::Work(size_t v, std::vector<ResultRef> inputs,
                          std::vector<std::string> input_keys) {
  Completion c;
  c.vertex = v;
  const GraphVertex& gv = graph_.vertices[v];
  OpContext ctx{ctx_, progress::VertexProgress(options_.progress, gv.digest.str())};
  auto run = [&]() -> Result<std::vector<ResultRef>> {
    HOIST_TRY(ctx_->Check());
    HOIST_ASSIGN_OR_RETURN(CacheMap cm, states_[v].op->GetCacheMap(ctx));
    std::vector<CacheKeyInput> key_inputs;
    for (size_t i = 0; i < gv.inputs.size(); ++i) {
      CacheKeyInput in;
      in.output = gv.inputs[i].output;
      HOIST_ASSIGN_OR_RETURN(in.key, oci::Digest::Parse(input_keys[i]));
      if (i < cm.deps.size()) {
        in.selector = cm.deps[i].selector;
        if (cm.deps[i].compute_digest) {
          auto content = cm.deps[i].compute_digest(ctx, inputs[i]);
          if (!content) return Unexpected(std::move(content).error().Wrap(fmt::format("checksum input {}", i)));
          in.content = *content;
        }
      }
      key_inputs.push_back(std::move(in));
    }
    if (!cm.digest.valid()) return MakeError(Code::kInternal, "the op gave no cache key digest");
    c.cache_key = ComputeCacheKey(cm.digest, key_inputs).str();
    bool ignore = options_.no_cache || gv.metadata.ignore_cache;
    if (!ignore) {
      HOIST_ASSIGN_OR_RETURN(auto cached, LoadCached(c.cache_key));
      if (cached) {
        c.outcome = Outcome::kCached;
        progress::Time now = progress::Clock::now();
        Emit(v, now, now, true, "");
        return std::move(*cached);
      }
    }
    progress::Time started{};
    auto out = RunOrJoin(v, c.cache_key, ctx, inputs, !ignore, &c.outcome, &started);
    progress::Time done = progress::Clock::now();
    if (out) {
      Emit(v, started, done, false, "");
    } else {
      Emit(v, started, done, false,
           out.error().code() == Code::kCancelled ? kCanceledText : out.error().message());
    }
    return out;
  };
  c.outputs = run();
  return c;
}

void SolveRun::Dispatch(size_t v) {
  std::vector<ResultRef> inputs;
  std::vector<std::string> keys;
  for (const Edge& e : graph_.vertices[v].inputs) {
    inputs.push_back(states_[e.vertex].outputs[static_cast<size_t>(e.output)]);
    keys.push_back(states_[e.vertex].cache_key);
  }
  solver_.pool_->Submit([this, v, inputs = std::move(inputs), keys = std::move(keys)]() mutable {
    Completion c = Work(v, std::move(inputs), std::move(keys));
    {
      std::lock_guard<std::mutex> lock(mu_);
      completions_.push_back(std::move(c));
    }
    cv_.notify_one();
  });
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
    states_[v].waiting_inputs = gv.inputs.size();
    for (const Edge& e : gv.inputs) states_[e.vertex].children.push_back(v);
  }
  // An op that appears twice as an input of one vertex counts twice in waiting_inputs and has
  // the vertex twice in children, so the counts stay consistent.

  std::optional<Error> failure;
  size_t running = 0;
  size_t finished = 0;
  for (size_t v = 0; v < n; ++v) {
    if (states_[v].waiting_inputs == 0) {
      Dispatch(v);
      ++running;
    }
  }
  while (running > 0) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, kPollInterval, [&] { return !completions_.empty(); });
    if (outer_->cancelled() && !ctx_->cancelled()) ctx_->Cancel("solve cancelled");
    if (completions_.empty()) continue;
    Completion c = std::move(completions_.front());
    completions_.pop_front();
    lock.unlock();
    --running;
    ++finished;
    VertexState& s = states_[c.vertex];
    const GraphVertex& gv = graph_.vertices[c.vertex];
    if (!c.outputs) {
      if (!failure) {
        Error e = std::move(c.outputs).error();
        if (e.code() == Code::kCancelled && outer_->cancelled()) {
          failure = outer_->Check().error();
        } else {
          std::string who = s.name == gv.digest.str()
                                ? gv.digest.str()
                                : fmt::format("\"{}\" ({})", s.name, gv.digest.str());
          failure = std::move(e).Wrap(who);
          ctx_->Cancel("another vertex failed");
        }
      }
      continue;
    }
    s.outputs = std::move(*c.outputs);
    s.cache_key = std::move(c.cache_key);
    s.done = true;
    switch (c.outcome) {
      case Outcome::kExecuted: ++result.executed; break;
      case Outcome::kCached: ++result.cached; break;
      case Outcome::kMerged: ++result.merged; break;
    }
    if (failure || ctx_->cancelled()) continue;
    for (size_t child : s.children) {
      if (--states_[child].waiting_inputs > 0) continue;
      // Every input edge must name an output the producing op actually has.
      std::optional<Error> bad;
      for (size_t i = 0; i < graph_.vertices[child].inputs.size(); ++i) {
        const Edge& e = graph_.vertices[child].inputs[i];
        size_t have = states_[e.vertex].outputs.size();
        if (static_cast<size_t>(e.output) >= have) {
          bad = Error(Code::kInvalidArgument,
                      fmt::format("LLB op {}: input {} selects output {} of {}, which has {} outputs",
                                  graph_.vertices[child].digest.str(), i, e.output,
                                  graph_.vertices[e.vertex].digest.str(), have));
          break;
        }
      }
      if (bad) {
        failure = std::move(*bad);
        ctx_->Cancel("invalid graph");
        break;
      }
      Dispatch(child);
      ++running;
    }
  }
  if (failure) return Unexpected(std::move(*failure));
  if (outer_->cancelled()) return Unexpected(outer_->Check().error());
  (void)finished;
  const Edge& head = *graph_.head;
  VertexState& hs = states_[head.vertex];
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
    SolvedVertex sv{.cache_key = s.cache_key, .name = s.name};
    for (const ResultRef& r : s.outputs) sv.result_ids.push_back(r.empty() ? "" : r.id());
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
  internal::SolveRun run(*this, std::move(graph), options, std::move(cancel));
  return run.Run();
}

}  // namespace hoist::solver
