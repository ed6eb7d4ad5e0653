#include "session/internal/grpc_glue.h"

#include <google/protobuf/io/coded_stream.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "api/fsutil/wire.pb.h"
#include "api/session/filesync.pb.h"
#include "base/utf8.h"
#include "session/internal/packet_stream.h"

namespace hoist::session::internal {

grpc::Status ToGrpcStatus(const Error& e) {
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(e.code())), e.message());
}

Error FromGrpcStatus(const grpc::Status& s) {
  int code = static_cast<int>(s.error_code());
  if (code <= 0 || code > static_cast<int>(Code::kUnauthenticated))
    code = static_cast<int>(Code::kUnknown);
  return Error(static_cast<Code>(code), s.error_message());
}

std::vector<std::string> MetadataValues(const grpc::ServerContext& context, std::string_view key) {
  std::vector<std::string> out;
  auto range = context.client_metadata().equal_range(grpc::string_ref(key.data(), key.size()));
  for (auto it = range.first; it != range.second; ++it) {
    out.emplace_back(it->second.data(), it->second.size());
  }
  return out;
}

std::string MetadataValue(const grpc::ServerContext& context, std::string_view key) {
  auto values = MetadataValues(context, key);
  return values.empty() ? std::string() : std::move(values.front());
}

std::string LiteralPattern(std::string_view path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' || c == '^' ||
        (c == '!' && i == 0)) {
      out += '\\';
    }
    out += c;
  }
  return out;
}

namespace {

bool SafeByte(char c) { return c >= 0x20 && c <= 0x7e; }

}  // namespace

bool MetadataSafe(std::string_view value) {
  return std::all_of(value.begin(), value.end(), SafeByte);
}

std::string WidenPattern(std::string_view pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size() && !SafeByte(pattern[i + 1])) {
      ++i;  // the escaped character becomes '?' below
      continue;
    }
    if (SafeByte(c)) {
      out += c;
      ++i;
      continue;
    }
    out += '?';
    i += DecodeRune(pattern.substr(i)).width;
  }
  return out;
}

bool PacketFromBytesMessage(const google::protobuf::MessageLite& bytes, fsutil::types::Packet* p) {
  // A file's bytes (BytesMessage.data, field 1 with a length) do not parse as a packet's type
  // (field 1, a number): they would be kept as an unknown field. Refuse them.
  return p->ParseFromString(bytes.SerializeAsString()) &&
         p->GetReflection()->GetUnknownFields(*p).empty();
}

void BytesMessageFromPacket(const fsutil::types::Packet& p, google::protobuf::MessageLite* bytes) {
  bytes->ParseFromString(p.SerializeAsString());
}

void AppendToBatch(const fsutil::types::Packet& p, std::string* batch) {
  const size_t size = p.ByteSizeLong();
  uint8_t len[10];
  uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(size, len);
  batch->append(reinterpret_cast<const char*>(len), static_cast<size_t>(end - len));
  const size_t at = batch->size();
  batch->resize(at + size);
  p.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(batch->data() + at));
}

bool NextInBatch(std::string_view batch, size_t* offset, fsutil::types::Packet* p, bool* bad) {
  *bad = false;
  if (*offset >= batch.size()) return false;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(batch.data() + *offset),
      static_cast<int>(batch.size() - *offset));
  uint32_t size = 0;
  if (!in.ReadVarint32(&size) || size > batch.size() - *offset - in.CurrentPosition()) {
    *bad = true;
    return false;
  }
  const size_t start = *offset + static_cast<size_t>(in.CurrentPosition());
  if (!p->ParseFromArray(batch.data() + start, static_cast<int>(size)) ||
      !p->GetReflection()->GetUnknownFields(*p).empty()) {
    *bad = true;
    return false;
  }
  *offset = start + size;
  return true;
}

}  // namespace hoist::session::internal
