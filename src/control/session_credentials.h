// Registry credentials for one build, asked of its client through the session (BuildKit's
// Auth.Credentials): the engine keeps none of its own for builds, so with hoistd every client
// pulls and pushes as itself, with its own docker config and credential helpers, and never
// with the daemon's or another client's.
//
// Thread-safety: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "registry/credentials.h"
#include "session/session_manager.h"

namespace hoist::control {

class SessionCredentials final : public registry::CredentialStore {
 public:
  // Asks the sessions `session_ids` in order (as SessionManager::Any); `sessions` must outlive
  // this object.
  SessionCredentials(session::SessionManager* sessions, std::vector<std::string> session_ids);

  // `host` as the registry client names it (`docker.io` for Docker Hub); the client is asked
  // for the host the engine dials (`registry-1.docker.io`), as BuildKit asks. The first
  // session that answers decides: an identity token (an empty username) becomes
  // identity_token, else username and password; no answer is anonymous. Errors say which host
  // and why, never a secret.
  Result<std::optional<registry::AuthConfig>> Get(std::string_view host) override;

 private:
  session::SessionManager* sessions_;
  std::vector<std::string> session_ids_;
};

}  // namespace hoist::control
