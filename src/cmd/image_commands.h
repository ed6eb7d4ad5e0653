// `hoist unpack` and `hoist pack`: between image layouts and plain directories.
#pragma once

#include <CLI/CLI.hpp>

#include "base/error.h"

namespace hoist::cmd {

void RegisterImageCommands(CLI::App& app, Status* status);

}  // namespace hoist::cmd
