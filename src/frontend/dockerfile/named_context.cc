#include "frontend/dockerfile/named_context.h"

#include <fmt/format.h>

namespace hoist::frontend::dockerfile {

Result<std::optional<NamedContext>> LoadNamedContext(std::string_view name,
                                                     const oci::Platform& platform,
                                                     const NamedContextOptions& options) {
  (void)platform;
  if (name == "scratch" || name == "context") return std::nullopt;
  for (const auto& [key, value] : *options.frontend_opts) {
    if (key.rfind("context:", 0) == 0 && key.substr(8) == name) {
      return MakeError(Code::kUnimplemented,
                       fmt::format("named context {} is not supported yet", name));
    }
  }
  return std::nullopt;
}

}  // namespace hoist::frontend::dockerfile
