// Helpers shared by the file actions (file_actions.cc, file_copy.cc): errors worded as Go's,
// owner lookup in a root's /etc/passwd and /etc/group, metadata setters on (dirfd, name).
//
// Thread-safety: stateless functions.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/confined_root.h"
#include "base/error.h"
#include "solver/ops/file_actions.h"
#include "source/path_patterns.h"

namespace hoist::solver::ops::internal {

struct Owner {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// "lstat /a/b: no such file or directory": `op` and the in-root path as the build sees it, the
// errno text in lower case as Go prints it. The code follows errno.
Error PathError(int err, std::string_view op, std::string_view clean_path);

// "/" + clean path.
std::string Display(std::string_view clean_path);

// Resolves a ChownOpt against `root`'s /etc/passwd and /etc/group. nullopt stays nullopt.
// Errors: `unable to find user NAME: no matching entries in passwd file`, likewise for groups.
Result<std::optional<Owner>> ResolveOwner(archive::ConfinedRoot& root,
                                          const std::optional<ChownOpt>& chown);

// Timestamp (Unix ns or kNoTimestamp) to a timespec pair for utimensat; nullopt when unset.
std::optional<struct timespec> ToTimespec(int64_t ns);

// lchown, then chmod (never on a symlink), then times (atime = mtime = *time, or none), on
// `name` in `dir_fd`. mode < 0 leaves the mode. errno results.
int SetMetadata(int dir_fd, const char* name, bool is_symlink, std::optional<Owner> owner,
                int64_t mode, const std::optional<struct timespec>& time);

// Creates the missing directories of the cleaned `path` (mkdir -p), each 0755 (or `mode`),
// owned and timed as given; an existing non-directory is `mkdir /a: not a directory`.
Status MkdirAll(archive::ConfinedRoot& root, std::string_view path, uint32_t mode,
                std::optional<Owner> owner, const std::optional<struct timespec>& time);

using source::ContainsWildcards;
using source::ListDir;
using source::ResolveWildcards;

}  // namespace hoist::solver::ops::internal
