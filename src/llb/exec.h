// Exec ops: State::Run and its options, following BuildKit's client ExecOp. The root mount
// is the running State; extra mounts are bind mounts of other States, cache mounts, tmpfs,
// secrets and SSH agent sockets. Mounts are ordered by target, and every writable mount
// that is neither cache nor tmpfs becomes an output of the op (ExecState::GetMount).
//
// Thread-safety: values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llb/state.h"

namespace hoist::llb {

enum class CacheSharing { kShared = 0, kPrivate = 1, kLocked = 2 };
// pb.MountContentCache: whether a mount's content takes part in the exec's cache key.
enum class ContentCache { kDefault = 0, kOn = 1, kOff = 2 };

struct Mount {
  std::string target;
  // What is mounted; nullopt or a scratch State mounts an empty directory.
  std::optional<State> source;
  std::string selector;  // a path inside source
  bool readonly = false;
  // A writable mount whose result is thrown away.
  bool no_output = false;
  std::string cache_id;  // non-empty: a cache mount
  CacheSharing sharing = CacheSharing::kShared;
  bool tmpfs = false;
  int64_t tmpfs_size = 0;
  ContentCache content_cache = ContentCache::kDefault;
};

Mount BindMount(std::string_view target, const State& source, bool readonly = false,
                std::string_view selector = "");
Mount CacheMount(std::string_view target, std::string_view id,
                 CacheSharing sharing = CacheSharing::kShared,
                 std::optional<State> base = std::nullopt);
Mount TmpfsMount(std::string_view target, int64_t size = 0);

struct SecretMount {
  std::string id;
  // A file at target, an environment variable named env, or both.
  std::optional<std::string> target;
  std::optional<std::string> env;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t mode = 0400;
  bool optional = false;
};

struct SshMount {
  std::string id = "default";
  // Empty: /run/buildkit/ssh_agent.<n>; the first one also sets SSH_AUTH_SOCK.
  std::string target;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t mode = 0600;
  bool optional = false;
};

struct ProxyEnv {
  std::string http_proxy;
  std::string https_proxy;
  std::string ftp_proxy;
  std::string no_proxy;
  std::string all_proxy;
};

struct RunOptions {
  // The command; empty uses the State's Args().
  std::vector<std::string> args;
  std::vector<Mount> mounts;
  std::vector<SecretMount> secrets;
  std::vector<SshMount> ssh;
  bool readonly_rootfs = false;
  std::optional<ProxyEnv> proxy_env;
  OpOptions op;
};

namespace internal {
class ExecVertex;
}

// The result of Run: the State of the root mount (so it composes like any State), plus
// access to the other mounts' outputs.
class ExecState : public State {
 public:
  ExecState(State root, std::shared_ptr<const internal::ExecVertex> exec);

  State Root() const { return *this; }
  // The output of the mount at `target`: the new content of a writable mount, the source of
  // a read-only one; nullopt when no mount has that target. Tmpfs, cache and no-output
  // mounts give a State that Marshal rejects, as in BuildKit.
  std::optional<State> GetMount(std::string_view target) const;

 private:
  std::shared_ptr<const internal::ExecVertex> exec_;
};

}  // namespace hoist::llb
