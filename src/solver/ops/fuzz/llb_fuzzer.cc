// libFuzzer target for LLB as the daemon receives it from a client: the input is the bytes of a
// pb.Definition. It is read (llb::Definition::Parse), loaded into the solver's graph
// (LoadGraph: digests, inputs, cycles), and every op of the graph is turned into the engine's op
// (Worker::Resolve: identifiers, attributes, mounts, file actions). Exec, file and merge ops
// then compute their cache maps, which read only the op itself. Source ops stop at Resolve:
// their cache maps reach sessions or the network. Nothing is executed, so the engine's parts
// live in a throwaway directory and are never written to by a correct engine.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "api/llb/ops.pb.h"
#include "base/cancel.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "content/local_content_store.h"
#include "llb/definition.h"
#include "oci/platform.h"
#include "session/session_manager.h"
#include "snapshot/layer_cache.h"
#include "snapshot/snapshotter.h"
#include "solver/internal/graph.h"
#include "solver/ops/worker.h"

namespace {

struct Engine {
  hoist::TempDir dir;
  std::unique_ptr<hoist::content::LocalContentStore> content;
  std::unique_ptr<hoist::snapshot::Snapshotter> snapshotter;
  std::unique_ptr<hoist::snapshot::LayerCache> layers;
  hoist::session::SessionManager sessions;
  std::unique_ptr<hoist::solver::ops::Worker> worker;
};

Engine* g_engine = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto dir = hoist::TempDir::Create("hoist-llb-fuzz-");
  if (!dir) std::abort();
  g_engine = new Engine{.dir = std::move(*dir)};
  const std::string root = g_engine->dir.path();
  auto content = hoist::content::LocalContentStore::Open(hoist::PosixFileSystem(), root + "/content");
  auto snapshotter = hoist::snapshot::OpenNativeSnapshotter(root + "/snapshots");
  if (!content || !snapshotter) std::abort();
  g_engine->content = std::move(*content);
  g_engine->snapshotter = std::move(*snapshotter);
  g_engine->layers =
      std::make_unique<hoist::snapshot::LayerCache>(*g_engine->snapshotter, *g_engine->content);
  g_engine->worker = std::make_unique<hoist::solver::ops::Worker>(hoist::solver::ops::WorkerOptions{
      .snapshotter = g_engine->snapshotter.get(),
      .layers = g_engine->layers.get(),
      .content = g_engine->content.get(),
      .sessions = &g_engine->sessions,
      .state_dir = root + "/ops",
      .default_platform = hoist::oci::HostPlatform()});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto definition =
      hoist::llb::Definition::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!definition) return 0;
  (void)definition->Digests();
  (void)definition->Head();
  auto graph = hoist::solver::internal::LoadGraph(*definition);
  if (!graph) return 0;
  hoist::solver::OpContext ctx{.cancel = hoist::CancelContext::Background()};
  for (const auto& vertex : graph->vertices) {
    auto op = g_engine->worker->Resolve(vertex.digest, vertex.op_bytes, vertex.metadata);
    if (!op) continue;
    (void)(*op)->Name();
    pb::Op parsed;
    if (!parsed.ParseFromString(vertex.op_bytes) || parsed.has_source()) continue;
    (void)(*op)->GetCacheMap(ctx);
  }
  return 0;
}
