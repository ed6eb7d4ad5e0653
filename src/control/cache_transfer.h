// Build cache import and export (`--cache-from`, `--cache-to`): type=local (an OCI layout
// directory, BuildKit's attributes src/dest/tag/mode) and type=registry (ref=NAME[:TAG], tag
// `buildcache` when none is given, mode).
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "control/engine_parts.h"
#include "control/exporters.h"
#include "control/solve_request.h"
#include "oci/reference.h"
#include "progress/event.h"

namespace hoist::control {

// Checks one entry; `flag` (`--cache-to`) and `path_key` (`dest`/`src`) name it in errors.
Status ValidateCacheEntry(const TypedAttrs& entry, const char* flag, const char* path_key);

// Where a registry cache lives. REQUIRES: ValidateCacheEntry accepted `entry`.
oci::Reference CacheRef(const TypedAttrs& entry);

// Records the engine lacks come from each cache. A cache that cannot be read only warns (a
// warning on `progress`), as BuildKit does.
void ImportCaches(const EngineParts& engine, const std::vector<TypedAttrs>& entries,
                  progress::ProgressWriter* progress);

// Writes the results' cache records (the final one, or every step's with mode=max) to `entry`,
// as a step of its own.
Status ExportCache(const EngineParts& engine, const std::vector<PlatformResult>& results,
                   const TypedAttrs& entry, progress::ProgressWriter* progress);

}  // namespace hoist::control
