#include "cmd/registry_wiring.h"

#include <utility>

#include "registry/host_config.h"

namespace hoist::cmd {

Result<std::unique_ptr<registry::Client>> NewRegistryClient(
    const std::string& config_path, const std::string& state_dir,
    std::shared_ptr<registry::CredentialStore> credentials) {
  registry::ClientOptions o;
  HOIST_ASSIGN_OR_RETURN(o.config, registry::RegistryConfig::Load(config_path));
  o.credentials = std::move(credentials);
  if (!state_dir.empty()) o.sources = registry::NewDirBlobSourceIndex(state_dir + "/sources");
  return std::make_unique<registry::Client>(std::move(o));
}

session::ClientSession::CredentialsLookup SessionCredentialsLookup(
    std::shared_ptr<registry::DockerConfigCredentials> store) {
  return [store = std::move(store)](
             std::string_view host) -> Result<std::optional<session::RegistryCredentials>> {
    using Lent = std::optional<session::RegistryCredentials>;
    auto auth = store->Get(host);
    if (!auth) {
      std::string msg = auth.error().message();
      const std::string& path = store->path();
      for (size_t at; !path.empty() && (at = msg.find(path)) != std::string::npos;) {
        msg.replace(at, path.size(), "config.json");
      }
      return MakeError(auth.error().code(), std::move(msg));
    }
    if (!*auth) return Lent();
    const registry::AuthConfig& a = **auth;
    if (!a.identity_token.empty()) {
      return Lent(session::RegistryCredentials{.username = "", .secret = a.identity_token});
    }
    if (a.username.empty() && a.password.empty()) return Lent();
    return Lent(session::RegistryCredentials{.username = a.username, .secret = a.password});
  };
}

}  // namespace hoist::cmd
