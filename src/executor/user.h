// Resolving a Dockerfile USER ("uid", "uid:gid", "name", "name:group", mixed) to numeric ids
// against a root filesystem's /etc/passwd and /etc/group, with the rules BuildKit inherits
// from runc's libcontainer/user: a numeric user needs no passwd entry; a name must have one;
// without an explicit group the primary gid comes from the passwd entry (0 when there is
// none) and the supplementary groups are the groups in /etc/group that list the user.
// Thread-safety: pure functions; ReadRootfsUserFiles only reads.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "executor/spec.h"

namespace hoist::executor {

// `passwd` and `group` are the files' texts, or nullopt when the file does not exist.
// `additional_groups` are names or numeric ids appended to the supplementary groups.
// Errors (kNotFound): `unable to find user NAME: no matching entries in passwd file`,
// `unable to find group NAME: no matching entries in group file`.
Result<ResolvedUser> ResolveUser(std::string_view user,
                                 const std::vector<std::string>& additional_groups,
                                 const std::optional<std::string>& passwd,
                                 const std::optional<std::string>& group);

// Reads the file at `path_in_rootfs` ("etc/passwd") of the tree at `rootfs`, resolving the
// path as if `rootfs` were `/` (a symlink in the tree cannot lead outside). A missing file is
// nullopt, not an error.
Result<std::optional<std::string>> ReadRootfsFile(const std::string& rootfs,
                                                  std::string_view path_in_rootfs);

}  // namespace hoist::executor
