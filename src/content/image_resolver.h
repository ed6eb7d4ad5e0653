// Resolving an image: from a root descriptor (an index or a manifest, as named by a tag or a
// digest) and a wanted platform to the manifest and image config to use, as containerd's
// images.Manifest does. Indexes are searched with the platform "Only" matcher (nested indexes
// too); entries without a platform are judged by their config; attestation manifests
// (`unknown/unknown`) never match. A root that is a single manifest is used whatever the
// platform. Every blob read is verified against its digest.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "content/content_store.h"
#include "oci/descriptor.h"
#include "oci/image_config.h"
#include "oci/manifest.h"
#include "oci/platform.h"

namespace hoist::content {

struct ResolvedImage {
  oci::Descriptor root;             // as given, media type filled in when it was sniffed
  oci::Descriptor manifest_desc;    // the selected manifest
  oci::Manifest manifest;
  oci::ImageConfig config;
  std::string manifest_json;        // raw, as stored
  std::string config_json;          // raw, as stored
};

// `ref` names the image in errors (`reference "<ref>" contains neither an index nor a
// manifest`); it must not be a client path. `platform` nullopt: the host's.
Result<ResolvedImage> ResolveImage(ContentStore& store, const oci::Descriptor& root,
                                   const std::optional<oci::Platform>& platform,
                                   std::string_view ref);

// The platforms an index offers (attestations left out) or, for a manifest, its config's.
Result<std::vector<oci::Platform>> ImagePlatforms(ContentStore& store, const oci::Descriptor& root);

}  // namespace hoist::content
