// WritebackPacer: starts writing a file's dirty pages to disk while the file is still being
// written, so that the fsync at its end waits only for the last few megabytes.
//
// A large file written at a few hundred MB/s and then synced leaves the whole file dirty for
// the sync, which then waits for all of it: 0.1-0.2 s per 100 MB here, taken on the writer's
// thread after all its other work. Asking the kernel to start writeback of each span as soon as
// it is written (sync_file_range with SYNC_FILE_RANGE_WRITE, which does not wait for the
// pages to reach the disk) overlaps that I/O with the rest of the writing. It is only a hint:
// durability still comes from the caller's fsync, and failures are left for that to report.
//
// Thread-safety: one pacer per file, used by the thread writing it.
#pragma once

#include <cstdint>

namespace hoist {

class WritebackPacer {
 public:
  // Spans smaller than this are left to accumulate: one call per 8 MiB costs nothing measurable.
  static constexpr uint64_t kSpan = 8 << 20;

  explicit WritebackPacer(int fd) : fd_(fd) {}

  // The file now holds data up to `end` (bytes written sequentially from the start, or from
  // wherever the previous call left off).
  void Wrote(uint64_t end);

 private:
  int fd_;
  uint64_t started_ = 0;  // writeback was started for [0, started_)
};

}  // namespace hoist
