// TtyRenderer: the live view docker buildx draws on a terminal. Each frame is a header
// (`[+] Building 2.3s (4/6)`) and one line per step in the order steps started, with its
// state and time (`=> CACHED [1/3] ...`, `=> ERROR [2/3] RUN ...`), the byte-count rows of
// running steps (`=> => sha256:ab… 1.05MB / 7.00MB`), and the last lines of a running step's
// output (`=> => # ...`). Draw() replaces the previous frame in place with ANSI cursor moves.
//
// Thread-safety: not thread-safe; feed it from one thread (the display's).
#pragma once

#include <deque>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "progress/event.h"

namespace hoist::progress {

class TtyRenderer {
 public:
  // `width` is the terminal's column count; lines are cut to fit.
  TtyRenderer(std::ostream& out, int width, Time start = Clock::now())
      : out_(out), width_(width), start_(start) {}

  void Update(const SolveStatus& status);
  // Replaces the frame on screen with the one for `now`.
  void Draw(Time now);
  // Draws the last frame, marked FINISHED, then the output of failed steps.
  void Finish(Time now);

  // The frame for `now`, without escape sequences (tests).
  std::vector<std::string> Frame(Time now, bool finished = false) const;

 private:
  struct Step {
    Vertex vertex;
    std::vector<std::string> status_order;
    std::map<std::string, VertexStatus> statuses;
    std::deque<std::string> tail;  // the last lines of output
    std::string partial;
    std::vector<std::string> all_lines;  // for the error summary
  };

  std::ostream& out_;
  int width_;
  Time start_;
  std::vector<std::string> order_;
  std::map<std::string, Step> steps_;
  size_t drawn_lines_ = 0;
};

}  // namespace hoist::progress
