#include "client/output_spec.h"

#include <fmt/format.h>

namespace hoist::client {

Result<OutputSpec> ParseOutputSpec(std::string_view value) {
  auto invalid = [&](std::string_view why) {
    return MakeError(Code::kInvalidArgument, fmt::format("invalid output \"{}\": {}", value, why));
  };
  if (value.empty()) return invalid("empty value");
  if (value.find('=') == std::string_view::npos) {
    if (value == "-") return OutputSpec{.type = "tar", .attrs = {{"dest", "-"}}};
    return OutputSpec{.type = "local", .attrs = {{"dest", std::string(value)}}};
  }
  auto fields = SplitCsv(value);
  if (!fields) return invalid(fields.error().message());
  OutputSpec spec;
  for (const std::string& f : *fields) {
    const size_t eq = f.find('=');
    if (eq == std::string::npos) return invalid(fmt::format("field \"{}\" is not key=value", f));
    std::string key = f.substr(0, eq);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string val = f.substr(eq + 1);
    if (key == "type") {
      if (!spec.type.empty()) return invalid("duplicate key \"type\"");
      spec.type = std::move(val);
      continue;
    }
    if (!spec.attrs.emplace(key, std::move(val)).second) {
      return invalid(fmt::format("duplicate key \"{}\"", key));
    }
  }
  if (spec.type.empty()) return invalid("type is required");
  return spec;
}

}  // namespace hoist::client
