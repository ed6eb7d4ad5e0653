// .dockerignore files: reading them into patterns. Matching paths against the patterns is
// base/pattern_matcher.h's PatternMatcher (moby/patternmatcher semantics), shared with the
// context walk and COPY --exclude.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/pattern_matcher.h"

namespace hoist::frontend::dockerfile {

// Splits a .dockerignore into patterns: a UTF-8 BOM is dropped, lines starting with '#' are
// comments, blank lines are skipped, each line is trimmed, cleaned (CleanPath) and loses a
// leading '/', and a leading '!' (exception) is kept in front of the cleaned rest. A line that
// is only "!" stays "!"; PatternMatcher::Create rejects it.
std::vector<std::string> ReadDockerignore(std::string_view contents);

using ::hoist::MatchesOrParentMatches;
using ::hoist::PatternMatcher;

}  // namespace hoist::frontend::dockerfile
