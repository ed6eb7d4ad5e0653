#include "client/caches.h"

#include <fmt/format.h>

#include "oci/descriptor.h"
#include "oci/digest.h"

namespace hoist::client {
namespace {

constexpr char kCacheManifestKey[] = "cache.manifest";

std::string Attr(const control::TypedAttrs& e, const char* key, const char* fallback = "") {
  auto it = e.attrs.find(key);
  return it == e.attrs.end() ? fallback : it->second;
}

// BuildKit names a cache by its bare tag (org.opencontainers.image.ref.name) only.
Result<content::LayoutName> CacheTag(const control::TypedAttrs& e, const char* flag) {
  const std::string tag = Attr(e, "tag", "latest");
  if (tag.empty() || tag.find_first_of("/@") != std::string::npos) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{} type=local: invalid tag \"{}\"", flag, tag));
  }
  return content::LayoutName{.image_name = "", .ref_name = tag};
}

}  // namespace

Result<AttachedCaches> AttachCaches(session::ClientSession& session,
                                    std::vector<control::TypedAttrs>* exports,
                                    std::vector<control::TypedAttrs>* imports,
                                    const CacheAttachOptions& options) {
  AttachedCaches out;
  for (control::TypedAttrs& e : *exports) {
    if (e.type != "local") continue;
    const std::string dest = Attr(e, "dest");
    HOIST_ASSIGN_OR_RETURN(content::LayoutName tag, CacheTag(e, "--cache-to"));
    HOIST_TRY(options.fs->MakeDirs(dest, 0755));
    HOIST_ASSIGN_OR_RETURN(std::unique_ptr<content::OciLayout> opened,
                           content::OciLayout::CreateOrOpen(options.fs, dest));
    std::shared_ptr<content::OciLayout> layout(std::move(opened));
    const std::string key = options.new_key();
    HOIST_TRY(session.AttachCacheLayout(key, layout, dest, /*writable=*/true));
    e.attrs["dest"] = key;
    out.exports.push_back({.layout = std::move(layout), .path = dest, .tag = std::move(tag)});
  }
  std::vector<control::TypedAttrs> kept;
  for (control::TypedAttrs& e : *imports) {
    if (e.type != "local") {
      kept.push_back(std::move(e));
      continue;
    }
    const std::string src = Attr(e, "src");
    auto drop = [&](const std::string& why) {
      out.warnings.push_back(fmt::format("failed to import cache from {}: {}", src, why));
    };
    oci::Digest digest;
    if (const std::string d = Attr(e, "digest"); !d.empty()) {
      auto parsed = oci::Digest::Parse(d);
      if (!parsed) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("--cache-from type=local: invalid digest \"{}\"", d));
      }
      digest = *parsed;
    }
    HOIST_ASSIGN_OR_RETURN(content::LayoutName tag, CacheTag(e, "--cache-from"));
    auto opened = content::OciLayout::Open(options.fs, src, /*read_only=*/true);
    if (!opened) {
      drop(opened.error().message());
      continue;
    }
    std::shared_ptr<content::OciLayout> layout(std::move(*opened));
    if (!digest.valid()) {
      auto found = layout->FindTag(tag.ref_name);
      if (!found) {
        drop(found.error().message());
        continue;
      }
      if (!*found) {
        drop(fmt::format("no cache tagged \"{}\"", tag.ref_name));
        continue;
      }
      digest = (*found)->digest;
    }
    const std::string key = options.new_key();
    HOIST_TRY(session.AttachCacheLayout(key, std::move(layout), src, /*writable=*/false));
    e.attrs["src"] = key;
    e.attrs["digest"] = digest.str();
    kept.push_back(std::move(e));
  }
  *imports = std::move(kept);
  return out;
}

Status FinishCaches(const AttachedCaches& caches,
                    const std::map<std::string, std::string>& response) {
  if (caches.exports.empty()) return OkStatus();
  auto it = response.find(kCacheManifestKey);
  if (it == response.end()) {
    return MakeError(Code::kInternal, "the engine's response names no cache manifest");
  }
  auto desc = oci::ParseDescriptor(it->second);
  if (!desc) {
    return MakeError(Code::kInternal, "the engine's cache manifest descriptor is not valid: " +
                                          desc.error().message());
  }
  for (const AttachedCaches::Export& e : caches.exports) {
    // Named only if the engine really wrote it there.
    auto info = e.layout->store().Info(desc->digest);
    if (!info || info->size != desc->size) {
      return MakeError(Code::kDataLoss,
                       fmt::format("the exported cache {} is not in {}", desc->digest.str(), e.path));
    }
    HOIST_TRY(e.layout->Put(*desc, {e.tag}).map_error([&](Error err) {
      return std::move(err).Wrap("cache " + e.path);
    }));
  }
  return OkStatus();
}

}  // namespace hoist::client
