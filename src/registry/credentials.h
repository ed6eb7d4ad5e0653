// Registry credentials as docker keeps them: `$DOCKER_CONFIG/config.json`, else
// `~/.docker/config.json`. For a registry host, the first configured source answers, as in
// docker (a later one is not consulted when an earlier one has nothing):
//   1. `credHelpers[key]` → `docker-credential-<name> get` (key on stdin, JSON
//      {"ServerURL","Username","Secret"} on stdout; Username `<token>` means Secret is an
//      identity token; "credentials not found in native keychain" means none). An empty
//      name (`"credHelpers": {"host": ""}`) sends that host to `auths` despite `credsStore`;
//   2. `credsStore` → the same helper protocol;
//   3. `auths[key]`: `auth` (base64 `user:password`, which wins over `username`/`password`),
//      `identitytoken` (an OAuth2 refresh token), `registrytoken` (a bearer token as is).
//      An empty entry `{}` (what docker leaves beside a helper) means none.
// The key is CredentialKey(host). Docker Hub's keys are `https://index.docker.io/v1/` (what
// docker writes), `index.docker.io`, `registry-1.docker.io` and `docker.io`; other hosts also
// match keys written as URLs (`https://host`, `http://host/v1/`), as docker's legacy entries.
// With several matches the exact key wins, then the first in file order.
//
// Helpers are found on $PATH (absolute directories only), run with the caller's environment,
// stdin/stdout/stderr on pipes and no other descriptor, at most 1 MiB of output and a
// timeout; a missing helper is a kFailedPrecondition error naming it.
//
// Secrets never appear in errors or logs: errors name the file or helper and the host only
// (a helper's own message is passed on with any secret given to it cut out, and not at all if
// it looks like credentials JSON; a JSON syntax error in config.json gives a line, never text).
//
// Thread-safety: DockerConfigCredentials is thread-safe (it re-reads the file on each Get).
// Store and Erase by two processes at once is last-writer-wins on the whole file, as in
// docker.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace hoist::registry {

struct AuthConfig {
  std::string username;
  std::string password;
  std::string identity_token;  // OAuth2 refresh token
  std::string registry_token;  // bearer token sent as is

  bool empty() const {
    return username.empty() && password.empty() && identity_token.empty() &&
           registry_token.empty();
  }
};

// Where a client finds credentials for a host. Implementations: DockerConfigCredentials, and
// fakes in tests.
class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  // nullopt: no credentials for that host (anonymous). An unreadable file or a failing
  // helper is an error.
  virtual Result<std::optional<AuthConfig>> Get(std::string_view host) = 0;
};

class DockerConfigCredentials final : public CredentialStore {
 public:
  // `dir` holds config.json; "" means $DOCKER_CONFIG, else $HOME/.docker. A credential
  // helper that runs longer than `helper_timeout` is killed and the call fails
  // (kDeadlineExceeded); helpers may wait for a passphrase prompt, hence the generous default.
  explicit DockerConfigCredentials(
      std::string dir = "", std::chrono::milliseconds helper_timeout = std::chrono::minutes(2));

  Result<std::optional<AuthConfig>> Get(std::string_view host) override;
  // `hoist login`: stores credentials for host, through the helper that Get would use (and
  // then, as docker, an empty `auths[key]` entry), else in `auths[key]` (`auth`, base64
  // user:password, plus `identitytoken`/`registrytoken` when set), replacing that entry. The
  // directory is created with mode 0700 and the file written with mode 0600, atomically (a
  // symlinked config.json is written through to its target); every other key is kept in
  // its order. An unchanged file is not rewritten.
  Status Store(std::string_view host, const AuthConfig& auth);
  // `hoist logout`: removes them: through the helper, if one is configured for host, and every
  // `auths` entry that Get would match. kNotFound (`not logged in to <host>`) if there were
  // none.
  Status Erase(std::string_view host);
  // The config.json path in use.
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
  std::chrono::milliseconds helper_timeout_;
};

// The key docker uses for `host` in config.json: `https://index.docker.io/v1/` for Docker Hub
// (any of its names), else the host as given (`host[:port]`; of a URL, its host and port).
std::string CredentialKey(std::string_view host);

}  // namespace hoist::registry
