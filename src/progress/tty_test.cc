#include "progress/tty.h"

#include <sstream>

#include <gtest/gtest.h>

namespace hoist::progress {
namespace {

using std::chrono::milliseconds;

TEST(TtyRendererTest, FrameShowsStepsStatesTimesBytesAndOutputTail) {
  const Time t0 = Clock::now();
  std::ostringstream out;
  TtyRenderer r(out, 60, t0);
  Vertex cached{.digest = "a", .name = "[context base] OCI load from client"};
  cached.started = t0;
  cached.completed = t0;
  cached.cached = true;
  Vertex run{.digest = "b", .name = "[1/2] RUN make"};
  run.started = t0 + milliseconds(100);
  VertexStatus blob{.id = "sha256:ab", .vertex = "b", .name = "sha256:ab", .current = 1050000,
                    .total = 7000000};
  blob.started = t0 + milliseconds(100);
  r.Update({.vertexes = {cached, run}, .statuses = {blob},
            .logs = {{.vertex = "b", .stream = 1, .data = "line 1\nline 2\npartial"}}});
  auto frame = r.Frame(t0 + milliseconds(2100));
  ASSERT_EQ(frame.size(), 6u) << ::testing::PrintToString(frame);
  EXPECT_EQ(frame[0], "[+] Building 2.1s (1/2)");
  EXPECT_EQ(frame[1].substr(0, 44), " => CACHED [context base] OCI load from clie");
  EXPECT_EQ(frame[1].size(), 60u);
  EXPECT_EQ(frame[2].substr(0, 18), " => [1/2] RUN make");
  EXPECT_EQ(frame[2].substr(frame[2].size() - 4), "2.0s");
  EXPECT_NE(frame[3].find("sha256:ab 1.05MB / 7.00MB"), std::string::npos) << frame[3];
  EXPECT_NE(frame[4].find(" => => # line 1"), std::string::npos);
  EXPECT_NE(frame[5].find(" => => # line 2"), std::string::npos);
  // Finished: the tail goes, the header says so, and a failure's output is summarised.
  run.completed = t0 + milliseconds(2500);
  run.error = "exit code: 2";
  r.Update({.vertexes = {run}});
  frame = r.Frame(t0 + milliseconds(3000), true);
  EXPECT_EQ(frame[0], "[+] Building 3.0s (2/2) FINISHED");
  EXPECT_NE(frame[2].find(" => ERROR [1/2] RUN make"), std::string::npos) << frame[2];
  EXPECT_EQ(frame.size(), 4u);  // a failed step keeps its byte rows; the live tail goes
  r.Finish(t0 + milliseconds(3000));
  EXPECT_NE(out.str().find("------\n > [1/2] RUN make:\nline 1\nline 2\n------\n"), std::string::npos)
      << out.str();
}

TEST(TtyRendererTest, DrawReplacesThePreviousFrameInPlace) {
  const Time t0 = Clock::now();
  std::ostringstream out;
  TtyRenderer r(out, 40, t0);
  Vertex v{.digest = "a", .name = "step"};
  v.started = t0;
  r.Update({.vertexes = {v}});
  r.Draw(t0);
  out.str("");
  r.Draw(t0 + milliseconds(500));
  // Two lines were drawn: move up two, then clear and redraw each.
  EXPECT_EQ(out.str().substr(0, 4), "\x1b[2A");
  EXPECT_NE(out.str().find("\x1b[2K[+] Building 0.5s (0/1)\n"), std::string::npos);
}

}  // namespace
}  // namespace hoist::progress
