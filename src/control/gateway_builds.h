// GatewayBuilds: the builds a client drives through the gateway API, by ref. BuildKit v0.11's
// clients (buildctl build, docker buildx build) call Control.Solve with no frontend, which
// opens a build here and waits; on the gateway (LLBBridge) they call Solve with the frontend and
// its options, which adds a solved result to the build under fresh ref IDs, and Return with the
// result to export (or an error), which wakes the Control.Solve to export it.
//
// The gateway calls may arrive before the Control.Solve that opens their build: Find waits.
//
// Thread-safety: thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "control/controller.h"
#include "progress/event.h"

namespace hoist::control {

class GatewayBuild {
 public:
  GatewayBuild(std::string session_id, std::vector<TypedAttrs> cache_imports,
               solver::EntitlementSet entitlements, progress::ProgressWriter* progress,
               std::shared_ptr<CancelContext> cancel, Attrs attestations = {})
      : session_id_(std::move(session_id)),
        cache_imports_(std::move(cache_imports)),
        entitlements_(entitlements),
        progress_(progress),
        cancel_(std::move(cancel)),
        attestations_(std::move(attestations)) {}

  // The Control.Solve's session, cache imports, granted entitlements and progress; its cancellation (the client gone,
  // the daemon stopping) cancels the gateway solves too.
  const std::string& session_id() const { return session_id_; }
  const std::vector<TypedAttrs>& cache_imports() const { return cache_imports_; }
  const solver::EntitlementSet& entitlements() const { return entitlements_; }
  progress::ProgressWriter* progress() const { return progress_; }
  const std::shared_ptr<CancelContext>& cancel() const { return cancel_; }
  // The Control.Solve's `attest:*` attributes: BuildKit takes attestation requests from there
  // (buildx sends them only there), so the gateway's frontend solves get them too.
  const Attrs& attestations() const { return attestations_; }

  // Keeps a solved result; returns the IDs of its refs, one per platform in its order.
  std::vector<std::string> AddResult(std::shared_ptr<BuildResult> result);
  // The client's Return. `ref_ids` must name every ref of one result this build added, or
  // none (an empty result: nothing was built); kInvalidArgument otherwise (unknown ID, refs of
  // two results, a result in part). A second Return is kFailedPrecondition.
  Status Return(const std::vector<std::string>& ref_ids);
  // The client's Return with an error: the build fails with it.
  Status ReturnError(Error error);
  // Waits for Return; the result to export, or the returned error. kCancelled when `cancel_`
  // fires first.
  Result<std::shared_ptr<BuildResult>> Wait();

 private:
  struct RefTarget {
    std::shared_ptr<BuildResult> result;
    size_t platform = 0;
  };

  const std::string session_id_;
  const std::vector<TypedAttrs> cache_imports_;
  const solver::EntitlementSet entitlements_;
  progress::ProgressWriter* const progress_;
  const std::shared_ptr<CancelContext> cancel_;
  const Attrs attestations_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, RefTarget> refs_;
  std::optional<Result<std::shared_ptr<BuildResult>>> returned_;
};

class GatewayBuilds {
 public:
  // Opens build `ref`; kAlreadyExists if one with that ref is open.
  Status Open(const std::string& ref, std::shared_ptr<GatewayBuild> build);
  void Close(const std::string& ref);
  // Build `ref`, waiting up to `timeout` for it to open: kNotFound `no build <ref>` then.
  Result<std::shared_ptr<GatewayBuild>> Find(const std::string& ref,
                                             std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<GatewayBuild>> builds_;
};

}  // namespace hoist::control
