#include "control/image_resolver.h"

#include <fmt/format.h>

#include "oci/digest.h"
#include "oci/reference.h"

namespace hoist::control {

using frontend::dockerfile::ResolvedImageConfig;
using frontend::dockerfile::ResolveImageConfigOptions;
using frontend::dockerfile::ResolverType;

namespace {

// A metadata lookup as a vertex of its own: started, then completed or failed.
template <typename Fn>
auto AsVertex(progress::ProgressWriter* progress, const std::string& digest_seed,
              const std::string& name, Fn&& fn) -> decltype(fn()) {
  progress::Vertex v{.digest = oci::Digest::Sha256Of(digest_seed).str(), .name = name};
  v.started = progress::Clock::now();
  if (progress != nullptr) progress->Write({.vertexes = {v}});
  auto result = fn();
  v.completed = progress::Clock::now();
  if (!result) v.error = result.error().message();
  if (progress != nullptr) progress->Write({.vertexes = {v}});
  return result;
}

}  // namespace

EngineImageResolver::EngineImageResolver(session::SessionManager* sessions,
                                         std::vector<std::string> session_ids,
                                         progress::ProgressWriter* progress,
                                         source::DockerImageEnv registry)
    : stores_(sessions, std::move(session_ids)), progress_(progress), registry_(registry) {}

Result<ResolvedImageConfig> EngineImageResolver::ResolveImageConfig(
    std::string_view ref, const ResolveImageConfigOptions& options) {
  if (options.resolver_type != ResolverType::kOciLayout) return ResolveRegistry(ref, options);
  const std::string name = options.log_prefix + "load metadata for " + std::string(ref);
  auto c = AsVertex(progress_, "load metadata " + std::string(ref), name, [&] {
    return source::ResolveOciLayoutConfig(ref, options.session_id, options.store_id,
                                          options.platform, stores_);
  });
  if (!c) return Unexpected(std::move(c).error());
  return ResolvedImageConfig{.ref = c->ref, .digest = c->digest, .config_json = c->config_json};
}

// BuildKit's `[internal] load metadata for docker.io/library/alpine:3.18` step: the image's
// config, read through the registry (or the engine's store when the mode allows).
Result<ResolvedImageConfig> EngineImageResolver::ResolveRegistry(
    std::string_view ref, const ResolveImageConfigOptions& options) {
  if (registry_.client == nullptr) {
    return MakeError(Code::kFailedPrecondition,
                     fmt::format("{}: no registry client in this engine", ref));
  }
  HOIST_ASSIGN_OR_RETURN(oci::Reference parsed, oci::ParseNormalizedNamed(ref));
  source::DockerImageIdentifier id;
  id.reference = oci::TagNameOnly(parsed);
  id.platform = oci::Normalize(options.platform.value_or(oci::HostPlatform()));
  HOIST_ASSIGN_OR_RETURN(id.resolve_mode, source::ParseResolveMode(options.resolve_mode));
  const std::string name = options.log_prefix + "load metadata for " + id.reference.String();
  auto inst = AsVertex(progress_, name + FormatPlatform(id.platform), name,
                       [&] { return source::DockerImageSourceInstance::Resolve(id, registry_); });
  if (!inst) return Unexpected(std::move(inst).error());
  return ResolvedImageConfig{.ref = (*inst)->pinned().String(),
                             .digest = (*inst)->image().root.digest,
                             .config_json = (*inst)->image().config_json};
}

}  // namespace hoist::control
