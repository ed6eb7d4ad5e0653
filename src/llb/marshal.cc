#include "llb/marshal.h"

#include <set>

#include "llb/caps.h"
#include "llb/internal/op_proto.h"
#include "llb/internal/vertex.h"

namespace hoist::llb {
namespace internal {

MarshalContext::MarshalContext(const MarshalOptions& options)
    : options_(options),
      default_platform_(options.platform ? oci::Normalize(*options.platform)
                                         : oci::Normalize(oci::HostPlatform())) {}

Result<const MarshalledOp*> MarshalContext::Marshal(const Vertex& v) {
  if (auto it = memo_.find(&v); it != memo_.end()) return &it->second;
  HOIST_ASSIGN_OR_RETURN(MarshalledOp op, v.MarshalOp(*this));
  return &memo_.emplace(&v, std::move(op)).first->second;
}

Result<InputRef> MarshalContext::ToInput(const Output& output) {
  if (!output.error.empty()) return MakeError(Code::kInvalidArgument, output.error);
  HOIST_ASSIGN_OR_RETURN(const MarshalledOp* op, Marshal(*output.vertex));
  return InputRef{op->digest, output.index};
}

Constraints MarshalContext::Merge(const OpOptions& op, const std::vector<std::string_view>& caps,
                                  const std::optional<oci::Platform>& platform_override) const {
  Constraints c;
  if (op.platform) {
    c.platform = oci::Normalize(*op.platform);
  } else if (platform_override) {
    c.platform = *platform_override;
  } else {
    c.platform = default_platform_;
  }
  c.worker_constraints = options_.worker_constraints;
  c.worker_constraints.insert(c.worker_constraints.end(), op.worker_constraints.begin(),
                              op.worker_constraints.end());
  c.metadata.ignore_cache = options_.ignore_cache;
  c.metadata.Merge(MetadataOf(op));
  for (auto cap : caps) AddCap(c.metadata, cap);
  return c;
}

OpMetadata MetadataOf(const OpOptions& op) {
  OpMetadata md;
  md.ignore_cache = op.ignore_cache;
  md.description = op.description;
  if (!op.custom_name.empty()) md.description[std::string(kDescriptionCustomName)] = op.custom_name;
  md.export_cache = op.export_cache;
  md.progress_group = op.progress_group;
  return md;
}

void SetConstraints(const Constraints& c, bool platform_specific, pb::Op* op) {
  if (platform_specific) {
    auto* p = op->mutable_platform();
    p->set_os(c.platform.os);
    p->set_architecture(c.platform.architecture);
    p->set_variant(c.platform.variant);
    p->set_osversion(c.platform.os_version);
    for (const auto& f : c.platform.os_features) p->add_osfeatures(f);
  }
  auto* wc = op->mutable_constraints();
  for (const auto& f : c.worker_constraints) wc->add_filter(f);
}

void SetInput(const InputRef& in, pb::Input* out) {
  out->set_digest(in.digest.str());
  out->set_index(in.index);
}

MarshalledOp Finish(const pb::Op& op, OpMetadata metadata) {
  MarshalledOp out;
  out.bytes = SerializeDeterministic(op);
  out.digest = oci::Digest::Sha256Of(out.bytes);
  out.metadata = std::move(metadata);
  return out;
}

}  // namespace internal

namespace {

struct Walk {
  internal::MarshalContext ctx;
  Definition def;
  std::set<const internal::Vertex*> visited;
  std::set<oci::Digest> emitted;

  // BuildKit's marshal(): inputs first, then the vertex; equal bytes are emitted once and
  // their metadata merged.
  Status Visit(const internal::Vertex& v) {
    if (visited.count(&v)) return OkStatus();
    for (const Output& in : v.Inputs()) {
      if (in.vertex) HOIST_TRY(Visit(*in.vertex));
    }
    HOIST_ASSIGN_OR_RETURN(const internal::MarshalledOp* op, ctx.Marshal(v));
    visited.insert(&v);
    def.metadata[op->digest].Merge(op->metadata);
    if (emitted.insert(op->digest).second) def.def.push_back(op->bytes);
    return OkStatus();
  }
};

}  // namespace

Result<Definition> Marshal(const State& state, const MarshalOptions& options) {
  Walk walk{internal::MarshalContext(options), {}, {}, {}};
  if (state.IsScratch()) return walk.def;
  HOIST_TRY(walk.Visit(*state.output().vertex));
  HOIST_ASSIGN_OR_RETURN(internal::InputRef head, walk.ctx.ToInput(state.output()));

  pb::Op terminal;
  internal::SetInput(head, terminal.add_inputs());
  OpMetadata md;
  internal::AddCap(md, kCapConstraints);
  internal::AddCap(md, kCapPlatform);
  for (const auto& [digest, m] : walk.def.metadata) {
    if (m.ignore_cache) internal::AddCap(md, kCapMetaIgnoreCache);
    if (!m.description.empty()) internal::AddCap(md, kCapMetaDescription);
    if (m.export_cache) internal::AddCap(md, kCapMetaExportCache);
  }
  internal::MarshalledOp last = internal::Finish(terminal, std::move(md));
  walk.def.metadata[last.digest].Merge(last.metadata);
  walk.def.def.push_back(std::move(last.bytes));
  return std::move(walk.def);
}

}  // namespace hoist::llb
