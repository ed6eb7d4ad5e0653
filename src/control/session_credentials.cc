#include "control/session_credentials.h"

#include <utility>

#include "registry/client.h"

namespace hoist::control {

SessionCredentials::SessionCredentials(session::SessionManager* sessions,
                                       std::vector<std::string> session_ids)
    : sessions_(sessions), session_ids_(std::move(session_ids)) {}

Result<std::optional<registry::AuthConfig>> SessionCredentials::Get(std::string_view host) {
  const std::string dialled = registry::RegistryHost(host);
  std::optional<session::RegistryCredentials> lent;
  Status asked = sessions_->Any(session_ids_, [&](session::Session& s) -> Status {
    auto c = s.Credentials(dialled);
    if (!c) return Unexpected(std::move(c).error());
    lent = std::move(*c);
    return OkStatus();
  });
  if (!asked) return Unexpected(std::move(asked).error());  // the registry client says for what
  if (!lent) return std::optional<registry::AuthConfig>();
  registry::AuthConfig auth;
  if (lent->username.empty()) {
    auth.identity_token = std::move(lent->secret);
  } else {
    auth.username = std::move(lent->username);
    auth.password = std::move(lent->secret);
  }
  return std::optional<registry::AuthConfig>(std::move(auth));
}

}  // namespace hoist::control
