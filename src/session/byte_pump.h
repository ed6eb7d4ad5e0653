// PumpBytes: joins a connected socket to a stream of byte messages, both ways. BuildKit's
// session runs HTTP/2 over the bytes of Control.Session (a bidirectional stream of
// BytesMessage): the engine (hoistd) and the client each pump that call's messages to one end
// of a socketpair and hand the other end to RemoteSession::Connect or SessionServer::Start,
// which speak gRPC on it. The call's own types stay with the caller behind MessageStream.
//
// Thread-safety: PumpBytes uses one extra thread; the stream is read by one thread and written
// by another, as gRPC streams allow.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "base/error.h"
#include "base/unique_fd.h"

namespace hoist::session {

// One side of a message stream, e.g. a grpc::ServerReaderWriter<BytesMessage, BytesMessage>.
class MessageStream {
 public:
  virtual ~MessageStream() = default;
  // The next message's bytes; false when the peer is done sending or the stream broke.
  virtual bool Read(std::string* data) = 0;
  // false when the stream broke.
  virtual bool Write(std::string_view data) = 0;
  // No more writes (a client's WritesDone; a server has nothing to do).
  virtual void CloseWrite() = 0;
};

// A MessageStream over a gRPC stream of byte messages: `Msg` has data() and set_data() (a
// BytesMessage of any package), `S` is the stream (a ServerReaderWriter or ClientReaderWriter;
// no gRPC header is needed here). `close_write` runs for CloseWrite: a client's WritesDone, or
// nothing for a server.
template <class Msg, class S>
class GrpcBytesStream final : public MessageStream {
 public:
  explicit GrpcBytesStream(S* stream, std::function<void()> close_write = {})
      : stream_(stream), close_write_(std::move(close_write)) {}
  bool Read(std::string* data) override {
    Msg m;
    if (!stream_->Read(&m)) return false;
    *data = std::move(*m.mutable_data());
    return true;
  }
  bool Write(std::string_view data) override {
    Msg m;
    m.set_data(data.data(), data.size());
    return stream_->Write(m);
  }
  void CloseWrite() override {
    if (close_write_) close_write_();
  }

 private:
  S* stream_;
  std::function<void()> close_write_;
};

// Copies the socket's bytes into messages and the messages' bytes into the socket until both
// directions are done: the stream ending shuts the socket's write side, the socket's end
// closes the stream's write side. Returns when both are done; the socket is closed then.
// Errors: kUnavailable when a side broke rather than ended.
Status PumpBytes(UniqueFd socket, MessageStream& stream);

}  // namespace hoist::session
