#include "session/direct_session.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

namespace hoist::session {
namespace {

using Clock = std::chrono::steady_clock;

// Waits until `fd` is ready for `events` or the deadline passes; false on the latter.
Result<bool> WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = fd, .events = events, .revents = 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, "session connection: poll"));
    }
    if (n > 0) return true;
  }
}

// Reads up to `max` bytes into `out` until `stop` says it has enough; kUnavailable when the
// peer hangs up first, kDeadlineExceeded at the deadline. `bytewise`: one byte per read, so
// that nothing after what `stop` wants is taken from the connection (what follows the answer
// to an offer is HTTP/2 for the session's server).
Status ReadUntil(int fd, std::string* out, size_t max, Clock::time_point deadline,
                 const std::function<bool(const std::string&)>& stop, bool bytewise = false) {
  char buf[4096];
  while (!stop(*out)) {
    if (out->size() >= max) {
      return MakeError(Code::kInvalidArgument, "session connection: the hello is too long");
    }
    HOIST_ASSIGN_OR_RETURN(bool ready, WaitFor(fd, POLLIN, deadline));
    if (!ready) return MakeError(Code::kDeadlineExceeded, "session connection: no answer in time");
    const size_t want = bytewise ? 1 : std::min(sizeof(buf), max - out->size());
    const ssize_t n = ::recv(fd, buf, want, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return Unexpected(ErrnoError(errno, "session connection: read"));
    }
    if (n == 0) return MakeError(Code::kUnavailable, "session connection: the peer hung up");
    out->append(buf, static_cast<size_t>(n));
  }
  return OkStatus();
}

Status WriteAll(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        HOIST_ASSIGN_OR_RETURN(bool ready, WaitFor(fd, POLLOUT, deadline));
        if (!ready) return MakeError(Code::kDeadlineExceeded, "session connection: write timed out");
        continue;
      }
      return Unexpected(ErrnoError(errno, "session connection: write"));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

bool HasLine(const std::string& s) { return s.find('\n') != std::string::npos; }

}  // namespace

Status OfferDirectSession(int fd, const SessionHeaders& metadata,
                          std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  nlohmann::json hello = nlohmann::json::array();
  for (const auto& [k, v] : metadata) hello.push_back({k, v});
  const std::string body = hello.dump();
  std::string offer = kDirectSessionMagic;
  offer += std::to_string(body.size()) + "\n" + body;
  // A daemon that hangs up on the offer is not hoistd (or is going away): the caller can fall
  // back to Control.Session.
  if (Status sent = WriteAll(fd, offer, deadline); !sent) {
    return MakeError(Code::kUnavailable, sent.error().message());
  }
  std::string answer;
  Status got = ReadUntil(fd, &answer, 4096, deadline, HasLine, /*bytewise=*/true);
  if (!got) {
    if (got.error().code() == Code::kInvalidArgument) {
      return MakeError(Code::kUnavailable, "session connection: the daemon's answer is too long");
    }
    return MakeError(Code::kUnavailable, got.error().message());
  }
  answer.resize(answer.find('\n'));
  if (answer == "OK") return OkStatus();
  if (answer.rfind("ERR ", 0) == 0) {
    return MakeError(Code::kFailedPrecondition, "session refused: " + answer.substr(4));
  }
  return MakeError(Code::kUnavailable, "session connection: the daemon's answer is not one");
}

bool IsDirectSessionOffer(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  constexpr size_t kMagic = sizeof(kDirectSessionMagic) - 1;
  char buf[kMagic];
  for (;;) {
    auto ready = WaitFor(fd, POLLIN, deadline);
    if (!ready || !*ready) return false;
    const ssize_t n = ::recv(fd, buf, kMagic, MSG_PEEK);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) return false;
    // A prefix that differs settles it; one that matches so far waits for the rest.
    if (std::memcmp(buf, kDirectSessionMagic, static_cast<size_t>(n)) != 0) return false;
    if (static_cast<size_t>(n) == kMagic) return true;
    // Part of the magic came: the rest follows at once from a client that sends it.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

Result<SessionHeaders> ReadDirectSessionOffer(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  constexpr size_t kMagic = sizeof(kDirectSessionMagic) - 1;
  // The magic and the length line, read a byte at a time so that nothing after them is taken.
  std::string head;
  auto line_done = [](const std::string& s) { return s.size() > kMagic && s.back() == '\n'; };
  while (!line_done(head)) {
    if (head.size() >= kMagic + 16) {
      return MakeError(Code::kInvalidArgument, "session connection: malformed hello");
    }
    char c;
    HOIST_ASSIGN_OR_RETURN(bool ready, WaitFor(fd, POLLIN, deadline));
    if (!ready) {
      return MakeError(Code::kDeadlineExceeded, "session connection: the hello did not come in time");
    }
    const ssize_t n = ::recv(fd, &c, 1, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return Unexpected(ErrnoError(errno, "session connection: read"));
    }
    if (n == 0) return MakeError(Code::kUnavailable, "session connection: the client hung up");
    head.push_back(c);
    if (head.size() <= kMagic && head.back() != kDirectSessionMagic[head.size() - 1]) {
      return MakeError(Code::kInvalidArgument, "session connection: not a session offer");
    }
  }
  const std::string digits = head.substr(kMagic, head.size() - kMagic - 1);
  if (digits.empty() || digits.size() > 6 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return MakeError(Code::kInvalidArgument, "session connection: malformed hello length");
  }
  const size_t length = std::stoul(digits);
  if (length > kMaxHelloBytes) {
    return MakeError(Code::kInvalidArgument, "session connection: the hello is too long");
  }
  std::string body;
  HOIST_TRY(ReadUntil(fd, &body, length, deadline,
                      [length](const std::string& s) { return s.size() >= length; }));
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) {
    return MakeError(Code::kInvalidArgument, "session connection: the hello is not a JSON array");
  }
  SessionHeaders out;
  for (const auto& pair : parsed) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
      return MakeError(Code::kInvalidArgument,
                       "session connection: the hello holds something other than [key, value] "
                       "pairs of strings");
    }
    out.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
  }
  return out;
}

Status AnswerDirectSession(int fd, const Status& result) {
  std::string answer = "OK\n";
  if (!result) {
    std::string message = result.error().message();
    for (char& c : message) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    answer = "ERR " + message + "\n";
  }
  return WriteAll(fd, answer, Clock::now() + std::chrono::seconds(5));
}

}  // namespace hoist::session
