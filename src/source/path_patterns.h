// Path selection helpers shared by the local source and the file ops: fsutil's include-pattern
// prefix match, exclusion checks over base/pattern_matcher.h, glob resolution of copy sources
// inside a confined root, and errors worded as Go's.
//
// Thread-safety: stateless functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/pattern_matcher.h"

namespace hoist::archive {
class ConfinedRoot;
}

namespace hoist::source {

// Whether `path` (cleaned, relative; not "") is excluded by `m`: it or a parent matches.
// A matched directory is not excluded when an exception pattern ("!p") names something below
// it (fsutil walks into it then). Errors are the matcher's.
Result<bool> Excluded(const PatternMatcher& m, std::string_view path, bool is_dir);

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
