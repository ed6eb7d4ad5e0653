#include "snapshot/diff_layer.h"

#include <unistd.h>

#include <atomic>

#include "archive/layer.h"
#include "archive/tar_writer.h"

namespace hoist::snapshot {
namespace {

class BlobSink final : public archive::ByteSink {
 public:
  explicit BlobSink(content::BlobWriter* w) : w_(w) {}
  Status Write(std::string_view data) override { return w_->Write(data); }

 private:
  content::BlobWriter* w_;
};

std::string IngestRef(const std::string& key) {
  static std::atomic<uint64_t> n{0};
  return "snapshot-diff-" + std::to_string(::getpid()) + "-" + std::to_string(n.fetch_add(1)) +
         "-" + key;
}

}  // namespace

Result<DiffLayerResult> DiffLayer(Snapshotter& snapshotter, const std::string& key,
                                  content::ContentStore& store, const DiffLayerOptions& options) {
  HOIST_ASSIGN_OR_RETURN(auto blob, store.Writer(IngestRef(key)));
  BlobSink sink(blob.get());
  archive::LayerWriterOptions lopts;
  lopts.compression = options.compression;
  HOIST_ASSIGN_OR_RETURN(auto layer, archive::LayerWriter::Create(&sink, lopts));
  archive::TarWriter tar(layer.get(), options.tar);
  HOIST_TRY(snapshotter.WriteDiff(key, &tar, options.diff));
  HOIST_TRY(tar.Close());
  HOIST_ASSIGN_OR_RETURN(archive::LayerDigests digests, layer->Finish());
  HOIST_TRY(blob->Commit(static_cast<int64_t>(digests.size), digests.digest));
  HOIST_ASSIGN_OR_RETURN(std::string_view media_type,
                         archive::LayerMediaType(digests.compression));
  DiffLayerResult out;
  out.descriptor.media_type = std::string(media_type);
  out.descriptor.digest = digests.digest;
  out.descriptor.size = static_cast<int64_t>(digests.size);
  out.diff_id = digests.diff_id;
  return out;
}

}  // namespace hoist::snapshot
