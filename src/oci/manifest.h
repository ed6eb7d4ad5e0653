// Manifest: an OCI image manifest (image-spec manifest.md), also holding Docker schema 2
// manifests, which share its shape. The codec is strict on input and canonical on output; see
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

struct Manifest {
  int schema_version = 2;
  std::string media_type;  // empty: absent
  std::string artifact_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
  // Fields this version does not know: key → raw JSON text.
  std::map<std::string, std::string> unknown_fields;

  friend bool operator==(const Manifest&, const Manifest&) = default;
};

// Errors (kInvalidArgument) name the field: `manifest: field "layers[2].digest": ...`.
// Refused besides type and pattern errors: schemaVersion other than 2, a mediaType that is not
// a manifest type, and a "manifests" member, which would make the blob read as an index too.
// An empty "layers" list is read: BuildKit writes one for an image built FROM scratch with no
// filesystem changes, and `umoci new` makes one, so a reader must take it.
Result<Manifest> ParseManifest(std::string_view json);
// The rules of the image-spec manifest schema that ParseManifest relaxes for real-world
// content: at least one layer (the schema's minItems).
Status CheckManifestSchema(const Manifest& m);
// Compact JSON in the order of Go's ocispec.Manifest; no trailing newline.
std::string SerializeManifest(const Manifest& m);

}  // namespace hoist::oci
