#include "source/docker_image_source.h"

#include <fstream>

#include <fmt/format.h>

#include "base/atomic_file.h"
#include "base/file_system.h"
#include "content/image_resolver.h"
#include "oci/image_config.h"

namespace hoist::source {

Result<ResolveMode> ParseResolveMode(std::string_view v) {
  if (v.empty() || v == "default") return ResolveMode::kDefault;
  if (v == "pull") return ResolveMode::kForcePull;
  if (v == "local") return ResolveMode::kPreferLocal;
  return MakeError(Code::kInvalidArgument, fmt::format("invalid resolvemode: {}", v));
}

Result<DockerImageIdentifier> ParseDockerImageIdentifier(
    std::string_view identifier, const std::map<std::string, std::string>& attrs,
    const std::optional<oci::Platform>& platform) {
  std::string_view ref = identifier;
  const std::string scheme = std::string(kDockerImageScheme) + "://";
  if (ref.starts_with(scheme)) ref.remove_prefix(scheme.size());
  DockerImageIdentifier id;
  HOIST_ASSIGN_OR_RETURN(oci::Reference parsed, oci::ParseNormalizedNamed(ref));
  id.reference = oci::TagNameOnly(parsed);
  id.platform = oci::Normalize(platform ? *platform : oci::HostPlatform());
  for (const auto& [key, value] : attrs) {
    if (key == kAttrImageResolveMode) {
      HOIST_ASSIGN_OR_RETURN(id.resolve_mode, ParseResolveMode(value));
    } else if (key == kAttrImageLayerLimit) {
      HOIST_ASSIGN_OR_RETURN(id.layer_limit, ParseLayerLimit(value));
    }
  }
  return id;
}

namespace {

std::string NameKey(const oci::Reference& name) {
  return oci::Digest::Sha256Of(name.String()).str().substr(7);
}

}  // namespace

std::optional<oci::Digest> LocalImageNames::Lookup(const oci::Reference& name) const {
  std::ifstream in(dir_ + "/" + NameKey(name));
  std::string stored, digest;
  if (!std::getline(in, stored) || !std::getline(in, digest) || stored != name.String()) {
    return std::nullopt;
  }
  auto d = oci::Digest::Parse(digest);
  if (!d) return std::nullopt;
  return *d;
}

Status LocalImageNames::Record(const oci::Reference& name, const oci::Digest& digest) {
  HOIST_TRY(PosixFileSystem()->MakeDirs(dir_, 0700));
  return WriteFileAtomic(PosixFileSystem(), dir_ + "/" + NameKey(name),
                         name.String() + "\n" + digest.str() + "\n", 0600);
}

Result<std::unique_ptr<DockerImageSourceInstance>> DockerImageSourceInstance::Resolve(
    const DockerImageIdentifier& id, const DockerImageEnv& env, CancelContext* cancel) {
  std::unique_ptr<DockerImageSourceInstance> inst(new DockerImageSourceInstance());
  inst->id_ = id;
  inst->env_ = env;
  const std::string what = id.reference.String();
  std::optional<content::ResolvedImage> resolved;
  // What the engine already has, when the mode lets us use it.
  std::optional<oci::Digest> local;
  if (id.resolve_mode != ResolveMode::kForcePull) {
    if (id.reference.has_digest()) {
      local = *id.reference.digest();
    } else if (id.resolve_mode == ResolveMode::kPreferLocal && env.names != nullptr) {
      local = env.names->Lookup(id.reference);
    }
  }
  if (local) {
    if (auto info = env.content->Info(*local)) {
      oci::Descriptor root{.digest = *local, .size = info->size};
      auto r = content::ResolveImage(*env.content, root, id.platform, what);
      if (r) {
        resolved = std::move(*r);
        HOIST_ASSIGN_OR_RETURN(inst->pinned_, oci::WithDigest(id.reference, *local));
      }
    }
  }
  if (!resolved) {
    registry::PullOptions po{.platform = id.platform, .layers = false, .cancel = cancel};
    HOIST_ASSIGN_OR_RETURN(registry::PulledImage pulled,
                           registry::PullImage(*env.client, id.reference, *env.content, po));
    inst->pinned_ = pulled.ref;
    resolved = std::move(*pulled.image);
    if (env.names != nullptr && id.reference.has_tag() && !id.reference.has_digest()) {
      // Only remembering: a failure costs a later `local` lookup, not this build.
      (void)env.names->Record(id.reference, pulled.root.digest);
    }
  }
  HOIST_ASSIGN_OR_RETURN(inst->image_, MakeSourceImage(std::move(*resolved), id.layer_limit, what));
  return inst;
}

Status DockerImageSourceInstance::FetchLayers(const registry::BlobEventFn& on_blob,
                                              CancelContext* cancel) const {
  return registry::FetchBlobs(*env_.client, id_.reference, image_.layers, *env_.content,
                              registry::kDefaultConcurrency, on_blob, cancel);
}

}  // namespace hoist::source
