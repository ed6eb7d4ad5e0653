// Index: an OCI image index (image-spec image-index.md), also holding Docker manifest lists,
// which share its shape. The codec is strict on input and canonical on output; see
// descriptor.h for the rules shared by all OCI documents.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "oci/descriptor.h"

namespace hoist::oci {

struct Index {
  int schema_version = 2;
  std::string media_type;  // empty: absent
  std::string artifact_type;
  std::vector<Descriptor> manifests;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
  // Fields this version does not know: key → raw JSON text.
  std::map<std::string, std::string> unknown_fields;

  friend bool operator==(const Index&, const Index&) = default;
};

// Errors (kInvalidArgument) name the field: `index: field "manifests": expected array, got
// string`. Refused besides type and pattern errors: schemaVersion other than 2, a mediaType
// that is not an index type, and "config" or "layers" members, which would make the blob read
// as a manifest too.
Result<Index> ParseIndex(std::string_view json);
// Compact JSON in the order of Go's ocispec.Index; no trailing newline.
std::string SerializeIndex(const Index& index);

}  // namespace hoist::oci
