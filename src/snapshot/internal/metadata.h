// The snapshotters' metadata file, `<root>/metadata.json`, format version 2:
//
//   {
//     "format": "hoist.snapshots",
//     "version": 1,
//     "driver": "overlay" | "native",
//     "next_id": 7,                       // the next directory ID to hand out
//     "snapshots": [                      // sorted by key
//       {"key": "chain-sha256:…", "id": 3, "kind": "committed" | "active" | "view",
//        "parent": "…" (omitted for none), "labels": {"k": "v"},
//        "tree": "erofs" | "memory" (omitted for a directory tree),
//        "created": <ns since epoch>, "updated": <ns since epoch>}
//     ]
//   }
//
// A snapshot's files live in `<root>/snapshots/<id>`. IDs are decimal and never reused, so
// overlay lowerdir lists stay short. The file is replaced atomically (write, fsync, rename,
// fsync dir) on every change. A newer version, another format or another driver is refused
// (kFailedPrecondition), never rewritten. Version 1 (no "tree" field: every tree a directory) is
// read as it is and written back as version 2, which version-1 readers refuse: they would see
// an EROFS-backed snapshot's empty mount point as its tree.
//
// Thread-safety: none; the snapshotter serialises access.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "base/error.h"
#include "snapshot/snapshotter.h"

namespace hoist::snapshot::internal {

inline constexpr int kMetadataVersion = 2;

// How a snapshot's tree is stored: the directory `fs`; (committed layers only) the EROFS
// image `layer.erofs` mounted read-only on `fs` while the snapshotter uses it; or (active
// snapshots only) a tmpfs on `mem`, lost with the process that mounted it.
enum class Tree { kDirectory, kErofs, kMemory };

struct Record {
  uint64_t id = 0;
  Info info;  // info.name is the map key
  Tree tree = Tree::kDirectory;
};

struct Metadata {
  std::string driver;
  uint64_t next_id = 1;
  std::map<std::string, Record> snapshots;
};

// Parses metadata.json; `path` names the file in errors.
Result<Metadata> ParseMetadata(std::string_view json, const std::string& path,
                               const std::string& driver);
std::string SerializeMetadata(const Metadata& metadata);

// Reads `path`; a missing file is an empty Metadata for `driver`.
Result<Metadata> LoadMetadata(const std::string& path, const std::string& driver);
Status SaveMetadata(const std::string& path, const Metadata& metadata);

}  // namespace hoist::snapshot::internal
