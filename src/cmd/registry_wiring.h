// Wiring of the registry client for the commands: the configuration file, whose credentials
// (docker's, for commands that run without a session; none for an engine, whose builds ask
// their client's session), and (with an engine root) the index of where blobs came from.
#pragma once

#include <memory>
#include <string>

#include "base/error.h"
#include "registry/client.h"
#include "registry/credentials.h"
#include "session/client_session.h"

namespace hoist::cmd {

// `config_path` "" means the default files (registry/host_config.h). `state_dir` "" means no
// cross-repository mount index. `credentials` null means anonymous (what an engine's own
// client is: builds get theirs per build through the session).
Result<std::unique_ptr<registry::Client>> NewRegistryClient(
    const std::string& config_path, const std::string& state_dir,
    std::shared_ptr<registry::CredentialStore> credentials);

// What a client's session lends the engine: credentials from `store` (the client's docker
// config), in BuildKit's Credentials form (an identity token goes as the secret with no
// username; a registry token alone is not lent, as in BuildKit). Errors name the host and what
// failed, with the config file's path replaced by `config.json`: the engine is told no client
// path and, as always, no secret.
session::ClientSession::CredentialsLookup SessionCredentialsLookup(
    std::shared_ptr<registry::DockerConfigCredentials> store);

}  // namespace hoist::cmd
