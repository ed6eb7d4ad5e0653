// SSH agent forwarding (BuildKit's session/sshforward): a build step reaches the client's
// ssh-agent through the session, and only through it; the keys never leave the client.
//
// The client side (ServeReadOnlyAgent) relays one agent connection, passing only what a build
// needs, as BuildKit's read-only agent does: listing identities and signing. Every other request
// (adding, removing or locking keys, extensions) is answered SSH_AGENT_FAILURE without reaching
// the agent. Messages are bounded (256 KiB).
//
// The engine side (AgentSocket) is a unix socket in a private directory for one step: each
// connection to it is joined to a fresh forwarded connection to the client's agent. The socket
// is bind-mounted into the step's container (RUN --mount=type=ssh) or named by SSH_AUTH_SOCK for
// git over SSH.
//
// Thread-safety: ServeReadOnlyAgent runs on the calling thread. An AgentSocket serves each
// connection on a thread of its own; its destructor stops them all.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/unique_fd.h"

namespace hoist::session {

inline constexpr std::string_view kDefaultSSHID = "default";
// The gRPC metadata key that names the agent of a ForwardAgent call.
inline constexpr std::string_view kSSHIDMetadataKey = "buildkit.ssh.id";

// Relays the agent protocol between `engine` (a connected socket) and the agent listening at
// `agent_socket`, read-only, until `engine` closes. Connecting to the agent fails with an
// error naming no path (the path is the client's).
Status ServeReadOnlyAgent(UniqueFd engine, const std::string& agent_socket);

// Copies bytes both ways between two connected sockets (not owned) until both directions ended.
void JoinSockets(int a, int b);

class AgentSocket {
 public:
  // A new connection to the client's agent (ForwardSSH of the step's session).
  using Connect = std::function<Result<UniqueFd>()>;

  // Listens at `<a new directory under parent_dir>/ssh_auth_sock`, the socket owned by
  // uid:gid with `mode` (the directory 0711, as BuildKit's).
  static Result<std::unique_ptr<AgentSocket>> Listen(const std::string& parent_dir, uint32_t uid,
                                                     uint32_t gid, uint32_t mode,
                                                     Connect connect);
  ~AgentSocket();
  AgentSocket(const AgentSocket&) = delete;
  AgentSocket& operator=(const AgentSocket&) = delete;

  const std::string& path() const { return path_; }

 private:
  struct State;
  AgentSocket() = default;
  std::string dir_;
  std::string path_;
  std::shared_ptr<State> state_;
};

}  // namespace hoist::session
