#include "control/gateway_builds.h"

#include <set>

#include <fmt/format.h>

#include "session/session.h"

namespace hoist::control {

std::vector<std::string> GatewayBuild::AddResult(std::shared_ptr<BuildResult> result) {
  std::vector<std::string> ids;
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < result->results.size(); ++i) {
    std::string id = session::NewRandomId();
    refs_[id] = {.result = result, .platform = i};
    ids.push_back(std::move(id));
  }
  return ids;
}

Status GatewayBuild::Return(const std::vector<std::string>& ref_ids) {
  std::lock_guard lock(mu_);
  if (returned_) return MakeError(Code::kFailedPrecondition, "the build has already returned");
  if (ref_ids.empty()) {
    // Nothing built: buildx's first build on a builder only asks for its capabilities and
    // returns so. There is nothing to export (Controller::Export refuses outputs for it).
    returned_ = std::make_shared<BuildResult>();
    cv_.notify_all();
    return OkStatus();
  }
  std::shared_ptr<BuildResult> result;
  std::set<size_t> platforms;
  for (const std::string& id : ref_ids) {
    auto it = refs_.find(id);
    if (it == refs_.end()) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("the returned result names unknown ref {}", id));
    }
    if (result != nullptr && it->second.result != result) {
      return MakeError(Code::kInvalidArgument,
                       "the returned result mixes refs of several solves; return one solve's "
                       "result");
    }
    result = it->second.result;
    platforms.insert(it->second.platform);
  }
  if (platforms.size() != result->results.size()) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("the returned result holds {} of the {} platforms its solve "
                                 "built; return all of them",
                                 platforms.size(), result->results.size()));
  }
  returned_ = result;
  cv_.notify_all();
  return OkStatus();
}

Status GatewayBuild::ReturnError(Error error) {
  std::lock_guard lock(mu_);
  if (returned_) return MakeError(Code::kFailedPrecondition, "the build has already returned");
  returned_ = Unexpected(std::move(error));
  cv_.notify_all();
  return OkStatus();
}

Result<std::shared_ptr<BuildResult>> GatewayBuild::Wait() {
  std::unique_lock lock(mu_);
  while (!returned_) {
    if (Status st = cancel_->Check(); !st) return Unexpected(st.error());
    cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  return *returned_;
}

Status GatewayBuilds::Open(const std::string& ref, std::shared_ptr<GatewayBuild> build) {
  std::lock_guard lock(mu_);
  if (!builds_.emplace(ref, std::move(build)).second) {
    return MakeError(Code::kAlreadyExists, fmt::format("build {} is already running", ref));
  }
  cv_.notify_all();
  return OkStatus();
}

void GatewayBuilds::Close(const std::string& ref) {
  std::lock_guard lock(mu_);
  builds_.erase(ref);
}

Result<std::shared_ptr<GatewayBuild>> GatewayBuilds::Find(const std::string& ref,
                                                          std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto it = builds_.find(ref); it != builds_.end()) return it->second;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && !builds_.contains(ref)) {
      return MakeError(Code::kNotFound, fmt::format("no build {}", ref));
    }
  }
}

}  // namespace hoist::control
