// The embedded engine: everything `hoist build` needs under one root directory, opened and
// owned together. Layout of the root (each part documents its own format):
//
//   <root>/lock        flock: shared by each embedded build on the root, exclusive for hoistd,
//                      prune and fsck (and briefly for an engine that opens the root alone);
//                      a daemon writes "hoistd <addr>..." into it
//   <root>/locks/      flocks of work that concurrent processes share (layers/<chainID>:
//                      one process unpacks a layer, the others wait for its snapshot)
//   <root>/content/    blobs (LocalContentStore)
//   <root>/snapshots/  the EROFS and overlay snapshotters (one root: EROFS is overlay with
//                      layers kept as images)
//   <root>/snapshots-native/  the native snapshotter
//   <root>/cache.db    cache records (solver/cache_db.h)
//   <root>/checksums   content digests of files by stat identity (source/checksum_cache.h)
//   <root>/executor/   OCI runtime state and bundles
//   <root>/ops/        op state: local context mirrors, cache mounts, mount points
//   <root>/diffs/      remembered layer diffs of exported snapshots
//   <root>/registry/   which registry repositories hold which blobs (for cross-repo mounts)
//   <root>/images/     image names → the digests they last resolved to
//   <root>/erofs-probe this boot's kernel mounts EROFS images (snapshot::ProbeErofs)
//
// Several processes on one root: embedded builds run side by side on a shared lock. Every part
// is safe across processes: the content store writes private ingest files and renames them
// into place; the snapshotters take a lock around each metadata change and reload what others
// wrote (snapshotter.h); layers are unpacked under a lock per chain ID; cache records are in
// SQLite (WAL); cache mounts lock by their sharing mode; output layouts lock index.json. Each
// process mounts in a mount namespace of its own (hoist_main.cc), so one process's mounts are
// never another's to undo, and a killed process leaves none. What only a process alone on the
// root may do (sweeping what a killed one left: mount points, snapshots it never finished,
// runtime state) happens when it opens the root and nobody else holds it; prune and fsck wait
// until they are alone.
//
// Thread-safety: the parts are thread-safe; Engine itself is set up once.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "base/units.h"
#include "content/local_content_store.h"
#include "registry/client.h"
#include "source/checksum_cache.h"
#include "source/docker_image_source.h"
#include "control/engine_config.h"
#include "control/engine_parts.h"
#include "executor/executor.h"
#include "session/session_manager.h"
#include "snapshot/layer_cache.h"
#include "snapshot/snapshotter.h"
#include "solver/cache_db.h"

namespace hoist::cmd {

struct EngineOptions {
  std::string root;
  // "", "runc", "crun" or a path; "" picks the first runtime that passes a start-up probe.
  std::string runtime;
  // "", "erofs", "overlayfs" or "native"; "" picks erofs where the kernel mounts EROFS images,
  // else overlayfs where it works, else native.
  std::string snapshotter;
  // The EROFS snapshotter's limit on a new layer held in memory (-1: its default; 0: none).
  int64_t layer_memory = -1;
  // Open without an OCI runtime (for commands that run nothing: du, prune).
  bool need_executor = true;
  // Open with a registry client (commands that pull or push).
  bool need_registry = true;
  // The configuration file (--config): its [registry] section configures the registry client,
  // the rest the engine (control/engine_config.h); "" for the default files.
  std::string config_file;
  // hoistd --allow-insecure-entitlement: replaces the file's insecure-entitlements when set.
  std::optional<std::vector<std::string>> insecure_entitlements;
  // hoistd: the addresses it serves. A daemon does not wait for the root: it fails at once if
  // someone holds it, and records these addresses in the lock file, so that an embedded build
  // on the same root can say which --addr to use instead of waiting.
  std::vector<std::string> daemon_addrs;
  // Hold the root alone (prune, fsck), waiting for the builds that hold it; implied by
  // daemon_addrs.
  bool exclusive = false;
};

// The value of --layer-memory ("2GB", "512MiB", "0"; "" for the default, -1).
Result<int64_t> ParseLayerMemory(const std::string& value);

class Engine {
 public:
  // Takes the root's lock, shared or (options.exclusive) alone, waiting with a message on
  // stderr while another hoist holds it in a way that excludes this one.
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine();

  const std::string& root() const { return root_; }
  content::LocalContentStore& content() { return *content_; }
  snapshot::Snapshotter& snapshotter() { return *snapshotter_; }
  // "erofs", "overlayfs" or "native": the snapshotter in use.
  const std::string& snapshotter_name() const { return snapshotter_name_; }
  snapshot::LayerCache& layers() { return *layers_; }
  // Runs containers; the runtime is found (and probed) on the first run, whose error then
  // says why none works. Null when opened without one.
  executor::Executor* executor() { return executor_.get(); }
  solver::CacheDb& cache() { return *cache_; }
  session::SessionManager& sessions() { return sessions_; }
  // REQUIRES: opened with need_registry.
  registry::Client& registry() { return *registry_; }
  // Which digest each image name last resolved to.
  source::LocalImageNames& image_names() { return *image_names_; }
  // File content digests remembered across builds, for content checksums.
  source::ChecksumCache& checksums() { return *checksums_; }
  // The configuration file's engine settings (with --allow-insecure-entitlement applied).
  const control::EngineConfig& config() const { return config_; }
  // The parts as the build pipeline takes them (registry null when opened without one).
  control::EngineParts parts();

 private:
  Engine() = default;
  std::string root_;
  control::EngineConfig config_;
  UniqueFd lock_;
  bool daemon_ = false;  // wrote its addresses into the lock file
  std::unique_ptr<content::LocalContentStore> content_;
  std::unique_ptr<snapshot::Snapshotter> snapshotter_;
  std::string snapshotter_name_;
  std::unique_ptr<snapshot::LayerCache> layers_;
  std::unique_ptr<executor::Executor> executor_;
  std::unique_ptr<solver::CacheDb> cache_;
  session::SessionManager sessions_;
  std::unique_ptr<registry::Client> registry_;
  std::unique_ptr<source::FileChecksumCache> checksums_;
  std::unique_ptr<source::LocalImageNames> image_names_;
};

// --root, else $HOIST_ROOT, else /var/lib/hoist as root, else $XDG_DATA_HOME/hoist (or
// ~/.local/share/hoist).
std::string DefaultRoot();

}  // namespace hoist::cmd
