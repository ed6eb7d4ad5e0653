#include "cmd/progress_display.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "progress/plain.h"
#include "progress/tty.h"

namespace hoist::cmd {
namespace {

std::string Rfc3339(progress::Time t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(ns % 1000000000));
  return buf;
}

}  // namespace

std::string SolveStatusJson(const progress::SolveStatus& s) {
  nlohmann::json j = nlohmann::json::object();
  if (!s.vertexes.empty()) {
    auto& a = j["vertexes"] = nlohmann::json::array();
    for (const auto& v : s.vertexes) {
      nlohmann::json o = {{"digest", v.digest}, {"name", v.name}};
      if (!v.inputs.empty()) o["inputs"] = v.inputs;
      if (v.started) o["started"] = Rfc3339(*v.started);
      if (v.completed) o["completed"] = Rfc3339(*v.completed);
      if (v.cached) o["cached"] = true;
      if (!v.error.empty()) o["error"] = v.error;
      a.push_back(std::move(o));
    }
  }
  if (!s.statuses.empty()) {
    auto& a = j["statuses"] = nlohmann::json::array();
    for (const auto& st : s.statuses) {
      nlohmann::json o = {{"id", st.id}, {"vertex", st.vertex}, {"timestamp", Rfc3339(st.timestamp)}};
      if (!st.name.empty()) o["name"] = st.name;
      if (st.current) o["current"] = st.current;
      if (st.total) o["total"] = st.total;
      if (st.started) o["started"] = Rfc3339(*st.started);
      if (st.completed) o["completed"] = Rfc3339(*st.completed);
      a.push_back(std::move(o));
    }
  }
  if (!s.logs.empty()) {
    auto& a = j["logs"] = nlohmann::json::array();
    for (const auto& l : s.logs) {
      a.push_back({{"vertex", l.vertex},
                   {"stream", l.stream},
                   {"data", Base64Encode(l.data)},
                   {"timestamp", Rfc3339(l.timestamp)}});
    }
  }
  if (!s.warnings.empty()) {
    auto& a = j["warnings"] = nlohmann::json::array();
    for (const auto& w : s.warnings) {
      a.push_back({{"vertex", w.vertex}, {"level", w.level}, {"short", w.short_message}});
    }
  }
  return j.dump();
}

Result<std::unique_ptr<ProgressDisplay>> ProgressDisplay::Start(const std::string& mode) {
  std::unique_ptr<ProgressDisplay> d(new ProgressDisplay());
  progress::ProgressChannel* ch = &d->channel_;
  if (mode == "quiet") {
    d->thread_ = std::thread([ch] {
      while (ch->Next()) {
      }
    });
  } else if (mode == "rawjson") {
    d->thread_ = std::thread([ch] {
      while (auto s = ch->Next()) std::fprintf(stderr, "%s\n", SolveStatusJson(*s).c_str());
    });
  } else if (mode == "tty" || (mode == "auto" && ::isatty(STDERR_FILENO))) {
    struct winsize ws {};
    const int width = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
    d->thread_ = std::thread([ch, width] {
      progress::TtyRenderer r(std::cerr, width);
      auto next_draw = std::chrono::steady_clock::now();
      for (;;) {
        if (auto s = ch->NextFor(std::chrono::milliseconds(100))) {
          r.Update(*s);
        } else if (ch->Drained()) {
          break;
        }
        if (std::chrono::steady_clock::now() >= next_draw) {
          r.Draw(progress::Clock::now());
          next_draw = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
        }
      }
      r.Finish(progress::Clock::now());
    });
  } else {
    d->thread_ = std::thread([ch] {
      progress::PlainRenderer r(std::cerr);
      while (auto s = ch->Next()) r.Update(*s);
      r.Finish();
      std::cerr.flush();
    });
  }
  return d;
}

void ProgressDisplay::Finish() {
  if (finished_) return;
  finished_ = true;
  channel_.Close();
  if (thread_.joinable()) thread_.join();
}

ProgressDisplay::~ProgressDisplay() { Finish(); }

}  // namespace hoist::cmd
