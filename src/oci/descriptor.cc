#include "oci/descriptor.h"

#include <fmt/format.h>

#include "oci/internal/json_codec.h"

namespace hoist::oci {

namespace internal {

Result<Descriptor> ReadDescriptor(std::string_view doc, std::string path, const Json& v) {
  if (!v.is_object()) return Unexpected(TypeError(doc, path, "object", v));
  ObjectReader r(doc, path, v);
  Descriptor d;
  HOIST_TRY(r.String("mediaType", &d.media_type, /*required=*/true));
  HOIST_TRY(CheckMediaType(doc, r.Path("mediaType"), d.media_type));
  const Json* digest = r.Find("digest");
  if (digest == nullptr) return Unexpected(r.Fail("digest", "required field is missing"));
  HOIST_ASSIGN_OR_RETURN(d.digest, ReadDigest(doc, r.Path("digest"), *digest));
  HOIST_TRY(r.Int64("size", &d.size, /*required=*/true));
  HOIST_TRY(r.StringList("urls", &d.urls, /*null_is_absent=*/false));
  for (size_t i = 0; i < d.urls.size(); ++i) {
    if (!IsValidUri(d.urls[i])) {
      std::string quoted;
      AppendGoQuoted(&quoted, d.urls[i]);
      return Unexpected(FieldError(doc, ElementPath(r.Path("urls"), i),
                                   fmt::format("invalid URL {}", quoted)));
    }
  }
  HOIST_TRY(r.StringMap("annotations", &d.annotations, /*null_is_absent=*/false));
  if (const Json* data = r.Find("data")) {
    if (!data->is_string()) return Unexpected(TypeError(doc, r.Path("data"), "string", *data));
    std::string s = data->get<std::string>();
    if (!IsStrictBase64(s)) {
      return Unexpected(r.Fail("data", "not canonical padded base64"));
    }
    d.data = std::move(s);
  }
  if (const Json* platform = r.Find("platform")) {
    HOIST_ASSIGN_OR_RETURN(d.platform, ReadPlatform(doc, r.Path("platform"), *platform));
  }
  HOIST_TRY(r.String("artifactType", &d.artifact_type));
  if (r.Has("artifactType")) HOIST_TRY(CheckMediaType(doc, r.Path("artifactType"), d.artifact_type));
  d.unknown_fields = r.Unknown();
  return d;
}

void WriteDescriptor(JsonWriter& w, const Descriptor& d) {
  w.BeginObject();
  w.StringField("mediaType", d.media_type, /*omit_empty=*/false);
  w.StringField("digest", d.digest.str(), /*omit_empty=*/false);
  w.IntField("size", d.size, /*omit_zero=*/false);
  w.StringListField("urls", d.urls);
  w.StringMapField("annotations", d.annotations);
  if (d.data) w.StringField("data", *d.data, /*omit_empty=*/false);
  if (d.platform) {
    w.Key("platform");
    WritePlatform(w, *d.platform);
  }
  w.StringField("artifactType", d.artifact_type);
  w.UnknownFields(d.unknown_fields, {"mediaType", "digest", "size", "urls", "annotations", "data",
                                     "platform", "artifactType"});
  w.EndObject();
}

Result<Platform> ReadPlatform(std::string_view doc, std::string path, const Json& v) {
  if (!v.is_object()) return Unexpected(TypeError(doc, path, "object", v));
  ObjectReader r(doc, path, v);
  Platform p;
  HOIST_TRY(r.String("architecture", &p.architecture, /*required=*/true));
  HOIST_TRY(r.String("os", &p.os, /*required=*/true));
  HOIST_TRY(r.String("os.version", &p.os_version));
  HOIST_TRY(r.StringList("os.features", &p.os_features, /*null_is_absent=*/false));
  HOIST_TRY(r.String("variant", &p.variant));
  return p;
}

void WritePlatform(JsonWriter& w, const Platform& p) {
  w.BeginObject();
  w.StringField("architecture", p.architecture, /*omit_empty=*/false);
  w.StringField("os", p.os, /*omit_empty=*/false);
  w.StringField("os.version", p.os_version);
  w.StringListField("os.features", p.os_features);
  w.StringField("variant", p.variant);
  w.EndObject();
}

}  // namespace internal

namespace {
constexpr std::string_view kDescriptorDoc = "descriptor";
constexpr std::string_view kPlatformDoc = "platform";
}  // namespace

Result<Descriptor> ParseDescriptor(std::string_view json) {
  HOIST_ASSIGN_OR_RETURN(internal::Json v, internal::ParseJson(kDescriptorDoc, json));
  return internal::ReadDescriptor(kDescriptorDoc, "", v);
}

std::string SerializeDescriptor(const Descriptor& d) {
  internal::JsonWriter w;
  internal::WriteDescriptor(w, d);
  return w.Take();
}

Result<Platform> ParsePlatformJson(std::string_view json) {
  HOIST_ASSIGN_OR_RETURN(internal::Json v, internal::ParseJson(kPlatformDoc, json));
  return internal::ReadPlatform(kPlatformDoc, "", v);
}

std::string SerializePlatform(const Platform& p) {
  internal::JsonWriter w;
  internal::WritePlatform(w, p);
  return w.Take();
}

}  // namespace hoist::oci
