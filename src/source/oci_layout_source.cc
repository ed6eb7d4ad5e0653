#include "source/oci_layout_source.h"

#include <charconv>
#include <utility>

#include "content/image_resolver.h"

namespace hoist::source {
namespace {

// A JSON string as Go's encoding/json writes it (HTML characters escaped too), so that cache
// keys match BuildKit's byte for byte.
std::string GoJsonString(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace

Result<int> ParseLayerLimit(const std::string& v) {
  int n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n <= 0) {
    return MakeError(Code::kInvalidArgument, "invalid layer limit " + v);
  }
  return n;
}

Result<SourceImage> MakeSourceImage(content::ResolvedImage resolved,
                                    std::optional<int> layer_limit, std::string_view ref) {
  SourceImage img;
  img.root = std::move(resolved.root);
  img.manifest_desc = std::move(resolved.manifest_desc);
  img.manifest = std::move(resolved.manifest);
  img.config = std::move(resolved.config);
  img.config_json = std::move(resolved.config_json);
  img.layers = img.manifest.layers;
  img.diff_ids = img.config.rootfs.diff_ids;
  if (img.layers.size() != img.diff_ids.size()) {
    return MakeError(Code::kFailedPrecondition,
                     "image " + std::string(ref) + ": manifest " + img.manifest_desc.digest.str() +
                         " has " + std::to_string(img.layers.size()) +
                         " layers but its config lists " + std::to_string(img.diff_ids.size()) +
                         " diff IDs");
  }
  if (layer_limit) {
    size_t limit = static_cast<size_t>(*layer_limit);
    if (limit > img.diff_ids.size()) {
      return MakeError(Code::kInvalidArgument,
                       "layer limit " + std::to_string(limit) +
                           " is greater than the number of layers in the image " +
                           std::to_string(img.diff_ids.size()));
    }
    img.layers.resize(limit);
    img.diff_ids.resize(limit);
  }
  img.chain_ids = oci::ChainIDs(img.diff_ids);
  return img;
}

Result<OciLayoutIdentifier> ParseOciLayoutIdentifier(
    std::string_view identifier, const std::map<std::string, std::string>& attrs,
    const std::optional<oci::Platform>& platform) {
  OciLayoutIdentifier id;
  std::string_view ref = identifier;
  const std::string prefix = std::string(kOciLayoutScheme) + "://";
  if (ref.substr(0, prefix.size()) == prefix) ref.remove_prefix(prefix.size());
  id.ref = std::string(ref);
  HOIST_ASSIGN_OR_RETURN(id.reference, oci::ParseNormalizedNamed(ref));
  if (!id.reference.has_digest()) {
    return MakeError(Code::kInvalidArgument, "reference \"" + id.ref + "\" must have digest");
  }
  for (const auto& [key, value] : attrs) {
    if (key == kAttrOciSession) {
      id.session_id = value;
    } else if (key == kAttrOciStore) {
      id.store_id = value;
    } else if (key == kAttrOciLayerLimit) {
      HOIST_ASSIGN_OR_RETURN(id.layer_limit, ParseLayerLimit(value));
    }
  }
  id.platform = oci::Normalize(platform ? *platform : oci::HostPlatform());
  return id;
}

SessionStores::SessionStores(session::SessionManager* manager,
                             std::vector<std::string> build_session_ids,
                             std::chrono::milliseconds timeout)
    : manager_(manager), build_session_ids_(std::move(build_session_ids)), timeout_(timeout) {}

Result<std::shared_ptr<content::ContentStore>> SessionStores::Store(std::string_view session_id,
                                                                    std::string_view store_id,
                                                                    CancelContext* cancel) {
  std::shared_ptr<content::ContentStore> store;
  auto fetch = [&](session::Session& s) -> Status {
    HOIST_ASSIGN_OR_RETURN(store, s.OciStore(store_id));
    return {};
  };
  if (!session_id.empty()) {
    HOIST_ASSIGN_OR_RETURN(auto s, manager_->Get(session_id, timeout_, cancel));
    HOIST_TRY(fetch(*s));
    return store;
  }
  Status st = manager_->Any(build_session_ids_, fetch, timeout_, cancel);
  if (!st) {
    if (st.error().code() == Code::kUnavailable) {
      return MakeError(Code::kNotFound, "unknown store oci:" + std::string(store_id) +
                                            " (no client session is attached to this build)");
    }
    return Unexpected(std::move(st).error());
  }
  return store;
}

Result<std::unique_ptr<OciLayoutSourceInstance>> OciLayoutSourceInstance::Resolve(
    const OciLayoutIdentifier& id, SessionStores& stores, CancelContext* cancel) {
  std::unique_ptr<OciLayoutSourceInstance> inst(new OciLayoutSourceInstance());
  inst->id_ = id;
  HOIST_ASSIGN_OR_RETURN(inst->store_, stores.Store(id.session_id, id.store_id, cancel));
  if (cancel != nullptr) HOIST_TRY(cancel->Check());
  // The root's size from opening it rather than from Info: a client's store sends a small
  // blob whole when it is opened, and keeps it for the reads that follow.
  HOIST_ASSIGN_OR_RETURN(auto reader, inst->store_->ReaderAt(id.digest()));
  oci::Descriptor root;
  root.digest = id.digest();
  root.size = reader->Size();
  reader.reset();
  HOIST_ASSIGN_OR_RETURN(auto resolved,
                         content::ResolveImage(*inst->store_, root, id.platform, id.ref));
  HOIST_ASSIGN_OR_RETURN(inst->image_, MakeSourceImage(std::move(resolved), id.layer_limit, id.ref));
  return inst;
}

oci::Digest ImageCacheKey(const oci::Digest& root, const oci::Platform& p,
                          std::optional<int> layer_limit) {
  std::string json = "{\"Digest\":" + GoJsonString(root.str()) +
                     ",\"OS\":" + GoJsonString(p.os) + ",\"Arch\":" + GoJsonString(p.architecture);
  if (!p.variant.empty()) json += ",\"Variant\":" + GoJsonString(p.variant);
  if (!p.os_version.empty()) json += ",\"OSVersion\":" + GoJsonString(p.os_version);
  if (!p.os_features.empty()) {
    json += ",\"OSFeatures\":[";
    for (size_t i = 0; i < p.os_features.size(); ++i) {
      if (i > 0) json += ",";
      json += GoJsonString(p.os_features[i]);
    }
    json += "]";
  }
  if (layer_limit) json += ",\"Limit\":" + std::to_string(*layer_limit);
  json += "}";
  return oci::Digest::Sha256Of(json);
}

oci::Digest OciLayoutSourceInstance::ManifestCacheKey() const {
  return ImageCacheKey(image_.root.digest, id_.platform, id_.layer_limit);
}

std::optional<oci::Digest> OciLayoutSourceInstance::LayersCacheKey() const {
  if (image_.chain_ids.empty()) return std::nullopt;
  return image_.chain_ids.back();
}

Status OciLayoutSourceInstance::CopyLayer(size_t i, content::BlobWriter& to,
                                          const std::function<void(int64_t)>& on_bytes,
                                          CancelContext* cancel) const {
  return content::CopyInto(*store_, image_.layers.at(i), to, on_bytes, cancel);
}

Result<OciLayoutConfig> ResolveOciLayoutConfig(std::string_view ref, std::string_view session_id,
                                               std::string_view store_id,
                                               const std::optional<oci::Platform>& platform,
                                               SessionStores& stores, CancelContext* cancel) {
  std::map<std::string, std::string> attrs{{std::string(kAttrOciSession), std::string(session_id)},
                                           {std::string(kAttrOciStore), std::string(store_id)}};
  HOIST_ASSIGN_OR_RETURN(auto id, ParseOciLayoutIdentifier(ref, attrs, platform));
  HOIST_ASSIGN_OR_RETURN(auto inst, OciLayoutSourceInstance::Resolve(id, stores, cancel));
  OciLayoutConfig out;
  out.ref = id.reference.String();
  out.digest = inst->image().root.digest;
  out.config_json = inst->image().config_json;
  return out;
}

}  // namespace hoist::source
