// `hoist build`: builds a Dockerfile on the embedded engine, with docker buildx's and
// buildctl's flags.
#pragma once

#include <CLI/CLI.hpp>

#include "base/error.h"

namespace hoist::cmd {

// `root` is the global --root value (empty: DefaultRoot()). REQUIRES: both outlive `app`.
// `config` is the registry configuration file given with --config ("" for the default).
void RegisterBuildCommand(CLI::App& app, const std::string* root, const std::string* config,
                          Status* status);

}  // namespace hoist::cmd
