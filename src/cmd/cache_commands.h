// `hoist du` and `hoist prune`: the engine's build cache, as `buildctl du` / `buildctl prune`.
#pragma once

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "cmd/global_options.h"

namespace hoist::cmd {

void RegisterCacheCommands(CLI::App& app, const GlobalOptions* global, Status* status);

}  // namespace hoist::cmd
