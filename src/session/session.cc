#include "session/session.h"

#include <memory>

#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace hoist::session {
namespace {

constexpr size_t kReadChunk = 1 << 20;

}  // namespace

std::string NewRandomId() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // getrandom on Linux ≥ 3.17 cannot fail otherwise once the pool is initialised.
      HOIST_LOG(kError, "getrandom: {}", std::strerror(errno));
      std::abort();
    }
    got += static_cast<size_t>(n);
  }
  unsigned __int128 v = 0;
  for (unsigned char b : bytes) v = (v << 8) | b;
  // 36^25 > 2^128, so 25 base-36 digits hold any 128-bit value.
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out(25, '0');
  for (int i = 24; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kDigits[static_cast<unsigned>(v % 36)];
    v /= 36;
  }
  return out;
}

Status ClientDir::ReadFile(std::string_view path,
                           const std::function<Status(std::string_view chunk)>& sink) {
  HOIST_ASSIGN_OR_RETURN(auto file, OpenFile(path));
  // One buffer per thread, never zeroed: a context is mostly small files, read one after
  // another, and clearing a fresh megabyte for each cost more than reading it.
  thread_local const std::unique_ptr<char[]> buf = std::make_unique_for_overwrite<char[]>(kReadChunk);
  for (uint64_t offset = 0;;) {
    HOIST_ASSIGN_OR_RETURN(size_t n, file->ReadAt(offset, buf.get(), kReadChunk));
    if (n == 0) return OkStatus();
    HOIST_TRY(sink(std::string_view(buf.get(), n)));
    offset += n;
  }
}

Result<std::string> ReadWholeFile(ClientDir& dir, std::string_view path, uint64_t max_bytes) {
  std::string data;
  HOIST_TRY(dir.ReadFile(path, [&](std::string_view chunk) -> Status {
    if (data.size() + chunk.size() > max_bytes) {
      return MakeError(Code::kResourceExhausted,
                       std::string(path) + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    data.append(chunk);
    return OkStatus();
  }));
  return data;
}

Result<std::optional<RegistryCredentials>> Session::Credentials(std::string_view) {
  return std::optional<RegistryCredentials>();
}

Error SSHNotForwarded(std::string_view id) {
  return Error(Code::kNotFound, "no SSH key \"" + std::string(id) + "\" forwarded from the client");
}

Status Session::CheckSSH(std::string_view id) { return Unexpected(SSHNotForwarded(id)); }

Result<UniqueFd> Session::ForwardSSH(std::string_view id) {
  return Unexpected(SSHNotForwarded(id));
}

Result<std::unique_ptr<OutputFile>> Session::OpenOutputTar(
    const std::map<std::string, std::string>&) {
  return MakeError(Code::kFailedPrecondition, "the client attached no output file");
}

Status Session::SendOutputDir(const std::string&, CancelContext*) {
  return MakeError(Code::kFailedPrecondition, "the client attached no output directory");
}

Result<std::shared_ptr<content::ContentStore>> Session::OutputStore() {
  return MakeError(Code::kFailedPrecondition, "the client attached no output OCI layout");
}

Result<std::shared_ptr<content::ContentStore>> Session::CacheStore(std::string_view, bool) {
  return Unexpected(UnknownCacheStore());
}

Error UnknownCacheStore() {
  return Error(Code::kNotFound,
               "unknown cache store: the client attached no cache directory under this key");
}

}  // namespace hoist::session
