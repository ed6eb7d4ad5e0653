// The vertex DAG of an LLB Definition, read from its pb.Op bytes: one vertex per distinct op
// digest, in an order where inputs come first, restricted to what the head depends on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "llb/definition.h"
#include "oci/digest.h"

namespace hoist::solver::internal {

struct Edge {
  size_t vertex = 0;    // index into Graph::vertices
  int64_t output = 0;   // which output of that vertex
};

struct GraphVertex {
  oci::Digest digest;
  std::string op_bytes;
  llb::OpMetadata metadata;
  std::vector<Edge> inputs;
};

struct Graph {
  std::vector<GraphVertex> vertices;  // topological order
  std::optional<Edge> head;           // nullopt for an empty definition
};

// Limits on a definition, which may come from any client of the daemon.
inline constexpr size_t kMaxOps = 100'000;
inline constexpr size_t kMaxOpBytes = size_t{16} << 20;
inline constexpr int kMaxOpInputs = 10'000;
inline constexpr int kMaxExecMounts = 1'000;
inline constexpr int kMaxFileActions = 10'000;

// kInvalidArgument naming the op for bytes that are not a pb.Op, an input that names no op in
// the definition or an output it does not have, a cycle, or a last op that selects no result;
// for ops BuildKit would refuse to load (an exec op without args, mounts or a root mount, a file
// op without actions, ...), references to inputs an op does not have, capabilities in the
// metadata that BuildKit does not define (`unknown API capability <cap>`), and definitions
// past the limits above.
Result<Graph> LoadGraph(const llb::Definition& definition);

}  // namespace hoist::solver::internal
