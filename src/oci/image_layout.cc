#include "oci/image_layout.h"

#include <fmt/format.h>

#include "oci/internal/json_codec.h"

namespace hoist::oci {
namespace {
constexpr std::string_view kDoc = "oci-layout";
}  // namespace

Result<ImageLayout> ParseImageLayout(std::string_view json) {
  HOIST_ASSIGN_OR_RETURN(internal::Json v, internal::ParseJson(kDoc, json));
  if (!v.is_object()) return Unexpected(internal::TypeError(kDoc, "", "object", v));
  internal::ObjectReader r(kDoc, "", v);
  ImageLayout layout;
  HOIST_TRY(r.String("imageLayoutVersion", &layout.image_layout_version, /*required=*/true));
  if (layout.image_layout_version != kImageLayoutVersion) {
    std::string quoted;
    internal::AppendGoQuoted(&quoted, layout.image_layout_version);
    return Unexpected(r.Fail("imageLayoutVersion",
                             fmt::format("unsupported version {} (want \"{}\")", quoted,
                                         kImageLayoutVersion)));
  }
  layout.unknown_fields = r.Unknown();
  return layout;
}

std::string SerializeImageLayout(const ImageLayout& layout) {
  internal::JsonWriter w;
  w.BeginObject();
  w.StringField("imageLayoutVersion", layout.image_layout_version, /*omit_empty=*/false);
  w.UnknownFields(layout.unknown_fields, {"imageLayoutVersion"});
  w.EndObject();
  return w.Take();
}

}  // namespace hoist::oci
