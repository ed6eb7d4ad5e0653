#include "control/progress_hub.h"

#include <fmt/format.h>

namespace hoist::control {

void BuildProgress::Write(progress::SolveStatus status) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    items_.push_back(std::move(status));
  }
  cv_.notify_all();
}

void BuildProgress::Close() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    closed_at_ = std::chrono::steady_clock::now();
  }
  cv_.notify_all();
}

bool BuildProgress::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

std::optional<std::vector<progress::SolveStatus>> BuildProgress::Next(
    size_t* next, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, wait, [&] { return *next < items_.size() || closed_; });
  if (*next >= items_.size()) {
    if (closed_) return std::nullopt;
    return std::vector<progress::SolveStatus>{};
  }
  std::vector<progress::SolveStatus> out(items_.begin() + static_cast<ptrdiff_t>(*next),
                                         items_.end());
  *next = items_.size();
  return out;
}

void ProgressHub::DropExpiredLocked() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = builds_.begin(); it != builds_.end();) {
    std::lock_guard lock(it->second->mu_);
    if (it->second->closed_ && now - it->second->closed_at_ > grace_) {
      it = builds_.erase(it);
    } else {
      ++it;
    }
  }
}

Result<std::shared_ptr<BuildProgress>> ProgressHub::Open(const std::string& ref) {
  std::lock_guard lock(mu_);
  DropExpiredLocked();
  auto& slot = builds_[ref];
  if (slot && !slot->closed()) {
    return MakeError(Code::kAlreadyExists, fmt::format("build {} is already running", ref));
  }
  slot = std::make_shared<BuildProgress>();
  cv_.notify_all();
  return slot;
}

Result<std::shared_ptr<BuildProgress>> ProgressHub::Watch(const std::string& ref,
                                                          std::chrono::milliseconds timeout,
                                                          CancelContext* cancel) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    if (auto it = builds_.find(ref); it != builds_.end()) return it->second;
    if (cancel != nullptr) HOIST_TRY(cancel->Check());
    if (std::chrono::steady_clock::now() >= deadline) {
      return MakeError(Code::kNotFound, fmt::format("no build {}", ref));
    }
    cv_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                std::chrono::milliseconds(100)));
  }
}

}  // namespace hoist::control
