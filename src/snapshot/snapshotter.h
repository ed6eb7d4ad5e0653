// Snapshotter: filesystem snapshots as containerd's snapshotter API models them. A snapshot is
// committed (immutable, may be a parent), active (writable, made by Prepare) or a view
// (read-only, made by View). Active snapshots and views are reached through mounts handed out
// as data (base/mount.h); Commit turns an active snapshot into a committed one under a new
// name. Keys and committed names share one namespace.
//
// Implementations: OverlaySnapshotter (overlayfs: a snapshot's own changes live in its upper
// dir, its parents are the lowerdir stack) and NativeSnapshotter (every active snapshot or view
// is a full copy of its parent's tree). With `erofs_layers`, the overlay snapshotter lets image
// layers be committed as EROFS images (archive/erofs_writer.h) that are mounted, never
// extracted: the EROFS snapshotter. Both keep the same on-disk layout and metadata format
// under their root (see snapshot/internal/metadata.h for the versioned format):
//
//   <root>/metadata.json           the snapshots, their kinds, parents, labels and directory IDs
//   <root>/metadata.journal        the changes made since metadata.json was written, a line each
//   <root>/snapshots/<id>/fs       the snapshot's tree (overlay: its upper dir; an EROFS-backed
//                                  layer: the mount point of its image)
//   <root>/snapshots/<id>/work     overlay's work dir (overlay only, while active)
//   <root>/snapshots/<id>/layer.erofs  an EROFS-backed layer's image
//   <root>/snapshots/<id>/mem      a tmpfs holding `upper` and `work` of an active snapshot
//                                  made by PrepareLayer, until its Commit writes the image
//   <root>/lock                    shared by the processes that have the root open; the one
//                                  that opens it alone first repairs it (below)
//   <root>/metadata.lock           held around each metadata change; holds the generation and
//                                  epoch numbers that tell the others what to read again
//
// EROFS images are mounted read-only on their `fs` the first time a child, a view or a diff
// needs them, and stay mounted until the snapshot is removed or the snapshotter closes (which
// detaches them all). Opening a root detaches the mounts a crashed process left behind.
// Mounts belong to the process that made them: processes sharing a root each mount what they
// use (in their own mount namespaces, as hoist runs).
//
// Crash safety: a snapshot's directory is made before the metadata names it, and the metadata stops
// naming it before the directory is removed; each metadata change is one journal line, synced
// before the call returns, and a line a crash cut short is ignored. Opening a root alone removes
// every directory the metadata does not name (the leftovers of a crash mid-Prepare or mid-Remove);
// a crash mid-Commit leaves either the active snapshot or the committed one.
//
// Errors name the key: kNotFound (`snapshot "k": not found`), kAlreadyExists
// (`snapshot "k": already exists`), kFailedPrecondition (`snapshot "k": is committed, not
// active`, `snapshot "p": has 2 children`, `parent "p" of snapshot "k": is active, not
// committed`), kInvalidArgument for an empty key.
//
// Thread-safety: snapshotters are thread-safe, and several processes may open one root. Calls
// are serialised by one mutex and, across processes, a lock on the metadata, so the native
// snapshotter's copies hold up other calls while they run.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "archive/diff.h"
#include "archive/tar_writer.h"
#include "base/error.h"
#include "base/mount.h"

namespace hoist::snapshot {

enum class Kind { kCommitted, kActive, kView };

std::string_view KindName(Kind kind);  // "committed", "active", "view"

using Labels = std::map<std::string, std::string>;

struct Info {
  std::string name;    // the key (active, view) or committed name
  std::string parent;  // committed name of the parent, "" for none
  Kind kind = Kind::kActive;
  Labels labels;
  int64_t created_ns = 0;  // wall clock, nanoseconds since the epoch
  int64_t updated_ns = 0;

  bool operator==(const Info&) const = default;
};

struct Usage {
  int64_t size = 0;    // bytes of disk the snapshot's own tree uses (blocks, hard links once)
  int64_t inodes = 0;  // distinct inodes in its own tree
};

// Where an active snapshot's writes land on disk, for writers that bypass mounting (unpacking
// a layer). With `overlay_upper` the directory is an overlayfs upper dir: deletions must be
// written as overlay whiteouts (archive::ApplyOptions::overlay). Otherwise it is the whole tree.
// With `layer_image` the writer may instead write the layer as one EROFS image
// (archive/erofs_writer.h) to that path, leaving `path` empty; Commit then makes the image the
// snapshot's tree. The image must be complete and synced before Commit.
struct WritableDir {
  std::string path;
  bool overlay_upper = false;
  std::string layer_image;
};

class Snapshotter {
 public:
  virtual ~Snapshotter() = default;

  // The snapshot named `key`, of any kind.
  virtual Result<Info> Stat(const std::string& key) = 0;
  // Creates the active snapshot `key` on `parent` ("" for none; must be committed) and
  // returns the mounts of its writable tree.
  virtual Result<std::vector<Mount>> Prepare(const std::string& key, const std::string& parent,
                                             const Labels& labels = {}) = 0;
  // Like Prepare, for a snapshot that will be committed as one new layer (a COPY's result, say):
  // where the snapshotter keeps layers as images, its changes are written to memory (a tmpfs
  // upper dir of at most `memory_limit` bytes) and Commit writes them as one layer image, so
  // the layer's files are never created on disk. Writing past the limit fails with ENOSPC
  // (kResourceExhausted); the caller may then start again with Prepare. Elsewhere it is
  // Prepare.
  virtual Result<std::vector<Mount>> PrepareLayer(const std::string& key,
                                                  const std::string& parent,
                                                  const Labels& labels = {}) {
    return Prepare(key, parent, labels);
  }
  // Creates the read-only view `key` of `parent` ("" for an empty tree; must be committed).
  virtual Result<std::vector<Mount>> View(const std::string& key, const std::string& parent,
                                          const Labels& labels = {}) = 0;
  // The mounts of an active snapshot or view; a committed one is kFailedPrecondition.
  virtual Result<std::vector<Mount>> Mounts(const std::string& key) = 0;
  // Turns the active snapshot `key` into the committed snapshot `name` (labels replace its
  // own when not empty). `key` then no longer exists. Views cannot be committed.
  virtual Status Commit(const std::string& name, const std::string& key,
                        const Labels& labels = {}) = 0;
  // Removes a snapshot of any kind, and its files. A committed snapshot that is the parent of
  // others is kFailedPrecondition.
  virtual Status Remove(const std::string& key) = 0;
  // Calls fn for every snapshot in key order; stops at fn's first error and returns it.
  virtual Status Walk(const std::function<Status(const Info&)>& fn) = 0;
  // Disk usage of the snapshot's own tree (overlay: its upper dir; native: its full copy).
  virtual Result<Usage> GetUsage(const std::string& key) = 0;
  // Whether Writable offers `layer_image` for an active snapshot made by Prepare, so a writer
  // that has a new layer's tar can make the layer without creating its files.
  virtual bool TakesLayerImages() const { return false; }
  // Where an active snapshot's writes go; see WritableDir. Views and committed snapshots are
  // kFailedPrecondition.
  virtual Result<WritableDir> Writable(const std::string& key) = 0;
  // Writes the changes of snapshot `key` (active or committed) against its parent as layer
  // entries (archive/diff.h); does not Close() the writer. The snapshot must not change
  // meanwhile.
  virtual Status WriteDiff(const std::string& key, archive::TarWriter* out,
                           const archive::DiffOptions& options = {}) = 0;
};

struct OverlaySnapshotterOptions {
  // Offer `WritableDir::layer_image` for new layers and keep PrepareLayer's changes in memory
  // (the EROFS snapshotter). Without it, layers already committed as images still mount.
  bool erofs_layers = false;
  // The most bytes a PrepareLayer snapshot may hold in memory; 0 keeps layers on disk.
  int64_t memory_limit = int64_t{2} << 30;
};

// Opens (creating if needed) the overlay snapshotter rooted at `root`, repairing what a crash
// left. kFailedPrecondition when another open snapshotter holds the root, or when a root
// written by the other implementation is opened.
Result<std::unique_ptr<Snapshotter>> OpenOverlaySnapshotter(
    const std::string& root, const OverlaySnapshotterOptions& options);
Result<std::unique_ptr<Snapshotter>> OpenOverlaySnapshotter(const std::string& root);
// Whether this kernel mounts EROFS images (the EROFS snapshotter's requirement): writes the
// image of an empty layer under `scratch_dir` (an existing directory) and mounts it once. The
// error says why not. A pass is remembered in `<scratch_dir>/erofs-probe` ("hoist.erofs-probe
// 1 <boot ID>"), so later processes of the same boot skip the mount.
Status ProbeErofs(const std::string& scratch_dir);

// The EROFS snapshotter: the overlay snapshotter with `erofs_layers`.
Result<std::unique_ptr<Snapshotter>> OpenErofsSnapshotter(const std::string& root);
Result<std::unique_ptr<Snapshotter>> OpenNativeSnapshotter(const std::string& root);

// The overlay upper dir of active snapshot `key` of an overlay snapshotter.
Result<std::string> UpperDir(Snapshotter& snapshotter, const std::string& key);

}  // namespace hoist::snapshot
