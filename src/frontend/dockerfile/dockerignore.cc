#include "frontend/dockerfile/dockerignore.h"

#include "base/utf8.h"

namespace hoist::frontend::dockerfile {

std::vector<std::string> ReadDockerignore(std::string_view contents) {
  std::vector<std::string> patterns;
  if (contents.substr(0, 3) == "\xEF\xBB\xBF") contents.remove_prefix(3);
  while (!contents.empty()) {
    size_t nl = contents.find('\n');
    std::string_view line = contents.substr(0, nl);
    contents.remove_prefix(nl == std::string_view::npos ? contents.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line[0] == '#') continue;
    line = TrimSpace(line);
    if (line.empty()) continue;
    const bool invert = line[0] == '!';
    if (invert) line = TrimSpace(line.substr(1));
    std::string pattern(line);
    if (!pattern.empty()) {
      pattern = ::hoist::CleanPath(pattern);
      if (pattern.size() > 1 && pattern[0] == '/') pattern.erase(0, 1);
    }
    if (invert) pattern = "!" + pattern;
    patterns.push_back(std::move(pattern));
  }
  return patterns;
}

}  // namespace hoist::frontend::dockerfile
