// Errors as values: Error carries a gRPC-style code and a chain of context, Result<T> is
// tl::expected<T, Error>. Project code throws nothing; functions that can fail return Result or
// Status, and callers propagate with HOIST_TRY / HOIST_ASSIGN_OR_RETURN.
//
// Thread-safety: values; no shared state.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace hoist {

// The gRPC status codes, which BuildKit's errors also use on the wire.
enum class Code {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

std::string_view CodeName(Code code);

// An error: a code and a message. Wrap() prepends context, outermost first, so that
// Error(kNotFound, "content sha256:ab: not found").Wrap("load base") reads
// "load base: content sha256:ab: not found".
class Error {
 public:
  Error(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Adds context in front of the message; the code is kept.
  Error& Wrap(std::string_view context) &;
  Error&& Wrap(std::string_view context) &&;

 private:
  Code code_;
  std::string message_;
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> MakeError(Code code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}
inline tl::unexpected<Error> Unexpected(Error e) { return tl::unexpected<Error>(std::move(e)); }

// Errors from the C library: "open blobs/sha256/ab: No such file or directory", with the code
// mapped from errno (ENOENT → kNotFound, EACCES → kPermissionDenied, ...).
Error ErrnoError(int err, std::string_view what);
Code CodeFromErrno(int err);

inline Status OkStatus() { return {}; }

}  // namespace hoist

#define HOIST_CONCAT_INNER_(a, b) a##b
#define HOIST_CONCAT_(a, b) HOIST_CONCAT_INNER_(a, b)

// Returns the error of a Result/Status expression from the enclosing function.
#define HOIST_TRY(expr)                                                  \
  do {                                                                   \
    auto&& hoist_try_result_ = (expr);                                   \
    if (!hoist_try_result_) return ::hoist::Unexpected(std::move(hoist_try_result_).error()); \
  } while (0)

#define HOIST_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp) return ::hoist::Unexpected(std::move(tmp).error()); \
  lhs = std::move(*tmp)

// HOIST_ASSIGN_OR_RETURN(auto x, Foo()); declares x with Foo()'s value or returns its error.
#define HOIST_ASSIGN_OR_RETURN(lhs, expr) \
  HOIST_ASSIGN_OR_RETURN_IMPL_(HOIST_CONCAT_(hoist_aor_, __LINE__), lhs, expr)
