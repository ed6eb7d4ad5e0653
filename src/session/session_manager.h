// SessionManager: the engine's registry of live client sessions. A transport registers a
// session when the client connects and unregisters it when the client goes; ops find sessions
// by ID, waiting briefly for one that is still connecting (BuildKit's session.Manager).
//
// Thread-safety: thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "session/session.h"

namespace hoist::session {

// How long ops wait for a named session before giving up (BuildKit waits 5s).
inline constexpr std::chrono::milliseconds kDefaultSessionTimeout{5000};

class SessionManager {
 public:
  // kAlreadyExists `session <id> is already registered`; kInvalidArgument for an empty ID.
  Status Register(std::shared_ptr<Session> session);
  // Removes the session (no-op when absent). Sessions already handed out stay usable.
  void Unregister(std::string_view id);

  // The session `id`, waiting up to `timeout` for it to register. Errors: empty ID
  // (kInvalidArgument `no session ID given`), timeout (kDeadlineExceeded
  // `no active session for <id>: timed out`), cancellation (kCancelled).
  Result<std::shared_ptr<Session>> Get(std::string_view id,
                                       std::chrono::milliseconds timeout = kDefaultSessionTimeout,
                                       CancelContext* cancel = nullptr);

  // Calls fn with the sessions `ids` in order (each looked up with Get and `timeout`) until a
  // call succeeds; returns the last error otherwise. No IDs: kUnavailable `no active sessions`.
  // This is what an op with no session ID of its own does over the build's sessions.
  Status Any(const std::vector<std::string>& ids, const std::function<Status(Session&)>& fn,
             std::chrono::milliseconds timeout = kDefaultSessionTimeout,
             CancelContext* cancel = nullptr);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Session>, std::less<>> sessions_;
};

}  // namespace hoist::session
