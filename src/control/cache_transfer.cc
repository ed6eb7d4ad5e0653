#include "control/cache_transfer.h"

#include <fmt/format.h>

#include "control/attrs.h"
#include "exporter/cache_layout.h"
#include "exporter/snapshot_image.h"
#include "solver/ops/worker.h"

namespace hoist::control {

Status ValidateCacheEntry(const TypedAttrs& entry, const char* flag, const char* path_key) {
  if (entry.type == "registry") {
    if (StringAttr(entry.attrs, "ref").empty()) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("{} type=registry needs ref=NAME[:TAG]", flag));
    }
    HOIST_TRY(oci::ParseNormalizedNamed(entry.attrs.at("ref")));  // CacheRef relies on it
  } else if (entry.type == "local") {
    if (StringAttr(entry.attrs, path_key).empty()) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("{} type=local needs {}=DIR", flag, path_key));
    }
  } else {
    return MakeError(Code::kUnimplemented,
                     fmt::format("{} type={}: only type=local and type=registry are supported",
                                 flag, entry.type));
  }
  const std::string mode = StringAttr(entry.attrs, "mode", "min");
  if (mode != "min" && mode != "max") {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{}: invalid mode {} (min or max)", flag, mode));
  }
  return OkStatus();
}

oci::Reference CacheRef(const TypedAttrs& entry) {
  oci::Reference r = *oci::ParseNormalizedNamed(entry.attrs.at("ref"));
  if (!r.has_tag() && !r.has_digest()) r = *oci::WithTag(r, "buildcache");
  return r;
}

void ImportCaches(const EngineParts& engine, const std::vector<TypedAttrs>& specs,
                  progress::ProgressWriter* progress) {
  for (const TypedAttrs& spec : specs) {
    Result<std::vector<exporter::CacheEntry>> entries = std::vector<exporter::CacheEntry>{};
    std::string what;
    if (spec.type == "registry") {
      const oci::Reference ref = CacheRef(spec);
      what = ref.String();
      entries = [&]() -> Result<std::vector<exporter::CacheEntry>> {
        if (engine.registry == nullptr) {
          return MakeError(Code::kFailedPrecondition, "no registry client in this engine");
        }
        HOIST_ASSIGN_OR_RETURN(oci::Descriptor root, engine.registry->Resolve(ref));
        if (!engine.content->Info(root.digest)) {
          HOIST_ASSIGN_OR_RETURN(std::string bytes, engine.registry->FetchManifest(ref, root));
          auto w = content::WriteBlob(*engine.content, bytes, root.digest);
          if (!w && w.error().code() != Code::kAlreadyExists) return Unexpected(w.error());
        }
        return exporter::ImportCacheManifest(
            *engine.layers, *engine.content, *engine.content, root, what,
            [&](const oci::Descriptor& d) {
              return engine.registry->FetchBlob(ref, d, *engine.content);
            });
      }();
    } else {
      const std::string src = spec.attrs.at("src");
      what = src;
      entries = exporter::ImportCacheLayout(*engine.layers, *engine.content, src,
                                            StringAttr(spec.attrs, "tag", "latest"));
    }
    if (!entries) {
      if (progress != nullptr) {
        progress->Write({.warnings = {{.short_message = fmt::format(
                                           "failed to import cache from {}: {}", what,
                                           entries.error().message())}}});
      }
      continue;
    }
    for (const exporter::CacheEntry& e : *entries) {
      auto have = engine.cache->Lookup(e.cache_key);
      if (have && *have) continue;
      (void)engine.cache->Put({.cache_key = e.cache_key,
                               .result_ids = {e.snapshot},
                               .description = "imported from " + what});
    }
  }
}

Status ExportCache(const EngineParts& engine, const std::vector<PlatformResult>& results,
                   const TypedAttrs& spec, progress::ProgressWriter* progress) {
  const std::string dest =
      spec.type == "registry" ? CacheRef(spec).String() : spec.attrs.at("dest");
  const std::string step = "exporting cache to " + dest;
  return progress::RunStep(progress, step, [&]() -> Status {
    const bool max = StringAttr(spec.attrs, "mode") == "max";
    std::vector<exporter::CacheEntry> entries;
    for (const PlatformResult& r : results) {
      for (const solver::SolvedVertex& v : r.vertices) {
        if (!max && v.cache_key != r.cache_key) continue;
        for (const std::string& id : v.result_ids) {
          if (id.empty() || id.starts_with(solver::ops::kMirrorIdPrefix)) continue;
          entries.push_back({.cache_key = v.cache_key, .snapshot = id});
          break;  // one result per key: the first output
        }
      }
    }
    exporter::SnapshotImageOptions io;
    io.diff_cache_dir = engine.root + "/diffs";
    if (spec.type == "registry") {
      HOIST_ASSIGN_OR_RETURN(oci::Descriptor root,
                             exporter::WriteCacheManifest(*engine.snapshotter, *engine.content,
                                                          entries, io));
      return PushToRegistry(engine, progress, step, root, {CacheRef(spec)}, false);
    }
    return exporter::ExportCacheLayout(*engine.snapshotter, *engine.content, entries, dest,
                                       StringAttr(spec.attrs, "tag", "latest"), io);
  });
}

}  // namespace hoist::control
