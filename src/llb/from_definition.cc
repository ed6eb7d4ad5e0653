// FromDefinition (marshal.h): a State on a definition marshalled elsewhere.
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "llb/internal/op_proto.h"
#include "llb/internal/vertex.h"
#include "llb/marshal.h"

namespace hoist::llb {
namespace {

// One op of a definition marshalled elsewhere, as it was: its bytes (so its digest), its
// metadata, and its inputs, which are ops of the same definition.
class DefinitionOpVertex final : public internal::Vertex {
 public:
  DefinitionOpVertex(internal::MarshalledOp op, std::vector<Output> inputs)
      : op_(std::move(op)), inputs_(std::move(inputs)) {}

  std::vector<Output> Inputs() const override { return inputs_; }
  Result<internal::MarshalledOp> MarshalOp(internal::MarshalContext&) const override { return op_; }

 private:
  internal::MarshalledOp op_;
  std::vector<Output> inputs_;  // each producing vertex once, in the op's order
};

Error Invalid(std::string why) {
  return Error(Code::kInvalidArgument, "invalid LLB definition: " + std::move(why));
}

}  // namespace

Result<State> FromDefinition(const Definition& def) {
  if (def.def.empty()) return State();
  // Every op but the last, which only selects the result, becomes a vertex. A marshalled
  // definition lists an op after its inputs, so an op may only name ops before it (which also
  // rules out cycles).
  std::map<oci::Digest, std::shared_ptr<const internal::Vertex>> vertices;
  for (size_t i = 0; i + 1 < def.def.size(); ++i) {
    pb::Op op;
    if (!op.ParseFromString(def.def[i])) {
      return Unexpected(Invalid(fmt::format("op {} does not parse", i)));
    }
    internal::MarshalledOp m;
    m.bytes = def.def[i];
    m.digest = oci::Digest::Sha256Of(m.bytes);
    if (auto md = def.metadata.find(m.digest); md != def.metadata.end()) m.metadata = md->second;
    std::vector<Output> inputs;
    for (const pb::Input& in : op.inputs()) {
      auto digest = oci::Digest::Parse(in.digest());
      auto it = digest ? vertices.find(*digest) : vertices.end();
      if (it == vertices.end()) {
        return Unexpected(
            Invalid(fmt::format("op {} names {}, which is not an op before it", i, in.digest())));
      }
      bool seen = false;
      for (const Output& o : inputs) seen = seen || o.vertex == it->second;
      if (!seen) inputs.push_back(Output{.vertex = it->second});
    }
    if (vertices.count(m.digest) != 0) continue;  // the same op twice: one vertex
    const oci::Digest digest = m.digest;
    vertices.emplace(digest, std::make_shared<DefinitionOpVertex>(std::move(m), std::move(inputs)));
  }
  pb::Op terminal;
  if (!terminal.ParseFromString(def.def.back())) {
    return Unexpected(Invalid("its last op does not parse"));
  }
  if (terminal.inputs_size() == 0) return State();
  if (terminal.inputs_size() != 1) {
    return Unexpected(Invalid("its last op selects more than one result"));
  }
  const pb::Input& head = terminal.inputs(0);
  auto digest = oci::Digest::Parse(head.digest());
  auto it = digest ? vertices.find(*digest) : vertices.end();
  if (it == vertices.end()) {
    return Unexpected(Invalid(fmt::format("its result {} is not one of its ops", head.digest())));
  }
  if (head.index() < 0) return Unexpected(Invalid("its result is a negative output"));
  return State(Output{.vertex = it->second, .index = head.index()});
}

}  // namespace hoist::llb
