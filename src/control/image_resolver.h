// EngineImageResolver: how the Dockerfile frontend learns a base image's config and digest,
// through the engine's sources: an OCI layout in the client's session, or a registry (or the
// engine's own store when the resolve mode allows). Each lookup is shown as BuildKit's
// `[internal] load metadata for …` step.
//
// Thread-safety: thread-safe if the parts it is given are.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "frontend/dockerfile/convert.h"
#include "progress/event.h"
#include "session/session_manager.h"
#include "source/docker_image_source.h"
#include "source/oci_layout_source.h"

namespace hoist::control {

class EngineImageResolver final : public frontend::dockerfile::ImageMetaResolver {
 public:
  // `progress` may be null; `registry.client` null means registry images cannot be resolved.
  EngineImageResolver(session::SessionManager* sessions, std::vector<std::string> session_ids,
                      progress::ProgressWriter* progress = nullptr,
                      source::DockerImageEnv registry = {});

  Result<frontend::dockerfile::ResolvedImageConfig> ResolveImageConfig(
      std::string_view ref, const frontend::dockerfile::ResolveImageConfigOptions& options) override;

 private:
  Result<frontend::dockerfile::ResolvedImageConfig> ResolveRegistry(
      std::string_view ref, const frontend::dockerfile::ResolveImageConfigOptions& options);

  source::SessionStores stores_;
  progress::ProgressWriter* progress_;
  source::DockerImageEnv registry_;
};

}  // namespace hoist::control
