// `hoist du` and `hoist prune`: the engine's build cache, as `buildctl du` / `buildctl prune`.
#pragma once

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "cmd/global_options.h"

namespace hoist::cmd {

void RegisterCacheCommands(CLI::App& app, const GlobalOptions* global, Status* status);

// "10GB", "512MiB", "1.5g", "123" (bytes) → bytes, as docker's units.RAMInBytes/FromHumanSize
// read them (decimal kB/MB/GB, binary KiB/MiB/GiB; single letters are binary, as docker's).
Result<int64_t> ParseStorageSize(std::string_view s);

}  // namespace hoist::cmd
