// Build cache import and export (`--cache-from`, `--cache-to`): type=local (a cache in an OCI
// layout directory on the client, BuildKit's attributes src/dest/digest/tag/mode) and
// type=registry (ref=NAME[:TAG], tag `buildcache` when none is given, mode).
//
// A local cache travels through the client's session, as BuildKit v0.11 does it: the client
// attaches the layout as the content store `local:<key>` (the entry's `dest` or `src`, a name
// the client chose: hoist's client sends a random one, buildctl its path), resolves an
// import's tag to the manifest digest itself (`digest`), and, after the build, names the
// exported cache manifest (`cache.manifest` in the response) in the layout's index. The engine
// never touches the client's directory, and treats the key as private: progress and warnings
// say `client directory`, never the key.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "control/engine_parts.h"
#include "control/exporters.h"
#include "control/solve_request.h"
#include "oci/reference.h"
#include "progress/event.h"
#include "session/session.h"

namespace hoist::control {

// Checks one entry; `flag` (`--cache-to`) and `path_key` (`dest`/`src`) name it in errors.
Status ValidateCacheEntry(const TypedAttrs& entry, const char* flag, const char* path_key);

// Where a registry cache lives. REQUIRES: ValidateCacheEntry accepted `entry`.
oci::Reference CacheRef(const TypedAttrs& entry);

// The exporter response key that carries the JSON of the local cache manifest's descriptor
// (BuildKit's remotecache.ExporterResponseManifestDesc).
inline constexpr char kCacheManifestResponseKey[] = "cache.manifest";

// Records the engine lacks come from each cache; `session` serves the local caches' stores. A
// cache that cannot be read only warns (a warning on `progress`), as BuildKit does.
void ImportCaches(const EngineParts& engine, session::Session& session,
                  const std::vector<TypedAttrs>& entries, progress::ProgressWriter* progress,
                  CancelContext* cancel = nullptr);

// Writes the results' cache records (the final one, or every step's with mode=max) to every
// entry, each a step of its own. Local caches go into the client's stores through `session`
// (only the blobs a store lacks are sent) and `cache.manifest` is added to `response`. As with
// BuildKit v0.11 there is one cache.manifest however many local caches the request has, and
// the client names it in each: they all get the same manifest, with every step's records when
// any of them asks for mode=max.
Status ExportCaches(const EngineParts& engine, session::Session& session,
                    const std::vector<PlatformResult>& results,
                    const std::vector<TypedAttrs>& entries, progress::ProgressWriter* progress,
                    std::map<std::string, std::string>* response, CancelContext* cancel = nullptr);

}  // namespace hoist::control
