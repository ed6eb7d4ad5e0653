// Nanosecond times of stat results and the timespecs utimensat takes. Thread-safety: pure
// functions.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <ctime>

namespace hoist {

inline int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// Unix nanoseconds as a timespec, negative times included (tv_nsec stays in [0, 1e9)).
inline struct timespec TimespecOf(int64_t ns) {
  struct timespec t;
  t.tv_sec = ns / 1000000000;
  t.tv_nsec = ns % 1000000000;
  if (t.tv_nsec < 0) {
    t.tv_nsec += 1000000000;
    t.tv_sec -= 1;
  }
  return t;
}

}  // namespace hoist
