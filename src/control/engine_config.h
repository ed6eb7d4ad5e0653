// The engine's own settings in hoist's configuration file (the file `--config` names, else
// `$XDG_CONFIG_HOME/hoist/hoist.toml`, else `/etc/hoist/hoist.toml`; registry/host_config.h
// reads its `[registry]` section from the same file). As in buildkitd.toml:
//
//   insecure-entitlements = ["network.host", "security.insecure"]
//
//   [step-limits]        # each RUN step (exec op), through its cgroup
//     memory = "2GiB"    # a size ("512MiB", "2GB") or bytes; the kernel kills a step past it
//     pids = 1024        # the most processes and threads a step may have at once
//
// `insecure-entitlements` lists what the engine lets builds ask for (solver/entitlements.h);
// hoistd's --allow-insecure-entitlement replaces it. Without `[step-limits]` steps are limited
// only by the engine's own cgroup. Keys outside these and `[registry]` are ignored (a
// buildkitd.toml may be reused); a wrong value, or an unknown key inside `[step-limits]`, is an
// error naming the file, the line and the key.
//
// Thread-safety: values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"
#include "solver/entitlements.h"

namespace hoist::control {

// The least memory limit a step may have: below it a runtime cannot even start a container.
inline constexpr int64_t kMinStepMemoryBytes = 6 << 20;

struct StepLimits {
  int64_t memory_bytes = 0;  // 0: none
  int64_t pids = 0;          // 0: none

  bool operator==(const StepLimits&) const = default;
};

struct EngineConfig {
  solver::EntitlementSet insecure_entitlements;
  StepLimits step_limits;
  std::string origin;  // the file it came from ("" when none)

  // Parses TOML text; `origin` names it in errors.
  static Result<EngineConfig> Parse(std::string_view toml, std::string_view origin);
  // `explicit_path` non-empty: that file (must exist); else the default files, none of which
  // need exist.
  static Result<EngineConfig> Load(const std::string& explicit_path);
};

}  // namespace hoist::control
