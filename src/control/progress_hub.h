// ProgressHub: each running build's progress by its ref, for the Status calls that follow it.
// A client calls Status(ref) alongside Solve, often before the Solve arrives, so a watcher
// waits for the ref to appear; every watcher gets the whole stream from its start. A finished
// build's stream stays readable for a grace period, for watchers that come late.
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
#include "progress/event.h"

namespace hoist::control {

// One build's progress: written by the build, read by any number of watchers.
class BuildProgress final : public progress::ProgressWriter {
 public:
  void Write(progress::SolveStatus status) override;
  // Ends the stream; later writes are dropped.
  void Close();
  bool closed() const;
  // The statuses from index `*next` on, waiting up to `wait` for one; advances `*next`.
  // nullopt once the stream is closed and everything was read.
  std::optional<std::vector<progress::SolveStatus>> Next(size_t* next,
                                                         std::chrono::milliseconds wait);

 private:
  friend class ProgressHub;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<progress::SolveStatus> items_;
  bool closed_ = false;
  std::chrono::steady_clock::time_point closed_at_;
};

class ProgressHub {
 public:
  explicit ProgressHub(std::chrono::seconds grace = std::chrono::seconds(60)) : grace_(grace) {}

  // The stream for a new build `ref`. kAlreadyExists if a build with that ref is running.
  Result<std::shared_ptr<BuildProgress>> Open(const std::string& ref);
  // The stream of build `ref`, waiting up to `timeout` for it to open. kNotFound
  // `no build <ref>` on timeout; kCancelled when `cancel` fires.
  Result<std::shared_ptr<BuildProgress>> Watch(const std::string& ref,
                                               std::chrono::milliseconds timeout,
                                               CancelContext* cancel = nullptr);

 private:
  void DropExpiredLocked();

  const std::chrono::seconds grace_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<BuildProgress>> builds_;
};

}  // namespace hoist::control
