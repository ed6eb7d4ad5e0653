#include "content/layout_ref.h"

namespace hoist::content {

bool IsValidTag(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(s[0])) return false;
  for (char c : s.substr(1)) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

LayoutRef ParseLayoutRef(std::string_view s) {
  LayoutRef ref;
  if (auto at = s.rfind('@'); at != std::string_view::npos) {
    if (auto d = oci::Digest::Parse(s.substr(at + 1)); d) {
      ref.digest = *d;
      s = s.substr(0, at);
    }
  }
  if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
    std::string_view tag = s.substr(colon + 1);
    // A tag never contains '/', so "dir:x/y" is a path.
    if (IsValidTag(tag) && colon > 0) {
      ref.tag = std::string(tag);
      s = s.substr(0, colon);
    }
  }
  ref.path = std::string(s);
  return ref;
}

}  // namespace hoist::content
