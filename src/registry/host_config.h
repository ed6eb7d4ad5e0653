// Registry host configuration: how hoist reaches each registry host, shaped like the registry
// section of buildkitd.toml. The file is TOML:
//
//   [registry."docker.io"]
//     mirrors = ["127.0.0.1:5000"]      # tried in order before the host itself
//   [registry."127.0.0.1:5000"]
//     http = true                       # plain HTTP
//     insecure = true                   # HTTPS without verifying the certificate
//     ca = ["/etc/hoist/certs/ca.pem"]  # extra CA certificates (PEM files)
//
// Read from `--config FILE`, else `$XDG_CONFIG_HOME/hoist/hoist.toml` (default
// `~/.config/hoist/hoist.toml`), else `/etc/hoist/hoist.toml`; a missing default file is an
// empty configuration, a missing `--config` file an error. Keys outside `[registry]` are left
// to the engine's configuration (control/engine_config.h); unknown keys inside a host table, or a value
// of the wrong type, are errors naming the file, the key and the line.
//
// Hosts on 127.0.0.0/8, `localhost` and `[::1]` speak plain HTTP unless the file says
// otherwise, as docker treats them.
//
// Thread-safety: immutable values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::registry {

struct HostConfig {
  std::vector<std::string> mirrors;  // host[:port][/path prefix], tried in order
  bool plain_http = false;
  bool insecure = false;             // skip TLS verification
  std::vector<std::string> ca_files;
};

class RegistryConfig {
 public:
  RegistryConfig() = default;
  // Parses TOML text; `origin` names it in errors (a file path, as the user gave it).
  static Result<RegistryConfig> Parse(std::string_view toml, std::string_view origin);
  // `explicit_path` non-empty: that file (must exist). Else the default files as above.
  static Result<RegistryConfig> Load(const std::string& explicit_path);

  // The configuration for `host` (`docker.io`, `127.0.0.1:5000`), with the loopback default
  // applied when the file says nothing of `http` for it.
  HostConfig ForHost(std::string_view host) const;
  // The file the configuration came from ("" when none).
  const std::string& origin() const { return origin_; }

 private:
  struct Entry {
    HostConfig config;
    bool http_set = false;
  };
  std::map<std::string, Entry, std::less<>> hosts_;
  std::string origin_;
};

// The configuration file hoist reads, as Load finds it; the engine's own section is read from
// the same file (control/engine_config.h).
struct ConfigFileText {
  std::string path;
  std::string text;
};
// `explicit_path` non-empty: that file (kNotFound if missing). Else the first default file that
// exists, nullopt when none does. At most 1 MiB.
Result<std::optional<ConfigFileText>> ReadConfigFile(const std::string& explicit_path);

// True for `localhost`, `127.x.y.z` and `[::1]` (with or without a port).
bool IsLoopbackHost(std::string_view host);

}  // namespace hoist::registry
