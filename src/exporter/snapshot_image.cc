#include "exporter/snapshot_image.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "base/parallel.h"
#include "exporter/image_writer.h"
#include "exporter/layer_blob.h"
#include "archive/layer.h"
#include "oci/media_types.h"

namespace hoist::exporter {
namespace {

std::string Label(const snapshot::Info& info, std::string_view key) {
  auto it = info.labels.find(std::string(key));
  return it == info.labels.end() ? "" : it->second;
}

// The media type of a stored layer blob, from its first bytes.
Result<std::string> SniffLayerType(content::ContentStore& store, const oci::Digest& digest) {
  HOIST_ASSIGN_OR_RETURN(auto reader, store.ReaderAt(digest));
  unsigned char magic[4] = {0, 0, 0, 0};
  HOIST_ASSIGN_OR_RETURN(size_t n, reader->ReadAt(0, magic, sizeof(magic)));
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    return std::string(oci::kMediaTypeImageLayerGzip);
  }
  if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    return std::string(oci::kMediaTypeImageLayerZstd);
  }
  return std::string(oci::kMediaTypeImageLayer);
}

using Layer = SnapshotLayer;

// One non-empty history entry per layer (BuildKit's normalizeLayersAndHistory).
void AlignHistory(oci::ImageConfig& config, size_t layers, const std::string& created) {
  size_t non_empty = 0;
  for (const oci::History& h : config.history) non_empty += h.empty_layer ? 0 : 1;
  for (auto it = config.history.rbegin(); non_empty > layers && it != config.history.rend();
       ++it) {
    if (!it->empty_layer) {
      it->empty_layer = true;
      --non_empty;
    }
  }
  while (non_empty < layers) {
    config.history.push_back({.created = created, .comment = "hoist exporter"});
    ++non_empty;
  }
}

}  // namespace

Result<std::map<std::string, size_t>> SnapshotLayerCounts(snapshot::Snapshotter& snapshotter,
                                                           const std::string& top) {
  std::vector<snapshot::Info> chain;
  for (std::string name = top; !name.empty();) {
    HOIST_ASSIGN_OR_RETURN(snapshot::Info info, snapshotter.Stat(name));
    name = info.parent;
    chain.push_back(std::move(info));
  }
  std::map<std::string, size_t> out;
  size_t n = 0;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!(it->parent.empty() && it->name == "empty")) ++n;  // as SnapshotLayers counts them
    out[it->name] = n;
  }
  return out;
}

Result<std::vector<SnapshotLayer>> SnapshotLayers(snapshot::Snapshotter& snapshotter,
                                                   content::ContentStore& store,
                                                   const std::string& top,
                                                   const SnapshotImageOptions& options,
                                                   size_t* new_layers) {
  std::vector<snapshot::Info> chain;
  for (std::string name = top; !name.empty();) {
    HOIST_ASSIGN_OR_RETURN(snapshot::Info info, snapshotter.Stat(name));
    name = info.parent;
    chain.push_back(std::move(info));
  }
  std::reverse(chain.begin(), chain.end());

  std::vector<Layer> layers;
  struct Pending {
    size_t index;
    std::string name;
    std::string cache_path;
  };
  std::vector<Pending> pending;
  snapshot::DiffLayerOptions diff_options = options.layer;
  if (options.rewrite_timestamps && options.epoch) diff_options.tar.source_date_epoch = *options.epoch;
  for (const snapshot::Info& info : chain) {
    if (options.cancel && options.cancel->cancelled()) {
      return MakeError(Code::kCancelled, "context canceled");
    }
    const std::string blob = Label(info, kLabelLayerDigest);
    if (!blob.empty()) {
      HOIST_ASSIGN_OR_RETURN(oci::Digest digest, oci::Digest::Parse(blob));
      HOIST_ASSIGN_OR_RETURN(oci::Digest diff_id, oci::Digest::Parse(Label(info, kLabelLayerDiffId)));
      HOIST_ASSIGN_OR_RETURN(content::BlobInfo bi, store.Info(digest));
      std::string media_type = Label(info, kLabelLayerMediaType);
      if (media_type.empty()) {
        HOIST_ASSIGN_OR_RETURN(media_type, SniffLayerType(store, digest));
      }
      Layer reused{.descriptor = {.media_type = media_type, .digest = digest, .size = bi.size},
                   .diff_id = diff_id};
      if (options.force_compression) {
        auto have = archive::LayerMediaTypeCompression(media_type);
        if (!have || *have != options.layer.compression.compression) {
          HOIST_ASSIGN_OR_RETURN(LayerBlob again,
                                 RecompressLayerBlob(store, reused.descriptor, diff_id,
                                                     options.layer.compression));
          reused = {.descriptor = again.descriptor, .diff_id = diff_id};
          if (new_layers) ++*new_layers;
        }
      }
      layers.push_back(reused);
      continue;
    }
    if (info.parent.empty() && info.name == "empty") continue;  // the empty tree adds nothing
    const std::string cache_path =
        options.diff_cache_dir.empty()
            ? ""
            : snapshot::DiffCacheFile(options.diff_cache_dir, info.name, options.layer.compression,
                                      options.rewrite_timestamps ? options.epoch : std::nullopt);
    if (!cache_path.empty()) {
      if (auto cached = snapshot::LoadCachedDiff(store, cache_path)) {
        layers.push_back({.descriptor = cached->descriptor, .diff_id = cached->diff_id});
        continue;
      }
    }
    // Diffed below, several at once.
    pending.push_back({.index = layers.size(), .name = info.name, .cache_path = cache_path});
    layers.push_back({});
  }

  // New layers are diffed and compressed in parallel: each is one core's work, bound by
  // compression.
  std::vector<std::optional<Error>> errors(pending.size());
  (void)ParallelFor(
      pending.size(), static_cast<int>(std::thread::hardware_concurrency()), nullptr,
      [&](size_t k, CancelContext*) -> Status {
        const Pending& p = pending[k];
        auto diff = snapshot::DiffLayer(snapshotter, p.name, store, diff_options);
        if (!diff) {
          errors[k] = std::move(diff).error().Wrap(fmt::format("export layer {}", p.index + 1));
          return OkStatus();  // every layer is tried; the first error is reported
        }
        Layer l{.descriptor = diff->descriptor, .diff_id = diff->diff_id};
        if (!p.cache_path.empty()) snapshot::SaveCachedDiff(p.cache_path, *diff);
        layers[p.index] = l;
        return OkStatus();
      });
  for (auto& e : errors) {
    if (e) return Unexpected(std::move(*e));
  }
  if (new_layers) *new_layers += pending.size();
  return layers;
}

Result<SnapshotImage> WriteSnapshotImage(snapshot::Snapshotter& snapshotter,
                                         content::ContentStore& store, const std::string& top,
                                         oci::ImageConfig config,
                                         const SnapshotImageOptions& options) {
  SnapshotImage out;
  HOIST_ASSIGN_OR_RETURN(std::vector<Layer> layers,
                         SnapshotLayers(snapshotter, store, top, options, &out.new_layers));
  std::string created;
  if (options.epoch) {
    created = FormatTimestamp(*options.epoch);
  } else {
    HOIST_ASSIGN_OR_RETURN(int64_t t, CreationTime());
    created = FormatTimestamp(t);
  }
  config.created = created;
  for (oci::History& h : config.history) {
    if (h.created.empty()) h.created = created;
  }
  config.rootfs.type = "layers";
  config.rootfs.diff_ids.clear();
  std::vector<oci::Descriptor> descriptors;
  for (const Layer& l : layers) {
    config.rootfs.diff_ids.push_back(l.diff_id);
    descriptors.push_back(l.descriptor);
  }
  AlignHistory(config, layers.size(), created);
  HOIST_ASSIGN_OR_RETURN(out.manifest,
                         WriteImage(store, config, descriptors, options.oci_media_types));
  const std::string config_json = oci::SerializeImageConfig(config);
  out.config = {.media_type = std::string(options.oci_media_types ? oci::kMediaTypeImageConfig
                                                                   : oci::kMediaTypeDockerConfig),
                .digest = oci::Digest::Sha256Of(config_json),
                .size = static_cast<int64_t>(config_json.size())};
  out.image_config = std::move(config);
  out.layers = layers.size();
  return out;
}

}  // namespace hoist::exporter
