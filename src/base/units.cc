#include "base/units.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>

#include <fmt/format.h>

namespace hoist {

Result<int64_t> ParseStorageSize(std::string_view s) {
  auto invalid = [&] {
    return MakeError(Code::kInvalidArgument, fmt::format("invalid size: '{}'", s));
  };
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return invalid();
  char* end = nullptr;
  const std::string num(s.substr(0, i));
  double v = std::strtod(num.c_str(), &end);
  if (end == nullptr || *end != '\0') return invalid();
  std::string unit(s.substr(i));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::map<std::string, double> kUnits = {
      {"", 1},          {"b", 1},          {"k", 1024.0},     {"m", 1048576.0},
      {"g", 1073741824.0}, {"t", 1099511627776.0}, {"kb", 1e3}, {"mb", 1e6},
      {"gb", 1e9},      {"tb", 1e12},      {"kib", 1024.0},   {"mib", 1048576.0},
      {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return invalid();
  return static_cast<int64_t>(std::llround(v * it->second));
}

}  // namespace hoist
