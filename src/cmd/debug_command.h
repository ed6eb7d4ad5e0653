// `hoist debug ...`: tools for looking inside hoist's wire formats and its root. `hoist debug
// dump-llb FILE` prints a marshalled LLB definition as `buildctl debug dump-llb` does; `hoist
// debug fsck [--repair]` checks (and repairs) the engine root (control/fsck.h).
#pragma once

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "cmd/global_options.h"

namespace hoist::cmd {

// Adds the `debug` subcommand tree to `app`. Each command stores its outcome in `*status`.
void RegisterDebugCommands(CLI::App& app, const GlobalOptions* global, Status* status);

}  // namespace hoist::cmd
