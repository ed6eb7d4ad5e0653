// Wiring of the registry client for the commands: the configuration file, docker's
// credentials, and (with an engine root) the index of where blobs came from.
#pragma once

#include <memory>
#include <string>

#include "base/error.h"
#include "registry/client.h"

namespace hoist::cmd {

// `config_path` "" means the default files (registry/host_config.h). `state_dir` "" means no
// cross-repository mount index.
Result<std::unique_ptr<registry::Client>> NewRegistryClient(const std::string& config_path,
                                                            const std::string& state_dir);

}  // namespace hoist::cmd
