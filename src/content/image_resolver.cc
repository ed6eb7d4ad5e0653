#include "content/image_resolver.h"

#include <algorithm>

#include "oci/index.h"
#include "oci/media_types.h"

namespace hoist::content {
namespace {

constexpr int64_t kMaxManifestSize = 16 << 20;
constexpr int64_t kMaxConfigSize = 64 << 20;
constexpr int kMaxDepth = 8;  // nested indexes; deeper is a hostile or broken layout

struct Blob {
  std::string media_type;
  std::string data;
};

Result<Blob> ReadTyped(ContentStore& store, const oci::Descriptor& desc) {
  HOIST_ASSIGN_OR_RETURN(std::string data, ReadBlob(store, desc, kMaxManifestSize));
  std::string mt = desc.media_type;
  if (!oci::IsIndexType(mt) && !oci::IsManifestType(mt)) {
    std::string sniffed = oci::SniffMediaType(data);
    if (!sniffed.empty()) mt = sniffed;
  }
  return Blob{std::move(mt), std::move(data)};
}

oci::Platform ConfigPlatform(const oci::ImageConfig& c) {
  oci::Platform p;
  p.os = c.os;
  p.architecture = c.architecture;
  p.variant = c.variant;
  return oci::Normalize(p);
}

Result<oci::ImageConfig> LoadConfig(ContentStore& store, const oci::Manifest& m,
                                    std::string* raw) {
  HOIST_ASSIGN_OR_RETURN(std::string data, ReadBlob(store, m.config, kMaxConfigSize));
  auto cfg = oci::ParseImageConfig(data);
  if (!cfg) return Unexpected(std::move(cfg).error().Wrap("config " + m.config.digest.str()));
  if (raw != nullptr) *raw = std::move(data);
  return cfg;
}

// Attestation manifests (SBOMs, provenance) are listed as unknown/unknown; they are never an
// image to run, whatever platform was asked for.
bool IsAttestation(const oci::Platform& p) {
  return p.os == "unknown" || p.architecture == "unknown";
}

// Finds the manifest to use inside an index; nullopt when nothing matches.
Result<std::optional<ResolvedImage>> SelectFromIndex(ContentStore& store, const oci::Index& index,
                                                     const oci::PlatformMatcher& matcher,
                                                     int depth) {
  if (depth > kMaxDepth) {
    return MakeError(Code::kInvalidArgument, "image indexes nested too deeply");
  }
  std::vector<const oci::Descriptor*> candidates;
  for (const auto& d : index.manifests) {
    if (d.platform && IsAttestation(*d.platform)) continue;
    if (!d.platform || matcher.Match(oci::Normalize(*d.platform))) candidates.push_back(&d);
  }
  // Best first; entries without a platform last. An insertion sort, as containerd's sort.Slice
  // is for lists this short: Less is not a strict weak order for every pair of platforms
  // (os features), which std::sort may not be given.
  auto less = [&](const oci::Descriptor* a, const oci::Descriptor* b) {
    if (!a->platform) return false;
    if (!b->platform) return true;
    return matcher.Less(oci::Normalize(*a->platform), oci::Normalize(*b->platform));
  };
  for (size_t i = 1; i < candidates.size(); ++i) {
    for (size_t j = i; j > 0 && less(candidates[j], candidates[j - 1]); --j) {
      std::swap(candidates[j], candidates[j - 1]);
    }
  }
  for (const oci::Descriptor* d : candidates) {
    HOIST_ASSIGN_OR_RETURN(Blob blob, ReadTyped(store, *d));
    if (oci::IsIndexType(blob.media_type)) {
      auto child = oci::ParseIndex(blob.data);
      if (!child) return Unexpected(std::move(child).error().Wrap("index " + d->digest.str()));
      HOIST_ASSIGN_OR_RETURN(auto found, SelectFromIndex(store, *child, matcher, depth + 1));
      if (found) return found;
      continue;
    }
    if (!oci::IsManifestType(blob.media_type)) continue;  // an artifact we cannot run
    auto m = oci::ParseManifest(blob.data);
    if (!m) return Unexpected(std::move(m).error().Wrap("manifest " + d->digest.str()));
    ResolvedImage r;
    HOIST_ASSIGN_OR_RETURN(r.config, LoadConfig(store, *m, &r.config_json));
    if (!d->platform) {
      oci::Platform p = ConfigPlatform(r.config);
      if (IsAttestation(p) || !matcher.Match(p)) continue;
    }
    r.manifest_desc = *d;
    r.manifest_desc.media_type = blob.media_type;
    r.manifest = std::move(*m);
    r.manifest_json = std::move(blob.data);
    return std::optional<ResolvedImage>(std::move(r));
  }
  return std::optional<ResolvedImage>();
}

Status CollectPlatforms(ContentStore& store, const oci::Descriptor& desc, int depth,
                        std::vector<oci::Platform>* out) {
  if (depth > kMaxDepth) return MakeError(Code::kInvalidArgument, "image indexes nested too deeply");
  HOIST_ASSIGN_OR_RETURN(Blob blob, ReadTyped(store, desc));
  if (oci::IsIndexType(blob.media_type)) {
    auto index = oci::ParseIndex(blob.data);
    if (!index) return Unexpected(std::move(index).error().Wrap("index " + desc.digest.str()));
    for (const auto& d : index->manifests) {
      if (d.platform) {
        oci::Platform p = oci::Normalize(*d.platform);
        if (IsAttestation(p)) continue;
        if (std::find(out->begin(), out->end(), p) == out->end()) out->push_back(p);
        continue;
      }
      HOIST_TRY(CollectPlatforms(store, d, depth + 1, out));
    }
    return OkStatus();
  }
  if (!oci::IsManifestType(blob.media_type)) return OkStatus();
  auto m = oci::ParseManifest(blob.data);
  if (!m) return Unexpected(std::move(m).error().Wrap("manifest " + desc.digest.str()));
  if (!oci::IsConfigType(m->config.media_type)) return OkStatus();  // an artifact
  HOIST_ASSIGN_OR_RETURN(oci::ImageConfig cfg, LoadConfig(store, *m, nullptr));
  oci::Platform p = ConfigPlatform(cfg);
  if (std::find(out->begin(), out->end(), p) == out->end()) out->push_back(p);
  return OkStatus();
}

}  // namespace

Result<ResolvedImage> ResolveImage(ContentStore& store, const oci::Descriptor& root,
                                   const std::optional<oci::Platform>& platform,
                                   std::string_view ref) {
  HOIST_ASSIGN_OR_RETURN(Blob blob, ReadTyped(store, root));
  if (oci::IsManifestType(blob.media_type)) {
    auto m = oci::ParseManifest(blob.data);
    if (!m) return Unexpected(std::move(m).error().Wrap("manifest " + root.digest.str()));
    ResolvedImage r;
    HOIST_ASSIGN_OR_RETURN(r.config, LoadConfig(store, *m, &r.config_json));
    r.root = root;
    r.root.media_type = blob.media_type;
    r.manifest_desc = r.root;
    r.manifest = std::move(*m);
    r.manifest_json = std::move(blob.data);
    return r;
  }
  if (!oci::IsIndexType(blob.media_type)) {
    return MakeError(Code::kInvalidArgument, "reference \"" + std::string(ref) +
                                                 "\" contains neither an index nor a manifest");
  }
  auto index = oci::ParseIndex(blob.data);
  if (!index) return Unexpected(std::move(index).error().Wrap("index " + root.digest.str()));
  oci::PlatformMatcher matcher =
      oci::PlatformMatcher::Only(platform ? oci::Normalize(*platform) : oci::HostPlatform());
  HOIST_ASSIGN_OR_RETURN(auto found, SelectFromIndex(store, *index, matcher, 0));
  if (!found) {
    return MakeError(Code::kNotFound, "no match for platform in manifest " + root.digest.str());
  }
  found->root = root;
  found->root.media_type = blob.media_type;
  return std::move(*found);
}

Result<std::vector<oci::Platform>> ImagePlatforms(ContentStore& store,
                                                  const oci::Descriptor& root) {
  std::vector<oci::Platform> out;
  HOIST_TRY(CollectPlatforms(store, root, 0, &out));
  return out;
}

}  // namespace hoist::content
