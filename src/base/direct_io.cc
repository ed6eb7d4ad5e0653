#include "base/direct_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace hoist {
namespace {

char* AllocateStaging() {
  void* p = nullptr;
  if (::posix_memalign(&p, DirectAppender::kAlign, DirectAppender::kStagingSize) != 0) {
    return nullptr;
  }
  return static_cast<char*>(p);
}

// Writes n bytes at `at` with the descriptor's O_DIRECT: 0, or the errno (EINVAL also for a
// short write, which would leave the rest unaligned).
int WriteSpan(int fd, const char* data, size_t n, uint64_t at) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::pwrite(fd, data + done, n - done, static_cast<off_t>(at + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(w);
    if (done % DirectAppender::kAlign != 0 && done < n) return EINVAL;
  }
  return 0;
}

// Reads a staging span at `at`: its size (less at the end of the file), or -1 and *err.
ssize_t ReadSpan(int fd, char* to, uint64_t at, int* err) {
  ssize_t n;
  do {
    n = ::pread(fd, to, DirectAppender::kStagingSize, static_cast<off_t>(at));
  } while (n < 0 && errno == EINTR);
  if (n < 0) *err = errno;
  return n;
}

}  // namespace

void DirectAppender::FreeAligned::operator()(char* p) const { std::free(p); }

DirectAppender::DirectAppender(int fd, uint64_t start, std::string what)
    : fd_(fd), what_(std::move(what)), end_(start), pacer_(fd) {}

DirectAppender::~DirectAppender() {
  // Whatever is still staged was not flushed: the caller abandons the file.
  if (inflight_.valid()) (void)inflight_.get();
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
    buf_.reset(AllocateStaging());
    if (!buf_) return false;
  }
  staged_at_ = end_;  // O_DIRECT is set, or refused, at the first whole block
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
  HOIST_TRY(WaitInFlight());
  if (mode_ != Mode::kDirect) return FallBackToBuffered();
  if (!inflight_buf_) inflight_buf_.reset(AllocateStaging());
  if (!inflight_buf_ || !SetDirectFlag(true)) return FallBackToBuffered();
  // The whole blocks go out on another thread while the next ones are staged.
  std::swap(buf_, inflight_buf_);
  std::memcpy(buf_.get(), inflight_buf_.get() + whole, staged - whole);
  inflight_at_ = staged_at_;
  inflight_len_ = whole;
  staged_at_ += whole;
  inflight_ =
      std::async(std::launch::async, WriteSpan, fd_, inflight_buf_.get(), whole, inflight_at_);
  return {};
}

Status DirectAppender::WaitInFlight() {
  if (!inflight_.valid()) return {};
  const int err = inflight_.get();
  if (err == 0) {
    wrote_direct_ = true;
    return {};
  }
  if (err != EINVAL) return Unexpected(ErrnoError(err, "write " + what_));
  // Refused after all (or cut short): that span and everything after it go through the cache.
  mode_ = Mode::kBufferedOnly;
  if (!SetDirectFlag(false)) return Unexpected(ErrnoError(errno, "write " + what_));
  return WriteBuffered(inflight_buf_.get(), inflight_len_, inflight_at_);
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
  HOIST_TRY(WaitInFlight());
  if (mode_ != Mode::kDirect) return FallBackToBuffered();
  // The descriptor leaves without O_DIRECT, for the caller's own writes. The partial last
  // block goes through the cache and stays staged: the next direct write covers it again,
  // and the kernel drops the cached copy then.
  if (!SetDirectFlag(false)) return Unexpected(ErrnoError(errno, "write " + what_));
  if (end_ == staged_at_) return {};
  return WriteBuffered(buf_.get(), static_cast<size_t>(end_ - staged_at_), staged_at_);
}

DirectReader::DirectReader(ReadableFile* file, std::string path)
    : file_(file), path_(std::move(path)) {}

DirectReader::~DirectReader() { StopDirect(); }

void DirectReader::WaitAhead() {
  if (ahead_.valid()) (void)ahead_.get();
}

void DirectReader::StopDirect() {
  WaitAhead();
  direct_fd_.Reset();
  direct_refused_ = true;
  staged_ = 0;
}

ssize_t DirectReader::Stage(uint64_t at, int* err) {
  ssize_t r;
  if (ahead_.valid() && ahead_at_ == at) {
    r = ahead_.get();
    *err = ahead_errno_;
    std::swap(buf_, ahead_buf_);
  } else {
    WaitAhead();
    r = ReadSpan(direct_fd_.get(), buf_.get(), at, err);
  }
  if (r == static_cast<ssize_t>(DirectAppender::kStagingSize)) {
    if (!ahead_buf_) ahead_buf_.reset(AllocateStaging());
    if (ahead_buf_) {
      ahead_at_ = at + DirectAppender::kStagingSize;
      ahead_ = std::async(std::launch::async, ReadSpan, direct_fd_.get(), ahead_buf_.get(),
                          ahead_at_, &ahead_errno_);
    }
  }
  return r;
}

bool DirectReader::OpenDirect() {
  if (direct_fd_) return true;
  if (direct_refused_) return false;
  direct_refused_ = true;  // unless all of the below succeeds
  buf_.reset(AllocateStaging());
  if (!buf_ || file_->fd() < 0) return false;
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return false;
  // The same file as the caller's, or none: the name may have been replaced since.
  struct stat a, b;
  if (::fstat(fd.get(), &a) != 0 || ::fstat(file_->fd(), &b) != 0 || a.st_dev != b.st_dev ||
      a.st_ino != b.st_ino) {
    return false;
  }
  direct_fd_ = std::move(fd);
  direct_refused_ = false;
  return true;
}

Result<size_t> DirectReader::ReadAt(uint64_t offset, void* buf, size_t n) {
  if (offset < DirectAppender::kBufferedPrefix) {
    n = static_cast<size_t>(std::min<uint64_t>(n, DirectAppender::kBufferedPrefix - offset));
    return file_->ReadAt(offset, buf, n);
  }
  if (offset < staged_at_ || offset >= staged_at_ + staged_) {
    if (!OpenDirect()) return file_->ReadAt(offset, buf, n);
    const uint64_t at = offset / DirectAppender::kAlign * DirectAppender::kAlign;
    int err = 0;
    const ssize_t r = Stage(at, &err);
    if (r < 0) {
      if (err != EINVAL) return Unexpected(ErrnoError(err, "read " + path_));
      StopDirect();  // refused after all
      return file_->ReadAt(offset, buf, n);
    }
    staged_at_ = at;
    staged_ = static_cast<size_t>(r);
    if (offset >= staged_at_ + staged_) return size_t{0};  // at or past the end
  }
  const size_t from = static_cast<size_t>(offset - staged_at_);
  n = std::min(n, staged_ - from);
  std::memcpy(buf, buf_.get() + from, n);
  return n;
}

}  // namespace hoist
