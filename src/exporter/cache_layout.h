// Build cache as OCI content: the cache manifest and its blobs, which `--cache-to` writes into an
// OCI layout on the client (type=local, through the session; SPEC-oci-layout.md §4) or pushes
// to a registry, and `--cache-from` reads back.
//
// Format (version 1): a manifest (a local cache's layout names it in its index, tag `latest`
// unless told otherwise; the client does that) whose layers are the layer blobs of every
// exported result, each once, and whose config is a JSON blob of media type
// application/vnd.hoist.cache.config.v1+json:
//
//   {"version":1,
//    "diffIDs":["sha256:…", …],                 // aligned with the manifest's layers
//    "records":[{"key":"sha256:…","layers":[0,3,5],     // a cache key → its layer stack
//                "shape":"sha256:…"}, …]}                // the key's shape, when known
//                                                        // (solver/cache_key.h)
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
  std::string shape;     // the key's shape; empty when unknown
};

// Writes the cache manifest for `entries` (and its config and layer blobs) into `store`;
// returns the manifest's descriptor. Layers are diffed once; base blobs are re-used.
Result<oci::Descriptor> WriteCacheManifest(snapshot::Snapshotter& snapshotter,
                                           content::ContentStore& store,
                                           const std::vector<CacheEntry>& entries,
                                           const SnapshotImageOptions& options = {});

// Makes a blob present in the engine's store (copied from a layout, fetched from a registry).
using BlobFetcher = std::function<Status(const oci::Descriptor&)>;

// Imports the cache whose manifest `root` is in `manifest_store` (usually the engine's, the
// manifest fetched there first); blobs the engine lacks come from `fetch`.
// `what` names the cache in errors.
Result<std::vector<CacheEntry>> ImportCacheManifest(snapshot::LayerCache& layers,
                                                    content::ContentStore& store,
                                                    content::ContentStore& manifest_store,
                                                    const oci::Descriptor& root,
                                                    const std::string& what,
                                                    const BlobFetcher& fetch,
                                                    CancelContext* cancel = nullptr);

}  // namespace hoist::exporter
