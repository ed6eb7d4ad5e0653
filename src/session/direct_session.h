// Direct sessions: hoist's own session transport for a client on the daemon's machine. BuildKit
// carries a session as bytes inside the Control.Session call, so every call the engine makes on
// the client crosses two gRPC stacks and a byte pump on each side. A hoist client talking to
// hoistd over a unix socket can instead open a second connection to the same socket and offer
// it as the session itself:
//
//   client → daemon   "HOIST-SESSION/1\n", the length of the hello in decimal, "\n", the hello
//                     (a JSON array of [key, value] pairs: the Control.Session call's metadata,
//                     SessionMetadata())
//   daemon → client   "OK\n" once the session is registered, or "ERR <message>\n" and a hang-up
//
// after which the connection carries the session's HTTP/2 exactly as the Control.Session bytes
// would: the client serves (SessionServer), the engine calls (RemoteSession). The session ends
// when either side closes the connection. A daemon that is not hoistd never sees the offer: the
// client first makes sure it is talking to hoistd (the listening process's name, else
// Control.Info; client/remote_engine.cc).
//
// What comes in is untrusted: the hello is bounded (kMaxHelloBytes) and must arrive within the
// timeout; its metadata is checked as Control.Session's is (ParseSessionMetadata).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"

namespace hoist::session {

inline constexpr char kDirectSessionMagic[] = "HOIST-SESSION/1\n";
inline constexpr size_t kMaxHelloBytes = 64 << 10;

using SessionHeaders = std::vector<std::pair<std::string, std::string>>;

// Client: offers the connected socket `fd` as a session with `metadata`, and waits for the
// daemon's answer. kUnavailable when the daemon hung up or did not answer in time; the daemon's
// ERR message (kFailedPrecondition) otherwise.
Status OfferDirectSession(int fd, const SessionHeaders& metadata,
                          std::chrono::milliseconds timeout);

// Daemon: whether the connection `fd` starts with kDirectSessionMagic, looking at its first
// bytes without taking them; false when nothing came within `timeout` (a gRPC client speaks
// first, so it never waits that long).
bool IsDirectSessionOffer(int fd, std::chrono::milliseconds timeout);

// Daemon: reads the offer from `fd` (magic, length, hello) within `timeout`. kInvalidArgument
// for anything malformed or too large.
Result<SessionHeaders> ReadDirectSessionOffer(int fd, std::chrono::milliseconds timeout);

// Daemon: answers an offer: "OK" for success, else "ERR" with the error's message.
Status AnswerDirectSession(int fd, const Status& result);

}  // namespace hoist::session
