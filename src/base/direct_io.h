// Reading and writing large files mostly around the page cache.
//
// DirectAppender writes a large file front to back mostly around the page cache.
//
// A file written through the page cache takes a page of memory per 4 KiB, which the kernel
// must find, and on a virtual machine whose host backs its memory lazily, or takes back what
// the guest left free, finding it cost more than writing its bytes: inside the build
// benchmark, the same cold build of a 470 MB base spent seconds of kernel time copying into
// newly allocated cache pages, where it spent a fraction of a second outside it. A layer's
// EROFS image is written once and read later, file by file, through its mount; so past its
// first megabytes it goes out with O_DIRECT from one reused, aligned staging buffer: the same
// few megabytes of memory for the whole file, and no copy into the cache.
//
// The first kBufferedPrefix bytes go through the page cache (a small file stays cheap to read
// back and never waits on a synchronous write), and so does the last partial block, at Flush.
// A file system that refuses O_DIRECT gets the whole file through the cache, its writeback
// started as it grows (WritebackPacer). Durability still comes from the caller's fsync.
//
// Thread-safety: one appender per file, used by the thread writing it. It borrows the
// descriptor, whose O_DIRECT flag it sets while it writes and clears at Flush and when
// destroyed.
//
// DirectReader reads such a file back the same way: past its buffered prefix, in aligned
// kStagingSize reads with O_DIRECT into one staging buffer, which the reads that follow are
// served from; the same memory for the whole file, and none of the file's pages cached.
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/file_system.h"
#include "base/unique_fd.h"
#include "base/writeback.h"

namespace hoist {

class DirectAppender {
 public:
  // Alignment of direct writes (offset, length and memory): the largest logical block size
  // of the devices we meet.
  static constexpr uint64_t kAlign = 4096;
  static constexpr uint64_t kBufferedPrefix = uint64_t{8} << 20;
  static constexpr size_t kStagingSize = size_t{4} << 20;

  // Appends to `fd` from byte `start` of the file on; `what` names the file in errors.
  DirectAppender(int fd, uint64_t start, std::string what);
  ~DirectAppender();
  DirectAppender(const DirectAppender&) = delete;
  DirectAppender& operator=(const DirectAppender&) = delete;

  // Writes `data` at end().
  Status Append(std::string_view data);
  // Writes zeros from end() up to `offset`. REQUIRES: offset >= end().
  Status ZeroTo(uint64_t offset);
  // Puts every byte appended so far into the file, so that it can be read or synced;
  // appending may go on after it.
  Status Flush();

  uint64_t end() const { return end_; }
  // Whether any part of the file went out with O_DIRECT (for tests).
  bool wrote_direct() const { return wrote_direct_; }

  struct FreeAligned {
    void operator()(char* p) const;
  };

 private:
  enum class Mode { kBuffered, kDirect, kBufferedOnly };

  Status WriteBuffered(const char* data, size_t n, uint64_t offset);
  // Switches to direct writes at end_ (aligned); false if the file system refuses them.
  bool StartDirect();
  // Starts writing the staged whole blocks (on another thread, after the previous ones are
  // written); the partial block stays staged.
  Status WriteStagedBlocks();
  // Waits for the blocks being written; falls back to the cache if they were refused.
  Status WaitInFlight();
  // Leaves direct writing for good (a file system that took O_DIRECT at open but refuses a
  // write), writing what is staged through the cache.
  Status FallBackToBuffered();
  bool SetDirectFlag(bool on);

  int fd_;
  std::string what_;
  Mode mode_ = Mode::kBuffered;
  uint64_t end_;
  WritebackPacer pacer_;
  bool wrote_direct_ = false;
  bool flag_on_ = false;  // O_DIRECT is set on fd_
  // Direct mode: buf_ holds the file's bytes from staged_at_ (aligned) to end_.
  std::unique_ptr<char, FreeAligned> buf_;
  uint64_t staged_at_ = 0;
  // The blocks being written: inflight_len_ bytes at inflight_at_; the task's errno or 0.
  std::unique_ptr<char, FreeAligned> inflight_buf_;
  std::future<int> inflight_;
  uint64_t inflight_at_ = 0;
  size_t inflight_len_ = 0;
};

// Thread-safety: one reader per file, used by one thread at a time.
class DirectReader {
 public:
  // Reads the file at `path` past DirectAppender::kBufferedPrefix; `file` is the caller's
  // ordinary view of the same file (borrowed, with a descriptor), which serves the prefix,
  // and everything when the file system refuses O_DIRECT.
  DirectReader(ReadableFile* file, std::string path);
  ~DirectReader();
  DirectReader(const DirectReader&) = delete;
  DirectReader& operator=(const DirectReader&) = delete;

  // Up to n bytes at offset, as pread; fewer where a staged span ends.
  Result<size_t> ReadAt(uint64_t offset, void* buf, size_t n);

 private:
  // Opens the O_DIRECT descriptor once; false if the file system refuses it.
  bool OpenDirect();
  // Stages the span at aligned offset `at`, from the read ahead when it is that span: its
  // size, or -1 and *err.
  ssize_t Stage(uint64_t at, int* err);
  void WaitAhead();
  // Closes the O_DIRECT descriptor for good: the cache serves from now on.
  void StopDirect();

  ReadableFile* file_;
  std::string path_;
  UniqueFd direct_fd_;
  bool direct_refused_ = false;
  std::unique_ptr<char, DirectAppender::FreeAligned> buf_;
  uint64_t staged_at_ = 0;  // buf_ holds the file's bytes [staged_at_, staged_at_ + staged_)
  size_t staged_ = 0;
  // The next span is read on another thread while this one is consumed: a direct read
  // waits for the disk, which the cache's read-ahead used to hide.
  std::unique_ptr<char, DirectAppender::FreeAligned> ahead_buf_;
  std::future<ssize_t> ahead_;
  uint64_t ahead_at_ = 0;
  int ahead_errno_ = 0;
};

}  // namespace hoist
