#include "archive/layer.h"

#include <fmt/format.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "oci/media_types.h"

namespace hoist::archive {

Result<std::string_view> LayerMediaType(Compression compression, LayerMediaTypeFamily family) {
  const bool oci = family == LayerMediaTypeFamily::kOci;
  switch (compression) {
    case Compression::kNone:
      return oci ? oci::kMediaTypeImageLayer : oci::kMediaTypeDockerLayer;
    case Compression::kGzip:
      return oci ? oci::kMediaTypeImageLayerGzip : oci::kMediaTypeDockerLayerGzip;
    case Compression::kZstd:
      return oci ? oci::kMediaTypeImageLayerZstd : oci::kMediaTypeDockerLayerZstd;
    case Compression::kBzip2:
    case Compression::kXz:
      break;
  }
  return MakeError(Code::kInvalidArgument, fmt::format("no layer media type for {} compression",
                                                       CompressionName(compression)));
}

Result<Compression> LayerMediaTypeCompression(std::string_view media_type) {
  std::optional<oci::Compression> c = oci::LayerCompression(media_type);
  if (!c) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("\"{}\" is not a layer media type", media_type));
  }
  switch (*c) {
    case oci::Compression::kNone:
      return Compression::kNone;
    case oci::Compression::kGzip:
      return Compression::kGzip;
    case oci::Compression::kZstd:
      return Compression::kZstd;
  }
  return Compression::kNone;
}

// ---------------------------------------------------------------------------------------------
// LayerWriter

namespace {

// Hashes and counts what passes through to `out`.
class DigestingSink final : public ByteSink {
 public:
  explicit DigestingSink(ByteSink* out) : out_(out) {}
  Status Write(std::string_view data) override {
    digester_.Update(data);
    size_ += data.size();
    return out_->Write(data);
  }
  oci::Digest Finish() { return digester_.Finish(); }
  uint64_t size() const { return size_; }

 private:
  ByteSink* out_;
  oci::Digester digester_;
  uint64_t size_ = 0;
};

}  // namespace

// The producer thread (the caller) hashes the DiffID and fills chunks; the worker compresses
// them and hashes the blob. Chunks circulate between a queue of full ones and a free list, so
// steady state allocates nothing. mu guards everything below it.
struct LayerWriter::Pipeline {
  LayerWriterOptions options;
  ByteSink* out = nullptr;
  DigestingSink blob{nullptr};
  std::unique_ptr<Compressor> compressor;  // null for uncompressed layers
  oci::Digester diff_id;
  uint64_t tar_size = 0;
  std::optional<Error> error;  // sticky, producer side
  bool finished = false;

  std::string current;  // the chunk being filled (producer only)
  std::thread worker;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> full;
  std::vector<std::string> free_chunks;
  bool closing = false;  // no more chunks will come
  bool stop = false;     // abandon the work (destructor)
  std::optional<Error> worker_error;

  explicit Pipeline(ByteSink* o) : out(o), blob(o) {}

  void WorkerLoop() {
    for (;;) {
      std::string chunk;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stop || closing || !full.empty(); });
        if (stop) return;
        if (full.empty()) break;  // closing and drained
        chunk = std::move(full.front());
        full.pop_front();
      }
      cv.notify_all();  // a slot in the queue is free
      Status st = compressor->Write(chunk);
      std::lock_guard lock(mu);
      chunk.clear();
      free_chunks.push_back(std::move(chunk));
      if (!st) {
        worker_error = std::move(st).error();
        cv.notify_all();
        return;
      }
    }
    Status st = compressor->Finish();
    std::lock_guard lock(mu);
    if (!st) worker_error = std::move(st).error();
  }

  // Hands the current chunk to the worker, waiting while the queue is full.
  Status Submit() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return worker_error.has_value() || full.size() < kQueueDepth; });
    if (worker_error) return Unexpected(*worker_error);
    full.push_back(std::move(current));
    if (!free_chunks.empty()) {
      current = std::move(free_chunks.back());
      free_chunks.pop_back();
    } else {
      current = std::string();
      current.reserve(options.chunk_size);
    }
    lock.unlock();
    cv.notify_all();
    return OkStatus();
  }
};

Result<std::unique_ptr<LayerWriter>> LayerWriter::Create(ByteSink* out,
                                                         LayerWriterOptions options) {
  std::unique_ptr<LayerWriter> w(new LayerWriter());
  w->p_ = std::make_unique<Pipeline>(out);
  Pipeline& p = *w->p_;
  if (options.chunk_size == 0) options.chunk_size = 1 << 20;
  p.options = options;
  if (options.compression.compression == Compression::kNone) {
    // The blob is the tar: one hash serves as both digests, and there is nothing to overlap.
    p.options.background = false;
    return w;
  }
  HOIST_ASSIGN_OR_RETURN(p.compressor, NewCompressor(options.compression, &p.blob));
  if (p.options.background) {
    p.current.reserve(options.chunk_size);
    p.worker = std::thread([&p] { p.WorkerLoop(); });
  }
  return w;
}

LayerWriter::~LayerWriter() {
  if (p_ && p_->worker.joinable()) {
    {
      std::lock_guard lock(p_->mu);
      p_->stop = true;
    }
    p_->cv.notify_all();
    p_->worker.join();
  }
}

Status LayerWriter::Write(std::string_view data) {
  Pipeline& p = *p_;
  if (p.error) return Unexpected(*p.error);
  if (p.finished) return MakeError(Code::kFailedPrecondition, "layer: write after finish");
  p.diff_id.Update(data);
  p.tar_size += data.size();
  Status st;
  if (p.compressor == nullptr) {
    st = p.blob.Write(data);
  } else if (!p.options.background) {
    st = p.compressor->Write(data);
  } else {
    while (!data.empty() && st) {
      size_t take = std::min(data.size(), p.options.chunk_size - p.current.size());
      p.current.append(data.substr(0, take));
      data.remove_prefix(take);
      if (p.current.size() == p.options.chunk_size) st = p.Submit();
    }
  }
  if (!st) p.error = st.error();
  return st;
}

Result<LayerDigests> LayerWriter::Finish() {
  Pipeline& p = *p_;
  if (p.error) return Unexpected(*p.error);
  if (p.finished) return MakeError(Code::kFailedPrecondition, "layer: finished twice");
  p.finished = true;
  LayerDigests d;
  d.compression = p.options.compression.compression;
  d.diff_id = p.diff_id.Finish();
  if (p.compressor == nullptr) {
    d.digest = d.diff_id;
    d.size = p.tar_size;
    return d;
  }
  if (p.options.background) {
    if (!p.current.empty()) {
      Status st = p.Submit();
      if (!st) {
        p.error = st.error();
        return Unexpected(st.error());
      }
    }
    {
      std::lock_guard lock(p.mu);
      p.closing = true;
    }
    p.cv.notify_all();
    p.worker.join();
    if (p.worker_error) {
      p.error = p.worker_error;
      return Unexpected(*p.worker_error);
    }
  } else {
    Status st = p.compressor->Finish();
    if (!st) {
      p.error = st.error();
      return Unexpected(st.error());
    }
  }
  d.digest = p.blob.Finish();
  d.size = p.blob.size();
  return d;
}

// ---------------------------------------------------------------------------------------------
// LayerReader

namespace {

// Hashes and counts what is read through it; refuses to read past an expected size, so a blob
// that is longer than its descriptor says fails early rather than at the end.
class DigestingSource final : public ByteSource {
 public:
  // With `known` set the bytes are counted, not hashed, and Finish returns `known`.
  DigestingSource(ByteSource* in, oci::Digester digester, std::optional<uint64_t> limit,
                  std::string what, std::optional<oci::Digest> known = std::nullopt)
      : in_(in),
        digester_(std::move(digester)),
        limit_(limit),
        what_(std::move(what)),
        known_(std::move(known)) {}

  Result<size_t> Read(void* buf, size_t n) override {
    HOIST_ASSIGN_OR_RETURN(size_t got, in_->Read(buf, n));
    if (!known_) digester_.Update(buf, got);
    size_ += got;
    if (limit_ && size_ > *limit_) {
      return MakeError(
          Code::kDataLoss,
          fmt::format("{}: size mismatch (more than the {} bytes expected)", what_, *limit_));
    }
    return got;
  }
  // Skip is the default (read and discard): every byte must be hashed.

  oci::Digest Finish() { return known_ ? *known_ : digester_.Finish(); }
  uint64_t size() const { return size_; }

 private:
  ByteSource* in_;
  oci::Digester digester_;
  std::optional<uint64_t> limit_;
  std::string what_;
  std::optional<oci::Digest> known_;
  uint64_t size_ = 0;
};

}  // namespace

struct LayerReader::State {
  LayerReaderOptions options;
  std::string name;  // "layer sha256:..." for messages
  std::unique_ptr<DigestingSource> counted;
  std::unique_ptr<ByteSource> tar;  // decompressor over `counted`
  oci::Digester diff_id;
  Compression compression = Compression::kNone;
  bool done = false;
  std::optional<Error> error;
  LayerDigests result;
};

Result<std::unique_ptr<LayerReader>> LayerReader::Create(ByteSource* blob,
                                                         LayerReaderOptions options) {
  std::unique_ptr<LayerReader> r(new LayerReader());
  r->s_ = std::make_unique<State>();
  State& s = *r->s_;
  for (const auto* d : {&options.expected_digest, &options.expected_diff_id}) {
    if (*d && !(*d)->supported()) {
      return MakeError(
          Code::kInvalidArgument,
          fmt::format("layer: cannot verify digest {}: unsupported algorithm", (*d)->str()));
    }
  }
  s.name = options.expected_digest ? "layer " + options.expected_digest->str() : "layer";
  oci::Digester blob_digester =
      options.expected_digest ? oci::Digester(*options.expected_digest) : oci::Digester();
  if (options.expected_diff_id) s.diff_id = oci::Digester(*options.expected_diff_id);
  std::optional<oci::Digest> known;
  if (options.blob_verified && options.expected_digest && options.expected_diff_id) {
    known = options.expected_digest;
  }
  s.counted = std::make_unique<DigestingSource>(blob, std::move(blob_digester),
                                                options.expected_size, s.name, std::move(known));
  if (options.compression) {
    s.compression = *options.compression;
    HOIST_ASSIGN_OR_RETURN(s.tar,
                           NewDecompressor(s.compression, s.counted.get(), options.gzip_engine));
  } else {
    auto tar = NewAutoDecompressor(s.counted.get(), &s.compression, options.gzip_engine);
    if (!tar) return Unexpected(std::move(tar).error().Wrap(s.name));
    s.tar = std::move(*tar);
  }
  s.options = std::move(options);
  return r;
}

LayerReader::~LayerReader() = default;

Result<size_t> LayerReader::Read(void* buf, size_t n) {
  State& s = *s_;
  if (s.error) return Unexpected(*s.error);
  if (s.done || n == 0) return size_t{0};
  Result<size_t> got = s.tar->Read(buf, n);
  if (!got) {
    Error e = std::move(got).error();
    if (e.message().rfind("layer", 0) != 0) e.Wrap(s.name);
    s.error = e;
    return Unexpected(std::move(e));
  }
  if (*got > 0) {
    s.diff_id.Update(buf, *got);
    return *got;
  }
  Status st = Verify();
  if (!st) {
    s.error = st.error();
    return Unexpected(st.error());
  }
  return size_t{0};
}

Status LayerReader::Verify() {
  State& s = *s_;
  // Decompressors read their input to its end; for the passthrough case that end is ours too.
  // Anything left (nothing, normally) is still part of the blob and is hashed.
  char buf[16384];
  for (;;) {
    HOIST_ASSIGN_OR_RETURN(size_t got, s.counted->Read(buf, sizeof(buf)));
    if (got == 0) break;
  }
  s.done = true;
  s.result.compression = s.compression;
  s.result.size = s.counted->size();
  s.result.digest = s.counted->Finish();
  s.result.diff_id = s.diff_id.Finish();
  const LayerReaderOptions& o = s.options;
  if (o.expected_size && s.result.size != *o.expected_size) {
    return MakeError(Code::kDataLoss, fmt::format("{}: size mismatch (expected {} bytes, read {})",
                                                  s.name, *o.expected_size, s.result.size));
  }
  if (o.expected_digest && s.result.digest != *o.expected_digest) {
    return MakeError(Code::kDataLoss,
                     fmt::format("{}: digest mismatch (got {})", s.name, s.result.digest.str()));
  }
  if (o.expected_diff_id && s.result.diff_id != *o.expected_diff_id) {
    std::string name = o.expected_digest ? s.name : "layer " + s.result.digest.str();
    return MakeError(Code::kDataLoss,
                     fmt::format("{}: diff ID mismatch (expected {}, got {})", name,
                                 o.expected_diff_id->str(), s.result.diff_id.str()));
  }
  return OkStatus();
}

Result<LayerDigests> LayerReader::Finish() {
  State& s = *s_;
  std::vector<char> buf(1 << 16);
  while (!s.done) {
    HOIST_ASSIGN_OR_RETURN(size_t got, Read(buf.data(), buf.size()));
    (void)got;
  }
  if (s.error) return Unexpected(*s.error);
  return s.result;
}

}  // namespace hoist::archive
