// FakeImageMetaResolver: an in-memory ImageMetaResolver for frontend tests. Images are added
// by reference (and, for OCI layouts, by store ID); every call is recorded so tests can check
// what the frontend asked for.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "frontend/dockerfile/bridge.h"

namespace hoist::frontend::dockerfile::testing {

class FakeImageMetaResolver : public ImageMetaResolver {
 public:
  struct Call {
    std::string ref;
    ResolveImageConfigOptions options;
  };

  // Serves `config_json` for `ref` from a registry (store_id empty) or from OCI layout store
  // `store_id`, for any platform.
  void Add(std::string ref, ResolvedImageConfig result, std::string store_id = "") {
    std::lock_guard lock(mu_);
    images_[{std::move(ref), std::move(store_id)}] = std::move(result);
  }

  Result<ResolvedImageConfig> ResolveImageConfig(
      std::string_view ref, const ResolveImageConfigOptions& options) override {
    std::lock_guard lock(mu_);
    calls_.push_back({std::string(ref), options});
    const bool layout = options.resolver_type == ResolverType::kOciLayout;
    if (layout && !stores_known_.empty() && !stores_known_.contains(options.store_id)) {
      return MakeError(Code::kNotFound, fmt::format("unknown store oci:{}", options.store_id));
    }
    auto it = images_.find({std::string(ref), layout ? options.store_id : ""});
    if (it == images_.end()) {
      return MakeError(Code::kNotFound, fmt::format("{}: not found", ref));
    }
    return it->second;
  }

  // Makes store IDs other than those listed fail with `unknown store oci:<id>`.
  void SetKnownStores(std::set<std::string> ids) {
    std::lock_guard lock(mu_);
    stores_known_ = std::move(ids);
  }

  std::vector<Call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string>, ResolvedImageConfig> images_;
  std::set<std::string> stores_known_;
  std::vector<Call> calls_;
};

}  // namespace hoist::frontend::dockerfile::testing
