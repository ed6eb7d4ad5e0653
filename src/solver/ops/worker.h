// Worker: the engine's op implementations (BuildKit's worker with its llbsolver ops). It turns
// LLB ops into solver Ops (OpResolver) and owns what their results are: committed snapshots of
// the engine's snapshotter, named by their snapshot key (ResultStore).
//
//   source   oci-layout:// (a client's OCI store through the session; layers copied into the
//            engine's content store, verified, and unpacked once per chain ID), local:// (a
//            client dir read in place where it is on the engine's disk, else mirrored
//            incrementally), docker-image:// (refused
//            until registries are supported: use a named context)
//   exec     a process in the OCI runtime on a snapshot of its root input, with bind, cache,
//            tmpfs and secret mounts; its writable mounts' changes become new snapshots
//   file     mkdir/mkfile/rm/symlink/copy on snapshots (file_actions.h)
//   merge    the inputs' trees layered in order
//
// A Worker serves the solves of one build (it knows the build's sessions). It refers to the
// engine's parts without owning them; they must outlive it.
//
// Thread-safety: thread-safe; ops run concurrently on pool threads.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "content/content_store.h"
#include "executor/executor.h"
#include "oci/platform.h"
#include "session/session_manager.h"
#include "snapshot/layer_cache.h"
#include "snapshot/snapshotter.h"
#include "solver/op.h"

namespace hoist::registry {
class Client;
}  // namespace hoist::registry
namespace hoist::source {
class ChecksumCache;
class InPlaceContext;
class LocalImageNames;
}  // namespace hoist::source

namespace hoist {
class BackgroundQueue;
}  // namespace hoist

namespace hoist::solver::ops {

// Results of local sources are their mirror directories, named `mirror:<name>`: readable,
// but not snapshots (nothing to export or cache outside this engine).
inline constexpr std::string_view kMirrorIdPrefix = "mirror:";

// Where the snapshotter takes layer images, a local source's mirror is a committed snapshot
// instead (context_snapshot.h), and its result is that snapshot: the file
// `<state_dir>/local/<name>` + this suffix names the mirror's current generation.
inline constexpr std::string_view kMirrorSnapshotSuffix = ".snapshot";

// Results of local sources read in place (the embedded engine: source/in_place_context.h),
// named `inplace:<random>`: views that live as long as the Worker of their build.
inline constexpr std::string_view kInPlaceIdPrefix = "inplace:";

// The committed snapshot holding an empty tree, the result of sources with no content.
inline constexpr std::string_view kEmptySnapshot = "empty";

struct WorkerOptions {
  snapshot::Snapshotter* snapshotter = nullptr;  // REQUIRED
  snapshot::LayerCache* layers = nullptr;        // REQUIRED
  content::ContentStore* content = nullptr;      // REQUIRED: the engine's blobs
  // May be null: exec ops then fail, saying no OCI runtime works here.
  executor::Executor* executor = nullptr;
  std::string executor_error;  // why there is no executor, when there is none
  session::SessionManager* sessions = nullptr;  // REQUIRED
  // The build's sessions, tried in order by ops that name none.
  std::vector<std::string> session_ids;
  // Engine state for the ops: local context mirrors, cache mounts, mount points.
  std::string state_dir;
  // The platform of ops that name none (the host's).
  oci::Platform default_platform;
  // May be null: docker-image sources then fail, saying registries are not configured.
  registry::Client* registry = nullptr;
  // May be null: names are then not remembered (image resolve mode `local` finds nothing).
  source::LocalImageNames* image_names = nullptr;
  // May be null: content checksums then read every file (source/checksum_cache.h).
  source::ChecksumCache* checksums = nullptr;
  // The exporters' diff cache (snapshot/diff_layer.h). A COPY that writes its layer from its
  // sources records there the gzip blob of that layer, which it writes into `content` on the
  // way, so that an export with default settings need not diff it. Empty: nothing recorded.
  std::string diff_cache_dir;
  // May be null: clean-ups that need not hold a build up (an export's view) are then done
  // before the export returns.
  BackgroundQueue* cleanup = nullptr;
};

class Worker final : public OpResolver, public ResultStore {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker() override;

  // OpResolver
  Result<std::unique_ptr<Op>> Resolve(const oci::Digest& digest, std::string_view op_bytes,
                                      const llb::OpMetadata& metadata) override;
  // ResultStore: IDs are committed snapshot names.
  Result<std::optional<ResultRef>> Load(const std::string& id) override;
  int64_t Size(const std::string& id) override;

  const WorkerOptions& options() const { return options_; }

  // A reference to committed snapshot `name`.
  ResultRef Ref(const std::string& name) const;
  // The empty tree's snapshot, created on first use.
  Result<ResultRef> EmptyRef();

  // The local-context mirror this build may use: `preferred` unless another live build (of
  // this process, as hoistd serves many, or of another process on the root) holds it, then
  // `alternate`. The mirror is this build's
  // until the Worker is destroyed, so no other build re-syncs it while this one reads it.
  // kUnavailable when both are held.
  Result<std::string> LeaseMirror(const std::string& preferred, const std::string& alternate);

  // Makes `context` the result `id` (kInPlaceIdPrefix...) until the Worker is destroyed.
  void AdoptInPlace(const std::string& id, std::shared_ptr<source::InPlaceContext> context);

 private:
  WorkerOptions options_;
  std::mutex empty_mu_;
  std::mutex mirrors_mu_;
  std::set<std::string> mirrors_;  // leased by this build
  std::vector<UniqueFd> mirror_leases_;  // their lease files, locked
  std::set<std::string> in_place_;  // adopted by this build
};

// Removes the temporary mount points (`mnt-*`) a killed engine left in `state_dir`, detaching
// whatever is still mounted on them first. Call it only while no build runs on the root (when
// the engine opens it, holding its lock). Returns how many it removed.
Result<int> RemoveStaleMountPoints(const std::string& state_dir);

}  // namespace hoist::solver::ops
