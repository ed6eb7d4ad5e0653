// `hoist debug ...`: tools for looking inside hoist's wire formats. `hoist debug dump-llb
// FILE` prints a marshalled LLB definition as `buildctl debug dump-llb` does.
#pragma once

#include <CLI/CLI.hpp>

#include "base/error.h"

namespace hoist::cmd {

// Adds the `debug` subcommand tree to `app`. Each command stores its outcome in `*status`.
void RegisterDebugCommands(CLI::App& app, Status* status);

}  // namespace hoist::cmd
