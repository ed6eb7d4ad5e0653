#include "llb/definition.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <set>
#include <utility>

#include "api/llb/ops.pb.h"
#include "base/pattern_matcher.h"
#include "llb/internal/op_proto.h"

namespace hoist::llb {

void OpMetadata::Merge(const OpMetadata& other) {
  if (other.ignore_cache) ignore_cache = true;
  for (const auto& [k, v] : other.description) description[k] = v;
  if (other.export_cache) export_cache = other.export_cache;
  for (const auto& [k, v] : other.caps) caps[k] = true;
  if (other.progress_group) progress_group = other.progress_group;
}

std::string Definition::Serialize() const {
  pb::Definition d;
  for (const auto& op : def) d.add_def(op);
  for (const auto& [digest, md] : metadata) {
    internal::ToProto(md, &(*d.mutable_metadata())[digest.str()]);
  }
  if (!source.empty()) d.mutable_source()->ParseFromString(source);
  return internal::SerializeDeterministic(d);
}

Result<Definition> Definition::Parse(std::string_view bytes) {
  pb::Definition d;
  if (!d.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return MakeError(Code::kInvalidArgument, "invalid LLB definition: not a pb.Definition");
  }
  Definition out;
  out.def.assign(d.def().begin(), d.def().end());
  for (const auto& [key, md] : d.metadata()) {
    auto digest = oci::Digest::Parse(key);
    if (!digest) {
      return Unexpected(std::move(digest).error().Wrap("invalid LLB definition: metadata key"));
    }
    out.metadata[*digest] = internal::FromProto(md);
  }
  if (d.has_source()) out.source = internal::SerializeDeterministic(d.source());
  return out;
}

std::vector<oci::Digest> Definition::Digests() const {
  std::vector<oci::Digest> out;
  out.reserve(def.size());
  for (const auto& op : def) out.push_back(oci::Digest::Sha256Of(op));
  return out;
}

Result<std::optional<oci::Digest>> Definition::Head() const {
  if (def.empty()) return std::optional<oci::Digest>();
  pb::Op op;
  if (!op.ParseFromString(def.back())) {
    return MakeError(Code::kInvalidArgument, "invalid LLB definition: last op does not parse");
  }
  if (op.inputs_size() == 0) return std::optional<oci::Digest>();
  HOIST_ASSIGN_OR_RETURN(auto digest, oci::Digest::Parse(op.inputs(0).digest()));
  return std::optional<oci::Digest>(std::move(digest));
}

Result<std::optional<std::map<std::string, std::string>>> InlineFiles(const Definition& def) {
  using Files = std::map<std::string, std::string>;
  using Tree = std::pair<std::set<std::string>, Files>;  // directories ("" the root), files
  const std::optional<Files> solve;
  if (def.def.size() != 2) return solve;
  pb::Op op;
  pb::Op head;
  if (!op.ParseFromString(def.def[0]) || !head.ParseFromString(def.def[1])) {
    return MakeError(Code::kInvalidArgument, "invalid LLB definition: an op does not parse");
  }
  if (!op.has_file() || op.inputs_size() != 0 || head.inputs_size() != 1 ||
      head.inputs(0).index() != 0 ||
      head.inputs(0).digest() != oci::Digest::Sha256Of(def.def[0]).str()) {
    return solve;
  }
  const auto& actions = op.file().actions();
  std::vector<Tree> trees;  // each action's result
  std::optional<Files> out;
  for (int i = 0; i < actions.size(); ++i) {
    const pb::FileAction& a = actions[i];
    Tree t;
    if (a.input() == -1) {
      t.first.insert("");
    } else if (a.input() >= 0 && a.input() < i) {
      t = trees[a.input()];
    } else {
      return solve;
    }
    auto parent_is_dir = [&](const std::string& p) {
      const size_t slash = p.rfind('/');
      return t.first.contains(slash == std::string::npos ? "" : p.substr(0, slash));
    };
    if (a.has_mkfile()) {
      std::string p = CleanPath("/" + a.mkfile().path()).substr(1);
      if (p.empty() || t.first.contains(p) || !parent_is_dir(p)) return solve;
      t.second[p] = a.mkfile().data();
    } else if (a.has_mkdir()) {
      std::string p = CleanPath("/" + a.mkdir().path()).substr(1);
      if (p.empty() || t.second.contains(p)) return solve;
      if (!a.mkdir().makeparents() && (t.first.contains(p) || !parent_is_dir(p))) return solve;
      // The directory and, with makeParents, its missing parents.
      for (size_t slash = p.find('/');; slash = p.find('/', slash + 1)) {
        const std::string dir = p.substr(0, slash);
        if (t.second.contains(dir)) return solve;
        t.first.insert(dir);
        if (slash == std::string::npos) break;
      }
    } else {
      return solve;
    }
    if (a.output() == 0) out = t.second;
    trees.push_back(std::move(t));
  }
  return out;
}

namespace internal {

std::string SerializeDeterministic(const google::protobuf::MessageLite& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

void ToProto(const OpMetadata& md, pb::OpMetadata* out) {
  out->set_ignore_cache(md.ignore_cache);
  for (const auto& [k, v] : md.description) (*out->mutable_description())[k] = v;
  if (md.export_cache) out->mutable_export_cache()->set_value(*md.export_cache);
  for (const auto& [k, v] : md.caps) (*out->mutable_caps())[k] = v;
  if (md.progress_group) {
    auto* pg = out->mutable_progress_group();
    pg->set_id(md.progress_group->id);
    pg->set_name(md.progress_group->name);
    pg->set_weak(md.progress_group->weak);
  }
}

OpMetadata FromProto(const pb::OpMetadata& md) {
  OpMetadata out;
  out.ignore_cache = md.ignore_cache();
  out.description.insert(md.description().begin(), md.description().end());
  if (md.has_export_cache()) out.export_cache = md.export_cache().value();
  out.caps.insert(md.caps().begin(), md.caps().end());
  if (md.has_progress_group()) {
    out.progress_group =
        ProgressGroup{md.progress_group().id(), md.progress_group().name(),
                      md.progress_group().weak()};
  }
  return out;
}

}  // namespace internal
}  // namespace hoist::llb
