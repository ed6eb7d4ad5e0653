#include "control/engine_config.h"

#include <fmt/format.h>
// toml++ is heavy: it is included here and in registry/host_config.cc only. Debian builds it
// with exceptions on, so a syntax error arrives as toml::parse_error, caught right below.
#include <toml++/toml.h>

#include "base/units.h"
#include "registry/host_config.h"

namespace hoist::control {
namespace {

class ErrorSite {
 public:
  explicit ErrorSite(std::string_view origin) : origin_(origin) {}
  Error At(const toml::source_region& where, std::string_view key_path,
           std::string_view problem) const {
    std::string msg = origin_;
    if (where.begin.line > 0) msg += fmt::format(":{}", where.begin.line);
    msg += ": ";
    if (!key_path.empty()) msg += fmt::format("{}: ", key_path);
    msg += problem;
    return Error(Code::kInvalidArgument, std::move(msg));
  }

 private:
  std::string origin_;
};

Result<solver::EntitlementSet> ReadEntitlements(const ErrorSite& site, const toml::node& value) {
  constexpr std::string_view kKey = "insecure-entitlements";
  const toml::array* array = value.as_array();
  if (array == nullptr) {
    return Unexpected(site.At(value.source(), kKey,
                              "expected an array of strings (\"network.host\", "
                              "\"security.insecure\")"));
  }
  solver::EntitlementSet set;
  for (const toml::node& element : *array) {
    const auto* s = element.as_string();
    if (s == nullptr) {
      return Unexpected(site.At(element.source(), kKey, "expected an array of strings"));
    }
    auto e = solver::ParseEntitlement(s->get());
    if (!e) return Unexpected(site.At(element.source(), kKey, e.error().message()));
    set.Add(*e);
  }
  return set;
}

Result<StepLimits> ReadStepLimits(const ErrorSite& site, const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return Unexpected(site.At(node.source(), "step-limits", "expected a table ([step-limits])"));
  }
  StepLimits limits;
  for (const auto& [key, value] : *table) {
    const std::string path = fmt::format("step-limits.{}", key.str());
    if (key == "memory") {
      int64_t bytes = 0;
      if (const auto* i = value.as_integer()) {
        bytes = i->get();
      } else if (const auto* s = value.as_string()) {
        auto parsed = ParseStorageSize(s->get());
        if (!parsed) return Unexpected(site.At(value.source(), path, parsed.error().message()));
        bytes = *parsed;
      } else {
        return Unexpected(site.At(value.source(), path,
                                  "expected a size (\"512MiB\", \"2GB\") or a number of bytes"));
      }
      if (bytes < kMinStepMemoryBytes) {
        return Unexpected(site.At(value.source(), path,
                                  fmt::format("{} bytes is below the least a step can run with "
                                              "(6MiB)",
                                              bytes)));
      }
      limits.memory_bytes = bytes;
    } else if (key == "pids") {
      const auto* i = value.as_integer();
      if (i == nullptr || i->get() < 1) {
        return Unexpected(site.At(value.source(), path, "expected a positive integer"));
      }
      limits.pids = i->get();
    } else {
      return Unexpected(site.At(key.source(), path, "unknown key (expected memory or pids)"));
    }
  }
  return limits;
}

}  // namespace

Result<EngineConfig> EngineConfig::Parse(std::string_view text, std::string_view origin) {
  const ErrorSite site(origin);
  toml::table doc;
  try {
    doc = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return Unexpected(site.At(e.source(), "", e.description()));
  }
  EngineConfig config;
  config.origin = std::string(origin);
  if (const toml::node* e = doc.get("insecure-entitlements")) {
    HOIST_ASSIGN_OR_RETURN(config.insecure_entitlements, ReadEntitlements(site, *e));
  }
  if (const toml::node* l = doc.get("step-limits")) {
    HOIST_ASSIGN_OR_RETURN(config.step_limits, ReadStepLimits(site, *l));
  }
  return config;
}

Result<EngineConfig> EngineConfig::Load(const std::string& explicit_path) {
  HOIST_ASSIGN_OR_RETURN(std::optional<registry::ConfigFileText> file,
                         registry::ReadConfigFile(explicit_path));
  if (!file) return EngineConfig();
  return Parse(file->text, file->path);
}

}  // namespace hoist::control
