// The parts of an engine the build pipeline uses, owned elsewhere (src/cmd/ opens and owns
// them under one root) and shared by every build that engine runs.
#pragma once

#include <string>

#include "content/local_content_store.h"
#include "executor/executor.h"
#include "registry/client.h"
#include "session/session_manager.h"
#include "snapshot/layer_cache.h"
#include "snapshot/snapshotter.h"
#include "solver/cache_db.h"
#include "solver/entitlements.h"
#include "source/checksum_cache.h"
#include "source/docker_image_source.h"

namespace hoist {
class BackgroundQueue;
}  // namespace hoist

namespace hoist::control {

struct EngineParts {
  std::string root;  // the engine's root directory (its layout: src/cmd/engine.h)
  content::LocalContentStore* content = nullptr;  // REQUIRED
  snapshot::Snapshotter* snapshotter = nullptr;   // REQUIRED
  snapshot::LayerCache* layers = nullptr;         // REQUIRED
  executor::Executor* executor = nullptr;         // null: RUN steps fail, saying why
  solver::CacheDb* cache = nullptr;               // REQUIRED
  session::SessionManager* sessions = nullptr;    // REQUIRED
  registry::Client* registry = nullptr;           // null: registry images and pushes fail
  source::LocalImageNames* image_names = nullptr;  // REQUIRED
  source::ChecksumCache* checksums = nullptr;  // null: content checksums read every file
  // null: an export's clean-up is done before the build answers (hoistd does it after).
  BackgroundQueue* cleanup = nullptr;
  // What builds may ask for (hoistd --allow-insecure-entitlement, insecure-entitlements).
  solver::EntitlementSet allowed_entitlements;

  // The diff cache (snapshot/diff_layer.h): what exports and COPY steps record, prune removes.
  std::string diff_cache_dir() const { return root + "/diffs"; }
};

}  // namespace hoist::control
