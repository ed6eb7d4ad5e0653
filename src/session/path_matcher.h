// PathMatcher: the .dockerignore matcher as the session needs it for client-side walk
// patterns. The implementation (frontend/dockerfile/dockerignore.h's PatternMatcher) lives in
// a module the session may not depend on, so it is injected: src/cmd wires a factory that
// adapts it, and tests do the same.
//
// Thread-safety: matchers are immutable after creation and const methods may run concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::session {

class PathMatcher {
 public:
  virtual ~PathMatcher() = default;
  // Whether `path` (slash-separated, relative) or one of its parents matches, the last
  // matching pattern deciding (`!pattern` exceptions un-match).
  virtual Result<bool> MatchesOrParentMatches(std::string_view path) const = 0;
  // Whether any pattern is an exception: then an excluded directory may hold included files.
  virtual bool has_exclusions() const = 0;
};

// Compiles patterns; kInvalidArgument for a malformed one.
using PathMatcherFactory =
    std::function<Result<std::unique_ptr<PathMatcher>>(const std::vector<std::string>& patterns)>;

}  // namespace hoist::session
