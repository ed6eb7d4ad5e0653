#include "base/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace hoist {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kWarning)};
std::mutex g_mu;
std::function<void(LogLevel, std::string_view)>& Sink() {
  static std::function<void(LogLevel, std::string_view)> sink;
  return sink;
}
const char* Name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "?";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void SetLogSink(std::function<void(LogLevel, std::string_view)> sink) {
  std::lock_guard<std::mutex> l(g_mu);
  Sink() = std::move(sink);
}

void LogMessage(LogLevel level, std::string_view message) {
  std::lock_guard<std::mutex> l(g_mu);
  if (Sink()) {
    Sink()(level, message);
    return;
  }
  std::fprintf(stderr, "hoist %s: %.*s\n", Name(level), static_cast<int>(message.size()),
               message.data());
}

}  // namespace hoist
