// The engine log: leveled messages to stderr (or a sink set by src/cmd/). A message is only
// formatted when its level is enabled. Library code logs; it never prints to stdout.
// Thread-safe. Never log a client's local path from engine code.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <fmt/core.h>

namespace hoist {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool LogEnabled(LogLevel level);
// Replaces the sink (default: stderr). Passing nullptr restores the default.
void SetLogSink(std::function<void(LogLevel, std::string_view)> sink);
void LogMessage(LogLevel level, std::string_view message);

}  // namespace hoist

#define HOIST_LOG(level, ...)                                                   \
  do {                                                                          \
    if (::hoist::LogEnabled(::hoist::LogLevel::level))                          \
      ::hoist::LogMessage(::hoist::LogLevel::level, ::fmt::format(__VA_ARGS__)); \
  } while (0)
