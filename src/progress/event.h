// Build progress: the events the solver emits and renderers consume, modelled on BuildKit's
// client.SolveStatus. A SolveStatus is one batch of updates; a vertex, status or log may be sent
// many times and each message carries the full current state of that item (a renderer keeps
// the latest). Vertex digests are plain strings (`sha256:…`) so this module needs only base.
//
// ProgressWriter is the sink interface. ProgressChannel is a thread-safe queue between writers
// (the solver's threads) and one reader (a renderer's loop); ProgressTee fans one stream out
// to several writers.
#pragma once

#include <chrono>
#include <functional>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::progress {

using Clock = std::chrono::system_clock;
using Time = Clock::time_point;

// One node of the build graph as the user sees it.
struct Vertex {
  std::string digest;
  std::vector<std::string> inputs;
  std::string name;
  std::optional<Time> started;
  std::optional<Time> completed;
  bool cached = false;
  // Empty unless the vertex failed. A message ending in "context canceled" means cancelled.
  std::string error;
};

// A sub-task of a vertex: a blob download, "extracting sha256:…", a transfer. `current` and
// `total` count bytes (total 0: unknown).
struct VertexStatus {
  std::string id;
  std::string vertex;
  std::string name;
  int64_t current = 0;
  int64_t total = 0;
  Time timestamp{};
  std::optional<Time> started;
  std::optional<Time> completed;
};

// Output of a vertex's process; stream 1 is stdout, 2 is stderr.
struct VertexLog {
  std::string vertex;
  int stream = 1;
  std::string data;
  Time timestamp{};
};

struct VertexWarning {
  std::string vertex;
  int level = 1;
  std::string short_message;
  std::vector<std::string> detail;
  std::string url;
};

struct SolveStatus {
  std::vector<Vertex> vertexes;
  std::vector<VertexStatus> statuses;
  std::vector<VertexLog> logs;
  std::vector<VertexWarning> warnings;

  bool empty() const {
    return vertexes.empty() && statuses.empty() && logs.empty() && warnings.empty();
  }
};

// Where progress goes. Implementations are thread-safe: Write may be called from any thread.
class ProgressWriter {
 public:
  virtual ~ProgressWriter() = default;
  virtual void Write(SolveStatus status) = 0;
};

// Discards everything.
class NullProgressWriter final : public ProgressWriter {
 public:
  void Write(SolveStatus) override {}
};

// A queue from many writers to one reader. Close() ends the stream: Next() then drains what
// is queued and returns nullopt. Writes after Close() are dropped. Thread-safe.
class ProgressChannel final : public ProgressWriter {
 public:
  void Write(SolveStatus status) override;
  void Close();
  // Blocks until a batch is available or the channel is closed and drained.
  std::optional<SolveStatus> Next();
  // Returns a batch if one is queued, without blocking.
  std::optional<SolveStatus> TryNext();
  // Waits at most `timeout` for a batch; nullopt on timeout or when closed and drained.
  std::optional<SolveStatus> NextFor(std::chrono::milliseconds timeout);
  // Closed, and nothing left to read.
  bool Drained();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SolveStatus> queue_;
  bool closed_ = false;
};

// Sends every batch to each of a fixed set of writers (not owned; they must outlive the tee).
// Thread-safe if the writers are.
class ProgressTee final : public ProgressWriter {
 public:
  explicit ProgressTee(std::vector<ProgressWriter*> writers) : writers_(std::move(writers)) {}
  void Write(SolveStatus status) override;

 private:
  std::vector<ProgressWriter*> writers_;
};

// Keeps every batch, for tests and for replaying a build's progress. Thread-safe.
class RecordingProgressWriter final : public ProgressWriter {
 public:
  void Write(SolveStatus status) override;
  std::vector<SolveStatus> batches() const;
  // All vertex updates in the order written.
  std::vector<Vertex> vertexes() const;

 private:
  mutable std::mutex mu_;
  std::vector<SolveStatus> batches_;
};

// Emits events for one vertex: what an op uses to report sub-task progress and output.
// Cheap to copy; a default-constructed one (or one with a null writer) discards.
class VertexProgress {
 public:
  VertexProgress() = default;
  VertexProgress(ProgressWriter* writer, std::string vertex)
      : writer_(writer), vertex_(std::move(vertex)) {}

  const std::string& vertex() const { return vertex_; }
  // Sends a status update; `status.vertex` and `timestamp` are filled in.
  void Status(VertexStatus status) const;
  void Log(int stream, std::string data) const;
  void Warn(std::string short_message, std::vector<std::string> detail = {},
            std::string url = {}) const;

 private:
  ProgressWriter* writer_ = nullptr;
  std::string vertex_;
};

// Steps the engine runs outside the solver (exporting, pushing, exporting cache) shown as
// vertexes of their own, as BuildKit shows them. A step's vertex digest is the SHA-256 of its
// name, so rows written under the same name land under it.
std::string StepDigest(std::string_view name);
// Runs `fn` as the vertex `name`: started, then completed (with the error if it failed).
// `writer` may be null.
Status RunStep(ProgressWriter* writer, const std::string& name, const std::function<Status()>& fn);
// A row (byte counts of a push, say) under the step `name`. `writer` may be null.
void WriteStepStatus(ProgressWriter* writer, const std::string& name, VertexStatus status);

}  // namespace hoist::progress
