#include "session/byte_pump.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace hoist::session {
namespace {

// Messages carry at most this much (BuildKit's conn reads 32 KiB at a time too).
constexpr size_t kChunk = 32 << 10;

}  // namespace

Status PumpBytes(UniqueFd socket, MessageStream& stream) {
  const int fd = socket.get();
  Status inbound = OkStatus();  // messages → socket
  std::thread in([&] {
    std::string data;
    while (stream.Read(&data)) {
      std::string_view rest = data;
      while (!rest.empty()) {
        ssize_t n = send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR) continue;
          inbound = Unexpected(ErrnoError(errno, "session: write to the connection"));
          // The other direction is stuck in recv: end it.
          shutdown(fd, SHUT_RDWR);
          return;
        }
        rest.remove_prefix(static_cast<size_t>(n));
      }
    }
    shutdown(fd, SHUT_WR);
  });
  Status outbound = OkStatus();  // socket → messages
  std::string buf(kChunk, '\0');
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      outbound = Unexpected(ErrnoError(errno, "session: read from the connection"));
      break;
    }
    if (n == 0) break;
    if (!stream.Write(std::string_view(buf.data(), static_cast<size_t>(n)))) {
      outbound = MakeError(Code::kUnavailable, "session: the stream broke");
      // Nothing more can go out; what comes in is still delivered until the stream ends.
      break;
    }
  }
  stream.CloseWrite();
  in.join();
  if (!inbound) return inbound;
  return outbound;
}

}  // namespace hoist::session
