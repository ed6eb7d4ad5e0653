#include "base/pattern_matcher.h"

#include <utility>

#include "base/internal/ignore_pattern.h"
#include "base/utf8.h"

namespace hoist {
namespace {

using internal::DirPath;
using internal::IgnorePattern;

// Calls fn(prefix) for each ancestor of `parent` as upstream builds them: the first k
// elements of parent split at '/', joined again ("a/b" -> "a", "a/b").
template <typename Fn>
bool AnyAncestor(std::string_view parent, Fn&& fn) {
  size_t from = 0;
  while (true) {
    const size_t slash = parent.find('/', from);
    if (slash == std::string_view::npos) return fn(parent);
    if (fn(parent.substr(0, slash))) return true;
    from = slash + 1;
  }
}

}  // namespace

PatternMatcher::PatternMatcher() = default;
PatternMatcher::PatternMatcher(PatternMatcher&&) noexcept = default;
PatternMatcher& PatternMatcher::operator=(PatternMatcher&&) noexcept = default;
PatternMatcher::~PatternMatcher() = default;

Result<PatternMatcher> PatternMatcher::Create(const std::vector<std::string>& patterns) {
  PatternMatcher pm;
  for (const std::string& raw : patterns) {
    std::string_view trimmed = TrimSpace(raw);
    if (trimmed.empty()) continue;
    // Upstream cleans before it looks at '!', so "!a/../b" is the plain pattern "b".
    std::string p = CleanPath(trimmed);
    bool exclusion = false;
    if (p[0] == '!') {
      if (p.size() == 1) {
        return MakeError(Code::kInvalidArgument, "illegal exclusion pattern: \"!\"");
      }
      exclusion = true;
      p.erase(0, 1);
      pm.has_exclusions_ = true;
    }
    HOIST_TRY(internal::ValidateGlob(p));
    pm.patterns_.push_back(std::make_unique<IgnorePattern>(IgnorePattern::Compile(std::move(p))));
    pm.exclusion_.push_back(exclusion);
  }
  return pm;
}

const std::string& PatternMatcher::pattern(size_t i) const { return patterns_[i]->text(); }

Result<bool> PatternMatcher::MatchesOrParentMatches(std::string_view file) const {
  bool matched = false;
  const std::string parent = DirPath(file);
  for (size_t i = 0; i < patterns_.size(); ++i) {
    // An inclusion cannot change a path that is already in, nor an exception one that is out.
    if (exclusion_[i] != matched) continue;
    const IgnorePattern& pattern = *patterns_[i];
    HOIST_ASSIGN_OR_RETURN(bool match, pattern.Match(file));
    if (!match && parent != ".") {
      // An ancestor's error is ignored as upstream does: the file itself already reported it.
      match = AnyAncestor(parent, [&pattern](std::string_view dir) {
        Result<bool> m = pattern.Match(dir);
        return m && *m;
      });
    }
    if (match) matched = !exclusion_[i];
  }
  return matched;
}

Result<bool> PatternMatcher::MatchesUsingParentResults(std::string_view file,
                                                       const MatchInfo& parent,
                                                       MatchInfo* info) const {
  const std::vector<bool>& parent_matched = parent.parent_matched;
  if (!parent_matched.empty() && parent_matched.size() != patterns_.size()) {
    return MakeError(Code::kInvalidArgument, "wrong number of values in parentMatched");
  }
  info->parent_matched.assign(patterns_.size(), false);
  bool matched = false;
  for (size_t i = 0; i < patterns_.size(); ++i) {
    bool match = !parent_matched.empty() && parent_matched[i];
    if (!match) {
      if (exclusion_[i] != matched) continue;
      const IgnorePattern& pattern = *patterns_[i];
      HOIST_ASSIGN_OR_RETURN(match, pattern.Match(file));
      if (!match && parent_matched.empty()) {
        // Nothing known about the parent: check every ancestor, like MatchesOrParentMatches.
        const std::string dir = DirPath(file);
        if (dir != ".") {
          match = AnyAncestor(dir, [&pattern](std::string_view d) {
            Result<bool> m = pattern.Match(d);
            return m && *m;
          });
        }
      }
    }
    info->parent_matched[i] = match;
    if (match) matched = !exclusion_[i];
  }
  return matched;
}

Result<bool> MatchesOrParentMatches(std::string_view file,
                                    const std::vector<std::string>& patterns) {
  HOIST_ASSIGN_OR_RETURN(PatternMatcher pm, PatternMatcher::Create(patterns));
  const std::string cleaned = CleanPath(file);
  if (cleaned == ".") return false;  // the whole context cannot be excluded
  return pm.MatchesOrParentMatches(cleaned);
}

std::string CleanPath(std::string_view path) { return internal::CleanPath(path); }

}  // namespace hoist
