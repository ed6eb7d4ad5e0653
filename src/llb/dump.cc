#include "llb/dump.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>

#include <algorithm>

#include "api/llb/ops.pb.h"
#include "llb/internal/go_json.h"
#include "llb/internal/op_proto.h"

namespace hoist::llb {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Writes protobuf messages as Go's encoding/json writes BuildKit's generated structs.
class GoJsonWriter {
 public:
  explicit GoJsonWriter(std::string* out) : out_(out) {}

  void WriteMessage(const Message& m) {
    const std::string& name = m.GetDescriptor()->full_name();
    if (name == "pb.Op") return WriteOneofWrapped(m, "op", "Op", /*always_scalars=*/false);
    if (name == "pb.FileAction") {
      return WriteOneofWrapped(m, "action", "Action", /*always_scalars=*/true);
    }
    if (name == "pb.UserOpt") return WriteUserOpt(m);
    out_->push_back('{');
    bool first = true;
    const auto* d = m.GetDescriptor();
    for (int i = 0; i < d->field_count(); ++i) WriteField(m, d->field(i), &first, false);
    out_->push_back('}');
  }

 private:
  // solver/pb/json.go: the members of oneof `oneof` go into an object named `key`, placed
  // where the oneof is declared; other fields as usual (FileAction's always printed).
  void WriteOneofWrapped(const Message& m, std::string_view oneof, std::string_view key,
                         bool always_scalars) {
    const auto* d = m.GetDescriptor();
    const auto* od = d->FindOneofByName(std::string(oneof));
    out_->push_back('{');
    bool first = true;
    bool wrote_oneof = false;
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->containing_oneof() == od) {
        if (wrote_oneof) continue;
        wrote_oneof = true;
        Separator(&first);
        Key(key);
        out_->push_back('{');
        if (const FieldDescriptor* set = m.GetReflection()->GetOneofFieldDescriptor(m, od)) {
          Key(set->name());
          WriteValue(m, set, -1);
        }
        out_->push_back('}');
        continue;
      }
      WriteField(m, f, &first, always_scalars);
    }
    out_->push_back('}');
  }

  // {"User":{"byName":{...}}} or {"User":{"byId":N}}, byId left out when 0.
  void WriteUserOpt(const Message& m) {
    const Reflection* r = m.GetReflection();
    const auto* d = m.GetDescriptor();
    out_->append("{\"User\":{");
    const FieldDescriptor* by_name = d->FindFieldByName("byName");
    const FieldDescriptor* by_id = d->FindFieldByName("byID");
    if (r->HasField(m, by_name)) {
      Key("byName");
      WriteMessage(r->GetMessage(m, by_name));
    } else if (r->HasField(m, by_id) && r->GetUInt32(m, by_id) != 0) {
      Key("byId");
      out_->append(std::to_string(r->GetUInt32(m, by_id)));
    }
    out_->append("}}");
  }

  void Separator(bool* first) {
    if (!*first) out_->push_back(',');
    *first = false;
  }

  void Key(std::string_view k) {
    internal::AppendGoJsonString(out_, k);
    out_->push_back(':');
  }

  // omitempty: zero scalars, empty strings, bytes, lists and maps, and unset messages.
  bool IsEmpty(const Message& m, const FieldDescriptor* f) {
    const Reflection* r = m.GetReflection();
    if (f->is_repeated()) return r->FieldSize(m, f) == 0;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return !r->HasField(m, f);
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: return r->GetInt32(m, f) == 0;
      case FieldDescriptor::CPPTYPE_INT64: return r->GetInt64(m, f) == 0;
      case FieldDescriptor::CPPTYPE_UINT32: return r->GetUInt32(m, f) == 0;
      case FieldDescriptor::CPPTYPE_UINT64: return r->GetUInt64(m, f) == 0;
      case FieldDescriptor::CPPTYPE_BOOL: return !r->GetBool(m, f);
      case FieldDescriptor::CPPTYPE_ENUM: return r->GetEnumValue(m, f) == 0;
      case FieldDescriptor::CPPTYPE_STRING: return r->GetString(m, f).empty();
      default: return false;
    }
  }

  void WriteField(const Message& m, const FieldDescriptor* f, bool* first, bool always) {
    if (!always && IsEmpty(m, f)) return;
    Separator(first);
    Key(f->name());
    if (f->is_map()) return WriteMap(m, f);
    if (f->is_repeated()) {
      out_->push_back('[');
      int n = m.GetReflection()->FieldSize(m, f);
      for (int i = 0; i < n; ++i) {
        if (i > 0) out_->push_back(',');
        WriteValue(m, f, i);
      }
      out_->push_back(']');
      return;
    }
    WriteValue(m, f, -1);
  }

  // Go sorts map keys; all LLB maps have string keys.
  void WriteMap(const Message& m, const FieldDescriptor* f) {
    const Reflection* r = m.GetReflection();
    const FieldDescriptor* key_f = f->message_type()->map_key();
    const FieldDescriptor* value_f = f->message_type()->map_value();
    std::vector<const Message*> entries;
    for (int i = 0; i < r->FieldSize(m, f); ++i) entries.push_back(&r->GetRepeatedMessage(m, f, i));
    std::stable_sort(entries.begin(), entries.end(), [&](const Message* a, const Message* b) {
      return a->GetReflection()->GetString(*a, key_f) < b->GetReflection()->GetString(*b, key_f);
    });
    out_->push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out_->push_back(',');
      Key(entries[i]->GetReflection()->GetString(*entries[i], key_f));
      WriteValue(*entries[i], value_f, -1);
    }
    out_->push_back('}');
  }

  // Element `index` of a repeated field, or the singular value when index < 0.
  void WriteValue(const Message& m, const FieldDescriptor* f, int index) {
    const Reflection* r = m.GetReflection();
    const bool rep = index >= 0;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        out_->append(std::to_string(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f)));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        out_->append(std::to_string(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f)));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        out_->append(
            std::to_string(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f)));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        out_->append(
            std::to_string(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f)));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        out_->append((rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true"
                                                                                  : "false");
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        out_->append(std::to_string(rep ? r->GetRepeatedEnumValue(m, f, index)
                                        : r->GetEnumValue(m, f)));
        break;
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string s = rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
        if (f->type() == FieldDescriptor::TYPE_BYTES) {
          internal::AppendGoJsonString(out_, internal::Base64(s));
        } else {
          internal::AppendGoJsonString(out_, s);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        WriteMessage(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
        break;
      default:
        out_->append("null");  // no float or double fields in LLB
    }
  }

  std::string* out_;
};

Result<std::string> DumpProto(const pb::Definition& def) {
  std::string out;
  GoJsonWriter w(&out);
  for (int i = 0; i < def.def_size(); ++i) {
    const std::string& bytes = def.def(i);
    pb::Op op;
    if (!op.ParseFromString(bytes)) {
      return MakeError(Code::kInvalidArgument,
                       "invalid LLB definition: op " + std::to_string(i) + " does not parse");
    }
    std::string digest = oci::Digest::Sha256Of(bytes).str();
    out.append("{\"Op\":");
    w.WriteMessage(op);
    out.append(",\"Digest\":");
    internal::AppendGoJsonString(&out, digest);
    out.append(",\"OpMetadata\":");
    auto it = def.metadata().find(digest);
    w.WriteMessage(it == def.metadata().end() ? pb::OpMetadata::default_instance() : it->second);
    out.append("}\n");
  }
  return out;
}

}  // namespace

Result<std::string> DumpLLB(const Definition& definition) {
  return DumpLLB(definition.Serialize());
}

Result<std::string> DumpLLB(std::string_view bytes) {
  pb::Definition def;
  if (!def.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return MakeError(Code::kInvalidArgument, "invalid LLB definition: not a pb.Definition");
  }
  return DumpProto(def);
}

}  // namespace hoist::llb
