// Tests only: PathPatterns backed by the Dockerfile frontend's PatternMatcher, standing in for
// the wiring that src/cmd does in the engine. Header-only so that only test code links it.
#pragma once

#include <memory>

#include "frontend/dockerfile/dockerignore.h"
#include "source/path_patterns.h"

namespace hoist::source::testing {

class DockerignorePatterns final : public PathPatterns {
 public:
  explicit DockerignorePatterns(frontend::dockerfile::PatternMatcher m) : m_(std::move(m)) {}
  Result<bool> MatchesOrParentMatches(std::string_view path) const override {
    return m_.MatchesOrParentMatches(path);
  }
  bool MayReincludeBelow(std::string_view dir) const override {
    std::string prefix = std::string(dir) + "/";
    for (size_t i = 0; i < m_.size(); ++i) {
      if (m_.is_exclusion(i) && (m_.pattern(i) + "/").rfind(prefix, 0) == 0) return true;
    }
    return false;
  }

 private:
  frontend::dockerfile::PatternMatcher m_;
};

inline PathPatternsFactory DockerignoreFactory() {
  return [](const std::vector<std::string>& p) -> Result<std::unique_ptr<PathPatterns>> {
    HOIST_ASSIGN_OR_RETURN(auto m, frontend::dockerfile::PatternMatcher::Create(p));
    return std::unique_ptr<PathPatterns>(std::make_unique<DockerignorePatterns>(std::move(m)));
  };
}

}  // namespace hoist::source::testing
