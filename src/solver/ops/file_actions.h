// The actions of an LLB FileOp (pb.FileActionMkDir, MkFile, Rm, Symlink, Copy) applied to real
// directories, with the semantics of BuildKit's file backend (solver/llbsolver/file) and
// fsutil's copy package.
//
// Roots: every path of an action is resolved inside its root directory as if the root were `/`
// (archive's RootResolver: openat2 RESOLVE_IN_ROOT, or its userspace walk): `..`, absolute
// names and symlinks in the source or the destination never reach outside the roots. Paths
// are those of the build ("/app/x"), and so are error messages: `lstat /src/missing: no such
// file or directory`, never the directories the roots live in.
//
// Owners: ChownOpt names a user and a group by ID or by name; names are looked up in the
// destination root's /etc/passwd and /etc/group. A user by ID also sets the group to that ID, a
// user by name to the user's primary group, unless a group is given. Without ChownOpt, created
// entries belong to root (0:0), and copied ones keep the source's owner.
//
// Times: `timestamp` is Unix nanoseconds, or kNoTimestamp; when set it becomes the atime and
// mtime of everything the action creates or copies (SOURCE_DATE_EPOCH). Otherwise copies keep
// the source's times and new entries get the current time.
//
// Thread-safety: the functions may run concurrently on different roots; a root must not be
// changed by anything else while an action runs on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"

namespace hoist::source {
class InPlaceContext;
}  // namespace hoist::source

namespace hoist::solver::ops {

inline constexpr int64_t kNoTimestamp = -1;

// A user or group: by ID, or by name when `name` is not empty.
struct UserOpt {
  uint32_t id = 0;
  std::string name;
};

struct ChownOpt {
  std::optional<UserOpt> user;
  std::optional<UserOpt> group;
};

struct MkdirAction {
  std::string path;
  uint32_t mode = 0755;  // permission bits (& 0777)
  bool make_parents = false;
  std::optional<ChownOpt> owner;
  int64_t timestamp = kNoTimestamp;
};

struct MkfileAction {
  std::string path;
  uint32_t mode = 0644;  // permission bits (& 0777)
  std::string data;
  std::optional<ChownOpt> owner;
  int64_t timestamp = kNoTimestamp;
};

struct RmAction {
  std::string path;
  bool allow_not_found = false;
  bool allow_wildcard = false;
};

struct SymlinkAction {
  std::string oldpath;  // the link's target, stored as given
  std::string newpath;  // where the link is made
  std::optional<ChownOpt> owner;
  int64_t timestamp = kNoTimestamp;
};

struct CopyAction {
  std::string src;
  std::string dest;
  std::optional<ChownOpt> owner;
  // Permission bits for every copied entry (octal, as COPY --chmod=755), or -1 to keep the
  // source's. `mode_str`, when set, wins: a symbolic chmod ("u+x,go-w", "a=rX") applied to
  // each source mode (COPY --chmod with a non-octal value, newer BuildKit).
  int32_t mode = -1;
  std::string mode_str;
  bool follow_symlink = false;
  bool dir_copy_contents = false;
  bool attempt_unpack_docker_compatibility = false;
  bool create_dest_path = false;
  bool allow_wildcard = false;
  bool allow_empty_wildcard = false;
  int64_t timestamp = kNoTimestamp;
  std::vector<std::string> include_patterns;
  std::vector<std::string> exclude_patterns;
  bool always_replace_existing_dest_paths = false;
};

struct FileActionOptions {
  // Checked between entries; not owned, may be null.
  CancelContext* cancel = nullptr;
  // Tests only: resolve with the userspace walk even where openat2 exists.
  bool force_userspace_resolver_for_testing = false;
  // When ApplyCopy's source root is this in-place context's view: every entry is checked
  // against the context's walk, every file's bytes are hashed as they are copied and must match
  // the digest recorded when the file was first read (or are recorded, when this is the first
  // read), and the client's extended attributes are left behind (a mirror has none). A
  // mismatch fails the copy: `local context "context": "a/b" changed during the build (...)`.
  // Not owned; may be null.
  source::InPlaceContext* in_place_source = nullptr;
};

// mkdir (-p with make_parents; an existing directory is no error, as in BuildKit).
Status ApplyMkdir(const std::string& root, const MkdirAction& action,
                  const FileActionOptions& options = {});

// Writes a file (truncating an existing one; a symlink at the path is followed inside the root).
Status ApplyMkfile(const std::string& root, const MkfileAction& action,
                   const FileActionOptions& options = {});

// Removes a path and everything below it (never following a symlink at the path itself).
Status ApplyRm(const std::string& root, const RmAction& action,
               const FileActionOptions& options = {});

// Creates a symlink.
Status ApplySymlink(const std::string& root, const SymlinkAction& action,
                    const FileActionOptions& options = {});

// Copies from `src_root` into `dest_root` (they may be the same directory).
//  - Without wildcards `src` names one path; with allow_wildcard, glob characters select
//    matches (fsutil's ResolveWildcards: the first component holding `*?[` and those after it
//    match relative paths below the part before it); none is an error `<src> not found` unless
//    allow_empty_wildcard.
//  - A directory is copied as itself (dest/name when dest exists), or its contents with
//    dir_copy_contents. A file onto an existing directory goes inside it; a dest ending in '/'
//    is a directory.
//  - follow_symlink follows a symlink named by `src` itself; symlinks below are copied as links.
//  - Missing parents of `dest` are created (0755, owned as the copy) with create_dest_path;
//    otherwise `failed to stat <dest>: ...` when dest's parent is missing.
//  - attempt_unpack_docker_compatibility (ADD): a source file that is a tar archive,
//    uncompressed or gzip, zstd, bzip2 or xz compressed, is extracted into dest instead (confined
//    to dest; owners from the archive, or `owner` for every entry of the archive). Known
//    gap: extraction goes through
//    archive::ApplyLayer, so `.wh.` entries act as whiteouts where Docker writes them as files.
//  - Include patterns keep matching paths (directories on the way created only when something
//    in them is kept: COPY --parents); exclude patterns drop paths (dockerignore semantics).
//  - Hard links between copied files stay hard links. Owner, mode, times and xattrs are copied
//    unless overridden.
//  - Replacing: a file over a file replaces it; a directory merges into a directory; a file
//    over a directory or a directory over a file is an error unless
//    always_replace_existing_dest_paths.
Status ApplyCopy(const std::string& src_root, const std::string& dest_root,
                 const CopyAction& action, const FileActionOptions& options = {});

// Applies a symbolic chmod ("u+x", "go-w,a+X", "=r", "g=u", "u+r-w"; chmod(1) syntax with a
// zero umask) to `mode` (permission bits of a file or, with `is_dir`, a directory); X adds
// execute for directories or when any execute bit is set.
// Errors (kInvalidArgument): `invalid chmod mode "u+q"`.
Result<uint32_t> ApplySymbolicMode(std::string_view spec, uint32_t mode, bool is_dir);

}  // namespace hoist::solver::ops
