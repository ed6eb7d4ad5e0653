#include "base/writeback.h"

#include <fcntl.h>

namespace hoist {

void WritebackPacer::Wrote(uint64_t end) {
  if (end < started_ + kSpan) return;
  // A hint: an error here (a file system without it) leaves the work to the final fsync.
  (void)::sync_file_range(fd_, static_cast<off_t>(started_), static_cast<off_t>(end - started_),
                          SYNC_FILE_RANGE_WRITE);
  started_ = end;
}

}  // namespace hoist
