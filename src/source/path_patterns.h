// Include/exclude patterns over build-context paths, as an interface. The matcher with
// moby/patternmatcher semantics lives in the Dockerfile frontend (frontend/dockerfile/
// dockerignore.h), which the source and the file ops may not include (ARCHITECTURE.md); the
// code that wires the engine together (src/cmd) hands them a factory that builds one.
//
// Thread-safety: a PathPatterns is immutable after creation; its methods may run concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::archive {
class ConfinedRoot;
}

namespace hoist::source {

class PathPatterns {
 public:
  virtual ~PathPatterns() = default;

  // Whether `path` (slash-separated, cleaned, relative to the root, never "" or ".") or one of
  // its parent directories matches; the last matching pattern decides and "!pattern" re-includes.
  virtual Result<bool> MatchesOrParentMatches(std::string_view path) const = 0;

  // Whether an excluded directory may still hold re-included paths: true when some exception
  // pattern ("!p") names a path below `dir`. Walks must then descend into `dir`.
  virtual bool MayReincludeBelow(std::string_view dir) const = 0;
};

// Compiles patterns (each as written in .dockerignore or --exclude). Errors are
// kInvalidArgument naming the bad pattern.
using PathPatternsFactory =
    std::function<Result<std::unique_ptr<PathPatterns>>(const std::vector<std::string>& patterns)>;

// Whether `path` (cleaned, relative) matches the include pattern `pattern` as fsutil's
// prefix.Match decides: `matched` when it matches whole or when `path` is a directory that could
// hold a match (then `partial` is set, and a walk must look inside). Components are matched with
// filepath.Match rules; "**" matches any number of components.
struct IncludeMatch {
  bool matched = false;
  bool partial = false;
};
IncludeMatch MatchIncludePattern(std::string_view pattern, std::string_view path, bool is_dir);

// "lstat /a/b: no such file or directory": `op`, the path inside the build (`clean` with a
// leading '/'), and the errno text in lower case as Go prints it; the code follows errno.
Error GoPathError(int err, std::string_view op, std::string_view clean);

// The names in the directory `dir_fd` (any open mode; it is reopened for reading), sorted by
// bytes, without "." and "..". errno result.
int ListDir(int dir_fd, std::vector<std::string>* names);

// Whether a path holds glob characters (`*`, `?`, `[`; `\` escapes the next one).
bool ContainsWildcards(std::string_view s);

// fsutil's ResolveWildcards: the cleaned `clean` splits before its first component with glob
// characters; the part before is resolved in `root` (its last component followed only with
// `follow_links`), and the paths below it whose relative path matches the rest (filepath.Match:
// `*` never crosses '/') are the matches, cleaned, in walk order (byte order; a matched
// directory is not entered). Without glob characters, the one path is returned as is. A
// missing base is `lstat /base: no such file or directory` (kNotFound).
Result<std::vector<std::string>> ResolveWildcards(archive::ConfinedRoot& root,
                                                  std::string_view clean, bool follow_links);

}  // namespace hoist::source
