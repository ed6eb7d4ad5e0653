// Checking an engine root for what a crash, a full disk or a hand in the directory can leave,
// and repairing it (`hoist debug fsck [--repair]`).
//
// Opening the engine already repairs the cheap part: it detaches mounts a killed process left,
// removes the mount points of its ops, finishes or undoes the snapshotter's interrupted
// operations, removes stale ingest files and sets a corrupt cache database aside. Fsck then
// checks everything else, slowly and completely:
//  - the cache database: SQLite's full integrity check;
//  - every cache record: each result it names still exists (else the record is stale);
//  - every snapshot: an active one (a build that never finished) or a view is a leftover, a
//    committed one must still have its tree;
//  - every blob: its bytes hash to its name;
//  - the content store's ingest directory: empty while no build runs;
//  - nothing mounted under the root.
// With `repair`: stale records are deleted, leftover snapshots removed, corrupt blobs deleted
// (whatever needs them fetches or builds them again), ingest files removed, mounts detached.
// A committed snapshot whose tree is gone is removed with everything built on it. A database
// SQLite finds corrupt is not repaired in place: the report says to move it aside, which the
// next engine start then does by itself.
//
// The engine must hold the root (no build runs meanwhile). Problems and repairs name digests,
// snapshot names and cache keys, never paths outside the root.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "control/engine_parts.h"

namespace hoist::control {

struct FsckOptions {
  bool repair = false;
};

struct FsckReport {
  int64_t blobs = 0;
  int64_t blob_bytes = 0;
  int64_t snapshots = 0;
  int64_t records = 0;
  // One line per problem found, e.g. `blob sha256:…: its content hashes to sha256:…`.
  std::vector<std::string> problems;
  // One line per repair made, and per repair that failed (with why).
  std::vector<std::string> repairs;
  std::vector<std::string> failures;
  // Problems left (with repair: those it could not repair).
  int64_t unrepaired = 0;
};

Result<FsckReport> Fsck(const EngineParts& parts, const FsckOptions& options,
                        CancelContext* cancel = nullptr);

}  // namespace hoist::control
