#include "oci/index.h"

#include <fmt/format.h>

#include "oci/internal/json_codec.h"
#include "oci/media_types.h"

namespace hoist::oci {
namespace {

using internal::Json;
using internal::JsonWriter;
using internal::ObjectReader;

constexpr std::string_view kDoc = "index";

}  // namespace

Result<Index> ParseIndex(std::string_view json) {
  HOIST_ASSIGN_OR_RETURN(Json v, internal::ParseJson(kDoc, json));
  if (!v.is_object()) return Unexpected(internal::TypeError(kDoc, "", "object", v));
  ObjectReader r(kDoc, "", v);
  Index index;
  HOIST_TRY(internal::ReadSchemaVersion(r, &index.schema_version));
  HOIST_TRY(r.String("mediaType", &index.media_type));
  if (r.Has("mediaType") && !IsIndexType(index.media_type)) {
    std::string quoted;
    internal::AppendGoQuoted(&quoted, index.media_type);
    return Unexpected(r.Fail("mediaType", fmt::format("{} is not an index media type", quoted)));
  }
  HOIST_TRY(r.String("artifactType", &index.artifact_type));
  if (r.Has("artifactType")) {
    HOIST_TRY(internal::CheckMediaType(kDoc, r.Path("artifactType"), index.artifact_type));
  }
  HOIST_ASSIGN_OR_RETURN(const Json* manifests, r.Array("manifests", /*required=*/true));
  for (size_t i = 0; i < manifests->size(); ++i) {
    HOIST_ASSIGN_OR_RETURN(
        Descriptor d, internal::ReadDescriptor(kDoc, internal::ElementPath(r.Path("manifests"), i),
                                               (*manifests)[i]));
    index.manifests.push_back(std::move(d));
  }
  if (const Json* subject = r.Find("subject")) {
    HOIST_ASSIGN_OR_RETURN(index.subject, internal::ReadDescriptor(kDoc, r.Path("subject"), *subject));
  }
  HOIST_TRY(r.StringMap("annotations", &index.annotations, /*null_is_absent=*/false));
  for (std::string_view key : {"config", "layers"}) {
    if (r.Has(key)) return Unexpected(r.Fail(key, "not allowed in an index (ambiguous with a manifest)"));
  }
  index.unknown_fields = r.Unknown();
  return index;
}

std::string SerializeIndex(const Index& index) {
  JsonWriter w;
  w.BeginObject();
  w.IntField("schemaVersion", index.schema_version, /*omit_zero=*/false);
  w.StringField("mediaType", index.media_type);
  w.StringField("artifactType", index.artifact_type);
  w.Key("manifests");
  w.BeginArray();
  for (const Descriptor& d : index.manifests) internal::WriteDescriptor(w, d);
  w.EndArray();
  if (index.subject) {
    w.Key("subject");
    internal::WriteDescriptor(w, *index.subject);
  }
  w.StringMapField("annotations", index.annotations);
  w.UnknownFields(index.unknown_fields, {"schemaVersion", "mediaType", "artifactType", "manifests",
                                         "subject", "annotations"});
  w.EndObject();
  return w.Take();
}

}  // namespace hoist::oci
