#include "solver/internal/graph.h"

#include <map>

#include <fmt/format.h>

#include "api/llb/ops.pb.h"

namespace hoist::solver::internal {

Result<Graph> LoadGraph(const llb::Definition& definition) {
  Graph graph;
  if (definition.def.empty()) return graph;

  struct Parsed {
    oci::Digest digest;
    const std::string* bytes;
    std::vector<std::pair<oci::Digest, int64_t>> inputs;
  };
  std::map<oci::Digest, Parsed> ops;
  std::vector<oci::Digest> order;
  std::optional<std::pair<oci::Digest, int64_t>> head;
  for (size_t i = 0; i < definition.def.size(); ++i) {
    const std::string& bytes = definition.def[i];
    oci::Digest digest = oci::Digest::Sha256Of(bytes);
    pb::Op op;
    if (!op.ParseFromString(bytes)) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("LLB op {} (#{} in the definition): not a valid pb.Op", digest.str(), i));
    }
    Parsed p{digest, &bytes, {}};
    for (int j = 0; j < op.inputs_size(); ++j) {
      const pb::Input& in = op.inputs(j);
      auto d = oci::Digest::Parse(in.digest());
      if (!d) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("LLB op {}: input {}: {}", digest.str(), j, d.error().message()));
      }
      if (in.index() < 0) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("LLB op {}: input {}: negative output index {}", digest.str(), j, in.index()));
      }
      p.inputs.emplace_back(*d, in.index());
    }
    bool is_last = i + 1 == definition.def.size();
    if (is_last && op.op_case() == pb::Op::OP_NOT_SET) {
      if (p.inputs.size() != 1) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("LLB definition: the last op {} must select one result, it has {} inputs",
                                     digest.str(), p.inputs.size()));
      }
      head = p.inputs[0];
      break;
    }
    if (ops.emplace(digest, std::move(p)).second) order.push_back(digest);
  }
  if (!head) {
    // No result selector: the last op itself is the result.
    head = std::make_pair(order.back(), int64_t{0});
  }
  for (const oci::Digest& d : order) {
    for (const auto& [in, idx] : ops[d].inputs) {
      (void)idx;
      if (!ops.count(in)) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("LLB op {}: input {} is not in the definition", d.str(), in.str()));
      }
    }
  }
  if (!ops.count(head->first)) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("LLB definition: the result {} is not in the definition", head->first.str()));
  }

  // Depth-first from the head, emitting inputs first; a grey vertex seen again is a cycle.
  enum Mark { kWhite, kGrey, kBlack };
  std::map<oci::Digest, Mark> marks;
  std::map<oci::Digest, size_t> index;
  struct Frame {
    oci::Digest digest;
    size_t next = 0;
  };
  std::vector<Frame> stack{{head->first, 0}};
  marks[head->first] = kGrey;
  while (!stack.empty()) {
    Frame& f = stack.back();
    const Parsed& p = ops[f.digest];
    if (f.next < p.inputs.size()) {
      const oci::Digest& in = p.inputs[f.next++].first;
      Mark& m = marks[in];
      if (m == kGrey) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("LLB op {}: input cycle through {}", f.digest.str(), in.str()));
      }
      if (m == kWhite) {
        m = kGrey;
        stack.push_back({in, 0});
      }
      continue;
    }
    GraphVertex v;
    v.digest = p.digest;
    v.op_bytes = *p.bytes;
    auto md = definition.metadata.find(p.digest);
    if (md != definition.metadata.end()) v.metadata = md->second;
    for (const auto& [in, idx] : p.inputs) v.inputs.push_back(Edge{index.at(in), idx});
    index[p.digest] = graph.vertices.size();
    graph.vertices.push_back(std::move(v));
    marks[f.digest] = kBlack;
    stack.pop_back();
  }
  graph.head = Edge{index.at(head->first), head->second};
  return graph;
}

}  // namespace hoist::solver::internal
