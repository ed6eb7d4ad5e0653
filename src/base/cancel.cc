#include "base/cancel.h"

namespace hoist {

std::shared_ptr<CancelContext> CancelContext::Background() {
  return std::shared_ptr<CancelContext>(new CancelContext());
}

std::shared_ptr<CancelContext> CancelContext::Child() {
  auto child = std::shared_ptr<CancelContext>(new CancelContext());
  std::string reason;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!cancelled()) {
      children_.push_back(child);
      return child;
    }
    reason = reason_;
  }
  child->Cancel(reason);
  return child;
}

void CancelContext::Cancel(std::string reason) {
  std::vector<std::weak_ptr<CancelContext>> children;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (cancelled()) return;
    reason_ = std::move(reason);
    cancelled_.store(true);
    children.swap(children_);
  }
  for (auto& w : children) {
    if (auto c = w.lock()) c->Cancel(reason_);
  }
}

Status CancelContext::Check() const {
  if (!cancelled()) return {};
  std::lock_guard<std::mutex> l(mu_);
  return MakeError(Code::kCancelled, reason_);
}

}  // namespace hoist
