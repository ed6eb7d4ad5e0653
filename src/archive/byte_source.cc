#include "archive/byte_source.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace hoist::archive {

Result<uint64_t> ByteSource::Skip(uint64_t n) {
  char buf[16384];
  uint64_t skipped = 0;
  while (skipped < n) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof(buf), n - skipped));
    HOIST_ASSIGN_OR_RETURN(size_t got, Read(buf, want));
    if (got == 0) break;
    skipped += got;
  }
  return skipped;
}

Result<std::unique_ptr<FileByteSource>> FileByteSource::Create(ReadableFile* file,
                                                               uint64_t offset) {
  HOIST_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  return std::unique_ptr<FileByteSource>(new FileByteSource(file, offset, size));
}

Result<size_t> FileByteSource::Read(void* buf, size_t n) {
  if (n == 0 || pos_ >= size_) return size_t{0};
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos_));
  HOIST_ASSIGN_OR_RETURN(size_t got, file_->ReadAt(pos_, buf, n));
  // A file that shrank under us ends early; the caller sees a short stream.
  pos_ += got;
  return got;
}

Result<uint64_t> FileByteSource::Skip(uint64_t n) {
  uint64_t left = pos_ >= size_ ? 0 : size_ - pos_;
  uint64_t skipped = std::min(n, left);
  pos_ += skipped;
  return skipped;
}

Result<size_t> StringByteSource::Read(void* buf, size_t n) {
  size_t got = std::min(n, data_.size() - pos_);
  if (got > 0) std::memcpy(buf, data_.data() + pos_, got);
  pos_ += got;
  return got;
}

struct ReadAheadByteSource::State {
  struct Chunk {
    std::string data;  // `chunk` bytes, of which `len` are filled; len 0 ends the stream
    size_t len = 0;
  };
  ByteSource* inner;
  size_t chunk;
  size_t depth;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Chunk> ready;         // filled chunks, oldest first
  std::optional<Error> error;      // after the chunks in `ready`
  std::vector<std::string> spare;  // buffers read out, used again (no fresh pages per chunk)
  bool stop = false;
  Chunk current;  // the chunk being read from
  size_t pos = 0;
  bool ended = false;
  std::thread thread;

  void Run() {
    for (;;) {
      Chunk c;
      {
        std::lock_guard lock(mu);
        if (!spare.empty()) {
          c.data = std::move(spare.back());
          spare.pop_back();
        }
      }
      if (c.data.size() != chunk) c.data.assign(chunk, '\0');
      std::optional<Error> failed;
      while (c.len < chunk) {
        auto n = inner->Read(c.data.data() + c.len, chunk - c.len);
        if (!n) {
          failed = std::move(n).error();
          break;
        }
        if (*n == 0) break;
        c.len += *n;
      }
      const bool last = failed || c.len < chunk;
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return stop || ready.size() < depth; });
      if (stop) return;
      if (c.len > 0) ready.push_back(std::move(c));
      if (failed) {
        error = std::move(failed);
      } else if (last) {
        ready.emplace_back();  // the end
      }
      cv.notify_all();
      if (last) return;
    }
  }
};

ReadAheadByteSource::ReadAheadByteSource(ByteSource* inner, size_t chunk, size_t depth)
    : state_(std::make_unique<State>()) {
  state_->inner = inner;
  state_->chunk = std::max<size_t>(chunk, 1);
  state_->depth = std::max<size_t>(depth, 1);
  state_->thread = std::thread([s = state_.get()] { s->Run(); });
}

ReadAheadByteSource::~ReadAheadByteSource() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->cv.notify_all();
  state_->thread.join();
}

Result<size_t> ReadAheadByteSource::Read(void* buf, size_t n) {
  State& s = *state_;
  if (n == 0 || s.ended) return size_t{0};
  if (s.pos == s.current.len) {
    std::unique_lock lock(s.mu);
    if (!s.current.data.empty()) s.spare.push_back(std::move(s.current.data));
    s.current = {};
    s.pos = 0;
    s.cv.wait(lock, [&] { return !s.ready.empty() || s.error.has_value(); });
    if (s.ready.empty()) return Unexpected(*s.error);
    s.current = std::move(s.ready.front());
    s.ready.pop_front();
    s.pos = 0;
    s.cv.notify_all();
    if (s.current.len == 0) {
      s.ended = true;
      return size_t{0};
    }
  }
  const size_t got = std::min(n, s.current.len - s.pos);
  std::memcpy(buf, s.current.data.data() + s.pos, got);
  s.pos += got;
  return got;
}

Result<uint64_t> StringByteSource::Skip(uint64_t n) {
  uint64_t skipped = std::min<uint64_t>(n, data_.size() - pos_);
  pos_ += static_cast<size_t>(skipped);
  return skipped;
}

struct GzipByteSource::State {
  z_stream zs{};
  bool initialized = false;
  std::vector<unsigned char> in = std::vector<unsigned char>(64 * 1024);
  bool input_eof = false;
  bool finished = false;
};

GzipByteSource::GzipByteSource(ByteSource* input)
    : input_(input), state_(std::make_unique<State>()) {}

GzipByteSource::~GzipByteSource() {
  if (state_->initialized) inflateEnd(&state_->zs);
}

Result<std::unique_ptr<GzipByteSource>> GzipByteSource::Create(ByteSource* input) {
  std::unique_ptr<GzipByteSource> src(new GzipByteSource(input));
  // 16 + MAX_WBITS: accept only the gzip wrapper, so a zlib or raw stream is an error.
  if (inflateInit2(&src->state_->zs, 16 + MAX_WBITS) != Z_OK) {
    return MakeError(Code::kResourceExhausted, "gzip: cannot initialise zlib");
  }
  src->state_->initialized = true;
  return src;
}

Status GzipByteSource::FillInput() {
  State& s = *state_;
  HOIST_ASSIGN_OR_RETURN(size_t got, input_->Read(s.in.data(), s.in.size()));
  if (got == 0) s.input_eof = true;
  s.zs.next_in = s.in.data();
  s.zs.avail_in = static_cast<uInt>(got);
  return OkStatus();
}

Result<size_t> GzipByteSource::Read(void* buf, size_t n) {
  State& s = *state_;
  if (n == 0) return size_t{0};
  n = std::min<size_t>(n, UINT_MAX);
  for (;;) {
    if (s.finished) return size_t{0};
    if (s.zs.avail_in == 0 && !s.input_eof) HOIST_TRY(FillInput());
    s.zs.next_out = static_cast<unsigned char*>(buf);
    s.zs.avail_out = static_cast<uInt>(n);
    int ret = inflate(&s.zs, Z_NO_FLUSH);
    size_t produced = n - s.zs.avail_out;
    if (ret == Z_STREAM_END) {
      // Another member may follow (as `cat a.gz b.gz` makes); only the end of the input or a
      // new gzip header is acceptable here.
      if (s.zs.avail_in == 0 && !s.input_eof) HOIST_TRY(FillInput());
      if (s.zs.avail_in == 0) {
        s.finished = true;
      } else if (s.zs.next_in[0] != 0x1f) {
        return MakeError(Code::kDataLoss, "gzip: unexpected data after the end of the stream");
      } else if (inflateReset(&s.zs) != Z_OK) {
        return MakeError(Code::kInternal, "gzip: cannot reset zlib");
      }
      if (produced > 0) return produced;
      continue;
    }
    if (ret == Z_OK || ret == Z_BUF_ERROR) {
      if (produced > 0) return produced;
      if (s.zs.avail_in == 0 && s.input_eof) {
        return MakeError(Code::kDataLoss, "gzip: unexpected end of stream");
      }
      continue;
    }
    std::string msg = s.zs.msg != nullptr ? s.zs.msg : "corrupt stream";
    return MakeError(Code::kDataLoss, "gzip: " + msg);
  }
}

Compression DetectCompression(std::string_view head) {
  auto starts = [&](std::string_view magic) {
    return head.size() >= magic.size() && head.substr(0, magic.size()) == magic;
  };
  // Magic numbers long enough that a tar header (which starts with a file name) cannot match
  // by accident: gzip with its deflate method byte, bzip2 with its block magic.
  if (starts("\x1f\x8b\x08")) return Compression::kGzip;
  if (starts("\x28\xb5\x2f\xfd")) return Compression::kZstd;
  if (head.size() >= 10 && starts("BZh") && head[3] >= '1' && head[3] <= '9' &&
      head.substr(4, 6) == "\x31\x41\x59\x26\x53\x59") {
    return Compression::kBzip2;
  }
  if (starts(std::string_view("\xfd"
                              "7zXZ\x00",
                              6)))
    return Compression::kXz;
  return Compression::kNone;
}

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
    case Compression::kBzip2:
      return "bzip2";
    case Compression::kXz:
      return "xz";
  }
  return "unknown";
}

}  // namespace hoist::archive
