// RemoteEngine: the client's connection to a daemon speaking BuildKit's Control API (hoistd, or
// BuildKit's own buildkitd). A solve runs as buildctl runs one: the client opens Control.Session
// and serves its session (SessionServer) over that call's byte stream, calls Solve with the
// session's ID, and follows Status(ref) for progress.
//
// Addresses: unix:///path, tcp://host:port (TLS when `tls` is given, as buildctl's --tlscacert,
// --tlscert, --tlskey).
//
// Thread-safety: one call at a time per RemoteEngine.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "control/solve_request.h"
#include "progress/event.h"
#include "session/client_session.h"

namespace hoist::client {

struct TlsFiles {
  std::string ca_cert;  // PEM files; empty: no TLS
  std::string cert;
  std::string key;
  std::string server_name;  // empty: the address's host
};

// The daemon a command should use: `--addr`, else $HOIST_HOST, else $BUILDKIT_HOST; "" means
// the embedded engine.
std::string DaemonAddress(const std::string& addr_flag);

// One cache record as the daemon reports it (BuildKit's UsageRecord).
struct UsageRecord {
  std::string id;
  int64_t size = 0;
  int64_t created_ns = 0;
  int64_t last_used_ns = 0;
  std::string description;
  bool in_use = false;
};

struct RemoteFailure {
  std::string excerpt;  // the Dockerfile lines of the failed step, when the daemon sent them
};

class RemoteEngine {
 public:
  // Connects (and checks the daemon answers, waiting up to `timeout`). kUnavailable
  // `cannot reach the daemon at <addr>: ...`.
  static Result<std::unique_ptr<RemoteEngine>> Connect(
      const std::string& addr, const TlsFiles& tls = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Starts connecting and returns at once, so that the connection is made while the caller
  // prepares its request; WaitReady (which Solve calls once its own request is ready) then
  // checks the daemon answers, as Connect does. An address that is not one fails here.
  static Result<std::unique_ptr<RemoteEngine>> Dial(const std::string& addr,
                                                    const TlsFiles& tls = {});
  Status WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~RemoteEngine();

  // Serves `session` for the length of the solve and returns the exporter response. Progress
  // goes to `progress`. Cancelling `cancel` cancels the build on the daemon. Waits for the
  // connection first (WaitReady), so a daemon that does not answer is kUnavailable here.
  Result<std::map<std::string, std::string>> Solve(
      const control::SolveRequest& request, std::shared_ptr<session::ClientSession> session,
      progress::ProgressWriter* progress, CancelContext* cancel, RemoteFailure* failure = nullptr);

  Result<std::vector<UsageRecord>> DiskUsage();
  // Removes records (all of them, or least recently used down to `keep_bytes`); returns the
  // removed ones.
  Result<std::vector<UsageRecord>> Prune(bool all, std::optional<int64_t> keep_bytes);

  const std::string& address() const { return addr_; }

 private:
  struct Impl;
  explicit RemoteEngine(std::string addr, std::unique_ptr<Impl> impl);
  std::string addr_;
  std::unique_ptr<Impl> impl_;
};

// The deleter of a connection a command-line client keeps until its process exits: it closes
// nothing. Taking a gRPC channel down waits for gRPC's threads to let go of it (0.5 to 4 ms, on
// the path of every command); at exit the kernel closes the socket, and the daemon sees the
// client leave as it sees any hang-up.
struct KeepUntilExit {
  void operator()(RemoteEngine* engine) const;
};
using ProcessRemoteEngine = std::unique_ptr<RemoteEngine, KeepUntilExit>;

}  // namespace hoist::client
