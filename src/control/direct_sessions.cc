#include "control/direct_sessions.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "base/log.h"
#include "session/direct_session.h"
#include "session/remote_session.h"

namespace hoist::control {
namespace {

// How long a client has to send its offer once it has connected.
constexpr auto kOfferTimeout = std::chrono::seconds(10);

}  // namespace

DirectSessions::DirectSessions(session::SessionManager* sessions, size_t max_sessions)
    : sessions_(sessions), max_sessions_(max_sessions) {}

DirectSessions::~DirectSessions() { Shutdown(); }

void DirectSessions::Serve(UniqueFd fd) {
  std::lock_guard lock(mu_);
  Reap();
  if (stopped_ || entries_.size() >= max_sessions_) return;  // the connection closes
  auto e = std::make_unique<Entry>();
  e->control = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);
  if (e->control < 0) return;
  Entry* raw = e.get();
  e->thread = std::thread([this, raw, f = std::move(fd)]() mutable { Run(raw, std::move(f)); });
  entries_.push_back(std::move(e));
}

void DirectSessions::Run(Entry* e, UniqueFd fd) {
  // The connection ends with the thread (the duplicate would otherwise keep it open until
  // the next Serve reaps it).
  auto finish = [&] {
    ::shutdown(e->control, SHUT_RDWR);
    std::lock_guard lock(mu_);
    e->done = true;
  };
  auto offer = session::ReadDirectSessionOffer(fd.get(), kOfferTimeout);
  Result<session::RemoteSessionInfo> info =
      offer ? session::ParseSessionMetadata(*offer)
            : Result<session::RemoteSessionInfo>(Unexpected(offer.error()));
  if (!info) {
    HOIST_LOG(kDebug, "session offer refused: {}", info.error().message());
    (void)session::AnswerDirectSession(fd.get(), Unexpected(info.error()));
    finish();
    return;
  }
  const std::string id = info->id;
  // The answer goes out before gRPC takes the connection over (it speaks at once).
  if (!session::AnswerDirectSession(fd.get(), OkStatus())) {
    finish();
    return;
  }
  auto remote = session::RemoteSession::Connect(std::move(*info), std::move(fd));
  Status registered = remote ? sessions_->Register(*remote) : Status(Unexpected(remote.error()));
  if (!registered) {
    // The client's build then finds no session of that ID and says so.
    HOIST_LOG(kDebug, "session {} refused: {}", id, registered.error().message());
    finish();
    return;
  }
  HOIST_LOG(kDebug, "session {} attached directly", id);
  // Until the client hangs up (or Shutdown forces it): poll wakes on that alone.
  pollfd p{.fd = e->control, .events = POLLRDHUP, .revents = 0};
  while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
  // Builds still using the session fail now rather than hang.
  ::shutdown(e->control, SHUT_RDWR);
  sessions_->Unregister(id);
  HOIST_LOG(kDebug, "session {} detached", id);
  finish();
}

void DirectSessions::Reap() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if ((*it)->done) {
      (*it)->thread.join();
      ::close((*it)->control);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

void DirectSessions::Shutdown() {
  std::vector<std::unique_ptr<Entry>> all;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    for (auto& e : entries_) ::shutdown(e->control, SHUT_RDWR);
    all = std::move(entries_);
    entries_.clear();
  }
  for (auto& e : all) {
    e->thread.join();
    ::close(e->control);
  }
}

}  // namespace hoist::control
