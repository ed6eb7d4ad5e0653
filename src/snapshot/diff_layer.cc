#include "snapshot/diff_layer.h"

#include <unistd.h>

#include <atomic>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "archive/layer.h"
#include "archive/tar_writer.h"
#include "base/atomic_file.h"
#include "base/file_system.h"
#include "content/blob_sink.h"

namespace hoist::snapshot {
namespace {

std::string IngestRef(const std::string& key) {
  static std::atomic<uint64_t> n{0};
  return "snapshot-diff-" + std::to_string(::getpid()) + "-" + std::to_string(n.fetch_add(1)) +
         "-" + key;
}

}  // namespace

Result<DiffLayerResult> DiffLayer(Snapshotter& snapshotter, const std::string& key,
                                  content::ContentStore& store, const DiffLayerOptions& options) {
  HOIST_ASSIGN_OR_RETURN(auto blob, store.Writer(IngestRef(key)));
  content::BlobSink sink(blob.get());
  archive::LayerWriterOptions lopts;
  lopts.compression = options.compression;
  HOIST_ASSIGN_OR_RETURN(auto layer, archive::LayerWriter::Create(&sink, lopts));
  archive::TarWriter tar(layer.get(), options.tar);
  HOIST_TRY(snapshotter.WriteDiff(key, &tar, options.diff));
  HOIST_TRY(tar.Close());
  return CommitLayerBlob(*layer, *blob);
}

Result<DiffLayerResult> CommitLayerBlob(archive::LayerWriter& layer, content::BlobWriter& blob) {
  HOIST_ASSIGN_OR_RETURN(archive::LayerDigests digests, layer.Finish());
  HOIST_TRY(blob.Commit(static_cast<int64_t>(digests.size), digests.digest));
  HOIST_ASSIGN_OR_RETURN(std::string_view media_type,
                         archive::LayerMediaType(digests.compression));
  DiffLayerResult out;
  out.descriptor.media_type = std::string(media_type);
  out.descriptor.digest = digests.digest;
  out.descriptor.size = static_cast<int64_t>(digests.size);
  out.diff_id = digests.diff_id;
  return out;
}

std::string DiffCacheFile(const std::string& dir, const std::string& name,
                          const archive::CompressorOptions& compression,
                          std::optional<int64_t> clamp_epoch) {
  return fmt::format("{}/{}.{}.{}.{}.json", dir, name, static_cast<int>(compression.compression),
                     compression.level.value_or(-1), clamp_epoch.value_or(-1));
}

std::optional<DiffLayerResult> LoadCachedDiff(content::ContentStore& store, const std::string& file) {
  auto text = PosixFileSystem()->ReadFile(file, 1 << 16);
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto digest = oci::Digest::Parse(j.value("digest", ""));
  auto diff_id = oci::Digest::Parse(j.value("diffID", ""));
  if (!digest || !diff_id) return std::nullopt;
  auto info = store.Info(*digest);
  if (!info || info->size != j.value("size", int64_t{-1})) return std::nullopt;
  DiffLayerResult out;
  out.descriptor = {.media_type = j.value("mediaType", ""), .digest = *digest, .size = info->size};
  out.diff_id = *diff_id;
  return out;
}

void SaveCachedDiff(const std::string& file, const DiffLayerResult& diff) {
  nlohmann::json j = {{"mediaType", diff.descriptor.media_type},
                      {"digest", diff.descriptor.digest.str()},
                      {"size", diff.descriptor.size},
                      {"diffID", diff.diff_id.str()}};
  const std::string dir = file.substr(0, file.rfind('/'));
  if (!PosixFileSystem()->MakeDirs(dir, 0700)) return;
  (void)WriteFileAtomic(PosixFileSystem(), file, j.dump());
}

}  // namespace hoist::snapshot
