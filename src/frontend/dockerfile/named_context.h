// Named contexts (SPEC-oci-layout.md §2): the frontend options `context:<NAME>=<value>` and
// `context:<NAME>::<platform>` that replace a FROM base, a whole stage, or a COPY --from /
// RUN --mount from= source with an image, an OCI layout image, a local dir, a frontend input,
// an HTTP file or a git repository.
//
// Thread-safety: pure functions; the resolver is called from the calling thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "frontend/dockerfile/bridge.h"
#include "llb/state.h"
#include "oci/image_config.h"
#include "oci/platform.h"

namespace hoist::frontend::dockerfile {

struct NamedContextOptions {
  // The frontend options, `context:` keys among them. REQUIRES: non-null.
  const std::map<std::string, std::string>* frontend_opts = nullptr;
  // Resolves image and OCI layout configs. REQUIRES: non-null when a context names an image.
  ImageMetaResolver* resolver = nullptr;
  // The client's session, for local: and oci-layout sources that name none.
  std::string session_id;
  // Frontend inputs for `input:KEY` values.
  const std::map<std::string, llb::State>* inputs = nullptr;
};

// What a named context resolved to.
struct NamedContext {
  llb::State state;
  // The image's config when the context is an image (docker-image, oci-layout, or an input
  // carrying one); its Env, WorkingDir, User... flow into the stage.
  std::optional<oci::ImageConfig> image;
};

// Looks `name` up: first `context:<NAME>::<platform>` for `platform`, then `context:<NAME>`,
// NAME normalised as an image name (`docker.io/library/alpine:latest` → `alpine`). nullopt
// when neither option is set, and always for `scratch` and `context`. Errors are the SPEC's:
// `unsupported context source <type> for <name>`, `invalid context specifier <v> for <name>`,
// `oci-layout reference "<v>" has no digest`, and the resolver's.
Result<std::optional<NamedContext>> LoadNamedContext(std::string_view name,
                                                     const oci::Platform& platform,
                                                     const NamedContextOptions& options);

}  // namespace hoist::frontend::dockerfile
