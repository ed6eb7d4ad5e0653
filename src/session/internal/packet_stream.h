// PacketStream: one fsutil transfer's packets (api/fsutil/wire.proto) over a bidirectional
// gRPC stream, whichever side of the call this is. The sender and the receiver of the diffcopy
// protocol are written against it, so that the client's services and the engine's RemoteSession
// share them.
//
// gRPC allows one thread reading and one thread writing a stream at once; PacketStream inherits
// that rule. Cancel() may be called from any thread: a Recv blocked in another thread returns.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace fsutil::types {
class Packet;
}
namespace google::protobuf {
class MessageLite;
}

namespace hoist::session::internal {

class PacketStream {
 public:
  virtual ~PacketStream() = default;
  // The next packet; false when the stream ended or broke (the call's status tells which).
  virtual bool Recv(fsutil::types::Packet* p) = 0;
  // false when the stream is broken. `more`: the caller sends another packet right after this
  // one without waiting for its peer, so a stream that batches packets may hold this one back
  // (BatchedPacketStream). The last packet before the caller waits must be sent without it.
  virtual bool Send(const fsutil::types::Packet& p, bool more = false) = 0;
  virtual void Cancel() = 0;
};

// FileSend.DiffCopy is declared with BytesMessage but carries packets to an output directory:
// a message is re-read as the other type (fields one type lacks travel as unknown fields, so
// the bytes on the wire are the packet's own).
bool PacketFromBytesMessage(const google::protobuf::MessageLite& bytes, fsutil::types::Packet* p);
void BytesMessageFromPacket(const fsutil::types::Packet& p, google::protobuf::MessageLite* bytes);

// Over a stream of Packet messages. `Stream` is grpc::ServerReaderWriter<Packet, Packet> or
// grpc::ClientReaderWriter<Packet, Packet>; `Context` the call's grpc::ServerContext or
// grpc::ClientContext. Both are borrowed.
template <class Stream, class Context>
class GrpcPacketStream final : public PacketStream {
 public:
  GrpcPacketStream(Stream* stream, Context* context) : stream_(stream), context_(context) {}
  bool Recv(fsutil::types::Packet* p) override { return stream_->Read(p); }
  bool Send(const fsutil::types::Packet& p, bool = false) override { return stream_->Write(p); }
  void Cancel() override { context_->TryCancel(); }

 private:
  Stream* stream_;
  Context* context_;
};

// Over a stream declared with `Bytes` (moby.filesync.v1.BytesMessage) messages.
template <class Stream, class Context, class Bytes>
class GrpcBytesPacketStream final : public PacketStream {
 public:
  GrpcBytesPacketStream(Stream* stream, Context* context) : stream_(stream), context_(context) {}
  bool Recv(fsutil::types::Packet* p) override {
    Bytes m;
    return stream_->Read(&m) && PacketFromBytesMessage(m, p);
  }
  bool Send(const fsutil::types::Packet& p, bool = false) override {
    Bytes m;
    BytesMessageFromPacket(p, &m);
    return stream_->Write(m);
  }
  void Cancel() override { context_->TryCancel(); }

 private:
  Stream* stream_;
  Context* context_;
};

// A batch's bytes (hoist.filesync.v1.PacketBatch.packets): AppendToBatch adds `p`, its length
// then its bytes; NextInBatch parses the packet at `*offset` and moves past it, false at the
// end of `batch` or, with `*bad` set, where the bytes are not a packet.
void AppendToBatch(const fsutil::types::Packet& p, std::string* batch);
bool NextInBatch(std::string_view batch, size_t* offset, fsutil::types::Packet* p, bool* bad);

// Over a stream of `Batch` messages (hoist.filesync.v1.PacketBatch, api/session/batch.proto):
// packets sent with `more` wait in a batch, which goes out with the first packet sent without
// it, once it holds kMaxBatchBytes, or with a packet sent once its first has waited
// kMaxBatchDelay (so that a long walk reaches the peer while it is still being taken). Read one
// batch at a time, they come out one by one.
//
// `one_thread`: the caller reads and writes from one thread only. Recv then sends what waits in
// the batch before it waits for a message, so the caller may send every packet with `more`:
// nothing is held back while it waits for its peer; and what has waited kMaxBatchDelay while
// the caller works through a batch it received goes out too (a receiver's requests go out
// while it is still writing the walk that asked for them).
inline constexpr size_t kMaxBatchBytes = 256 << 10;
inline constexpr std::chrono::microseconds kMaxBatchDelay{200};

template <class Stream, class Context, class Batch>
class BatchedPacketStream final : public PacketStream {
 public:
  BatchedPacketStream(Stream* stream, Context* context, bool one_thread = false)
      : stream_(stream), context_(context), one_thread_(one_thread) {}
  // A batch that does not parse cancels the call: the stream then ends as broken.
  bool Recv(fsutil::types::Packet* p) override {
    for (;;) {
      bool bad = false;
      if (one_thread_ && !out_.packets().empty() &&
          std::chrono::steady_clock::now() - held_since_ >= kMaxBatchDelay && !Flush()) {
        return false;
      }
      if (NextInBatch(in_.packets(), &next_, p, &bad)) return true;
      if (bad) {
        context_->TryCancel();
        return false;
      }
      if (one_thread_ && !Flush()) return false;
      in_.Clear();
      next_ = 0;
      if (!stream_->Read(&in_)) return false;
    }
  }
  bool Send(const fsutil::types::Packet& p, bool more = false) override {
    const auto now = std::chrono::steady_clock::now();
    if (out_.packets().empty()) held_since_ = now;
    AppendToBatch(p, out_.mutable_packets());
    if (more && out_.packets().size() < kMaxBatchBytes && now - held_since_ < kMaxBatchDelay) {
      return true;
    }
    return Flush();
  }
  // Sends what waits in the batch, if anything.
  bool Flush() {
    if (out_.packets().empty()) return true;
    bool ok = stream_->Write(out_);
    out_.Clear();
    return ok;
  }
  void Cancel() override { context_->TryCancel(); }

 private:
  Stream* stream_;
  Context* context_;
  const bool one_thread_;
  Batch in_;
  size_t next_ = 0;  // where the next packet of in_ starts
  Batch out_;
  std::chrono::steady_clock::time_point held_since_;  // when out_'s first packet came
};

}  // namespace hoist::session::internal
