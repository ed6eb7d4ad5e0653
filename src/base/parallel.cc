#include "base/parallel.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace hoist {

Status ParallelFor(size_t n, int threads, CancelContext* parent,
                   const std::function<Status(size_t, CancelContext*)>& fn) {
  if (n == 0) return OkStatus();
  std::shared_ptr<CancelContext> cancel =
      parent != nullptr ? parent->Child() : CancelContext::Background();
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::optional<Error> first;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      if (cancel->cancelled()) return;
      Status st = fn(i, cancel.get());
      if (!st) {
        std::lock_guard lock(mu);
        if (!first) {
          first = std::move(st).error();
          cancel->Cancel("context canceled");
        }
        return;
      }
    }
  };
  const size_t workers = std::min<size_t>(n, static_cast<size_t>(std::max(threads, 1)));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (first) return Unexpected(std::move(*first));
  if (parent != nullptr) HOIST_TRY(parent->Check());
  return OkStatus();
}

}  // namespace hoist
