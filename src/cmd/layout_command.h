// `hoist layout ...`: list, inspect, verify, garbage-collect and tag images in OCI image layouts
// (directories or tarballs).
#pragma once

#include <CLI/CLI.hpp>

#include "base/error.h"

namespace hoist::cmd {

// Adds the `layout` subcommand tree to `app`. Each command stores its outcome in `*status`.
void RegisterLayoutCommands(CLI::App& app, const std::string* config, Status* status);

}  // namespace hoist::cmd
