// The op implementations behind Worker::Resolve, and what they share. Internal to the module.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/llb/ops.pb.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "llb/definition.h"
#include "oci/digest.h"
#include "solver/op.h"
#include "solver/ops/worker.h"
#include "source/in_place_context.h"

namespace hoist::solver::ops::internal {

Result<std::unique_ptr<Op>> MakeSourceOp(Worker& worker, const oci::Digest& digest,
                                         const pb::Op& op, const llb::OpMetadata& metadata);
Result<std::unique_ptr<Op>> MakeExecOp(Worker& worker, const oci::Digest& digest,
                                       const pb::Op& op, const llb::OpMetadata& metadata);
Result<std::unique_ptr<Op>> MakeFileOp(Worker& worker, const oci::Digest& digest,
                                       const pb::Op& op, const llb::OpMetadata& metadata);
Result<std::unique_ptr<Op>> MakeMergeOp(Worker& worker, const oci::Digest& digest,
                                        const pb::Op& op, const llb::OpMetadata& metadata);

// Results of local sources are their mirror directories, not snapshots: `mirror:<name>` is
// `<state_dir>/local/<name>`. They are only read (views bind them read-only).
inline constexpr std::string_view kMirrorPrefix = kMirrorIdPrefix;
bool IsMirrorId(std::string_view id);
std::string MirrorPath(const std::string& state_dir, std::string_view id);

// Results of local sources read in place: `inplace:<random>`, registered by AdoptInPlace.
bool IsInPlaceId(std::string_view id);
// The context of in-place result `id`; null when no live Worker holds it.
std::shared_ptr<source::InPlaceContext> FindInPlace(std::string_view id);

// A fresh snapshot key: `<prefix>-<random>`.
std::string NewSnapshotKey(std::string_view prefix);

// A new committed snapshot made of one layer image, on `parent` ("" for none), in `snapshots`
// (which must take layer images): prepares an active snapshot, calls `write` with its image file
// (open for writing, empty), syncs the image and commits the snapshot as `<prefix>-<random>`,
// which it returns. When anything fails, the partial image is emptied at once (so that a full
// disk has room again for the snapshotter's metadata) and the active snapshot removed.
Result<std::string> CommitLayerImage(snapshot::Snapshotter& snapshots, const std::string& parent,
                                     std::string_view prefix,
                                     const std::function<Status(int image_fd)>& write);

// A snapshot (active or view) mounted on a temporary directory for as long as this lives.
// Destruction unmounts, then removes the snapshot unless it was committed.
class MountedSnapshot {
 public:
  // Prepare (writable) or View (read-only) `parent` (a committed name; "" for empty; or a
  // local mirror or in-place context) and mount it under `state_dir`. With `layer`, a writable snapshot is made by
  // PrepareLayer (its changes may be held in memory until Commit writes them as a layer).
  static Result<std::unique_ptr<MountedSnapshot>> Create(snapshot::Snapshotter& snapshotter,
                                                         const std::string& parent,
                                                         bool writable,
                                                         const std::string& state_dir,
                                                         bool layer = false);
  ~MountedSnapshot();

  const std::string& path() const { return dir_.path(); }
  const std::string& key() const { return key_; }
  const std::vector<Mount>& mounts() const { return mounts_; }
  // Unmounts and commits the active snapshot as `name`. REQUIRES: writable.
  Status Commit(const std::string& name);

 private:
  MountedSnapshot(snapshot::Snapshotter& s) : snapshotter_(s) {}
  snapshot::Snapshotter& snapshotter_;
  std::string key_;
  std::vector<Mount> mounts_;
  TempDir dir_;
  ScopedMount mount_;
  bool done_ = false;
};

// The platform an op runs for: its own, else the worker's default.
oci::Platform OpPlatform(const Worker& worker, const pb::Op& op);

// The digest of a string (for cache keys built from parts).
oci::Digest DigestOf(std::string_view s);

// The SSH agent `id` of the build's client (session::Session::CheckSSH / ForwardSSH, asked of
// each of the worker's sessions).
Status CheckClientSSH(Worker& worker, const std::string& id, CancelContext* cancel);
Result<UniqueFd> ForwardClientSSH(Worker& worker, const std::string& id, CancelContext* cancel);

}  // namespace hoist::solver::ops::internal
