#include "session/session_manager.h"

#include <algorithm>
#include <optional>

namespace hoist::session {
namespace {
// How often a waiting Get looks at its cancel context.
constexpr std::chrono::milliseconds kCancelPoll{50};
}  // namespace

Status SessionManager::Register(std::shared_ptr<Session> session) {
  if (session == nullptr || session->id().empty()) {
    return MakeError(Code::kInvalidArgument, "cannot register a session without an ID");
  }
  {
    std::lock_guard lock(mu_);
    const std::string id = session->id();
    if (!sessions_.emplace(id, std::move(session)).second) {
      return MakeError(Code::kAlreadyExists, "session " + id + " is already registered");
    }
  }
  cv_.notify_all();
  return {};
}

void SessionManager::Unregister(std::string_view id) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) sessions_.erase(it);
}

Result<std::shared_ptr<Session>> SessionManager::Get(std::string_view id,
                                                     std::chrono::milliseconds timeout,
                                                     CancelContext* cancel) {
  if (id.empty()) return MakeError(Code::kInvalidArgument, "no session ID given");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    auto it = sessions_.find(id);
    if (it != sessions_.end()) return it->second;
    if (cancel != nullptr) HOIST_TRY(cancel->Check());
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return MakeError(Code::kDeadlineExceeded,
                       "no active session for " + std::string(id) + ": timed out");
    }
    auto wait = std::min<std::chrono::steady_clock::duration>(deadline - now, kCancelPoll);
    cv_.wait_for(lock, wait);
  }
}

Status SessionManager::Any(const std::vector<std::string>& ids,
                           const std::function<Status(Session&)>& fn,
                           std::chrono::milliseconds timeout, CancelContext* cancel) {
  std::optional<Error> last;
  for (const std::string& id : ids) {
    if (id.empty()) continue;
    auto session = Get(id, timeout, cancel);
    if (!session) {
      if (session.error().code() == Code::kCancelled) return Unexpected(std::move(session).error());
      last = std::move(session).error();
      continue;
    }
    Status s = fn(**session);
    if (s) return s;
    last = std::move(s).error();
  }
  if (last) return Unexpected(std::move(*last));
  return MakeError(Code::kUnavailable, "no active sessions");
}

}  // namespace hoist::session
