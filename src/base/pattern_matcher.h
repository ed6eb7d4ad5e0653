// PatternMatcher: which paths a list of .dockerignore-style patterns excludes, with
// moby/patternmatcher's semantics (what BuildKit, the docker CLI and fsutil's walks use):
//  - a pattern is a filepath.Match glob (`*` and `?` never cross '/', `[a-z]` `[^a-z]`
//    classes, `\` escapes) plus `**`, which crosses directories ("**/x", "a/**", "a/**/b");
//  - a path is excluded when it or any parent directory matches, and the last matching
//    pattern decides: a `!pattern` re-includes what earlier patterns excluded;
//  - patterns are cleaned like paths, so "docs/", "./docs" and "docs" are one pattern.
// The Dockerfile frontend reads .dockerignore files into patterns; the client-side context walk
// and COPY --exclude apply them, so the matcher lives here, below all of them.
//
// Thread-safety: PatternMatcher is immutable after Create; its methods are const and may run
// concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist {

namespace internal {
class IgnorePattern;
}

class PatternMatcher {
 public:
  // Per-pattern results for a directory, handed to its children by a tree walk so that
  // patterns already matched by an ancestor need not be re-evaluated.
  struct MatchInfo {
    std::vector<bool> parent_matched;
  };

  // Compiles the patterns once. Each is trimmed and cleaned; empty ones are dropped.
  // Errors (kInvalidArgument): `illegal exclusion pattern: "!"`, and "syntax error in
  // pattern" for a malformed glob ("[", "a\\" at the end, "[]a]", "[a-b-c]").
  static Result<PatternMatcher> Create(const std::vector<std::string>& patterns);

  PatternMatcher(PatternMatcher&&) noexcept;
  PatternMatcher& operator=(PatternMatcher&&) noexcept;
  ~PatternMatcher();

  // Whether `file` (slash-separated, relative to the context root) or one of its parent
  // directories matches the patterns, exceptions applied in order. Fails only for a pattern
  // that validated but cannot be matched (a reversed range like "[z-a]").
  Result<bool> MatchesOrParentMatches(std::string_view file) const;

  // The same answer for a walk from the root down: pass the MatchInfo that this call returned
  // for `file`'s parent directory (or an empty one when there is none or it is unknown), and
  // keep *info for `file`'s children. REQUIRES: info != nullptr.
  Result<bool> MatchesUsingParentResults(std::string_view file, const MatchInfo& parent,
                                         MatchInfo* info) const;

  // Whether any pattern is an exception ("!..."): then an excluded directory may still hold
  // included files and a walk cannot skip it whole.
  bool has_exclusions() const { return has_exclusions_; }
  size_t size() const { return patterns_.size(); }
  // The cleaned pattern without its '!', and whether it is an exception.
  const std::string& pattern(size_t i) const;
  bool is_exclusion(size_t i) const { return exclusion_[i]; }

 private:
  PatternMatcher();

  std::vector<std::unique_ptr<internal::IgnorePattern>> patterns_;
  std::vector<bool> exclusion_;
  bool has_exclusions_ = false;
};

// One-shot form: cleans `file` first and never matches the context root itself (".").
Result<bool> MatchesOrParentMatches(std::string_view file,
                                    const std::vector<std::string>& patterns);

// Go's path.Clean: "a//b/../c/" → "a/c", "" → ".".
std::string CleanPath(std::string_view path);

}  // namespace hoist
