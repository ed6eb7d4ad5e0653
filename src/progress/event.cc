#include "progress/event.h"

#include <utility>

#include "base/hash.h"

namespace hoist::progress {

void ProgressChannel::Write(SolveStatus status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    queue_.push_back(std::move(status));
  }
  cv_.notify_one();
}

void ProgressChannel::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

std::optional<SolveStatus> ProgressChannel::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
  if (queue_.empty()) return std::nullopt;
  SolveStatus s = std::move(queue_.front());
  queue_.pop_front();
  return s;
}

std::optional<SolveStatus> ProgressChannel::NextFor(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || closed_; });
  if (queue_.empty()) return std::nullopt;
  SolveStatus s = std::move(queue_.front());
  queue_.pop_front();
  return s;
}

bool ProgressChannel::Drained() {
  std::lock_guard lock(mu_);
  return closed_ && queue_.empty();
}

std::optional<SolveStatus> ProgressChannel::TryNext() {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.empty()) return std::nullopt;
  SolveStatus s = std::move(queue_.front());
  queue_.pop_front();
  return s;
}

void ProgressTee::Write(SolveStatus status) {
  for (size_t i = 0; i < writers_.size(); ++i) {
    if (i + 1 == writers_.size()) {
      writers_[i]->Write(std::move(status));
    } else {
      writers_[i]->Write(status);
    }
  }
}

void RecordingProgressWriter::Write(SolveStatus status) {
  std::lock_guard<std::mutex> lock(mu_);
  batches_.push_back(std::move(status));
}

std::vector<SolveStatus> RecordingProgressWriter::batches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return batches_;
}

std::vector<Vertex> RecordingProgressWriter::vertexes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Vertex> out;
  for (const SolveStatus& b : batches_) out.insert(out.end(), b.vertexes.begin(), b.vertexes.end());
  return out;
}

void VertexProgress::Status(VertexStatus status) const {
  if (writer_ == nullptr) return;
  status.vertex = vertex_;
  status.timestamp = Clock::now();
  SolveStatus s;
  s.statuses.push_back(std::move(status));
  writer_->Write(std::move(s));
}

void VertexProgress::Log(int stream, std::string data) const {
  if (writer_ == nullptr) return;
  SolveStatus s;
  s.logs.push_back(VertexLog{vertex_, stream, std::move(data), Clock::now()});
  writer_->Write(std::move(s));
}

void VertexProgress::Warn(std::string short_message, std::vector<std::string> detail,
                          std::string url) const {
  if (writer_ == nullptr) return;
  SolveStatus s;
  s.warnings.push_back(
      VertexWarning{vertex_, 1, std::move(short_message), std::move(detail), std::move(url)});
  writer_->Write(std::move(s));
}

std::string StepDigest(std::string_view name) { return "sha256:" + Sha256Hex(name); }

Status RunStep(ProgressWriter* writer, const std::string& name, const std::function<Status()>& fn) {
  Vertex v{.digest = StepDigest(name), .name = name};
  v.started = Clock::now();
  if (writer != nullptr) writer->Write({.vertexes = {v}});
  Status st = fn();
  v.completed = Clock::now();
  if (!st) v.error = st.error().message();
  if (writer != nullptr) writer->Write({.vertexes = {v}});
  return st;
}

void WriteStepStatus(ProgressWriter* writer, const std::string& name, VertexStatus status) {
  if (writer == nullptr) return;
  status.vertex = StepDigest(name);
  status.timestamp = Clock::now();
  writer->Write({.statuses = {std::move(status)}});
}

}  // namespace hoist::progress
