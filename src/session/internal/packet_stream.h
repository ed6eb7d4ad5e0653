// PacketStream: one fsutil transfer's packets (api/fsutil/wire.proto) over a bidirectional
// gRPC stream, whichever side of the call this is. The sender and the receiver of the diffcopy
// protocol are written against it, so that the client's services and the engine's RemoteSession
// share them.
//
// gRPC allows one thread reading and one thread writing a stream at once; PacketStream inherits
// that rule. Cancel() may be called from any thread: a Recv blocked in another thread returns.
#pragma once

#include <string>

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
  // false when the stream is broken.
  virtual bool Send(const fsutil::types::Packet& p) = 0;
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
  bool Send(const fsutil::types::Packet& p) override { return stream_->Write(p); }
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
  bool Send(const fsutil::types::Packet& p) override {
    Bytes m;
    BytesMessageFromPacket(p, &m);
    return stream_->Write(m);
  }
  void Cancel() override { context_->TryCancel(); }

 private:
  Stream* stream_;
  Context* context_;
};

}  // namespace hoist::session::internal
