// fsutil's FollowPaths for a client directory: each path the engine names is walked component
// by component inside the directory, and every symlink met on the way is resolved (as if the
// directory were `/`), so that the symlink itself and what it points to are both sent. The
// result is a list of include patterns. Wildcards in a component are matched against the
// directory's names (filepath.Match syntax, `\` escapes), as fsutil does.
//
// Everything is resolved through *at() calls under the directory's descriptor without
// following symlinks, so nothing outside the directory is ever looked at.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace hoist::session::internal {

// The include patterns that `paths` stand for under the directory `root_fd`, sorted with paths
// below an earlier one dropped; nullopt when one of them is the whole directory. Errors only
// for unreadable directories and for link chains too long to be real (kInvalidArgument).
Result<std::optional<std::vector<std::string>>> ResolveFollowPaths(
    int root_fd, const std::vector<std::string>& paths);

// fsutil's dedupePaths over `in` as given: nullopt when an entry is "." (no filter), else the
// entries with those that are below the entry kept just before them dropped.
std::optional<std::vector<std::string>> DedupePaths(const std::vector<std::string>& in);

}  // namespace hoist::session::internal
