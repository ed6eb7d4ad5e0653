#include "exporter/layer_blob.h"

#include "content/blob_sink.h"
#include "content/blob_source.h"

#include <fmt/format.h>

#include <sys/stat.h>

#include <atomic>

#include "archive/diff.h"
#include "archive/layer.h"
#include "base/temp_dir.h"

namespace hoist::exporter {
namespace {

// Counts the uncompressed tar bytes on their way to the layer writer.
class CountingSink final : public archive::ByteSink {
 public:
  explicit CountingSink(archive::ByteSink* next) : next_(next) {}
  Status Write(std::string_view data) override {
    bytes_ += data.size();
    return next_->Write(data);
  }
  uint64_t bytes() const { return bytes_; }

 private:
  archive::ByteSink* next_;
  uint64_t bytes_ = 0;
};

std::string NewRef() {
  static std::atomic<uint64_t> n{0};
  return "layer-" + std::to_string(::getpid()) + "-" + std::to_string(n.fetch_add(1));
}

}  // namespace

Result<LayerBlob> RecompressLayerBlob(content::ContentStore& store, const oci::Descriptor& layer,
                                      const oci::Digest& diff_id,
                                      const archive::CompressorOptions& compression) {
  HOIST_ASSIGN_OR_RETURN(auto reader, store.ReaderAt(layer.digest));
  content::BlobByteSource src(std::move(reader));
  HOIST_ASSIGN_OR_RETURN(auto plain, archive::NewAutoDecompressor(&src));
  HOIST_ASSIGN_OR_RETURN(auto blob, store.Writer(NewRef()));
  content::BlobSink sink(blob.get());
  HOIST_ASSIGN_OR_RETURN(auto compressor, archive::NewCompressor(compression, &sink));
  oci::Digester uncompressed;
  uint64_t size = 0;
  std::string buf(1 << 20, '\0');
  for (;;) {
    HOIST_ASSIGN_OR_RETURN(size_t n, plain->Read(buf.data(), buf.size()));
    if (n == 0) break;
    uncompressed.Update(buf.data(), n);
    size += n;
    HOIST_TRY(compressor->Write(std::string_view(buf.data(), n)));
  }
  HOIST_TRY(compressor->Finish());
  const oci::Digest got = uncompressed.Finish();
  if (got != diff_id) {
    return MakeError(Code::kDataLoss, fmt::format("layer {}: diff ID mismatch: want {}, got {}",
                                                  layer.digest.str(), diff_id.str(), got.str()));
  }
  const oci::Digest digest = blob->Digest();
  const int64_t length = blob->Offset();
  if (auto st = blob->Commit(length, digest); !st && st.error().code() != Code::kAlreadyExists) {
    return Unexpected(std::move(st).error());
  }
  HOIST_ASSIGN_OR_RETURN(std::string_view media_type,
                         archive::LayerMediaType(compression.compression,
                                                 archive::LayerMediaTypeFamily::kOci));
  return LayerBlob{.descriptor = {.media_type = std::string(media_type),
                                  .digest = digest,
                                  .size = length},
                   .diff_id = diff_id,
                   .uncompressed_size = size};
}

Result<LayerBlob> WriteLayerBlob(content::ContentStore& store,
                                 const std::function<Status(archive::TarWriter&)>& produce,
                                 const LayerBlobOptions& options) {
  HOIST_ASSIGN_OR_RETURN(auto blob, store.Writer(NewRef()));
  content::BlobSink sink(blob.get());
  archive::LayerWriterOptions lopts;
  lopts.compression = options.compression;
  HOIST_ASSIGN_OR_RETURN(auto layer, archive::LayerWriter::Create(&sink, lopts));
  CountingSink counting(layer.get());
  archive::TarWriter tar(&counting, options.tar);
  HOIST_TRY(produce(tar));
  HOIST_TRY(tar.Close());
  HOIST_ASSIGN_OR_RETURN(archive::LayerDigests digests, layer->Finish());
  HOIST_TRY(blob->Commit(static_cast<int64_t>(digests.size), digests.digest));
  LayerBlob out;
  HOIST_ASSIGN_OR_RETURN(std::string_view media_type,
                         archive::LayerMediaType(digests.compression));
  out.descriptor.media_type = std::string(media_type);
  out.descriptor.digest = digests.digest;
  out.descriptor.size = static_cast<int64_t>(digests.size);
  out.diff_id = digests.diff_id;
  out.uncompressed_size = counting.bytes();
  return out;
}

Result<LayerBlob> WriteDirectoryLayer(content::ContentStore& store, const std::string& dir,
                                      const LayerBlobOptions& options) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return MakeError(Code::kInvalidArgument, dir + ": not a directory");
  }
  // A tree diff against nothing lists every entry as added.
  HOIST_ASSIGN_OR_RETURN(TempDir empty, TempDir::Create("hoist-empty-"));
  return WriteLayerBlob(
      store,
      [&](archive::TarWriter& tar) { return archive::WriteTreeDiff(empty.path(), dir, &tar); },
      options);
}

}  // namespace hoist::exporter
