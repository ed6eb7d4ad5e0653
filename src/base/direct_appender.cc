#include "base/direct_appender.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace hoist {

void DirectAppender::FreeAligned::operator()(char* p) const { std::free(p); }

DirectAppender::DirectAppender(int fd, uint64_t start, std::string what)
    : fd_(fd), what_(std::move(what)), end_(start), pacer_(fd) {}

DirectAppender::~DirectAppender() {
  // Whatever is still staged was not flushed: the caller abandons the file.
  (void)SetDirectFlag(false);
}

bool DirectAppender::SetDirectFlag(bool on) {
  if (flag_on_ == on) return true;
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0) return false;
  flags = on ? (flags | O_DIRECT) : (flags & ~O_DIRECT);
  if (::fcntl(fd_, F_SETFL, flags) != 0) return false;
  flag_on_ = on;
  return true;
}

Status DirectAppender::WriteBuffered(const char* data, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd_, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, "write " + what_));
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return {};
}

bool DirectAppender::StartDirect() {
  if (!buf_) {
    void* p = nullptr;
    if (::posix_memalign(&p, kAlign, kStagingSize) != 0) return false;
    buf_.reset(static_cast<char*>(p));
  }
  if (!SetDirectFlag(true)) return false;
  (void)SetDirectFlag(false);  // set again when there is a block to write
  staged_at_ = end_;
  mode_ = Mode::kDirect;
  return true;
}

Status DirectAppender::Append(std::string_view data) {
  while (!data.empty()) {
    if (mode_ == Mode::kDirect) {
      const size_t staged = static_cast<size_t>(end_ - staged_at_);
      const size_t n = std::min(data.size(), kStagingSize - staged);
      std::memcpy(buf_.get() + staged, data.data(), n);
      end_ += n;
      data.remove_prefix(n);
      if (staged + n == kStagingSize) HOIST_TRY(WriteStagedBlocks());
      continue;
    }
    size_t n = data.size();
    if (mode_ == Mode::kBuffered) {
      if (end_ >= kBufferedPrefix && end_ % kAlign == 0) {
        if (StartDirect()) continue;
        mode_ = Mode::kBufferedOnly;
      } else {
        // Up to the first aligned offset past the prefix, where direct writing can start.
        const uint64_t until = std::max(kBufferedPrefix, (end_ + kAlign - 1) / kAlign * kAlign);
        n = static_cast<size_t>(std::min<uint64_t>(n, until - end_));
      }
    }
    HOIST_TRY(WriteBuffered(data.data(), n, end_));
    end_ += n;
    data.remove_prefix(n);
    pacer_.Wrote(end_);
  }
  return {};
}

Status DirectAppender::ZeroTo(uint64_t offset) {
  if (mode_ != Mode::kDirect) {
    // Through the cache, the gap needs no writing: it reads as zeros.
    end_ = std::max(end_, offset);
    return {};
  }
  static const char kZeros[kAlign] = {};
  while (end_ < offset) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(offset - end_, kAlign));
    HOIST_TRY(Append(std::string_view(kZeros, n)));
  }
  return {};
}

Status DirectAppender::WriteStagedBlocks() {
  const size_t staged = static_cast<size_t>(end_ - staged_at_);
  const size_t whole = staged / kAlign * kAlign;
  if (whole == 0) return {};
  if (!SetDirectFlag(true)) return FallBackToBuffered();
  size_t done = 0;
  while (done < whole) {
    ssize_t w = ::pwrite(fd_, buf_.get() + done, whole - done,
                         static_cast<off_t>(staged_at_ + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL) break;  // refused after all: the rest goes through the cache
      return Unexpected(ErrnoError(errno, "write " + what_));
    }
    wrote_direct_ = true;
    done += static_cast<size_t>(w);
    if (done % kAlign != 0) break;  // a short write leaves an unaligned offset
  }
  if (done > 0) {
    std::memmove(buf_.get(), buf_.get() + done, staged - done);
    staged_at_ += done;
  }
  if (done < whole) return FallBackToBuffered();
  return {};
}

Status DirectAppender::FallBackToBuffered() {
  mode_ = Mode::kBufferedOnly;
  if (!SetDirectFlag(false)) return Unexpected(ErrnoError(errno, "write " + what_));
  HOIST_TRY(WriteBuffered(buf_.get(), static_cast<size_t>(end_ - staged_at_), staged_at_));
  staged_at_ = end_;
  return {};
}

Status DirectAppender::Flush() {
  if (mode_ != Mode::kDirect) return {};
  HOIST_TRY(WriteStagedBlocks());
  if (mode_ != Mode::kDirect) return {};
  // The descriptor leaves without O_DIRECT, for the caller's own writes. The partial last
  // block goes through the cache and stays staged: the next direct write covers it again,
  // and the kernel drops the cached copy then.
  if (!SetDirectFlag(false)) return Unexpected(ErrnoError(errno, "write " + what_));
  if (end_ == staged_at_) return {};
  return WriteBuffered(buf_.get(), static_cast<size_t>(end_ - staged_at_), staged_at_);
}

}  // namespace hoist
