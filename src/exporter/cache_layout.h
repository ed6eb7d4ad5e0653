// Build cache exported to, and imported from, an OCI image layout (`--cache-to type=local`,
// `--cache-from type=local`, SPEC-oci-layout.md §4).
//
// Format (version 1): the layout's index names a manifest (tag `latest` unless told otherwise)
// whose layers are the layer blobs of every exported result, each once, and whose config is
// a JSON blob of media type application/vnd.hoist.cache.config.v1+json:
//
//   {"version":1,
//    "diffIDs":["sha256:…", …],                 // aligned with the manifest's layers
//    "records":[{"key":"sha256:…","layers":[0,3,5]}, …]}  // a cache key → its layer stack
//
// A record's result is the tree those layers make, bottom first. Importing unpacks each stack
// once per chain ID (snapshot/layer_cache.h), so results that share layers share snapshots,
// and exporting an image from them later re-uses the same blobs.
//
// Thread-safety: functions over the objects they are given.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "content/content_store.h"
#include "exporter/snapshot_image.h"
#include "snapshot/layer_cache.h"
#include "snapshot/snapshotter.h"

namespace hoist::exporter {

inline constexpr std::string_view kMediaTypeCacheConfig =
    "application/vnd.hoist.cache.config.v1+json";

struct CacheEntry {
  std::string cache_key;
  std::string snapshot;  // a committed snapshot
};

// Writes the cache manifest for `entries` (and its config and layer blobs) into `store`;
// returns the manifest's descriptor. Layers are diffed once; base blobs are re-used.
Result<oci::Descriptor> WriteCacheManifest(snapshot::Snapshotter& snapshotter,
                                           content::ContentStore& store,
                                           const std::vector<CacheEntry>& entries,
                                           const SnapshotImageOptions& options = {});

// Writes `entries` into the layout at `dir` (created if needed) and tags the cache manifest
// `tag`, replacing the previous cache of that tag. Layer blobs are written into `store` first
// (diffed once, base blobs re-used), then copied.
Status ExportCacheLayout(snapshot::Snapshotter& snapshotter, content::ContentStore& store,
                         const std::vector<CacheEntry>& entries, const std::string& dir,
                         const std::string& tag, const SnapshotImageOptions& options = {});

// Reads the cache tagged `tag` from the layout at `dir` (read-only), copies the blobs it needs
// into `store` (verified), and unpacks each record's layers. Returns the records with the
// snapshot of each. Errors name the layout's problem: `<dir>: no cache tagged "<tag>"`,
// `cache config: …`.
Result<std::vector<CacheEntry>> ImportCacheLayout(snapshot::LayerCache& layers,
                                                  content::ContentStore& store,
                                                  const std::string& dir, const std::string& tag,
                                                  CancelContext* cancel = nullptr);

// Makes a blob present in the engine's store (copied from a layout, fetched from a registry).
using BlobFetcher = std::function<Status(const oci::Descriptor&)>;

// Imports the cache whose manifest `root` is in `manifest_store` (the layout's store, or the
// engine's when the manifest was fetched there); blobs the engine lacks come from `fetch`.
// `what` names the cache in errors.
Result<std::vector<CacheEntry>> ImportCacheManifest(snapshot::LayerCache& layers,
                                                    content::ContentStore& store,
                                                    content::ContentStore& manifest_store,
                                                    const oci::Descriptor& root,
                                                    const std::string& what,
                                                    const BlobFetcher& fetch,
                                                    CancelContext* cancel = nullptr);

}  // namespace hoist::exporter
