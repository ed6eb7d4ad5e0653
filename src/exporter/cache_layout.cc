#include "exporter/cache_layout.h"

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "exporter/image_writer.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::exporter {

Result<oci::Descriptor> WriteCacheManifest(snapshot::Snapshotter& snapshotter,
                                           content::ContentStore& store,
                                           const std::vector<CacheEntry>& entries,
                                           const SnapshotImageOptions& options) {
  std::vector<SnapshotLayer> all;
  std::map<oci::Digest, size_t> index_of;
  nlohmann::json records = nlohmann::json::array();
  for (const CacheEntry& e : entries) {
    HOIST_ASSIGN_OR_RETURN(std::vector<SnapshotLayer> layers,
                           SnapshotLayers(snapshotter, store, e.snapshot, options));
    nlohmann::json refs = nlohmann::json::array();
    for (const SnapshotLayer& l : layers) {
      auto [it, inserted] = index_of.try_emplace(l.descriptor.digest, all.size());
      if (inserted) all.push_back(l);
      refs.push_back(it->second);
    }
    nlohmann::json record = {{"key", e.cache_key}, {"layers", refs}};
    if (!e.shape.empty()) record["shape"] = e.shape;
    records.push_back(std::move(record));
  }
  nlohmann::json diff_ids = nlohmann::json::array();
  for (const SnapshotLayer& l : all) diff_ids.push_back(l.diff_id.str());
  const std::string config =
      nlohmann::json{{"version", 1}, {"diffIDs", diff_ids}, {"records", records}}.dump();
  HOIST_ASSIGN_OR_RETURN(content::BlobInfo config_info, content::WriteBlob(store, config));
  oci::Manifest manifest;
  manifest.media_type = std::string(oci::kMediaTypeImageManifest);
  manifest.config = {.media_type = std::string(kMediaTypeCacheConfig),
                     .digest = config_info.digest,
                     .size = config_info.size};
  for (const SnapshotLayer& l : all) manifest.layers.push_back(AsOciLayer(l.descriptor));
  const std::string manifest_json = oci::SerializeManifest(manifest);
  HOIST_ASSIGN_OR_RETURN(content::BlobInfo m, content::WriteBlob(store, manifest_json));
  return oci::Descriptor{.media_type = std::string(oci::kMediaTypeImageManifest),
                         .digest = m.digest,
                         .size = m.size};
}

Result<std::vector<CacheEntry>> ImportCacheManifest(snapshot::LayerCache& layers,
                                                    content::ContentStore& store,
                                                    content::ContentStore& manifest_store,
                                                    const oci::Descriptor& root,
                                                    const std::string& what,
                                                    const BlobFetcher& fetch,
                                                    CancelContext* cancel) {
  HOIST_ASSIGN_OR_RETURN(std::string manifest_json, content::ReadBlob(manifest_store, root));
  HOIST_ASSIGN_OR_RETURN(oci::Manifest manifest, oci::ParseManifest(manifest_json));
  if (manifest.config.media_type != kMediaTypeCacheConfig) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{} is not a build cache (config type {})", what,
                                 manifest.config.media_type));
  }
  content::ContentStore* config_from = &manifest_store;
  if (!manifest_store.Info(manifest.config.digest)) {
    HOIST_TRY(fetch(manifest.config));
    config_from = &store;
  }
  HOIST_ASSIGN_OR_RETURN(std::string config_json, content::ReadBlob(*config_from, manifest.config));
  auto config = nlohmann::json::parse(config_json, nullptr, false);
  auto bad = [&](std::string_view why) {
    return MakeError(Code::kInvalidArgument, fmt::format("cache config: {}", why));
  };
  if (!config.is_object() || config.value("version", 0) != 1) return bad("not version 1");
  const auto& ids = config["diffIDs"];
  if (!ids.is_array() || ids.size() != manifest.layers.size()) {
    return bad("diffIDs do not match the manifest's layers");
  }
  std::vector<oci::Digest> diff_ids;
  for (const auto& d : ids) {
    if (!d.is_string()) return bad("a diff ID is not a string");
    HOIST_ASSIGN_OR_RETURN(oci::Digest digest, oci::Digest::Parse(d.get<std::string>()));
    diff_ids.push_back(digest);
  }
  std::vector<bool> copied(manifest.layers.size(), false);
  std::vector<CacheEntry> out;
  if (!config["records"].is_array()) return bad("records is not a list");
  for (const auto& r : config["records"]) {
    if (!r.is_object() || !r["key"].is_string() || !r["layers"].is_array()) {
      return bad("a record needs a key and layers");
    }
    std::string shape;
    if (r.contains("shape")) {
      if (!r["shape"].is_string() || !oci::Digest::Parse(r["shape"].get<std::string>())) {
        return bad("a record's shape is not a digest");
      }
      shape = r["shape"].get<std::string>();
    }
    std::vector<oci::Descriptor> stack;
    std::vector<oci::Digest> stack_ids;
    for (const auto& i : r["layers"]) {
      if (!i.is_number_unsigned() || i.get<size_t>() >= manifest.layers.size()) {
        return bad("a record names a layer the manifest lacks");
      }
      const size_t n = i.get<size_t>();
      if (!copied[n]) {
        if (!store.Info(manifest.layers[n].digest)) HOIST_TRY(fetch(manifest.layers[n]));
        copied[n] = true;
      }
      stack.push_back(manifest.layers[n]);
      stack_ids.push_back(diff_ids[n]);
    }
    if (stack.empty()) continue;  // an empty tree needs no import
    snapshot::EnsureLayersOptions options;
    options.cancel = cancel;
    HOIST_ASSIGN_OR_RETURN(std::string snap, layers.EnsureLayers(stack, stack_ids, options));
    out.push_back({.cache_key = r["key"].get<std::string>(), .snapshot = snap, .shape = shape});
  }
  return out;
}

}  // namespace hoist::exporter
