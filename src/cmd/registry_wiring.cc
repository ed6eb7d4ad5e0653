#include "cmd/registry_wiring.h"

#include "registry/credentials.h"
#include "registry/host_config.h"

namespace hoist::cmd {

Result<std::unique_ptr<registry::Client>> NewRegistryClient(const std::string& config_path,
                                                            const std::string& state_dir) {
  registry::ClientOptions o;
  HOIST_ASSIGN_OR_RETURN(o.config, registry::RegistryConfig::Load(config_path));
  o.credentials = std::make_shared<registry::DockerConfigCredentials>();
  if (!state_dir.empty()) o.sources = registry::NewDirBlobSourceIndex(state_dir + "/sources");
  return std::make_unique<registry::Client>(std::move(o));
}

}  // namespace hoist::cmd
