#include "base/error.h"

#include <cerrno>
#include <cstring>

namespace hoist {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kCancelled: return "cancelled";
    case Code::kUnknown: return "unknown";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kDeadlineExceeded: return "deadline exceeded";
    case Code::kNotFound: return "not found";
    case Code::kAlreadyExists: return "already exists";
    case Code::kPermissionDenied: return "permission denied";
    case Code::kResourceExhausted: return "resource exhausted";
    case Code::kFailedPrecondition: return "failed precondition";
    case Code::kAborted: return "aborted";
    case Code::kOutOfRange: return "out of range";
    case Code::kUnimplemented: return "unimplemented";
    case Code::kInternal: return "internal";
    case Code::kUnavailable: return "unavailable";
    case Code::kDataLoss: return "data loss";
    case Code::kUnauthenticated: return "unauthenticated";
  }
  return "unknown";
}

Error& Error::Wrap(std::string_view context) & {
  std::string m;
  m.reserve(context.size() + 2 + message_.size());
  m.append(context).append(": ").append(message_);
  message_ = std::move(m);
  return *this;
}

Error&& Error::Wrap(std::string_view context) && {
  Wrap(context);
  return std::move(*this);
}

Code CodeFromErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR: return Code::kNotFound;
    case EEXIST:
    case ENOTEMPTY: return Code::kAlreadyExists;
    case EACCES:
    case EPERM:
    case EROFS: return Code::kPermissionDenied;
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM: return Code::kResourceExhausted;
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP: return Code::kInvalidArgument;
    case EINTR: return Code::kCancelled;
    case EAGAIN:
    case EBUSY: return Code::kUnavailable;
    case EXDEV: return Code::kFailedPrecondition;
    case EIO: return Code::kDataLoss;
    default: return Code::kUnknown;
  }
}

Error ErrnoError(int err, std::string_view what) {
  std::string m(what);
  m.append(": ").append(std::strerror(err));
  return Error(CodeFromErrno(err), std::move(m));
}

}  // namespace hoist
