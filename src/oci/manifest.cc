#include "oci/manifest.h"

#include <fmt/format.h>

#include "oci/internal/json_codec.h"
#include "oci/media_types.h"

namespace hoist::oci {
namespace {

using internal::Json;
using internal::JsonWriter;
using internal::ObjectReader;

constexpr std::string_view kDoc = "manifest";

}  // namespace


Result<Manifest> ParseManifest(std::string_view json) {
  HOIST_ASSIGN_OR_RETURN(Json v, internal::ParseJson(kDoc, json));
  if (!v.is_object()) return Unexpected(internal::TypeError(kDoc, "", "object", v));
  ObjectReader r(kDoc, "", v);
  Manifest m;
  HOIST_TRY(internal::ReadSchemaVersion(r, &m.schema_version));
  HOIST_TRY(r.String("mediaType", &m.media_type));
  if (r.Has("mediaType") && !IsManifestType(m.media_type)) {
    std::string quoted;
    internal::AppendGoQuoted(&quoted, m.media_type);
    return Unexpected(r.Fail("mediaType", fmt::format("{} is not a manifest media type", quoted)));
  }
  HOIST_TRY(r.String("artifactType", &m.artifact_type));
  if (r.Has("artifactType")) {
    HOIST_TRY(internal::CheckMediaType(kDoc, r.Path("artifactType"), m.artifact_type));
  }
  const Json* config = r.Find("config");
  if (config == nullptr) return Unexpected(r.Fail("config", "required field is missing"));
  HOIST_ASSIGN_OR_RETURN(m.config, internal::ReadDescriptor(kDoc, r.Path("config"), *config));
  HOIST_ASSIGN_OR_RETURN(const Json* layers, r.Array("layers", /*required=*/true));
  for (size_t i = 0; i < layers->size(); ++i) {
    HOIST_ASSIGN_OR_RETURN(
        Descriptor d,
        internal::ReadDescriptor(kDoc, internal::ElementPath(r.Path("layers"), i), (*layers)[i]));
    m.layers.push_back(std::move(d));
  }
  if (const Json* subject = r.Find("subject")) {
    HOIST_ASSIGN_OR_RETURN(m.subject, internal::ReadDescriptor(kDoc, r.Path("subject"), *subject));
  }
  HOIST_TRY(r.StringMap("annotations", &m.annotations, /*null_is_absent=*/false));
  if (r.Has("manifests")) {
    return Unexpected(r.Fail("manifests", "not allowed in a manifest (ambiguous with an index)"));
  }
  m.unknown_fields = r.Unknown();
  return m;
}

std::string SerializeManifest(const Manifest& m) {
  JsonWriter w;
  w.BeginObject();
  w.IntField("schemaVersion", m.schema_version, /*omit_zero=*/false);
  w.StringField("mediaType", m.media_type);
  w.StringField("artifactType", m.artifact_type);
  w.Key("config");
  internal::WriteDescriptor(w, m.config);
  w.Key("layers");
  w.BeginArray();
  for (const Descriptor& d : m.layers) internal::WriteDescriptor(w, d);
  w.EndArray();
  if (m.subject) {
    w.Key("subject");
    internal::WriteDescriptor(w, *m.subject);
  }
  w.StringMapField("annotations", m.annotations);
  w.UnknownFields(m.unknown_fields, {"schemaVersion", "mediaType", "artifactType", "config",
                                     "layers", "subject", "annotations"});
  w.EndObject();
  return w.Take();
}

Status CheckManifestSchema(const Manifest& m) {
  if (m.layers.empty()) {
    return MakeError(Code::kInvalidArgument,
                     "manifest: field \"layers\": must list at least one layer");
  }
  return OkStatus();
}

}  // namespace hoist::oci
