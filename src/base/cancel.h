// CancelContext: cooperative cancellation shared by a tree of work. Cancelling a context
// cancels its children; blocking calls take a context and check it between units of work.
// Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"

namespace hoist {

class CancelContext {
 public:
  // A root context that is never cancelled unless Cancel() is called.
  static std::shared_ptr<CancelContext> Background();
  // A child: cancelled when this one is, or on its own.
  std::shared_ptr<CancelContext> Child();

  void Cancel(std::string reason = "cancelled");
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // kCancelled with the reason once cancelled, OK before.
  Status Check() const;

 private:
  CancelContext() = default;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  std::string reason_;
  std::vector<std::weak_ptr<CancelContext>> children_;
};

}  // namespace hoist
