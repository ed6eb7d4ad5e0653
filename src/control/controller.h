// Controller: the build pipeline shared by the embedded client and hoistd. One Solve runs the
// built-in Dockerfile frontend (reading the Dockerfile and .dockerignore through the client's
// session), solves the graph per target platform, runs the exporter and the cache exports, and
// answers with BuildKit's exporter response.
//
// Thread-safety: thread-safe; concurrent solves share the engine's cache and identical work.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "control/cache_usage.h"
#include "control/engine_parts.h"
#include "control/exporters.h"
#include "control/frontend_attrs.h"
#include "control/solve_request.h"
#include "progress/event.h"
#include "session/session.h"

namespace hoist::control {

// What a failed solve can tell besides its error.
struct SolveFailure {
  // BuildKit's excerpt of the Dockerfile lines the failed step came from; empty if unknown.
  std::string excerpt;
};

// A frontend's solved result (one per target platform), waiting to be exported.
struct BuildResult {
  // The registry client the build's workers use (credentials from the build's session); first,
  // so that it outlives them.
  std::shared_ptr<registry::Client> registry;
  FrontendSettings settings;
  std::vector<PlatformResult> results;
};

class Controller {
 public:
  explicit Controller(EngineParts engine) : engine_(std::move(engine)) {}

  const EngineParts& engine() const { return engine_; }

  // Runs one build. Progress (vertexes, byte counts, logs, warnings) goes to `progress` (may
  // be null). The session `request.session_id` must be registered with the engine's session
  // manager (it is waited for briefly). `failure` (may be null) is filled when the build fails.
  Result<SolveResponse> Solve(const SolveRequest& request, progress::ProgressWriter* progress,
                              const std::shared_ptr<CancelContext>& cancel,
                              SolveFailure* failure = nullptr);

  // The two halves of Solve, for builds a client drives through the gateway API (Control.Solve
  // without a frontend, then LLBBridge.Solve with it and LLBBridge.Return). Callers hold
  // HoldOffPrune() from the start of Build until Export is done.
  //
  // Build runs the built-in frontend with `frontend_attrs` (and `frontend_inputs`, see
  // SolveRequest) on the session's files and solves each target platform, after importing
  // `cache_imports`; its steps may use `entitlements` (what GrantEntitlements gave the request).
  Result<std::shared_ptr<BuildResult>> Build(
      const Attrs& frontend_attrs, const std::map<std::string, llb::Definition>& frontend_inputs,
      const std::string& session_id, const std::vector<TypedAttrs>& cache_imports,
      const solver::EntitlementSet& entitlements, progress::ProgressWriter* progress,
      const std::shared_ptr<CancelContext>& cancel, SolveFailure* failure = nullptr);
  // Export runs the request's exporters and cache exports on `built`. REQUIRES:
  // ValidateSolveRequest(request) succeeded.
  Result<SolveResponse> Export(const SolveRequest& request, const BuildResult& built,
                               progress::ProgressWriter* progress,
                               const std::shared_ptr<CancelContext>& cancel);
  // What the request's `entitlements` are granted on this engine (solver::GrantEntitlements).
  Result<solver::EntitlementSet> GrantEntitlements(const SolveRequest& request) const;

  std::shared_lock<std::shared_mutex> HoldOffPrune() {
    return std::shared_lock<std::shared_mutex>(prune_mu_);
  }

  Result<std::vector<solver::CacheRecord>> DiskUsage();
  // Waits for running builds to finish and holds new ones back while it runs: it removes
  // what no record refers to, which a running build may be making.
  Result<PruneResult> Prune(const PruneRequest& request);

 private:
  // The engine's parts for a build or export on `session_id`: its registry client asks that
  // session for credentials; `*registry` keeps it alive.
  EngineParts PartsFor(const std::string& session_id,
                       std::shared_ptr<registry::Client>* registry) const;

  EngineParts engine_;
  std::shared_mutex prune_mu_;  // shared: builds; exclusive: prune
};

// kInvalidArgument / kUnimplemented for a frontend, exporter or cache entry this engine cannot
// serve; Solve checks it first, a gateway build before it starts.
Status ValidateSolveRequest(const SolveRequest& request);

// A warning with no vertex: the client shows it at the end, as `WARNING: …`.
void WriteWarning(progress::ProgressWriter* progress, std::string message);

}  // namespace hoist::control
