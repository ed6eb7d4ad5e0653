// The build's progress on stderr: a renderer thread reading the solver's events from a channel.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/error.h"
#include "progress/event.h"

namespace hoist::cmd {

class ProgressDisplay {
 public:
  // mode: auto, tty, plain, rawjson, quiet.
  static Result<std::unique_ptr<ProgressDisplay>> Start(const std::string& mode);
  ~ProgressDisplay();

  progress::ProgressWriter* writer() { return &channel_; }
  // Stops the renderer after it printed everything. Idempotent.
  void Finish();

 private:
  ProgressDisplay() = default;
  progress::ProgressChannel channel_;
  std::thread thread_;
  bool finished_ = false;
};

// One SolveStatus as a JSON line (BuildKit's rawjson shape).
std::string SolveStatusJson(const progress::SolveStatus& status);

}  // namespace hoist::cmd
