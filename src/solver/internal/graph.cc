#include "solver/internal/graph.h"

#include <map>
#include <string_view>

#include <fmt/format.h>

#include "api/llb/ops.pb.h"
#include "llb/caps.h"

namespace hoist::solver::internal {
namespace {

tl::unexpected<Error> Invalid(const oci::Digest& digest, std::string_view what) {
  return MakeError(Code::kInvalidArgument, fmt::format("LLB op {}: {}", digest.str(), what));
}

// An index into the op's inputs, or -1 for none.
bool InputIndexOk(int64_t i, int inputs) { return i >= -1 && i < inputs; }

// The shape checks BuildKit makes of every op it loads (opsutils.Validate), the references an op
// makes to its own inputs, and the limits. (Which outputs an edge may select is checked by the
// scheduler, which knows each op's outputs once it is resolved.)
Status CheckOp(const oci::Digest& digest, const pb::Op& op) {
  const int inputs = op.inputs_size();
  if (inputs > kMaxOpInputs) {
    return Invalid(digest, fmt::format("{} inputs, more than the {} allowed", inputs, kMaxOpInputs));
  }
  switch (op.op_case()) {
    case pb::Op::kSource:
      if (op.source().identifier().empty()) return Invalid(digest, "invalid source op with no identifier");
      return OkStatus();
    case pb::Op::kExec: {
      const pb::ExecOp& exec = op.exec();
      if (!exec.has_meta()) return Invalid(digest, "invalid exec op with no meta");
      if (exec.meta().args().empty()) return Invalid(digest, "invalid exec op with no args");
      if (exec.mounts().empty()) return Invalid(digest, "invalid exec op with no mounts");
      if (exec.mounts_size() > kMaxExecMounts) {
        return Invalid(digest, fmt::format("{} mounts, more than the {} allowed", exec.mounts_size(), kMaxExecMounts));
      }
      bool root = false;
      for (const pb::Mount& m : exec.mounts()) {
        root = root || m.dest() == "/";
        if (!InputIndexOk(m.input(), inputs)) {
          return Invalid(digest, fmt::format("mount {}: input {} out of range", m.dest(), m.input()));
        }
        if (m.output() < -1 || m.output() >= exec.mounts_size()) {
          return Invalid(digest, fmt::format("mount {}: output {} out of range", m.dest(), m.output()));
        }
      }
      if (!root) return Invalid(digest, "invalid exec op with no rootfs");
      return OkStatus();
    }
    case pb::Op::kFile: {
      const pb::FileOp& file = op.file();
      if (file.actions().empty()) return Invalid(digest, "invalid file op with no actions");
      if (file.actions_size() > kMaxFileActions) {
        return Invalid(digest, fmt::format("{} actions, more than the {} allowed", file.actions_size(), kMaxFileActions));
      }
      for (int i = 0; i < file.actions_size(); ++i) {
        const pb::FileAction& a = file.actions(i);
        // Inputs first, then the results of the actions before this one.
        if (!InputIndexOk(a.input(), inputs + i) || !InputIndexOk(a.secondaryinput(), inputs + i)) {
          return Invalid(digest, fmt::format("file action {}: input out of range", i));
        }
        if (a.action_case() == pb::FileAction::ACTION_NOT_SET) {
          return Invalid(digest, fmt::format("file action {}: no action in it", i));
        }
        if (a.output() < -1 || a.output() >= file.actions_size()) {
          return Invalid(digest, fmt::format("file action {}: output {} out of range", i, a.output()));
        }
      }
      return OkStatus();
    }
    case pb::Op::kMerge:
      if (op.merge().inputs().empty()) return Invalid(digest, "invalid merge op with no inputs");
      for (const pb::MergeInput& in : op.merge().inputs()) {
        if (in.input() < 0 || in.input() >= inputs) return Invalid(digest, "merge input out of range");
      }
      return OkStatus();
    case pb::Op::kDiff:
    case pb::Op::kBuild:
      return OkStatus();  // refused by the worker when it loads them, with their own message
    default:
      return Invalid(digest, "no operation in it");
  }
}

}  // namespace

Result<Graph> LoadGraph(const llb::Definition& definition) {
  Graph graph;
  if (definition.def.empty()) return graph;
  if (definition.def.size() > kMaxOps) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("LLB definition: {} ops, more than the {} allowed", definition.def.size(), kMaxOps));
  }
  for (const auto& [digest, md] : definition.metadata) {
    for (const auto& [cap, on] : md.caps) {
      (void)on;
      if (!llb::IsKnownCap(cap)) {
        return MakeError(Code::kInvalidArgument, fmt::format("unknown API capability {}", cap));
      }
    }
  }

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
    if (bytes.size() > kMaxOpBytes) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("LLB op {}: {} bytes, more than the {} allowed", digest.str(), bytes.size(), kMaxOpBytes));
    }
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
    HOIST_TRY(CheckOp(digest, op));
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
