// `hoist build`: builds a Dockerfile on the embedded engine, with docker buildx's and
// buildctl's flags.
#pragma once

#include <CLI/CLI.hpp>

#include "base/error.h"

namespace hoist::cmd {

// `root` is the global --root value (empty: DefaultRoot()). REQUIRES: both outlive `app`.
void RegisterBuildCommand(CLI::App& app, const std::string* root, Status* status);

}  // namespace hoist::cmd
