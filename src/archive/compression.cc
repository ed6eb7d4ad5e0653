#include "archive/compression.h"

#include <bzlib.h>
#include <errno.h>
#include <fmt/format.h>
#include <isa-l.h>
#include <lzma.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

namespace hoist::archive {
namespace {

// Compressed output is collected in a buffer of this size before it goes to the sink, so the
// sink sees few, large writes.
constexpr size_t kOutBufferSize = 256 * 1024;
// Compressed input is read from the source in chunks of this size.
constexpr size_t kInBufferSize = 256 * 1024;

class PassthroughCompressor final : public Compressor {
 public:
  explicit PassthroughCompressor(ByteSink* out) : out_(out) {}
  Status Write(std::string_view data) override { return out_->Write(data); }
  Status Finish() override { return OkStatus(); }

 private:
  ByteSink* out_;
};

// gzip with ISA-L's igzip. The stream state is large (tens of KiB), hence on the heap.
class IsalGzipCompressor final : public Compressor {
 public:
  IsalGzipCompressor(ByteSink* out, int level)
      : out_(out), zs_(std::make_unique<isal_zstream>()), buf_(kOutBufferSize) {
    isal_deflate_init(zs_.get());
    zs_->level = static_cast<uint32_t>(level);
    zs_->gzip_flag = IGZIP_GZIP;  // the default header: no name, mtime 0, so output is stable
    zs_->flush = NO_FLUSH;
    static constexpr size_t kLevelBufSize[] = {ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT,
                                               ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT};
    level_buf_.resize(kLevelBufSize[level]);
    zs_->level_buf = level_buf_.empty() ? nullptr : level_buf_.data();
    zs_->level_buf_size = static_cast<uint32_t>(level_buf_.size());
  }

  // ISA-L's output depends on how the input is cut into isal_deflate calls, so input is fed in
  // fixed-size blocks: the compressed bytes then depend on the data alone, not on how callers
  // split their writes.
  Status Write(std::string_view data) override {
    if (finished_) return MakeError(Code::kFailedPrecondition, "gzip: write after finish");
    while (!data.empty()) {
      if (in_.empty() && data.size() >= kIsalBlock) {
        HOIST_TRY(Deflate(data.substr(0, kIsalBlock)));
        data.remove_prefix(kIsalBlock);
        continue;
      }
      size_t take = std::min(data.size(), kIsalBlock - in_.size());
      in_.append(data.substr(0, take));
      data.remove_prefix(take);
      if (in_.size() == kIsalBlock) {
        HOIST_TRY(Deflate(in_));
        in_.clear();
      }
    }
    return OkStatus();
  }

  Status Finish() override {
    if (finished_) return OkStatus();
    finished_ = true;
    zs_->next_in = reinterpret_cast<uint8_t*>(in_.data());
    zs_->avail_in = static_cast<uint32_t>(in_.size());
    zs_->end_of_stream = 1;
    while (zs_->internal_state.state != ZSTATE_END) HOIST_TRY(Step());
    return OkStatus();
  }

 private:
  static constexpr size_t kIsalBlock = 128 * 1024;

  Status Deflate(std::string_view block) {
    zs_->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(block.data()));
    zs_->avail_in = static_cast<uint32_t>(block.size());
    zs_->end_of_stream = 0;
    while (zs_->avail_in > 0) HOIST_TRY(Step());
    return OkStatus();
  }

  Status Step() {
    zs_->next_out = buf_.data();
    zs_->avail_out = static_cast<uint32_t>(buf_.size());
    int ret = isal_deflate(zs_.get());
    if (ret != COMP_OK) {
      return MakeError(Code::kInternal, fmt::format("gzip: isal_deflate failed ({})", ret));
    }
    size_t produced = buf_.size() - zs_->avail_out;
    if (produced > 0) {
      HOIST_TRY(out_->Write(std::string_view(reinterpret_cast<char*>(buf_.data()), produced)));
    }
    return OkStatus();
  }

  ByteSink* out_;
  std::unique_ptr<isal_zstream> zs_;
  std::vector<uint8_t> level_buf_;
  std::vector<uint8_t> buf_;
  std::string in_;  // a partial input block
  bool finished_ = false;
};

class ZlibGzipCompressor final : public Compressor {
 public:
  explicit ZlibGzipCompressor(ByteSink* out) : out_(out), buf_(kOutBufferSize) {}
  ~ZlibGzipCompressor() override {
    if (initialized_) deflateEnd(&zs_);
  }

  Status Init(int level) {
    // 16 + 15 window bits: a gzip wrapper with zlib's default header (mtime 0, no name).
    if (deflateInit2(&zs_, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      return MakeError(Code::kResourceExhausted, "gzip: cannot initialise zlib");
    }
    initialized_ = true;
    return OkStatus();
  }

  Status Write(std::string_view data) override {
    if (finished_) return MakeError(Code::kFailedPrecondition, "gzip: write after finish");
    while (!data.empty()) {
      size_t chunk = std::min<size_t>(data.size(), UINT_MAX);
      zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      zs_.avail_in = static_cast<uInt>(chunk);
      while (zs_.avail_in > 0) {
        HOIST_ASSIGN_OR_RETURN(int ret, Step(Z_NO_FLUSH));
        (void)ret;
      }
      data.remove_prefix(chunk);
    }
    return OkStatus();
  }

  Status Finish() override {
    if (finished_) return OkStatus();
    finished_ = true;
    zs_.next_in = nullptr;
    zs_.avail_in = 0;
    for (;;) {
      HOIST_ASSIGN_OR_RETURN(int ret, Step(Z_FINISH));
      if (ret == Z_STREAM_END) return OkStatus();
    }
  }

 private:
  Result<int> Step(int flush) {
    zs_.next_out = buf_.data();
    zs_.avail_out = static_cast<uInt>(buf_.size());
    int ret = deflate(&zs_, flush);
    if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
      return MakeError(Code::kInternal, fmt::format("gzip: zlib deflate failed ({})", ret));
    }
    size_t produced = buf_.size() - zs_.avail_out;
    if (produced > 0) {
      HOIST_TRY(out_->Write(std::string_view(reinterpret_cast<char*>(buf_.data()), produced)));
    }
    return ret;
  }

  ByteSink* out_;
  z_stream zs_{};
  bool initialized_ = false;
  std::vector<unsigned char> buf_;
  bool finished_ = false;
};

Error ZstdError(size_t ret) {
  return Error(Code::kDataLoss, std::string("zstd: ") + ZSTD_getErrorName(ret));
}

class ZstdCompressor final : public Compressor {
 public:
  explicit ZstdCompressor(ByteSink* out) : out_(out), buf_(ZSTD_CStreamOutSize()) {}
  ~ZstdCompressor() override { ZSTD_freeCCtx(cctx_); }

  Status Init(int level) {
    cctx_ = ZSTD_createCCtx();
    if (cctx_ == nullptr) return MakeError(Code::kResourceExhausted, "zstd: cannot allocate");
    size_t r = ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
    if (ZSTD_isError(r)) return Unexpected(ZstdError(r));
    // A content checksum, as the zstd tool writes by default, so readers can verify.
    r = ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(r)) return Unexpected(ZstdError(r));
    return OkStatus();
  }

  Status Write(std::string_view data) override {
    if (finished_) return MakeError(Code::kFailedPrecondition, "zstd: write after finish");
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size) {
      HOIST_ASSIGN_OR_RETURN(size_t left, Step(&in, ZSTD_e_continue));
      (void)left;
    }
    return OkStatus();
  }

  Status Finish() override {
    if (finished_) return OkStatus();
    finished_ = true;
    ZSTD_inBuffer in{nullptr, 0, 0};
    for (;;) {
      HOIST_ASSIGN_OR_RETURN(size_t left, Step(&in, ZSTD_e_end));
      if (left == 0) return OkStatus();
    }
  }

 private:
  Result<size_t> Step(ZSTD_inBuffer* in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out{buf_.data(), buf_.size(), 0};
    size_t ret = ZSTD_compressStream2(cctx_, &out, in, mode);
    if (ZSTD_isError(ret)) {
      return MakeError(Code::kInternal, std::string("zstd: ") + ZSTD_getErrorName(ret));
    }
    if (out.pos > 0) HOIST_TRY(out_->Write(std::string_view(buf_.data(), out.pos)));
    return ret;
  }

  ByteSink* out_;
  ZSTD_CCtx* cctx_ = nullptr;
  std::vector<char> buf_;
  bool finished_ = false;
};

// gzip decompression with isal_inflate. ISA-L's gzip mode reads each member's header (FEXTRA,
// FNAME, FCOMMENT and FHCRC included) and verifies its CRC-32 and ISIZE trailer; a member ends
// with block_state ISAL_BLOCK_FINISH, after which the next member, if any, starts afresh.
class IsalGzipByteSource final : public ByteSource {
 public:
  explicit IsalGzipByteSource(ByteSource* input)
      : input_(input), st_(std::make_unique<inflate_state>()), in_(kInBufferSize) {
    isal_inflate_init(st_.get());
    st_->crc_flag = ISAL_GZIP;
  }

  Result<size_t> Read(void* buf, size_t n) override {
    if (n == 0 || finished_) return size_t{0};
    n = std::min<size_t>(n, UINT32_MAX);
    for (;;) {
      if (st_->avail_in == 0 && !input_eof_) HOIST_TRY(FillInput());
      st_->next_out = static_cast<uint8_t*>(buf);
      st_->avail_out = static_cast<uint32_t>(n);
      const uint32_t avail_in_before = st_->avail_in;
      int ret = isal_inflate(st_.get());
      if (ret != ISAL_DECOMP_OK) return Unexpected(InflateError(ret));
      size_t produced = n - st_->avail_out;
      if (st_->block_state == ISAL_BLOCK_FINISH) {
        // End of a member. Another may follow (as `cat a.gz b.gz` makes); only the end of the
        // input or a new gzip header is acceptable here.
        if (st_->avail_in == 0 && !input_eof_) HOIST_TRY(FillInput());
        if (st_->avail_in == 0) {
          finished_ = true;
        } else if (st_->next_in[0] != 0x1f) {
          return MakeError(Code::kDataLoss, "gzip: unexpected data after the end of the stream");
        } else {
          uint8_t* next_in = st_->next_in;
          uint32_t avail_in = st_->avail_in;
          isal_inflate_reset(st_.get());
          st_->crc_flag = ISAL_GZIP;
          st_->next_in = next_in;
          st_->avail_in = avail_in;
        }
        if (produced > 0 || finished_) return produced;
        continue;
      }
      if (produced > 0) return produced;
      if (st_->avail_in == 0 && input_eof_) {
        return MakeError(Code::kDataLoss, "gzip: unexpected end of stream");
      }
      if (st_->avail_in == avail_in_before && st_->avail_in > 0) {
        // Input left, room for output, and nothing moved: the decoder cannot make progress.
        return MakeError(Code::kDataLoss, "gzip: corrupt stream (decoder stalled)");
      }
    }
  }

 private:
  Status FillInput() {
    HOIST_ASSIGN_OR_RETURN(size_t got, input_->Read(in_.data(), in_.size()));
    if (got == 0) input_eof_ = true;
    st_->next_in = in_.data();
    st_->avail_in = static_cast<uint32_t>(got);
    return OkStatus();
  }

  static Error InflateError(int ret) {
    std::string_view what;
    switch (ret) {
      case ISAL_INVALID_BLOCK:
        what = "invalid deflate block";
        break;
      case ISAL_INVALID_SYMBOL:
        what = "invalid deflate symbol";
        break;
      case ISAL_INVALID_LOOKBACK:
        what = "invalid distance too far back";
        break;
      case ISAL_INVALID_WRAPPER:
        what = "invalid gzip header";
        break;
      case ISAL_UNSUPPORTED_METHOD:
        what = "unsupported compression method";
        break;
      case ISAL_INCORRECT_CHECKSUM:
        what = "checksum mismatch (CRC-32 or length in the trailer)";
        break;
      case ISAL_NEED_DICT:
        what = "stream needs a preset dictionary";
        break;
      default:
        return Error(Code::kDataLoss, fmt::format("gzip: isal_inflate error {}", ret));
    }
    return Error(Code::kDataLoss, fmt::format("gzip: {}", what));
  }

  ByteSource* input_;
  std::unique_ptr<inflate_state> st_;
  std::vector<uint8_t> in_;
  bool input_eof_ = false;
  bool finished_ = false;
};

class ZstdByteSource final : public ByteSource {
 public:
  explicit ZstdByteSource(ByteSource* input)
      : input_(input), dctx_(ZSTD_createDCtx()), in_(ZSTD_DStreamInSize()) {}
  ~ZstdByteSource() override { ZSTD_freeDCtx(dctx_); }
  ZstdByteSource(const ZstdByteSource&) = delete;
  ZstdByteSource& operator=(const ZstdByteSource&) = delete;

  bool ok() const { return dctx_ != nullptr; }

  Result<size_t> Read(void* buf, size_t n) override {
    if (n == 0 || finished_) return size_t{0};
    for (;;) {
      if (inbuf_.pos == inbuf_.size && !input_eof_) {
        HOIST_ASSIGN_OR_RETURN(size_t got, input_->Read(in_.data(), in_.size()));
        if (got == 0) input_eof_ = true;
        inbuf_ = ZSTD_inBuffer{in_.data(), got, 0};
      }
      if (inbuf_.pos == inbuf_.size && input_eof_) {
        // A frame that was fully decoded and flushed returned 0 last; anything else means the
        // input stopped inside a frame (or there was no frame at all).
        if (last_ret_ == 0) {
          finished_ = true;
          return size_t{0};
        }
        return MakeError(Code::kDataLoss, "zstd: unexpected end of stream");
      }
      ZSTD_outBuffer out{buf, n, 0};
      size_t ret = ZSTD_decompressStream(dctx_, &out, &inbuf_);
      if (ZSTD_isError(ret)) return Unexpected(ZstdError(ret));
      last_ret_ = ret;
      if (out.pos > 0) return out.pos;
    }
  }

 private:
  ByteSource* input_;
  ZSTD_DCtx* dctx_;
  std::vector<char> in_;
  ZSTD_inBuffer inbuf_{nullptr, 0, 0};
  size_t last_ret_ = 1;  // "more input needed": an empty stream is not a zstd stream
  bool input_eof_ = false;
  bool finished_ = false;
};

// xz (liblzma). Concatenated streams are read as one, as `xz -d` does. The decoder's memory is
// bounded, so a stream asking for a huge dictionary fails instead of exhausting the engine.
constexpr uint64_t kXzMemoryLimit = 512ull << 20;

Error XzError(lzma_ret ret) {
  const char* what = "unexpected error";
  switch (ret) {
    case LZMA_FORMAT_ERROR:
      what = "not an xz stream";
      break;
    case LZMA_OPTIONS_ERROR:
      what = "unsupported options";
      break;
    case LZMA_DATA_ERROR:
      what = "data corruption detected";
      break;
    case LZMA_BUF_ERROR:
      what = "unexpected end of stream";
      break;
    case LZMA_MEM_ERROR:
      what = "cannot allocate memory";
      break;
    case LZMA_MEMLIMIT_ERROR:
      return Error(Code::kResourceExhausted,
                   fmt::format("xz: the stream needs more than {} MiB to decompress",
                               kXzMemoryLimit >> 20));
    case LZMA_UNSUPPORTED_CHECK:
      what = "unsupported integrity check";
      break;
    default:
      break;
  }
  return Error(Code::kDataLoss, std::string("xz: ") + what);
}

class XzByteSource final : public ByteSource {
 public:
  explicit XzByteSource(ByteSource* input) : input_(input), in_(kInBufferSize) {}
  ~XzByteSource() override { lzma_end(&strm_); }
  XzByteSource(const XzByteSource&) = delete;
  XzByteSource& operator=(const XzByteSource&) = delete;

  Status Init() {
    lzma_ret ret = lzma_stream_decoder(&strm_, kXzMemoryLimit, LZMA_CONCATENATED);
    if (ret != LZMA_OK) return Unexpected(XzError(ret));
    return OkStatus();
  }

  Result<size_t> Read(void* buf, size_t n) override {
    if (n == 0 || finished_) return size_t{0};
    strm_.next_out = static_cast<uint8_t*>(buf);
    strm_.avail_out = n;
    for (;;) {
      if (strm_.avail_in == 0 && !input_eof_) {
        HOIST_ASSIGN_OR_RETURN(size_t got, input_->Read(in_.data(), in_.size()));
        if (got == 0) input_eof_ = true;
        strm_.next_in = reinterpret_cast<const uint8_t*>(in_.data());
        strm_.avail_in = got;
      }
      lzma_ret ret = lzma_code(&strm_, input_eof_ ? LZMA_FINISH : LZMA_RUN);
      size_t produced = n - strm_.avail_out;
      if (ret == LZMA_STREAM_END) {
        finished_ = true;
        return produced;
      }
      if (ret != LZMA_OK) return Unexpected(XzError(ret));
      if (produced > 0) return produced;
    }
  }

 private:
  ByteSource* input_;
  lzma_stream strm_ = LZMA_STREAM_INIT;
  std::vector<char> in_;
  bool input_eof_ = false;
  bool finished_ = false;
};

// bzip2 (libbz2). Concatenated streams (as pbzip2 writes) are read as one, as `bzip2 -d` does.
Error Bzip2Error(int ret) {
  const char* what = "unexpected error";
  switch (ret) {
    case BZ_DATA_ERROR:
      what = "data corruption detected";
      break;
    case BZ_DATA_ERROR_MAGIC:
      what = "not a bzip2 stream";
      break;
    case BZ_MEM_ERROR:
      what = "cannot allocate memory";
      break;
    default:
      break;
  }
  return Error(Code::kDataLoss, std::string("bzip2: ") + what);
}

class Bzip2ByteSource final : public ByteSource {
 public:
  explicit Bzip2ByteSource(ByteSource* input) : input_(input), in_(kInBufferSize) {}
  ~Bzip2ByteSource() override {
    if (open_) BZ2_bzDecompressEnd(&strm_);
  }
  Bzip2ByteSource(const Bzip2ByteSource&) = delete;
  Bzip2ByteSource& operator=(const Bzip2ByteSource&) = delete;

  Status Start() {
    strm_.bzalloc = nullptr;
    strm_.bzfree = nullptr;
    strm_.opaque = nullptr;
    int ret = BZ2_bzDecompressInit(&strm_, 0, 0);
    if (ret != BZ_OK) return Unexpected(Bzip2Error(ret));
    open_ = true;
    return OkStatus();
  }

  Result<size_t> Read(void* buf, size_t n) override {
    if (n == 0 || finished_) return size_t{0};
    for (;;) {
      if (avail_ == 0 && !input_eof_) {
        HOIST_ASSIGN_OR_RETURN(size_t got, input_->Read(in_.data(), in_.size()));
        if (got == 0) input_eof_ = true;
        next_ = in_.data();
        avail_ = got;
      }
      if (!open_) {
        // Between streams: the input's end is the end; anything else starts another stream.
        if (avail_ == 0 && input_eof_) {
          finished_ = true;
          return size_t{0};
        }
        HOIST_TRY(Start());
      }
      if (avail_ == 0 && input_eof_) {
        return MakeError(Code::kDataLoss, "bzip2: unexpected end of stream");
      }
      // bz_stream counts in unsigned int: large reads are served in pieces.
      unsigned int out_size = static_cast<unsigned int>(std::min<size_t>(n, UINT_MAX));
      strm_.next_in = next_;
      strm_.avail_in = static_cast<unsigned int>(std::min<size_t>(avail_, UINT_MAX));
      strm_.next_out = static_cast<char*>(buf);
      strm_.avail_out = out_size;
      unsigned int in_before = strm_.avail_in;
      int ret = BZ2_bzDecompress(&strm_);
      size_t consumed = in_before - strm_.avail_in;
      next_ += consumed;
      avail_ -= consumed;
      size_t produced = out_size - strm_.avail_out;
      if (ret == BZ_STREAM_END) {
        BZ2_bzDecompressEnd(&strm_);
        open_ = false;
      } else if (ret != BZ_OK) {
        return Unexpected(Bzip2Error(ret));
      }
      if (produced > 0) return produced;
    }
  }

 private:
  ByteSource* input_;
  bz_stream strm_{};
  bool open_ = false;
  std::vector<char> in_;
  char* next_ = nullptr;
  size_t avail_ = 0;
  bool input_eof_ = false;
  bool finished_ = false;
};

class PassthroughByteSource final : public ByteSource {
 public:
  explicit PassthroughByteSource(ByteSource* input) : input_(input) {}
  Result<size_t> Read(void* buf, size_t n) override { return input_->Read(buf, n); }
  Result<uint64_t> Skip(uint64_t n) override { return input_->Skip(n); }

 private:
  ByteSource* input_;
};

// Owns a peeking adapter and the decompressor reading from it.
class ChainedByteSource final : public ByteSource {
 public:
  ChainedByteSource(std::unique_ptr<PrefixedByteSource> head, std::unique_ptr<ByteSource> top)
      : head_(std::move(head)), top_(std::move(top)) {}
  Result<size_t> Read(void* buf, size_t n) override { return top_->Read(buf, n); }
  Result<uint64_t> Skip(uint64_t n) override { return top_->Skip(n); }

 private:
  std::unique_ptr<PrefixedByteSource> head_;  // declared first: destroyed after top_
  std::unique_ptr<ByteSource> top_;
};

}  // namespace

Status FdByteSink::Write(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, "write"));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

Result<std::unique_ptr<Compressor>> NewCompressor(const CompressorOptions& options, ByteSink* out) {
  switch (options.compression) {
    case Compression::kNone:
      return std::unique_ptr<Compressor>(new PassthroughCompressor(out));
    case Compression::kGzip: {
      bool use_zlib = options.gzip_engine == GzipEngine::kZlib ||
                      (options.gzip_engine == GzipEngine::kAuto && options.level.has_value());
      if (use_zlib) {
        int level = options.level.value_or(6);
        if (level < 0 || level > 9) {
          return MakeError(Code::kInvalidArgument,
                           fmt::format("gzip: compression level {} out of range 0-9", level));
        }
        auto c = std::make_unique<ZlibGzipCompressor>(out);
        HOIST_TRY(c->Init(level));
        return std::unique_ptr<Compressor>(std::move(c));
      }
      int level = options.level.value_or(1);
      if (level < ISAL_DEF_MIN_LEVEL || level > ISAL_DEF_MAX_LEVEL) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("gzip: ISA-L compression level {} out of range {}-{}", level,
                                     ISAL_DEF_MIN_LEVEL, ISAL_DEF_MAX_LEVEL));
      }
      return std::unique_ptr<Compressor>(new IsalGzipCompressor(out, level));
    }
    case Compression::kZstd: {
      int level = options.level.value_or(3);
      if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel() || level == 0) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("zstd: compression level {} out of range {}-{}", level,
                                     ZSTD_minCLevel(), ZSTD_maxCLevel()));
      }
      auto c = std::make_unique<ZstdCompressor>(out);
      HOIST_TRY(c->Init(level));
      return std::unique_ptr<Compressor>(std::move(c));
    }
    case Compression::kBzip2:
    case Compression::kXz:
      break;
  }
  return MakeError(Code::kUnimplemented, fmt::format("{} compression is not supported",
                                                     CompressionName(options.compression)));
}

Result<std::unique_ptr<ByteSource>> NewDecompressor(Compression compression, ByteSource* input,
                                                    GzipEngine engine) {
  switch (compression) {
    case Compression::kNone:
      return std::unique_ptr<ByteSource>(new PassthroughByteSource(input));
    case Compression::kGzip:
      if (engine == GzipEngine::kZlib) {
        HOIST_ASSIGN_OR_RETURN(auto src, GzipByteSource::Create(input));
        return std::unique_ptr<ByteSource>(std::move(src));
      }
      return std::unique_ptr<ByteSource>(new IsalGzipByteSource(input));
    case Compression::kZstd: {
      auto src = std::make_unique<ZstdByteSource>(input);
      if (!src->ok()) return MakeError(Code::kResourceExhausted, "zstd: cannot allocate");
      return std::unique_ptr<ByteSource>(std::move(src));
    }
    case Compression::kBzip2: {
      auto src = std::make_unique<Bzip2ByteSource>(input);
      HOIST_TRY(src->Start());
      return std::unique_ptr<ByteSource>(std::move(src));
    }
    case Compression::kXz: {
      auto src = std::make_unique<XzByteSource>(input);
      HOIST_TRY(src->Init());
      return std::unique_ptr<ByteSource>(std::move(src));
    }
  }
  return MakeError(Code::kInvalidArgument, "unknown compression");
}

Result<size_t> PrefixedByteSource::Read(void* buf, size_t n) {
  if (pos_ < head_.size()) {
    size_t got = std::min(n, head_.size() - pos_);
    std::memcpy(buf, head_.data() + pos_, got);
    pos_ += got;
    return got;
  }
  return input_->Read(buf, n);
}

Result<uint64_t> PrefixedByteSource::Skip(uint64_t n) {
  uint64_t from_head = std::min<uint64_t>(n, head_.size() - pos_);
  pos_ += static_cast<size_t>(from_head);
  if (from_head == n) return n;
  HOIST_ASSIGN_OR_RETURN(uint64_t rest, input_->Skip(n - from_head));
  return from_head + rest;
}

Result<std::unique_ptr<ByteSource>> NewAutoDecompressor(ByteSource* input, Compression* detected,
                                                        GzipEngine engine) {
  // DetectCompression wants ten bytes; a shorter stream is judged on what there is.
  std::string head(10, '\0');
  size_t have = 0;
  while (have < head.size()) {
    HOIST_ASSIGN_OR_RETURN(size_t got, input->Read(head.data() + have, head.size() - have));
    if (got == 0) break;
    have += got;
  }
  head.resize(have);
  Compression c = DetectCompression(head);
  if (detected != nullptr) *detected = c;
  auto prefixed = std::make_unique<PrefixedByteSource>(std::move(head), input);
  HOIST_ASSIGN_OR_RETURN(auto top, NewDecompressor(c, prefixed.get(), engine));
  return std::unique_ptr<ByteSource>(new ChainedByteSource(std::move(prefixed), std::move(top)));
}

}  // namespace hoist::archive
