// ByteSource: a forward-only stream of bytes, the input of the tar reader. Implementations read
// a ReadableFile from an offset (and can skip without reading, which is what lets a tar archive
// be indexed without touching file bodies), an in-memory string, or a gzip stream over another
// source. DetectCompression recognises compressed streams by their magic numbers.
//
// Thread-safety: a source is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/file_system.h"

namespace hoist::archive {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes; returns 0 only at the end of the stream (or when n is 0).
  virtual Result<size_t> Read(void* buf, size_t n) = 0;
  // Skips up to n bytes and returns how many were skipped: fewer than n only at the end of the
  // stream. The default reads and discards; seekable sources only move their position.
  virtual Result<uint64_t> Skip(uint64_t n);
};

// Reads a ReadableFile sequentially from `offset`, with pread-style calls, so the same file can
// serve other readers at other offsets. The file's size is taken once, at construction; Skip
// never reads. The file is not owned and must outlive the source.
class FileByteSource final : public ByteSource {
 public:
  // Fails if the file's size cannot be read.
  static Result<std::unique_ptr<FileByteSource>> Create(ReadableFile* file, uint64_t offset = 0);

  Result<size_t> Read(void* buf, size_t n) override;
  Result<uint64_t> Skip(uint64_t n) override;
  uint64_t position() const { return pos_; }

 private:
  FileByteSource(ReadableFile* file, uint64_t offset, uint64_t size)
      : file_(file), pos_(offset), size_(size) {}
  ReadableFile* file_;
  uint64_t pos_;
  uint64_t size_;
};

// Serves bytes from memory; owns a copy of the data.
class StringByteSource final : public ByteSource {
 public:
  explicit StringByteSource(std::string data) : data_(std::move(data)) {}
  Result<size_t> Read(void* buf, size_t n) override;
  Result<uint64_t> Skip(uint64_t n) override;

 private:
  std::string data_;
  size_t pos_ = 0;
};

// Reads another source on a thread of its own, up to `depth` chunks of `chunk` bytes ahead of
// the reader, so that producing the bytes (a tar written from many small files) overlaps with
// consuming them (an image writer, a compressor). An error of the inner source reaches the
// reader once the bytes before it are read. The inner source is not owned; after construction
// only the thread uses it, until the destructor (which stops reading ahead and joins the
// thread) returns.
class ReadAheadByteSource final : public ByteSource {
 public:
  explicit ReadAheadByteSource(ByteSource* inner, size_t chunk = 1 << 20, size_t depth = 4);
  ~ReadAheadByteSource() override;
  ReadAheadByteSource(const ReadAheadByteSource&) = delete;
  ReadAheadByteSource& operator=(const ReadAheadByteSource&) = delete;

  Result<size_t> Read(void* buf, size_t n) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Decompresses a gzip stream (RFC 1952, several members in a row allowed) read from `input`,
// with zlib. The input is not owned and must outlive this source. A stream cut short or
// corrupt is kDataLoss (`gzip: ...`). Skip decompresses and discards.
class GzipByteSource final : public ByteSource {
 public:
  static Result<std::unique_ptr<GzipByteSource>> Create(ByteSource* input);
  ~GzipByteSource() override;
  GzipByteSource(const GzipByteSource&) = delete;
  GzipByteSource& operator=(const GzipByteSource&) = delete;

  Result<size_t> Read(void* buf, size_t n) override;

 private:
  struct State;
  explicit GzipByteSource(ByteSource* input);
  Status FillInput();

  ByteSource* input_;
  std::unique_ptr<State> state_;
};

enum class Compression { kNone, kGzip, kZstd, kBzip2, kXz };

// Recognises a compressed stream from its first bytes (pass at least 10; fewer may give kNone).
Compression DetectCompression(std::string_view head);
std::string_view CompressionName(Compression c);

}  // namespace hoist::archive
