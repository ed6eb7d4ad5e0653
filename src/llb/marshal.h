// Marshal: turns a State into a Definition, as BuildKit's State.Marshal does.
//
// Ops are emitted in dependency order, each once: a vertex reached twice, or two vertices
// whose bytes are equal, appear once, and their metadata is merged. Each op is serialised
// deterministically (fields in number order, map entries sorted), so the same graph gives
// the same bytes and digests every time, and an op's digest is the sha256 of its bytes.
// The last op only selects the result; its metadata carries the caps `constraints` and
// `platform` (plus meta.* caps when any op uses descriptions, ignore_cache or export_cache).
//
// Thread-safety: pure function over immutable States.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "llb/definition.h"
#include "llb/state.h"
#include "oci/platform.h"

namespace hoist::llb {

struct MarshalOptions {
  // The platform of ops that have none of their own; default: the host's.
  std::optional<oci::Platform> platform;
  std::vector<std::string> worker_constraints;
  // Applied to every op.
  bool ignore_cache = false;
  // local.unique of Local sources without a session. BuildKit draws a random one on each
  // Marshal; hoist leaves it to the caller so that marshalling stays deterministic.
  std::string local_unique_id;
};

// Scratch marshals to an empty Definition. Errors (kInvalidArgument) name the op: an exec
// without args, a bad image reference, a tmpfs mount's output used as an input...
Result<Definition> Marshal(const State& state, const MarshalOptions& options = {});

// The State of a definition marshalled elsewhere (a frontend input: BuildKit's DefinitionOp).
// Its ops are kept as they are, bytes, digests and metadata, and an op built on the State
// takes the definition's result as its input, so marshalling such a graph emits every op of
// the definition and the new ones after them. An empty definition, or one whose last op
// selects nothing, is scratch. kInvalidArgument for an op that does not parse or names an op
// that is not before it in the definition.
Result<State> FromDefinition(const Definition& def);

}  // namespace hoist::llb
