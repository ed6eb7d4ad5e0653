// File actions: chains of mkdir/mkfile/rm/symlink/copy that State::File turns into one
// pb.FileOp, following BuildKit's client FileAction. Each action works on the result of the
// previous one; the first works on the State File() is called on. Relative paths are taken
// from the working directory of the State the action applies to (the source State's, for a
// copy source).
//
//   llb::State out = base.File(llb::Mkdir("/app", 0755, {.make_parents = true})
//                                  .Copy(ctx, "src/", "/app/", {.allow_wildcard = true})
//                                  .Rm("/app/.git", {.allow_not_found = true}));
//
// Times are Unix nanoseconds. Thread-safety: immutable values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "llb/state.h"

namespace hoist::llb {

// A user or group by ID or, when name is set, by name (resolved in the target's
// /etc/passwd and /etc/group).
struct UserOpt {
  uint32_t id = 0;
  std::string name;
};

struct ChownOpt {
  std::optional<UserOpt> user;
  std::optional<UserOpt> group;
};

// BuildKit's WithUser: "user[:group]"; numbers (and "root") become IDs, others names.
ChownOpt ParseChown(std::string_view user_group);

struct MkdirOptions {
  bool make_parents = false;
  std::optional<ChownOpt> chown;
  std::optional<int64_t> created_time;
};

struct MkfileOptions {
  std::optional<ChownOpt> chown;
  std::optional<int64_t> created_time;
};

struct SymlinkOptions {
  std::optional<ChownOpt> chown;
  std::optional<int64_t> created_time;
};

struct RmOptions {
  bool allow_not_found = false;
  bool allow_wildcard = false;
};

struct CopyOptions {
  // Permission bits to set; nullopt keeps the source's. mode_str ("u+x") wins when set.
  std::optional<uint32_t> mode;
  std::string mode_str;
  bool follow_symlinks = false;
  bool copy_dir_contents_only = false;
  std::vector<std::string> include_patterns;
  std::vector<std::string> exclude_patterns;
  std::vector<std::string> required_paths;
  bool attempt_unpack = false;
  bool create_dest_path = false;
  bool allow_wildcard = false;
  bool allow_empty_wildcard = false;
  std::optional<ChownOpt> chown;
  std::optional<int64_t> created_time;
  bool always_replace_existing_dest_paths = false;
};

class FileAction;

namespace internal {
struct FileActionNode;

struct MkdirAction {
  std::string path;
  uint32_t mode = 0;
  MkdirOptions options;
};
struct MkfileAction {
  std::string path;
  uint32_t mode = 0;
  std::string data;
  MkfileOptions options;
};
struct RmAction {
  std::string path;
  RmOptions options;
};
struct SymlinkAction {
  std::string oldpath;
  std::string newpath;
  SymlinkOptions options;
};
struct CopyAction {
  // Exactly one is set: a State, or another action chain bound to a State.
  std::optional<State> state;
  std::shared_ptr<const FileActionNode> chain;
  std::string src;
  std::string dest;
  CopyOptions options;
};

struct FileActionNode {
  std::shared_ptr<const FileActionNode> prev;
  // The State the chain was bound to (State::File, WithState); nullopt until then.
  std::optional<State> state;
  std::variant<MkdirAction, MkfileAction, RmAction, SymlinkAction, CopyAction> action;
};

// A copy of `node`'s chain with every action bound to `state`.
std::shared_ptr<const FileActionNode> Bind(const std::shared_ptr<const FileActionNode>& node,
                                           const State& state);
}  // namespace internal

// Where a copy reads from: a State, or the result of a FileAction chain applied to a State.
class CopyInput {
 public:
  CopyInput(State state) : state_(std::move(state)) {}  // NOLINT: implicit by design
  const std::optional<State>& state() const { return state_; }
  const std::shared_ptr<const internal::FileActionNode>& chain() const { return chain_; }

 private:
  friend class FileAction;
  CopyInput() = default;
  std::optional<State> state_;
  std::shared_ptr<const internal::FileActionNode> chain_;
};

class FileAction {
 public:
  FileAction Mkdir(std::string_view path, uint32_t mode, const MkdirOptions& options = {}) const;
  FileAction Mkfile(std::string_view path, uint32_t mode, std::string data,
                    const MkfileOptions& options = {}) const;
  FileAction Rm(std::string_view path, const RmOptions& options = {}) const;
  FileAction Symlink(std::string_view oldpath, std::string_view newpath,
                     const SymlinkOptions& options = {}) const;
  FileAction Copy(const CopyInput& from, std::string_view src, std::string_view dest,
                  const CopyOptions& options = {}) const;

  // This chain applied to `state`, usable as a copy source.
  CopyInput WithState(const State& state) const;

  const std::shared_ptr<const internal::FileActionNode>& node() const { return node_; }
  explicit FileAction(std::shared_ptr<const internal::FileActionNode> node)
      : node_(std::move(node)) {}

 private:
  FileAction Then(FileAction next) const;
  std::shared_ptr<const internal::FileActionNode> node_;
};

// The first action of a chain.
FileAction Mkdir(std::string_view path, uint32_t mode, const MkdirOptions& options = {});
FileAction Mkfile(std::string_view path, uint32_t mode, std::string data,
                  const MkfileOptions& options = {});
FileAction Rm(std::string_view path, const RmOptions& options = {});
FileAction Symlink(std::string_view oldpath, std::string_view newpath,
                   const SymlinkOptions& options = {});
FileAction Copy(const CopyInput& from, std::string_view src, std::string_view dest,
                const CopyOptions& options = {});

}  // namespace hoist::llb
