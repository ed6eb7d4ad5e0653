// The oci-layout source (SPEC-oci-layout.md §1): an image read from an OCI store that a client
// attached to its session, by digest only. Index, manifest and config are read eagerly when the
// source is resolved; layer blobs are read later, lazily, through the same store, each verified
// against its digest (the session store verifies as it streams, and readers here check the
// descriptor's size and digest too).
//
// Identifier: `oci-layout://<ref>`, `<ref>` a reference with a digest
// (`docker.io/library/base@sha256:<hex>`); only the digest selects content, the name is a label
// and a tag is ignored. Attributes: `oci.session`, `oci.store`, `oci.layerlimit`.
//
// Cache keys follow BuildKit's image puller: first a key from the root digest, the platform and
// the layer limit (a sha256 over the JSON {"Digest","OS","Arch","Variant","OSVersion",
// "OSFeatures","Limit"}, empty members omitted after Arch), then the chain ID of the (limited)
// layers' diff IDs.
//
// Thread-safety: ParseOciLayoutIdentifier and the resolvers are thread-safe; an
// OciLayoutSourceInstance is immutable after Resolve and may be shared, its layer readers not.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "content/content_store.h"
#include "content/image_resolver.h"
#include "oci/descriptor.h"
#include "oci/digest.h"
#include "oci/image_config.h"
#include "oci/manifest.h"
#include "oci/platform.h"
#include "oci/reference.h"
#include "session/session_manager.h"

namespace hoist::source {

inline constexpr std::string_view kOciLayoutScheme = "oci-layout";
inline constexpr std::string_view kAttrOciSession = "oci.session";
inline constexpr std::string_view kAttrOciStore = "oci.store";
inline constexpr std::string_view kAttrOciLayerLimit = "oci.layerlimit";
inline constexpr std::string_view kCapSourceOciLayout = "source.ocilayout";

struct OciLayoutIdentifier {
  std::string ref;           // as written after `oci-layout://`
  oci::Reference reference;  // normalised; always has a digest
  std::string session_id;    // empty: any of the build's sessions
  std::string store_id;
  std::optional<int> layer_limit;
  oci::Platform platform;  // normalised; the host's when none was given

  const oci::Digest& digest() const { return *reference.digest(); }
};

// Parses `oci-layout://<ref>` (the scheme is optional) with the op's attributes and platform.
// Errors (kInvalidArgument): `reference "<ref>" must have digest`, `invalid layer limit <v>`,
// or the reference grammar's own.
Result<OciLayoutIdentifier> ParseOciLayoutIdentifier(
    std::string_view identifier, const std::map<std::string, std::string>& attrs,
    const std::optional<oci::Platform>& platform);

// BuildKit's first cache key of an image source (oci-layout and docker-image alike): a sha256
// over {"Digest","OS","Arch","Variant","OSVersion","OSFeatures","Limit"}, empty members omitted
// after Arch.
oci::Digest ImageCacheKey(const oci::Digest& root, const oci::Platform& platform,
                          std::optional<int> layer_limit);

// How the source reaches a store: through the engine's session manager, by the op's session
// ID, or with none by trying the build's sessions in order. Thread-safe.
class SessionStores {
 public:
  // REQUIRES: manager outlives this.
  SessionStores(session::SessionManager* manager, std::vector<std::string> build_session_ids,
                std::chrono::milliseconds timeout = session::kDefaultSessionTimeout);
  // `unknown store oci:<id>` when no session in reach holds the store.
  Result<std::shared_ptr<content::ContentStore>> Store(std::string_view session_id,
                                                       std::string_view store_id,
                                                       CancelContext* cancel = nullptr);

 private:
  session::SessionManager* manager_;
  std::vector<std::string> build_session_ids_;
  std::chrono::milliseconds timeout_;
};

// An image a source resolved (an OCI layout's or a registry's), all verified.
struct SourceImage {
  oci::Descriptor root;           // index or manifest named by the digest
  oci::Descriptor manifest_desc;  // the manifest chosen for the platform
  oci::Manifest manifest;
  oci::ImageConfig config;
  std::string config_json;
  std::vector<oci::Descriptor> layers;  // the first `layer limit` of them
  std::vector<oci::Digest> diff_ids;    // the same count
  std::vector<oci::Digest> chain_ids;   // chain_ids[i] identifies layers 0..i
};

// An image resolved from a store as a source sees it: the first `layer_limit` layers (all
// without one) with their diff IDs and chain IDs. Errors as SPEC §1: `layer limit N is greater
// than the number of layers in the image M`, or a manifest whose layers and diff IDs disagree
// (naming `ref`).
Result<SourceImage> MakeSourceImage(content::ResolvedImage resolved,
                                    std::optional<int> layer_limit, std::string_view ref);

// An `oci.layerlimit` / `image.layerlimit` attribute: a positive integer, else
// kInvalidArgument `invalid layer limit <v>`.
Result<int> ParseLayerLimit(const std::string& v);

class OciLayoutSourceInstance {
 public:
  // Finds the store and reads root, manifest and config. Errors as SPEC §1:
  // `unknown store oci:<id>`, `content sha256:<hex>: not found`, `reference "<ref>" contains
  // neither an index nor a manifest`, `no match for platform in manifest sha256:<hex>`,
  // `layer limit N is greater than the number of layers in the image M`.
  static Result<std::unique_ptr<OciLayoutSourceInstance>> Resolve(const OciLayoutIdentifier& id,
                                                                  SessionStores& stores,
                                                                  CancelContext* cancel = nullptr);

  const OciLayoutIdentifier& identifier() const { return id_; }
  const SourceImage& image() const { return image_; }

  // Cache key 0: from the root digest, platform and layer limit ("sha256:<hex>").
  oci::Digest ManifestCacheKey() const;
  // Cache key 1: the chain ID of the layers; nullopt for an image without layers.
  std::optional<oci::Digest> LayersCacheKey() const;

  // Copies layer `i`'s blob (compressed, as stored) into `to` and commits it there, which
  // verifies it against its descriptor; `on_bytes` sees each chunk's size. REQUIRES:
  // i < image().layers.size().
  Status CopyLayer(size_t i, content::BlobWriter& to, const std::function<void(int64_t)>& on_bytes,
                   CancelContext* cancel = nullptr) const;
  // The store, for readers that want random access (e.g. an unpacker). Verifying.
  content::ContentStore& store() const { return *store_; }

 private:
  OciLayoutSourceInstance() = default;
  OciLayoutIdentifier id_;
  SourceImage image_;
  std::shared_ptr<content::ContentStore> store_;
};

// For the frontend's ImageMetaResolver (adapted in src/cmd): the config of the image `ref`
// (a reference with a digest, as in a named context) in the store `store_id` of `session_id`,
// for `platform`. Errors as Resolve.
struct OciLayoutConfig {
  std::string ref;     // the reference, normalised, with its digest
  oci::Digest digest;  // the root digest
  std::string config_json;
};
Result<OciLayoutConfig> ResolveOciLayoutConfig(std::string_view ref, std::string_view session_id,
                                               std::string_view store_id,
                                               const std::optional<oci::Platform>& platform,
                                               SessionStores& stores,
                                               CancelContext* cancel = nullptr);

}  // namespace hoist::source
