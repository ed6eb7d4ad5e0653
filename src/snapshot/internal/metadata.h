// The snapshotters' metadata: `<root>/metadata.json`, format version 3, and the changes made
// since it was written, one line each in `<root>/metadata.journal`.
//
//   {
//     "format": "hoist.snapshots",
//     "version": 3,
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
// overlay lowerdir lists stay short.
//
// Each change appends one line to the journal and syncs it (a change costs the same however
// many snapshots there are); every so often, and when a process opens the root alone, the
// whole metadata is written to metadata.json (write, fsync, rename, fsync dir) and the journal
// emptied. A journal line is one change, whole:
//
//   {"del": ["key", …], "put": [<a snapshots[] entry>, …], "next_id": 8}
//
// removing, then adding or replacing, those snapshots. Lines are applied in order over
// metadata.json; applying lines whose changes metadata.json already holds changes nothing, so
// a crash between writing metadata.json and emptying the journal is harmless. A line counts
// only when it ends with a newline: what follows the last one is a write a crash cut short,
// ignored, and cut off before the next change is appended. A complete line that does not
// parse is kDataLoss.
//
// A newer version, another format or another driver is refused (kFailedPrecondition), never
// rewritten. Versions 1 and 2 (without a journal; version 1 without "tree": every tree a
// directory) are read as they are, and written as version 3 before any journal line, since
// their readers would not see the journal (and version-1 readers would see an EROFS-backed
// snapshot's empty mount point as its tree).
//
// Thread-safety: none; the snapshotter serialises access.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "snapshot/snapshotter.h"

namespace hoist::snapshot::internal {

inline constexpr int kMetadataVersion = 3;

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
  int version = kMetadataVersion;  // as read from metadata.json
};

// One journal line: the snapshots removed, then those added or replaced, and next_id after.
struct MetadataChange {
  std::vector<std::string> removed;
  std::vector<Record> put;
  uint64_t next_id = 1;
};

// Parses metadata.json; `path` names the file in errors.
Result<Metadata> ParseMetadata(std::string_view json, const std::string& path,
                               const std::string& driver);
std::string SerializeMetadata(const Metadata& metadata);

// Reads `path`; a missing file is an empty Metadata for `driver`.
Result<Metadata> LoadMetadata(const std::string& path, const std::string& driver);
Status SaveMetadata(const std::string& path, const Metadata& metadata);

// The journal line for `change`, newline included.
std::string SerializeChange(const MetadataChange& change);
// Applies the complete lines at the start of `journal` to `metadata`, in order, and returns
// how many bytes they take (the rest is a torn write). A complete line that does not parse,
// or leaves a snapshot whose parent is not committed, is kDataLoss naming `path` and the line.
Result<size_t> ApplyJournal(std::string_view journal, const std::string& path, Metadata& metadata);

// metadata.json and the journal in `dir` (a snapshotter's root), read and applied: what the
// snapshotter sees. For tools and tests; the snapshotter itself reads the journal as it grows.
Result<Metadata> LoadCurrentMetadata(const std::string& dir, const std::string& driver);

}  // namespace hoist::snapshot::internal
