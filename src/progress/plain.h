// PlainRenderer: prints progress in BuildKit's plain format (`--progress=plain`), the text
// that CI logs show:
//
//   #1 [internal] load build definition from Dockerfile
//   #1 transferring dockerfile: 38B done
//   #1 DONE 0.0s
//
//   #3 [2/2] RUN make
//   #3 0.123 output line
//   #3 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2
//
// Vertices are numbered in the order they start. Output of one vertex is grouped: while a
// vertex is the active one, updates of other running vertices wait; a switch away from an
// unfinished vertex prints `#N ...`. Byte counts use SI units like BuildKit (`7.00MB`, `38B`).
// Status rows are throttled as BuildKit does (printed when they progressed 5% or 5 seconds,
// or completed). Unlike BuildKit there is no wall-clock rate limiting: every Update prints
// what it can, so output depends only on the events (tests rely on that).
//
// Not thread-safe: one thread feeds it (e.g. from a ProgressChannel).
#pragma once

#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "progress/event.h"

namespace hoist::progress {

class PlainRenderer {
 public:
  // `out` must outlive the renderer.
  explicit PlainRenderer(std::ostream& out) : out_(out) {}

  void Update(const SolveStatus& status);
  // Prints whatever is still pending, then a summary of the logs of failed vertices
  // (`------` / ` > NAME:` / last lines / `------`), as BuildKit does at the end.
  void Finish();

 private:
  struct Status {
    VertexStatus latest;
    bool printed_before = false;
    int64_t last_current = 0;
    Time last_timestamp{};
  };
  struct State {
    Vertex vertex;
    int index = 0;
    std::vector<std::string> status_order;
    std::map<std::string, Status> statuses;
    std::set<std::string> status_updates;
    std::vector<std::string> pending_lines;  // formatted log lines not yet printed
    std::string partial;                     // log text after the last newline
    Time partial_timestamp{};
    std::vector<std::string> recent_logs;  // the last lines, for the error summary
    std::vector<VertexWarning> pending_warnings;
    bool completion_printed = false;
  };

  void Print();
  void PrintVertex(const std::string& digest);
  void AddLogLine(State& s, const std::string& line, Time timestamp);
  void FlushPartial(State& s);

  std::ostream& out_;
  std::map<std::string, State> by_digest_;
  std::vector<std::string> started_order_;
  std::set<std::string> updates_;
  std::string current_;
  bool not_first_ = false;
};

// BuildKit's byte formatting (units.Bytes with %.2f): SI prefixes, "38B", "1.05kB", "7.00MB".
std::string FormatBytes(int64_t n);

}  // namespace hoist::progress
