// DirectSessions: hoistd's side of direct sessions (session/direct_session.h). hoistd's accept
// loop hands it the connections that offer one; each is read, checked as a Control.Session
// call's metadata is, registered with the engine's sessions and kept, on a thread of its own,
// until the client hangs up or the daemon stops. Builds then reach the client over the
// connection itself rather than through a byte pump inside a gRPC call.
//
// Thread-safety: thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "session/session_manager.h"

namespace hoist::control {

class DirectSessions {
 public:
  // `max_sessions`: how many it holds at once (each has a thread); a connection beyond is
  // closed unanswered, and its client falls back to Control.Session.
  explicit DirectSessions(session::SessionManager* sessions, size_t max_sessions = 512);
  ~DirectSessions();  // Shutdown()

  // Takes a connection that offers a session (session::IsDirectSessionOffer). Returns at once.
  // Past `max_sessions`, or after Shutdown, the connection is closed unanswered.
  void Serve(UniqueFd fd);
  // Hangs up every session it holds and waits for them to end; Serve refuses after it.
  void Shutdown();

 private:
  struct Entry {
    int control = -1;  // a duplicate of the connection, to notice and force its end
    bool done = false;
    std::thread thread;
  };
  void Run(Entry* e, UniqueFd fd);
  void Reap();  // joins the threads that are done; mu_ held

  session::SessionManager* sessions_;
  const size_t max_sessions_;
  std::mutex mu_;
  bool stopped_ = false;                        // guarded by mu_
  std::vector<std::unique_ptr<Entry>> entries_;  // guarded by mu_
};

}  // namespace hoist::control
