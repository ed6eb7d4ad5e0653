#include "progress/tty.h"

#include <algorithm>
#include <cstdio>

#include "progress/plain.h"

namespace hoist::progress {
namespace {

constexpr size_t kTailLines = 6;

double Seconds(Time from, Time to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string Fmt(const char* f, double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// `text` padded (or cut) so that `right` ends at column `width`.
std::string Align(const std::string& text, const std::string& right, int width) {
  const size_t w = static_cast<size_t>(std::max(width, 20));
  std::string left = text;
  if (left.size() + right.size() + 1 > w) left = left.substr(0, w - right.size() - 1);
  return left + std::string(w - left.size() - right.size(), ' ') + right;
}

}  // namespace

void TtyRenderer::Update(const SolveStatus& status) {
  for (const Vertex& v : status.vertexes) {
    auto [it, inserted] = steps_.try_emplace(v.digest);
    if (inserted) order_.push_back(v.digest);
    Step& s = it->second;
    const auto started = s.vertex.started;
    s.vertex = v;
    if (!s.vertex.started) s.vertex.started = started;
  }
  for (const VertexStatus& st : status.statuses) {
    auto it = steps_.find(st.vertex);
    if (it == steps_.end()) continue;
    if (!it->second.statuses.contains(st.id)) it->second.status_order.push_back(st.id);
    it->second.statuses[st.id] = st;
  }
  for (const VertexLog& l : status.logs) {
    auto it = steps_.find(l.vertex);
    if (it == steps_.end()) continue;
    Step& s = it->second;
    s.partial += l.data;
    for (size_t nl; (nl = s.partial.find('\n')) != std::string::npos;) {
      std::string line = s.partial.substr(0, nl);
      s.partial.erase(0, nl + 1);
      s.tail.push_back(line);
      if (s.tail.size() > kTailLines) s.tail.pop_front();
      s.all_lines.push_back(std::move(line));
    }
  }
}

std::vector<std::string> TtyRenderer::Frame(Time now, bool finished) const {
  std::vector<std::string> lines;
  size_t done = 0;
  for (const auto& [digest, s] : steps_) done += s.vertex.completed ? 1 : 0;
  lines.push_back(Fmt("[+] Building %.1fs", Seconds(start_, now)) + " (" +
                  std::to_string(done) + "/" + std::to_string(steps_.size()) + ")" +
                  (finished ? " FINISHED" : ""));
  for (const std::string& digest : order_) {
    const Step& s = steps_.at(digest);
    const Vertex& v = s.vertex;
    std::string state;
    if (v.cached) state = "CACHED ";
    else if (!v.error.empty()) state = v.error.find("context canceled") != std::string::npos ? "CANCELED " : "ERROR ";
    std::string time;
    if (v.started) time = Fmt("%.1fs", Seconds(*v.started, v.completed ? *v.completed : now));
    lines.push_back(Align(" => " + state + v.name, time, width_));
    if (v.completed && v.error.empty()) continue;
    for (const std::string& id : s.status_order) {
      const VertexStatus& st = s.statuses.at(id);
      std::string text = " => => " + (st.name.empty() ? st.id : st.name);
      if (st.total > 0) text += " " + FormatBytes(st.current) + " / " + FormatBytes(st.total);
      else if (st.current > 0) text += " " + FormatBytes(st.current);
      std::string t;
      if (st.started) t = Fmt("%.1fs", Seconds(*st.started, st.completed ? *st.completed : now));
      lines.push_back(Align(text, t, width_));
    }
    if (!v.completed) {
      for (const std::string& l : s.tail) lines.push_back(Align(" => => # " + l, "", width_));
    }
  }
  return lines;
}

void TtyRenderer::Draw(Time now) {
  std::string buf;
  if (drawn_lines_ > 0) buf += "\x1b[" + std::to_string(drawn_lines_) + "A";
  const std::vector<std::string> lines = Frame(now);
  for (const std::string& l : lines) buf += "\x1b[2K" + l + "\n";
  // A shorter frame leaves old lines below: clear them.
  for (size_t i = lines.size(); i < drawn_lines_; ++i) buf += "\x1b[2K\n";
  if (drawn_lines_ > lines.size()) buf += "\x1b[" + std::to_string(drawn_lines_ - lines.size()) + "A";
  drawn_lines_ = lines.size();
  out_ << buf;
  out_.flush();
}

void TtyRenderer::Finish(Time now) {
  std::string buf;
  if (drawn_lines_ > 0) buf += "\x1b[" + std::to_string(drawn_lines_) + "A";
  const std::vector<std::string> lines = Frame(now, true);
  for (const std::string& l : lines) buf += "\x1b[2K" + l + "\n";
  for (size_t i = lines.size(); i < drawn_lines_; ++i) buf += "\x1b[2K\n";
  drawn_lines_ = 0;
  for (const std::string& digest : order_) {
    const Step& s = steps_.at(digest);
    if (s.vertex.error.empty() || s.vertex.error.find("context canceled") != std::string::npos) {
      continue;
    }
    buf += "------\n > " + s.vertex.name + ":\n";
    const size_t from = s.all_lines.size() > 10 ? s.all_lines.size() - 10 : 0;
    for (size_t i = from; i < s.all_lines.size(); ++i) buf += s.all_lines[i] + "\n";
    buf += "------\n";
  }
  out_ << buf;
  out_.flush();
}

}  // namespace hoist::progress
