#include "control/cache_transfer.h"

#include <fmt/format.h>

#include "content/oci_layout.h"
#include "control/attrs.h"
#include "exporter/cache_layout.h"
#include "exporter/snapshot_image.h"
#include "oci/descriptor.h"
#include "oci/media_types.h"
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

namespace {

// How progress and warnings name a local cache: never by its key, which may be a client path.
constexpr char kClientDirectory[] = "client directory";

// Reads the local cache `spec` names from the client's store into the engine's.
Result<std::vector<exporter::CacheEntry>> ImportLocalCache(const EngineParts& engine,
                                                           session::Session& session,
                                                           const TypedAttrs& spec,
                                                           CancelContext* cancel) {
  const std::string digest_attr = StringAttr(spec.attrs, "digest");
  if (digest_attr.empty()) {
    return MakeError(Code::kInvalidArgument,
                     "the client named no cache manifest (attribute digest)");
  }
  HOIST_ASSIGN_OR_RETURN(oci::Digest digest, oci::Digest::Parse(digest_attr));
  HOIST_ASSIGN_OR_RETURN(std::shared_ptr<content::ContentStore> store,
                         session.CacheStore(spec.attrs.at("src"), /*writable=*/false));
  HOIST_ASSIGN_OR_RETURN(content::BlobInfo info, store->Info(digest));
  const oci::Descriptor root{.media_type = std::string(oci::kMediaTypeImageManifest),
                             .digest = digest,
                             .size = info.size};
  // Every blob is verified as it streams into the engine's store.
  auto fetch = [&](const oci::Descriptor& d) {
    return content::CopyBlob(*store, *engine.content, d, cancel);
  };
  HOIST_TRY(fetch(root));
  return exporter::ImportCacheManifest(*engine.layers, *engine.content, *engine.content, root,
                                       kClientDirectory, fetch, cancel);
}

// The records to export: the final result's, or with `max` every step's.
std::vector<exporter::CacheEntry> RecordsToExport(const std::vector<PlatformResult>& results,
                                                  bool max) {
  std::vector<exporter::CacheEntry> entries;
  for (const PlatformResult& r : results) {
    for (const solver::SolvedVertex& v : r.vertices) {
      if (!max && v.cache_key != r.cache_key) continue;
      for (const std::string& id : v.result_ids) {
        if (id.empty() || id.starts_with(solver::ops::kMirrorIdPrefix) ||
            id.starts_with(solver::ops::kInPlaceIdPrefix)) {
          continue;
        }
        entries.push_back({.cache_key = v.cache_key, .snapshot = id, .shape = v.shape});
        break;  // one result per key: the first output
      }
    }
  }
  return entries;
}

exporter::SnapshotImageOptions ImageOptions(const EngineParts& engine) {
  exporter::SnapshotImageOptions io;
  io.diff_cache_dir = engine.diff_cache_dir();
  return io;
}

}  // namespace

void ImportCaches(const EngineParts& engine, session::Session& session,
                  const std::vector<TypedAttrs>& specs, progress::ProgressWriter* progress,
                  CancelContext* cancel) {
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
            },
            cancel);
      }();
    } else {
      what = kClientDirectory;
      entries = ImportLocalCache(engine, session, spec, cancel);
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
                               .description = "imported from " + what,
                               .shape = e.shape});
    }
  }
}

Status ExportCaches(const EngineParts& engine, session::Session& session,
                    const std::vector<PlatformResult>& results,
                    const std::vector<TypedAttrs>& specs, progress::ProgressWriter* progress,
                    std::map<std::string, std::string>* response, CancelContext* cancel) {
  std::vector<const TypedAttrs*> locals;
  bool local_max = false;
  for (const TypedAttrs& spec : specs) {
    const bool max = StringAttr(spec.attrs, "mode") == "max";
    if (spec.type != "registry") {
      locals.push_back(&spec);
      local_max = local_max || max;
      continue;
    }
    const std::string step = "exporting cache to " + CacheRef(spec).String();
    HOIST_TRY(progress::RunStep(progress, step, [&]() -> Status {
      HOIST_ASSIGN_OR_RETURN(oci::Descriptor root,
                             exporter::WriteCacheManifest(*engine.snapshotter, *engine.content,
                                                          RecordsToExport(results, max),
                                                          ImageOptions(engine)));
      return PushToRegistry(engine, progress, step, root, {CacheRef(spec)}, false);
    }));
  }
  if (locals.empty()) return OkStatus();
  const std::string step = locals.size() == 1 ? "exporting cache to client directory"
                                              : "exporting cache to client directories";
  return progress::RunStep(progress, step, [&]() -> Status {
    // Written into the engine's store first (layers diffed once, base blobs re-used); each
    // client store then gets only the blobs it lacks.
    HOIST_ASSIGN_OR_RETURN(oci::Descriptor root,
                           exporter::WriteCacheManifest(*engine.snapshotter, *engine.content,
                                                        RecordsToExport(results, local_max),
                                                        ImageOptions(engine)));
    for (const TypedAttrs* spec : locals) {
      HOIST_ASSIGN_OR_RETURN(std::shared_ptr<content::ContentStore> store,
                             session.CacheStore(spec->attrs.at("dest"), /*writable=*/true));
      HOIST_TRY(content::CopyImage(*engine.content, *store, root, cancel));
    }
    (*response)[kCacheManifestResponseKey] =
        oci::SerializeDescriptor({.media_type = root.media_type,
                                  .digest = root.digest,
                                  .size = root.size});
    return OkStatus();
  });
}

}  // namespace hoist::control
