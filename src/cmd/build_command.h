// `hoist build`: builds a Dockerfile with docker buildx's and buildctl's flags, on the embedded
// engine or, given a daemon address, through hoistd or buildkitd.
#pragma once

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "cmd/global_options.h"

namespace hoist::cmd {

// REQUIRES: `global` and `status` outlive `app`.
void RegisterBuildCommand(CLI::App& app, const GlobalOptions* global, Status* status);

}  // namespace hoist::cmd
