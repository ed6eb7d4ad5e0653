#include "progress/plain.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

namespace hoist::progress {
namespace {

constexpr double kMinProgressDelta = 0.05;
constexpr auto kMinTimeDelta = std::chrono::seconds(5);
constexpr size_t kRecentLogLines = 10;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool IsCanceled(const std::string& error) {
  static constexpr std::string_view kCanceled = "context canceled";
  return error.size() >= kCanceled.size() &&
         error.compare(error.size() - kCanceled.size(), kCanceled.size(), kCanceled) == 0;
}

bool SameTime(const std::optional<Time>& a, const std::optional<Time>& b) {
  return a.has_value() == b.has_value() && (!a || *a == *b);
}

}  // namespace

std::string FormatBytes(int64_t n) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  if (n < 1000 && n > -1000) return fmt::format("{}B", n);
  double v = static_cast<double>(n);
  size_t unit = 0;
  while ((v >= 1000 || v <= -1000) && unit + 1 < std::size(kUnits)) {
    v /= 1000;
    ++unit;
  }
  return fmt::format("{:.2f}{}", v, kUnits[unit]);
}

void PlainRenderer::AddLogLine(State& s, const std::string& line, Time timestamp) {
  double sec = 0;
  if (s.vertex.started) sec = Seconds(timestamp - *s.vertex.started);
  int prec = sec < 10 ? 3 : (sec < 100 ? 2 : 1);
  s.pending_lines.push_back(fmt::format("{:.{}f} {}", sec, prec, line));
}

void PlainRenderer::FlushPartial(State& s) {
  if (s.partial.empty()) return;
  AddLogLine(s, s.partial, s.partial_timestamp);
  s.partial.clear();
}

void PlainRenderer::Update(const SolveStatus& status) {
  for (const Vertex& v : status.vertexes) {
    auto [it, inserted] = by_digest_.try_emplace(v.digest);
    State& s = it->second;
    const Vertex& old = s.vertex;
    bool changed = inserted || v.name != old.name || !SameTime(v.started, old.started) ||
                   (v.completed && !SameTime(v.completed, old.completed)) ||
                   v.cached != old.cached || v.error != old.error;
    // A repeated initial (unstarted) update must not reset a started vertex.
    if (inserted || !s.vertex.started || v.started) s.vertex = v;
    if (v.started && s.index == 0) {
      started_order_.push_back(v.digest);
      s.index = static_cast<int>(started_order_.size());
    }
    if (changed && s.vertex.started) {
      s.completion_printed = s.completion_printed && s.vertex.completed.has_value();
      updates_.insert(v.digest);
    }
  }
  for (const VertexStatus& st : status.statuses) {
    auto it = by_digest_.find(st.vertex);
    if (it == by_digest_.end()) continue;
    State& s = it->second;
    auto [sit, inserted] = s.statuses.try_emplace(st.id);
    if (inserted) s.status_order.push_back(st.id);
    sit->second.latest = st;
    s.status_updates.insert(st.id);
    if (s.index != 0) updates_.insert(st.vertex);
  }
  for (const VertexWarning& w : status.warnings) {
    auto it = by_digest_.find(w.vertex);
    if (it == by_digest_.end()) continue;
    it->second.pending_warnings.push_back(w);
    if (it->second.index != 0) updates_.insert(w.vertex);
  }
  for (const VertexLog& l : status.logs) {
    auto it = by_digest_.find(l.vertex);
    if (it == by_digest_.end()) continue;
    State& s = it->second;
    size_t pos = 0;
    while (pos < l.data.size()) {
      size_t nl = l.data.find('\n', pos);
      if (s.partial.empty()) s.partial_timestamp = l.timestamp;
      if (nl == std::string::npos) {
        s.partial.append(l.data, pos, std::string::npos);
        break;
      }
      s.partial.append(l.data, pos, nl - pos);
      AddLogLine(s, s.partial, s.partial_timestamp);
      s.partial.clear();
      pos = nl + 1;
    }
    if (s.index != 0) updates_.insert(l.vertex);
  }
  Print();
}

void PlainRenderer::Print() {
  std::vector<std::string> completed;
  std::vector<std::string> rest;
  for (const std::string& d : updates_) {
    if (by_digest_[d].vertex.completed) {
      completed.push_back(d);
    } else {
      rest.push_back(d);
    }
  }
  auto by_index = [&](const std::string& a, const std::string& b) {
    return by_digest_[a].index < by_digest_[b].index;
  };
  std::sort(rest.begin(), rest.end(), by_index);
  std::stable_sort(completed.begin(), completed.end(), [&](const std::string& a, const std::string& b) {
    const State& sa = by_digest_[a];
    const State& sb = by_digest_[b];
    if (*sa.vertex.completed != *sb.vertex.completed) return *sa.vertex.completed < *sb.vertex.completed;
    return sa.index < sb.index;
  });

  const std::string current = current_;
  bool current_completed = std::find(completed.begin(), completed.end(), current) != completed.end();
  if (current_completed) PrintVertex(current);
  for (const std::string& d : completed) {
    if (d != current) PrintVertex(d);
  }
  if (rest.empty()) {
    if (!current_.empty()) {
      const State& s = by_digest_[current_];
      if (s.vertex.started && !s.vertex.completed) return;
    }
    // Make an open vertex the active one.
    for (const std::string& d : started_order_) {
      const State& s = by_digest_[d];
      if (s.vertex.started && !s.vertex.completed) {
        PrintVertex(d);
        return;
      }
    }
    return;
  }
  bool current_in_rest = std::find(rest.begin(), rest.end(), current) != rest.end();
  if (current_in_rest) {
    PrintVertex(current);
  }
  if (current_completed || current.empty()) PrintVertex(rest.front());
}

void PlainRenderer::PrintVertex(const std::string& digest) {
  State& s = by_digest_[digest];
  updates_.erase(digest);
  if (s.index == 0) return;
  const int n = s.index;
  if (digest != current_) {
    if (!current_.empty()) out_ << fmt::format("#{} ...\n", by_digest_[current_].index);
    if (not_first_) {
      out_ << "\n";
    } else {
      not_first_ = true;
    }
    out_ << fmt::format("#{} {}\n", n, s.vertex.name);
  }

  for (const VertexWarning& w : s.pending_warnings) {
    out_ << fmt::format("#{} WARN: {}\n", n, w.short_message);
  }
  s.pending_warnings.clear();

  for (const std::string& id : s.status_order) {
    if (!s.status_updates.count(id)) continue;
    Status& st = s.statuses[id];
    const VertexStatus& v = st.latest;
    if (st.printed_before && !v.completed) {
      double delta = v.total > 0 ? static_cast<double>(v.current - st.last_current) / v.total : 0;
      if (delta < kMinProgressDelta && v.timestamp - st.last_timestamp < kMinTimeDelta) continue;
    }
    st.printed_before = true;
    st.last_current = v.current;
    st.last_timestamp = v.timestamp;
    std::string bytes;
    if (v.total != 0) {
      bytes = fmt::format(" {} / {}", FormatBytes(v.current), FormatBytes(v.total));
    } else if (v.current != 0) {
      bytes = " " + FormatBytes(v.current);
    }
    std::string tm;
    Time end = v.completed ? *v.completed : v.timestamp;
    if (v.started) {
      double diff = Seconds(end - *v.started);
      if (diff > 0.01) tm = fmt::format(" {:.1f}s", diff);
    }
    if (v.completed) tm += " done";
    out_ << fmt::format("#{} {}{}{}\n", n, id, bytes, tm);
  }
  s.status_updates.clear();

  if (s.vertex.completed) FlushPartial(s);
  for (std::string& line : s.pending_lines) {
    out_ << fmt::format("#{} {}\n", n, line);
    s.recent_logs.push_back(std::move(line));
  }
  s.pending_lines.clear();
  if (s.recent_logs.size() > kRecentLogLines) {
    s.recent_logs.erase(s.recent_logs.begin(),
                        s.recent_logs.end() - static_cast<std::ptrdiff_t>(kRecentLogLines));
  }

  current_ = digest;
  if (s.vertex.completed) {
    current_.clear();
    if (s.completion_printed) return;
    s.completion_printed = true;
    if (!s.vertex.error.empty()) {
      if (IsCanceled(s.vertex.error)) {
        out_ << fmt::format("#{} CANCELED\n", n);
      } else {
        out_ << fmt::format("#{} ERROR: {}\n", n, s.vertex.error);
      }
    } else if (s.vertex.cached) {
      out_ << fmt::format("#{} CACHED\n", n);
    } else {
      std::string tm;
      if (s.vertex.started) tm = fmt::format(" {:.1f}s", Seconds(*s.vertex.completed - *s.vertex.started));
      out_ << fmt::format("#{} DONE{}\n", n, tm);
    }
  }
}

void PlainRenderer::Finish() {
  for (auto& [digest, s] : by_digest_) {
    if (!s.partial.empty()) {
      FlushPartial(s);
      if (s.index != 0) updates_.insert(digest);
    }
  }
  // Print until nothing is pending (each round prints at least one vertex).
  while (!updates_.empty()) {
    size_t before = updates_.size();
    Print();
    if (updates_.size() >= before) PrintVertex(*updates_.begin());
  }
  for (const std::string& d : started_order_) {
    const State& s = by_digest_[d];
    if (s.vertex.error.empty() || IsCanceled(s.vertex.error)) continue;
    out_ << "------\n";
    out_ << fmt::format(" > {}:\n", s.vertex.name);
    for (const std::string& line : s.recent_logs) out_ << line << "\n";
    out_ << "------\n";
  }
}

}  // namespace hoist::progress
