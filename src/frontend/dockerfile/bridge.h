// The narrow interface the Dockerfile frontend needs from whoever runs it: resolving an image
// reference to its config before any op runs (BuildKit's ResolveImageConfig / MetaResolver).
// The frontend never touches a registry, a session or a store itself; the engine implements
// this over its sources, and tests use a fake.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "oci/digest.h"
#include "oci/platform.h"

namespace hoist::frontend::dockerfile {

// Which kind of source a reference is resolved against.
enum class ResolverType { kRegistry, kOciLayout };

struct ResolveImageConfigOptions {
  // The platform whose manifest to pick from an index; nullopt: the engine's default.
  std::optional<oci::Platform> platform;
  ResolverType resolver_type = ResolverType::kRegistry;
  // kOciLayout: the client session holding the store (empty: any of the build's sessions)
  // and the store's ID in it. Never a path.
  std::string session_id;
  std::string store_id;
  // kRegistry: "default", "pull" or "local" (BuildKit's image resolve modes).
  std::string resolve_mode;
  // How progress names the lookup: `[context base] ` for a named context, `[internal] ` for
  // a FROM image; the resolver shows `<log_prefix>load metadata for <ref>`.
  std::string log_prefix;
};

struct ResolvedImageConfig {
  // The reference as resolved, with the manifest digest attached.
  std::string ref;
  // The digest of the manifest (or index) the reference resolved to.
  oci::Digest digest;
  // The image config blob, already verified against the manifest.
  std::string config_json;
};

// Thread-safety: implementations must allow concurrent calls.
class ImageMetaResolver {
 public:
  virtual ~ImageMetaResolver() = default;
  // Errors keep the source's wording (SPEC-oci-layout.md §1: `unknown store oci:<id>`,
  // `content sha256:<hex>: not found`, `no match for platform in manifest sha256:<hex>`...).
  virtual Result<ResolvedImageConfig> ResolveImageConfig(
      std::string_view ref, const ResolveImageConfigOptions& options) = 0;
};

}  // namespace hoist::frontend::dockerfile
