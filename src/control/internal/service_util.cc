#include "control/internal/service_util.h"

#include <chrono>

#include "oci/platform.h"

namespace hoist::control::internal {

CallWatcher::CallWatcher(grpc::ServerContext* ctx, std::shared_ptr<CancelContext> cancel,
                         std::shared_ptr<CancelContext> shutdown)
    : thread_([this, ctx, cancel, shutdown] {
        std::unique_lock lock(mu_);
        while (!done_) {
          if (ctx->IsCancelled()) {
            cancel->Cancel("context canceled");
            return;
          }
          if (shutdown && !shutdown->Check()) {
            cancel->Cancel("the daemon is shutting down");
            return;
          }
          cv_.wait_for(lock, std::chrono::milliseconds(50));
        }
      }) {}

CallWatcher::~CallWatcher() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FillWorkerRecord(const ServiceOptions& o, ::moby::buildkit::v1::types::WorkerRecord* w) {
  w->set_id(o.worker_id);
  auto& labels = *w->mutable_labels();
  labels["org.mobyproject.buildkit.worker.executor"] = "oci";
  labels["org.mobyproject.buildkit.worker.hostname"] = o.hostname;
  labels["org.mobyproject.buildkit.worker.snapshotter"] = o.snapshotter;
  labels["org.mobyproject.buildkit.worker.oci.process-mode"] = "sandbox";
  const oci::Platform host = oci::Normalize(oci::HostPlatform());
  auto* p = w->add_platforms();
  p->set_os(host.os);
  p->set_architecture(host.architecture);
  p->set_variant(host.variant);
  w->mutable_buildkitversion()->set_package("hoist");
  w->mutable_buildkitversion()->set_version(o.version);
}

Result<std::map<std::string, llb::Definition>> FrontendInputs(
    const google::protobuf::Map<std::string, ::pb::Definition>& inputs) {
  std::map<std::string, llb::Definition> out;
  for (const auto& [name, def] : inputs) {
    auto parsed = llb::Definition::Parse(def.SerializeAsString());
    if (!parsed) return Unexpected(std::move(parsed).error().Wrap("frontend input " + name));
    out.emplace(name, std::move(*parsed));
  }
  return out;
}

}  // namespace hoist::control::internal
