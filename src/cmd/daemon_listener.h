// hoistd's listening sockets: `unix:///path` (created with mode 0660 and the given group, as
// buildkitd does), `fd://` (sockets passed by systemd socket activation, LISTEN_FDS) and
// `tcp://host:port` (served by gRPC itself, with TLS).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace hoist::cmd {

struct DaemonAddr {
  enum class Kind { kUnix, kFd, kTcp } kind = Kind::kUnix;
  std::string path;      // unix
  std::string hostport;  // tcp: host:port
};

// kInvalidArgument `invalid address <a>: ...` for other schemes.
Result<DaemonAddr> ParseDaemonAddr(const std::string& addr);

// Binds and listens on a unix socket at `path`: the parent directory is created (0711), a
// stale socket file (nothing listening) is replaced, a live one is kAlreadyExists. The socket
// is mode 0660, owned by root and `group` (a name or number; empty: the primary group).
Result<UniqueFd> ListenUnix(const std::string& path, const std::string& group);

// The listening sockets systemd passed (LISTEN_PID/LISTEN_FDS); kFailedPrecondition when none.
Result<std::vector<UniqueFd>> ActivationSockets();

}  // namespace hoist::cmd
