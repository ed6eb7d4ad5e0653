#include "control/attrs.h"

#include "base/csv.h"

namespace hoist::control {

std::string StringAttr(const Attrs& attrs, std::string_view key, std::string_view fallback) {
  auto it = attrs.find(std::string(key));
  return it == attrs.end() ? std::string(fallback) : it->second;
}

Result<bool> BoolAttr(const Attrs& attrs, std::string_view key, bool fallback) {
  auto it = attrs.find(std::string(key));
  if (it == attrs.end()) return fallback;
  return ParseBool(key, it->second);
}

std::vector<std::string> ListAttr(const Attrs& attrs, std::string_view key) {
  std::vector<std::string> out;
  auto it = attrs.find(std::string(key));
  if (it == attrs.end()) return out;
  const std::string& v = it->second;
  for (size_t from = 0; from <= v.size();) {
    size_t comma = v.find(',', from);
    if (comma == std::string::npos) comma = v.size();
    if (comma > from) out.push_back(v.substr(from, comma - from));
    from = comma + 1;
  }
  return out;
}

}  // namespace hoist::control
