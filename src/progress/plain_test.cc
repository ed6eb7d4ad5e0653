#include "progress/plain.h"

#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace hoist::progress {
namespace {

using std::chrono::milliseconds;

const Time kT0 = Time(std::chrono::seconds(1700000000));
Time At(int ms) { return kT0 + milliseconds(ms); }

Vertex V(std::string digest, std::string name, std::optional<int> started,
         std::optional<int> completed = std::nullopt) {
  Vertex v;
  v.digest = std::move(digest);
  v.name = std::move(name);
  if (started) v.started = At(*started);
  if (completed) v.completed = At(*completed);
  return v;
}

SolveStatus Of(Vertex v) {
  SolveStatus s;
  s.vertexes.push_back(std::move(v));
  return s;
}

SolveStatus Log(std::string vertex, std::string data, int ms) {
  SolveStatus s;
  s.logs.push_back(VertexLog{std::move(vertex), 1, std::move(data), At(ms)});
  return s;
}

TEST(PlainRendererTest, SequentialVerticesDoneCachedAndLogs) {
  std::ostringstream out;
  PlainRenderer r(out);
  r.Update(Of(V("sha256:a", "[internal] load build definition from Dockerfile", 0)));
  r.Update(Of(V("sha256:a", "[internal] load build definition from Dockerfile", 0, 20)));
  Vertex cached = V("sha256:b", "[1/2] FROM docker.io/library/busybox", 30, 30);
  cached.cached = true;
  r.Update(Of(cached));
  r.Update(Of(V("sha256:c", "[2/2] RUN echo hi", 40)));
  r.Update(Log("sha256:c", "hi\nthere\n", 163));
  r.Update(Of(V("sha256:c", "[2/2] RUN echo hi", 40, 340)));
  r.Finish();
  EXPECT_EQ(out.str(),
            "#1 [internal] load build definition from Dockerfile\n"
            "#1 DONE 0.0s\n"
            "\n"
            "#2 [1/2] FROM docker.io/library/busybox\n"
            "#2 CACHED\n"
            "\n"
            "#3 [2/2] RUN echo hi\n"
            "#3 0.123 hi\n"
            "#3 0.123 there\n"
            "#3 DONE 0.3s\n");
}

TEST(PlainRendererTest, StatusRowsWithBytesAndDone) {
  std::ostringstream out;
  PlainRenderer r(out);
  r.Update(Of(V("sha256:a", "[1/1] FROM docker.io/library/alpine", 0)));
  SolveStatus s;
  VertexStatus st;
  st.id = "sha256:abc";
  st.vertex = "sha256:a";
  st.current = 3500000;
  st.total = 7000000;
  st.started = At(0);
  st.timestamp = At(100);
  s.statuses.push_back(st);
  r.Update(s);
  // Less than 5% further and under 5 s later: throttled.
  s.statuses[0].current = 3600000;
  s.statuses[0].timestamp = At(150);
  r.Update(s);
  s.statuses[0].current = 7000000;
  s.statuses[0].timestamp = At(300);
  s.statuses[0].completed = At(300);
  r.Update(s);
  VertexStatus ex;
  ex.id = "extracting sha256:abc";
  ex.vertex = "sha256:a";
  ex.started = At(300);
  ex.completed = At(305);
  ex.timestamp = At(305);
  SolveStatus s2;
  s2.statuses.push_back(ex);
  r.Update(s2);
  r.Update(Of(V("sha256:a", "[1/1] FROM docker.io/library/alpine", 0, 400)));
  r.Finish();
  EXPECT_EQ(out.str(),
            "#1 [1/1] FROM docker.io/library/alpine\n"
            "#1 sha256:abc 3.50MB / 7.00MB 0.1s\n"
            "#1 sha256:abc 7.00MB / 7.00MB 0.3s done\n"
            "#1 extracting sha256:abc done\n"
            "#1 DONE 0.4s\n");
}

TEST(PlainRendererTest, ErrorPrintsMessageAndSummaryWithLastLogs) {
  std::ostringstream out;
  PlainRenderer r(out);
  r.Update(Of(V("sha256:a", "[2/2] RUN make", 0)));
  r.Update(Log("sha256:a", "cc -o app", 10));
  r.Update(Log("sha256:a", " main.c\n", 20));
  Vertex failed = V("sha256:a", "[2/2] RUN make", 0, 1500);
  failed.error = "process \"/bin/sh -c make\" did not complete successfully: exit code: 2";
  r.Update(Of(failed));
  r.Finish();
  EXPECT_EQ(out.str(),
            "#1 [2/2] RUN make\n"
            "#1 0.010 cc -o app main.c\n"
            "#1 ERROR: process \"/bin/sh -c make\" did not complete successfully: exit code: 2\n"
            "------\n"
            " > [2/2] RUN make:\n"
            "0.010 cc -o app main.c\n"
            "------\n");
}

TEST(PlainRendererTest, CanceledAndInterleavedVertices) {
  std::ostringstream out;
  PlainRenderer r(out);
  r.Update(Of(V("sha256:a", "first", 0)));
  r.Update(Of(V("sha256:b", "second", 5)));  // waits: #1 is active
  r.Update(Log("sha256:a", "one\n", 10));
  Vertex canceled = V("sha256:a", "first", 0, 50);
  canceled.error = "context canceled";
  r.Update(Of(canceled));
  r.Update(Log("sha256:b", "two\n", 2000 + 5));
  r.Update(Of(V("sha256:b", "second", 5, 12005)));
  r.Finish();
  EXPECT_EQ(out.str(),
            "#1 first\n"
            "#1 0.010 one\n"
            "#1 CANCELED\n"
            "\n"
            "#2 second\n"
            "#2 2.000 two\n"
            "#2 DONE 12.0s\n");
}

TEST(PlainRendererTest, SwitchingAwayFromARunningVertexPrintsEllipsis) {
  std::ostringstream out;
  PlainRenderer r(out);
  r.Update(Of(V("sha256:a", "first", 0)));
  r.Update(Of(V("sha256:b", "second", 0)));
  r.Update(Of(V("sha256:b", "second", 0, 100)));  // completed vertices print first
  r.Update(Log("sha256:a", "late\n", 12346));
  r.Update(Of(V("sha256:a", "first", 0, 20000)));
  r.Finish();
  EXPECT_EQ(out.str(),
            "#1 first\n"
            "#1 ...\n"
            "\n"
            "#2 second\n"
            "#2 DONE 0.1s\n"
            "\n"
            "#1 first\n"
            "#1 12.35 late\n"
            "#1 DONE 20.0s\n");
}

TEST(PlainRendererTest, WarningsAndUnknownVerticesIgnored) {
  std::ostringstream out;
  PlainRenderer r(out);
  r.Update(Log("sha256:nobody", "x\n", 0));
  r.Update(Of(V("sha256:a", "[1/1] FROM scratch", 0)));
  SolveStatus w;
  w.warnings.push_back(VertexWarning{"sha256:a", 1, "FromAsCasing: 'as' and 'FROM' keywords' casing do not match", {}, {}});
  r.Update(w);
  r.Update(Of(V("sha256:a", "[1/1] FROM scratch", 0, 0)));
  r.Finish();
  EXPECT_EQ(out.str(),
            "#1 [1/1] FROM scratch\n"
            "#1 WARN: FromAsCasing: 'as' and 'FROM' keywords' casing do not match\n"
            "#1 DONE 0.0s\n");
}

TEST(FormatBytesTest, SiUnitsLikeBuildKit) {
  EXPECT_EQ(FormatBytes(0), "0B");
  EXPECT_EQ(FormatBytes(38), "38B");
  EXPECT_EQ(FormatBytes(1050), "1.05kB");
  EXPECT_EQ(FormatBytes(7000000), "7.00MB");
  EXPECT_EQ(FormatBytes(2810000000LL), "2.81GB");
}

TEST(ProgressChannelTest, DeliversInOrderAcrossThreadsAndEndsOnClose) {
  ProgressChannel ch;
  std::thread writer([&] {
    for (int i = 0; i < 100; ++i) ch.Write(Of(V("sha256:" + std::to_string(i), "v", 0)));
    ch.Close();
  });
  int n = 0;
  while (auto s = ch.Next()) {
    ASSERT_EQ(s->vertexes.size(), 1u);
    EXPECT_EQ(s->vertexes[0].digest, "sha256:" + std::to_string(n));
    ++n;
  }
  writer.join();
  EXPECT_EQ(n, 100);
  ch.Write(Of(V("sha256:late", "v", 0)));  // dropped after close
  EXPECT_FALSE(ch.TryNext().has_value());
}

TEST(ProgressTeeTest, EveryWriterSeesEveryBatch) {
  RecordingProgressWriter a, b;
  ProgressTee tee({&a, &b});
  VertexProgress vp(&tee, "sha256:a");
  vp.Log(2, "err");
  vp.Warn("careful");
  VertexStatus st;
  st.id = "x";
  vp.Status(st);
  for (RecordingProgressWriter* w : {&a, &b}) {
    auto batches = w->batches();
    ASSERT_EQ(batches.size(), 3u);
    EXPECT_EQ(batches[0].logs[0].vertex, "sha256:a");
    EXPECT_EQ(batches[0].logs[0].stream, 2);
    EXPECT_EQ(batches[1].warnings[0].short_message, "careful");
    EXPECT_EQ(batches[2].statuses[0].vertex, "sha256:a");
  }
  VertexProgress none;
  none.Log(1, "dropped");  // no writer: nothing happens
}

}  // namespace
}  // namespace hoist::progress
