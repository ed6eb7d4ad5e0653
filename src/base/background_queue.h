// BackgroundQueue: work that need not hold up whoever asks for it (an export's clean-up after
// its result went out), done in order on one thread of its own. The destructor does what is
// still queued before it returns, so what the work touches must outlive the queue.
//
// Thread-safety: thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace hoist {

class BackgroundQueue {
 public:
  BackgroundQueue();
  ~BackgroundQueue();
  BackgroundQueue(const BackgroundQueue&) = delete;
  BackgroundQueue& operator=(const BackgroundQueue&) = delete;

  void Post(std::function<void()> work);
  // Returns once everything posted before the call is done.
  void Drain();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool busy_ = false;                         // guarded by mu_: a work item is running
  bool stopping_ = false;                     // guarded by mu_
  std::thread thread_;
};

}  // namespace hoist
