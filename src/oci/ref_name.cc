#include "oci/ref_name.h"

namespace hoist::oci {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsSeparatorChar(char c) {
  return c == '-' || c == '.' || c == '_' || c == ':' || c == '@' || c == '+';
}

bool IsValidComponent(std::string_view s) {
  size_t i = 0;
  while (true) {
    size_t start = i;
    while (i < s.size() && IsAlnum(s[i])) ++i;
    if (i == start) return false;  // empty, or a separator first, last or doubled
    if (i == s.size()) return true;
    if (!IsSeparatorChar(s[i])) return false;
    // `--` is the only two-character separator.
    i += (s[i] == '-' && i + 1 < s.size() && s[i + 1] == '-') ? 2 : 1;
  }
}

}  // namespace

bool IsValidRefName(std::string_view name) {
  while (true) {
    size_t slash = name.find('/');
    if (!IsValidComponent(name.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    name.remove_prefix(slash + 1);
  }
}

}  // namespace hoist::oci
