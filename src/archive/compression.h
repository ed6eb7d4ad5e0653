// Streaming compression for layers: gzip (ISA-L igzip or zlib) and zstd (libzstd), both ways,
// and uncompressed passthrough; bzip2 (libbz2) and xz (liblzma) one way, for ADD's archives.
//
// Output goes to a ByteSink; a Compressor is itself a ByteSink that forwards compressed bytes to
// the sink it was given, so stages chain (tar writer → compressor → digesting sink → file).
// Input for decompression comes from a ByteSource (byte_source.h); a decompressor is a
// ByteSource over another one, so the tar reader reads through it.
//
// gzip engines: ISA-L levels 0-3 are several times faster than zlib and are the default; zlib
// levels 0-9 exist so that a `compression-level=N` request means what `gzip -N` means.
// Decompression always uses ISA-L's isal_inflate, which parses the gzip header and checks the
// CRC-32 and length trailer of every member; zlib's decoder (GzipByteSource) stays available
// through GzipEngine::kZlib for comparison and as a fallback.
//
// Errors name the codec: `gzip: unexpected end of stream`, `zstd: Data corruption detected`;
// corrupt or truncated input is kDataLoss, a bad level kInvalidArgument.
//
// Thread-safety: every object here is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "archive/byte_source.h"
#include "base/error.h"

namespace hoist::archive {

// The consumer side of a byte stream.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Consumes all of `data` or fails; after a failure the sink is unusable.
  virtual Status Write(std::string_view data) = 0;
};

// Appends to a string it does not own; the string must outlive the sink.
class StringByteSink final : public ByteSink {
 public:
  explicit StringByteSink(std::string* out) : out_(out) {}
  Status Write(std::string_view data) override {
    out_->append(data);
    return OkStatus();
  }

 private:
  std::string* out_;
};

// Writes to a file descriptor it does not own (retrying short writes and EINTR).
class FdByteSink final : public ByteSink {
 public:
  explicit FdByteSink(int fd) : fd_(fd) {}
  Status Write(std::string_view data) override;

 private:
  int fd_;
};

// Counts bytes and forwards nothing; for measuring.
class DiscardByteSink final : public ByteSink {
 public:
  Status Write(std::string_view data) override {
    bytes_ += data.size();
    return OkStatus();
  }
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t bytes_ = 0;
};

enum class GzipEngine {
  kAuto,  // compression: ISA-L when no level is given, zlib for an explicit level;
          // decompression: ISA-L
  kIsal,
  kZlib,
};

struct CompressorOptions {
  // kNone, kGzip or kZstd; bzip2 and xz are read-only formats here.
  Compression compression = Compression::kGzip;
  // gzip with ISA-L: 0-3 (default 1); gzip with zlib: 0-9 (default 6);
  // zstd: ZSTD_minCLevel()..ZSTD_maxCLevel() (default 3). Ignored for kNone.
  std::optional<int> level;
  GzipEngine gzip_engine = GzipEngine::kAuto;
};

// A ByteSink that compresses what is written to it into another sink. Finish() writes the end
// of the stream (gzip trailer, zstd epilogue) and must be called for the output to be valid;
// a compressor destroyed without Finish() leaves a truncated stream behind.
class Compressor : public ByteSink {
 public:
  // Flushes everything and ends the stream. No Write() after it.
  virtual Status Finish() = 0;
};

// A compressor writing to `out`, which is not owned and must outlive it.
Result<std::unique_ptr<Compressor>> NewCompressor(const CompressorOptions& options, ByteSink* out);

// A decompressing source for a known compression over `input` (not owned, must outlive it).
// kNone passes bytes through. bzip2 and xz read concatenated streams as one; xz's decoder
// memory is capped (512 MiB; more is kResourceExhausted).
Result<std::unique_ptr<ByteSource>> NewDecompressor(Compression compression, ByteSource* input,
                                                    GzipEngine engine = GzipEngine::kAuto);

// A source that serves `head` first and then the rest of `input` (not owned); lets a caller
// peek at a stream's first bytes and still hand the whole stream on.
class PrefixedByteSource final : public ByteSource {
 public:
  PrefixedByteSource(std::string head, ByteSource* input) : head_(std::move(head)), input_(input) {}
  Result<size_t> Read(void* buf, size_t n) override;
  Result<uint64_t> Skip(uint64_t n) override;

 private:
  std::string head_;
  size_t pos_ = 0;
  ByteSource* input_;
};

// A decompressed view of `input` whose compression is recognised from its magic bytes
// (DetectCompression). Owns the peeking adapter; `input` is not owned. `detected`, if given,
// receives the compression found.
Result<std::unique_ptr<ByteSource>> NewAutoDecompressor(ByteSource* input,
                                                        Compression* detected = nullptr,
                                                        GzipEngine engine = GzipEngine::kAuto);

}  // namespace hoist::archive
