// A client directory's mirror kept as a committed snapshot whose tree is one layer image, for
// engines whose snapshotter takes layer images (Snapshotter::TakesLayerImages, the EROFS
// snapshotter hoistd runs by default): the context's files are never created on the engine's
// disk. A directory mirror (source::LocalSync) makes 25,600 files for a context of 25,600, and
// ext4 creates files several times slower for a while after others were deleted nearby.
//
// Sync rules are LocalSync's (local_source.h): the entries SelectContext keeps under the
// filter, devices, FIFOs and sockets skipped, owners, modes, mtimes, symlink targets and hard
// links reproduced. The snapshot's root is 0755 root:root. A generation is never changed: each
// sync that finds a difference writes a new snapshot, reading the files whose type, mode,
// owner, size and mtime are unchanged from the previous generation (without following a
// symlink on the way) and asking the client for the others, then names the new generation in
// `record` and removes the previous one. A sync that finds no difference returns the previous
// generation as it is, so the content checksums taken in it (keyed by snapshot) stay valid.
// The record keeps, beside the generation's name, a digest of the walk it was written from
// (every entry's path, type, mode, owner, size, mtime and link): a walk with the same digest
// is no difference, found without mounting the generation; other walks are compared with the
// generation file by file.
//
// Failure leaves the previous generation and `record` as they were and no new snapshot: a
// client file that grew or shrank between its walk and its read fails the sync, naming it.
//
// Thread-safety: one sync per `record` at a time (the caller's mirror lease and lock).
#pragma once

#include <cstdint>
#include <string>

#include "base/cancel.h"
#include "base/error.h"
#include "snapshot/snapshotter.h"
#include "source/local_source.h"

namespace hoist::solver::ops {

struct ContextSnapshotStats {
  uint64_t entries = 0;     // entries in the snapshot
  uint64_t files_read = 0;  // regular files read from the client
  uint64_t bytes_read = 0;
  bool reused = false;      // the previous generation was returned unchanged
  bool mounted_previous = false;  // it was mounted to compare the walk with it file by file
};

// The snapshot the mirror record `record` names, or "" when there is none.
std::string MirrorSnapshotName(const std::string& record);

// Syncs `reader` under `filter` into a snapshot of `snapshots` and returns its committed name.
// `record` is the file naming the mirror's current generation (created if missing);
// `state_dir` is where views are mounted. `stats` may be null.
// REQUIRES: snapshots.TakesLayerImages().
Result<std::string> SyncContextSnapshot(snapshot::Snapshotter& snapshots,
                                        const std::string& state_dir,
                                        source::ContextReader& reader,
                                        const source::ContextFilter& filter,
                                        const std::string& record, CancelContext* cancel,
                                        ContextSnapshotStats* stats);

}  // namespace hoist::solver::ops
