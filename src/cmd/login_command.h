// `hoist login` and `hoist logout`: registry credentials kept in docker's config.json (and its
// credential helpers), with `docker login`'s flags and messages, so that docker and hoist share
// one login.
#pragma once

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "base/error.h"

namespace hoist::cmd {

// `config` is the global --config value: the registry configuration file (empty: the default
// files; see registry/host_config.h). REQUIRES: both outlive `app`.
void RegisterLoginCommands(CLI::App& app, const std::string* config, Status* status);

// The host a REGISTRY argument names: `docker.io` for Docker Hub in any of its spellings (and
// for none, as docker login defaults), else the host[:port] of a name or URL.
std::string LoginHost(std::string_view arg);

}  // namespace hoist::cmd
