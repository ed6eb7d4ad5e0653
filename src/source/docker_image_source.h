// The docker-image source: an image pulled from a registry (BuildKit's source/containerimage).
// Resolving reads the root (by tag or digest), the platform's manifest and its config into the
// engine's content store; layers are fetched later, several at once, each verified as it
// streams (registry/client.h).
//
// Identifier: `docker-image://<ref>`, `<ref>` a normalised reference (a tag, `latest` when none,
// and maybe a digest, which then selects the content). Attributes: `image.resolvemode`
// (`default`: tags are resolved at every build, digests are served from the engine when it has
// them; `pull`: always ask the registry; `local`: prefer what the engine has, by name too),
// `image.layerlimit`.
//
// The engine remembers which digest each name last resolved to (LocalImageNames), for
// `local`.
//
// Thread-safety: as oci_layout_source.h.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/cancel.h"
#include "base/error.h"
#include "content/content_store.h"
#include "oci/platform.h"
#include "oci/reference.h"
#include "registry/client.h"
#include "registry/image_transfer.h"
#include "source/oci_layout_source.h"

namespace hoist::source {

inline constexpr std::string_view kDockerImageScheme = "docker-image";
inline constexpr std::string_view kAttrImageResolveMode = "image.resolvemode";
inline constexpr std::string_view kAttrImageLayerLimit = "image.layerlimit";

enum class ResolveMode { kDefault, kForcePull, kPreferLocal };
// "default" (or ""), "pull", "local"; else kInvalidArgument `invalid resolvemode: <v>`.
Result<ResolveMode> ParseResolveMode(std::string_view v);

struct DockerImageIdentifier {
  oci::Reference reference;  // normalised, with a tag (`latest` when none) and maybe a digest
  oci::Platform platform;    // normalised; the host's when none was given
  ResolveMode resolve_mode = ResolveMode::kDefault;
  std::optional<int> layer_limit;
};

Result<DockerImageIdentifier> ParseDockerImageIdentifier(
    std::string_view identifier, const std::map<std::string, std::string>& attrs,
    const std::optional<oci::Platform>& platform);

// Name → digest of the images the engine pulled (or built and named), one small file per name
// under a directory: `<dir>/<sha256 of the name>` holding `name\ndigest\n`, written atomically.
// Thread-safe.
class LocalImageNames {
 public:
  explicit LocalImageNames(std::string dir) : dir_(std::move(dir)) {}
  std::optional<oci::Digest> Lookup(const oci::Reference& name) const;
  Status Record(const oci::Reference& name, const oci::Digest& digest);

 private:
  std::string dir_;
};

struct DockerImageEnv {
  registry::Client* client = nullptr;     // REQUIRED
  content::ContentStore* content = nullptr;  // REQUIRED: the engine's blobs
  LocalImageNames* names = nullptr;        // may be null
};

class DockerImageSourceInstance {
 public:
  // Resolves and reads metadata (from the engine's store when the mode and content allow,
  // else from the registry). Errors name the reference: `docker.io/library/nope:1: not found`.
  static Result<std::unique_ptr<DockerImageSourceInstance>> Resolve(
      const DockerImageIdentifier& id, const DockerImageEnv& env, CancelContext* cancel = nullptr);

  const DockerImageIdentifier& identifier() const { return id_; }
  // The reference pinned to the root digest: `docker.io/library/alpine:3.18@sha256:…`.
  const oci::Reference& pinned() const { return pinned_; }
  const SourceImage& image() const { return image_; }

  oci::Digest ManifestCacheKey() const {
    return ImageCacheKey(image_.root.digest, id_.platform, id_.layer_limit);
  }

  // Fetches the (limited) layers into the engine's store; blobs it has are skipped.
  Status FetchLayers(const registry::BlobEventFn& on_blob, CancelContext* cancel) const;

 private:
  DockerImageSourceInstance() = default;
  DockerImageIdentifier id_;
  DockerImageEnv env_;
  oci::Reference pinned_;
  SourceImage image_;
};

}  // namespace hoist::source
