// A client's content store over containerd's Content service (see remote_session.h). The
// store is chosen per call by the buildkit-attachable-store-id metadata key.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include "api/content/content.grpc.pb.h"
#include "session/internal/grpc_glue.h"
#include "session/internal/remote_connection.h"

namespace hoist::session::internal {
namespace {

namespace cs = containerd::services::content::v1;

// Write messages carry at most this much.
constexpr size_t kWriteChunk = 1 << 20;

// Blobs up to this size (indexes, manifests, configs) are read whole in one call and, once their
// bytes match their digest, kept for the rest of the session, up to kKeptBytes in all: a
// build resolves an image's manifest and config more than once (the frontend for the image's
// settings, the source op for its layers), and each call crosses both machines' gRPC stacks.
constexpr int64_t kKeptBlobMax = 256 << 10;
constexpr size_t kKeptBytes = 4 << 20;

// A blob held in memory.
class KeptBlobReader final : public content::BlobReader {
 public:
  explicit KeptBlobReader(std::shared_ptr<const std::string> bytes) : bytes_(std::move(bytes)) {}

  int64_t Size() const override { return static_cast<int64_t>(bytes_->size()); }

  Result<size_t> ReadAt(int64_t offset, void* buf, size_t n) override {
    if (offset < 0) return MakeError(Code::kInvalidArgument, "negative offset");
    if (offset >= Size()) return size_t{0};
    const size_t m = std::min(n, bytes_->size() - static_cast<size_t>(offset));
    std::memcpy(buf, bytes_->data() + offset, m);
    return m;
  }

 private:
  std::shared_ptr<const std::string> bytes_;
};

// One Read call of a whole blob, from its start.
struct ReadCall {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<cs::ReadContentResponse>> reader;
};

std::unique_ptr<ReadCall> StartRead(cs::Content::Stub& stub, const std::string& store,
                                    const oci::Digest& digest, int64_t offset) {
  auto call = std::make_unique<ReadCall>();
  call->context.AddMetadata(kStoreIdKey, store);
  cs::ReadContentRequest req;
  req.set_digest(digest.str());
  req.set_offset(offset);
  call->reader = stub.Read(&call->context, req);
  return call;
}

class RemoteBlobReader final : public content::BlobReader {
 public:
  RemoteBlobReader(std::shared_ptr<const RemoteConnection> conn, std::string store,
                   oci::Digest digest, int64_t size)
      : conn_(std::move(conn)),
        store_(std::move(store)),
        digest_(std::move(digest)),
        size_(size),
        stub_(cs::Content::NewStub(conn_->channel)) {}
  // Goes on with `call`, a Read from the blob's start that has delivered `received` so far.
  RemoteBlobReader(std::shared_ptr<const RemoteConnection> conn, std::string store,
                   oci::Digest digest, int64_t size, std::unique_ptr<ReadCall> call,
                   std::string received)
      : RemoteBlobReader(std::move(conn), std::move(store), std::move(digest), size) {
    call_ = std::move(call);
    chunk_ = std::move(received);
  }
  ~RemoteBlobReader() override { Close(); }

  int64_t Size() const override { return size_; }

  Result<size_t> ReadAt(int64_t offset, void* buf, size_t n) override {
    if (offset < 0) {
      return MakeError(Code::kInvalidArgument, "content " + digest_.str() + ": negative offset");
    }
    if (offset >= size_ || n == 0) return size_t{0};
    // One Read call streams from where the reader is to the end; reads elsewhere start over.
    if (!call_ || offset != pos_) HOIST_TRY(Open(offset));
    while (left_ == chunk_.size()) {
      cs::ReadContentResponse resp;
      if (!call_->reader->Read(&resp)) {
        grpc::Status s = call_->reader->Finish();
        call_.reset();
        if (!s.ok()) return Unexpected(FromGrpcStatus(s));
        // The stream ended before the size the store claimed: nothing here can match.
        return MakeError(Code::kDataLoss, "content " + digest_.str() +
                                              ": size mismatch: expected " + std::to_string(size_) +
                                              " bytes, got " + std::to_string(pos_));
      }
      if (resp.offset() != pos_) {
        Close();
        return MakeError(Code::kDataLoss, "content " + digest_.str() +
                                              ": the client sent data for the wrong offset");
      }
      chunk_ = std::move(*resp.mutable_data());
      left_ = 0;
    }
    size_t m = std::min(n, chunk_.size() - left_);
    std::memcpy(buf, chunk_.data() + left_, m);
    left_ += m;
    pos_ += static_cast<int64_t>(m);
    return m;
  }

 private:
  Status Open(int64_t offset) {
    Close();
    call_ = StartRead(*stub_, store_, digest_, offset);
    pos_ = offset;
    chunk_.clear();
    left_ = 0;
    return OkStatus();
  }

  void Close() {
    if (!call_) return;
    call_->context.TryCancel();
    for (cs::ReadContentResponse r; call_->reader->Read(&r);) {
    }
    (void)call_->reader->Finish();
    call_.reset();
  }

  std::shared_ptr<const RemoteConnection> conn_;
  std::string store_;
  oci::Digest digest_;
  int64_t size_;
  std::unique_ptr<cs::Content::Stub> stub_;
  std::unique_ptr<ReadCall> call_;
  int64_t pos_ = 0;    // blob offset of the next byte the call delivers
  std::string chunk_;  // the message being consumed
  size_t left_ = 0;    // bytes of chunk_ consumed
};

class RemoteBlobWriter final : public content::BlobWriter {
 public:
  RemoteBlobWriter(std::shared_ptr<const RemoteConnection> conn, std::string store, std::string ref)
      : conn_(std::move(conn)),
        store_(std::move(store)),
        ref_(std::move(ref)),
        stub_(cs::Content::NewStub(conn_->channel)) {
    context_.AddMetadata(kStoreIdKey, store_);
    stream_ = stub_->Write(&context_);
  }

  ~RemoteBlobWriter() override {
    if (finished_) return;
    context_.TryCancel();
    Drain();
    // The client drops an ingest whose call ended without a commit; say so anyway for peers
    // that keep them to resume.
    grpc::ClientContext ctx;
    ctx.AddMetadata(kStoreIdKey, store_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    cs::AbortRequest req;
    req.set_ref(ref_);
    google::protobuf::Empty resp;
    (void)stub_->Abort(&ctx, req, &resp);
  }

  // Opens the write as containerd's proxy does: a STAT naming the ref; an ingest the client
  // kept from before is started over.
  Status Negotiate() {
    cs::WriteContentRequest req;
    req.set_action(cs::STAT);
    req.set_ref(ref_);
    HOIST_ASSIGN_OR_RETURN(cs::WriteContentResponse resp, RoundTrip(req));
    if (resp.offset() > 0) {
      cs::WriteContentRequest restart;
      restart.set_action(cs::WRITE);
      restart.set_offset(0);
      HOIST_TRY(RoundTrip(restart));
    }
    return OkStatus();
  }

  Status Write(std::string_view data) override {
    if (finished_) return MakeError(Code::kFailedPrecondition, "blob writer is finished");
    while (!data.empty()) {
      size_t n = std::min(data.size(), kWriteChunk);
      cs::WriteContentRequest req;
      req.set_action(cs::WRITE);
      req.set_offset(offset_);
      req.set_data(data.data(), n);
      HOIST_ASSIGN_OR_RETURN(cs::WriteContentResponse resp, RoundTrip(req));
      if (resp.offset() != offset_ + static_cast<int64_t>(n)) {
        return Fail(Error(Code::kDataLoss, "write " + ref_ + ": the client took " +
                                               std::to_string(resp.offset() - offset_) + " of " +
                                               std::to_string(n) + " bytes"),
                    nullptr);
      }
      digester_.Update(data.data(), n);
      offset_ += static_cast<int64_t>(n);
      data.remove_prefix(n);
    }
    return OkStatus();
  }

  int64_t Offset() const override { return offset_; }

  Status Commit(int64_t expected_size, const oci::Digest& expected) override {
    if (finished_) return MakeError(Code::kFailedPrecondition, "blob writer is finished");
    written_ = digester_.Finish();
    cs::WriteContentRequest req;
    req.set_action(cs::COMMIT);
    req.set_offset(offset_);
    if (expected_size >= 0) req.set_total(expected_size);
    if (expected.valid()) req.set_expected(expected.str());
    cs::WriteContentResponse resp;
    if (!stream_->Write(req) || !stream_->Read(&resp)) {
      auto failed = Fail(std::nullopt, &expected);
      if (already_exists_) {
        // Content that is already present commits successfully.
        written_ = expected;
        return OkStatus();
      }
      return failed;
    }
    stream_->WritesDone();
    Drain();
    finished_ = true;
    grpc::Status s = stream_->Finish();
    if (!s.ok()) return Unexpected(FromGrpcStatus(s));
    if (expected_size >= 0 && resp.offset() != expected_size) {
      return MakeError(Code::kDataLoss, "commit " + ref_ + ": unexpected size " +
                                            std::to_string(resp.offset()) +
                                            " != " + std::to_string(expected_size));
    }
    if (expected.valid() && resp.digest() != expected.str()) {
      return MakeError(Code::kDataLoss, "commit " + ref_ + ": unexpected digest " + resp.digest() +
                                            " != " + expected.str());
    }
    if (!expected.valid()) {
      if (auto d = oci::Digest::Parse(resp.digest())) written_ = *d;
    } else {
      written_ = expected;
    }
    return OkStatus();
  }

  oci::Digest Digest() override { return written_; }

 private:
  Result<cs::WriteContentResponse> RoundTrip(const cs::WriteContentRequest& req) {
    if (finished_) return MakeError(Code::kFailedPrecondition, "blob writer is finished");
    if (!stream_->Write(req)) return Fail(std::nullopt, nullptr);
    cs::WriteContentResponse resp;
    if (!stream_->Read(&resp)) return Fail(std::nullopt, nullptr);
    return resp;
  }

  void Drain() {
    for (cs::WriteContentResponse r; stream_->Read(&r);) {
    }
  }

  // Ends the call after a failure: `own` when this side found the problem, else the client's
  // status. An expected digest the client already holds is a success.
  tl::unexpected<Error> Fail(std::optional<Error> own, const oci::Digest* committing) {
    if (!finished_) {
      if (own) context_.TryCancel();
      Drain();
      finished_ = true;
      grpc::Status s = stream_->Finish();
      if (!own && committing != nullptr && s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
        already_exists_ = true;
      }
      if (!own && !s.ok()) own = FromGrpcStatus(s);
    }
    return Unexpected(own.value_or(
        Error(Code::kUnavailable, "write " + ref_ + ": the client ended the write early")));
  }

  std::shared_ptr<const RemoteConnection> conn_;
  std::string store_;
  std::string ref_;
  std::unique_ptr<cs::Content::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<cs::WriteContentRequest, cs::WriteContentResponse>>
      stream_;
  int64_t offset_ = 0;
  oci::Digester digester_;
  oci::Digest written_;
  bool finished_ = false;
  bool already_exists_ = false;
};

class RemoteContentStore final : public content::ContentStore {
 public:
  RemoteContentStore(std::shared_ptr<const RemoteConnection> conn, std::string store)
      : conn_(std::move(conn)),
        store_(std::move(store)),
        stub_(cs::Content::NewStub(conn_->channel)) {}
  ~RemoteContentStore() override {
    for (const auto& [digest, bytes] : kept_) conn_->ReturnKeptBytes(bytes->size());
  }

  Result<content::BlobInfo> Info(const oci::Digest& digest) override {
    {
      std::lock_guard lock(mu_);
      if (auto it = sizes_.find(digest); it != sizes_.end()) {
        return content::BlobInfo{digest, it->second};
      }
    }
    grpc::ClientContext ctx;
    ctx.AddMetadata(kStoreIdKey, store_);
    cs::InfoRequest req;
    req.set_digest(digest.str());
    cs::InfoResponse resp;
    grpc::Status s = stub_->Info(&ctx, req, &resp);
    if (!s.ok()) return Unexpected(FromGrpcStatus(s));
    if (resp.info().size() < 0) {
      return MakeError(Code::kDataLoss, "content " + digest.str() + ": negative size");
    }
    // A blob's size follows from its digest: one the client misstates fails every read alike.
    std::lock_guard lock(mu_);
    sizes_.emplace(digest, resp.info().size());
    return content::BlobInfo{digest, resp.info().size()};
  }

  Result<std::unique_ptr<content::BlobReader>> ReaderAt(const oci::Digest& digest) override {
    bool size_known = false;
    {
      std::lock_guard lock(mu_);
      if (auto it = kept_.find(digest); it != kept_.end()) {
        return std::unique_ptr<content::BlobReader>(std::make_unique<KeptBlobReader>(it->second));
      }
      size_known = sizes_.contains(digest);
    }
    // A blob whose size is not known yet is asked for whole at once: a small one (most blobs
    // opened this way are) then takes one call instead of Info and Read, and a larger one
    // streams on from that call once Info has told its size.
    if (!size_known && digest.supported()) {
      HOIST_ASSIGN_OR_RETURN(auto whole, OpenWhole(digest));
      if (whole) return whole;
    }
    HOIST_ASSIGN_OR_RETURN(content::BlobInfo info, Info(digest));
    auto remote = std::make_unique<RemoteBlobReader>(conn_, store_, digest, info.size);
    if (info.size > kKeptBlobMax || !digest.supported()) {
      return std::unique_ptr<content::BlobReader>(std::move(remote));
    }
    auto bytes = std::make_shared<std::string>(static_cast<size_t>(info.size), '\0');
    for (size_t at = 0; at < bytes->size();) {
      auto got = remote->ReadAt(static_cast<int64_t>(at), bytes->data() + at, bytes->size() - at);
      if (!got) {
        // Opening a blob never fails on its bytes: the caller's reads (or its check of the
        // size first) meet the problem, as they would on a blob too large to keep; the reader
        // starts a call afresh for them.
        return std::unique_ptr<content::BlobReader>(std::move(remote));
      }
      at += *got;
    }
    return HandOut(digest, std::move(bytes));
  }

  Result<std::unique_ptr<content::BlobWriter>> Writer(const std::string& ref) override {
    auto w = std::make_unique<RemoteBlobWriter>(conn_, store_, ref);
    HOIST_TRY(w->Negotiate());
    return std::unique_ptr<content::BlobWriter>(std::move(w));
  }

  Status Delete(const oci::Digest& digest) override {
    {
      std::lock_guard lock(mu_);
      sizes_.erase(digest);
      if (auto it = kept_.find(digest); it != kept_.end()) {
        conn_->ReturnKeptBytes(it->second->size());
        kept_.erase(it);
      }
    }
    grpc::ClientContext ctx;
    ctx.AddMetadata(kStoreIdKey, store_);
    cs::DeleteContentRequest req;
    req.set_digest(digest.str());
    google::protobuf::Empty resp;
    grpc::Status s = stub_->Delete(&ctx, req, &resp);
    if (!s.ok()) return Unexpected(FromGrpcStatus(s));
    return OkStatus();
  }

  Status Walk(const std::function<Status(const content::BlobInfo&)>&) override {
    return MakeError(Code::kUnimplemented, "listing a client's store is not supported");
  }

 private:
  // The blob `bytes` as a reader, kept for the session when they match the digest and the
  // budget allows. Bytes that do not match are handed on as they are, for the caller's
  // verification to refuse, and never kept.
  std::unique_ptr<content::BlobReader> HandOut(const oci::Digest& digest,
                                               std::shared_ptr<const std::string> bytes) {
    oci::Digester digester(digest);
    digester.Update(bytes->data(), bytes->size());
    if (digester.Finish() == digest) {
      std::lock_guard lock(mu_);
      if (!kept_.contains(digest) && conn_->TakeKeptBytes(bytes->size(), kKeptBytes)) {
        kept_.emplace(digest, bytes);
      }
    }
    return std::make_unique<KeptBlobReader>(std::move(bytes));
  }

  // One Read of the whole blob: its bytes when it has at most kKeptBlobMax, else a reader that
  // streams on from that call (with Info for its size). Null when the read failed otherwise
  // than on a missing blob: the caller goes the usual way, where its reads meet the problem.
  Result<std::unique_ptr<content::BlobReader>> OpenWhole(const oci::Digest& digest) {
    auto call = StartRead(*stub_, store_, digest, 0);
    std::string received;
    bool ended = false;
    for (cs::ReadContentResponse resp;;) {
      if (!call->reader->Read(&resp)) {
        ended = true;
        break;
      }
      if (resp.offset() != static_cast<int64_t>(received.size())) break;
      received.append(resp.data());
      if (received.size() > static_cast<size_t>(kKeptBlobMax)) break;
    }
    auto finish = [&call, ended] {
      if (!ended) call->context.TryCancel();
      for (cs::ReadContentResponse resp; call->reader->Read(&resp);) {
      }
      return call->reader->Finish();
    };
    if (!ended && received.size() > static_cast<size_t>(kKeptBlobMax)) {
      auto info = Info(digest);
      if (!info) {
        (void)finish();
        return Unexpected(std::move(info).error());
      }
      return std::unique_ptr<content::BlobReader>(std::make_unique<RemoteBlobReader>(
          conn_, store_, digest, info->size, std::move(call), std::move(received)));
    }
    grpc::Status st = finish();
    // A blob the client does not have (or a store it does not know) is said so once.
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) return Unexpected(FromGrpcStatus(st));
    if (!ended || !st.ok()) return std::unique_ptr<content::BlobReader>();
    {
      std::lock_guard lock(mu_);
      sizes_.emplace(digest, static_cast<int64_t>(received.size()));
    }
    return HandOut(digest, std::make_shared<const std::string>(std::move(received)));
  }

  std::shared_ptr<const RemoteConnection> conn_;
  std::string store_;
  std::unique_ptr<cs::Content::Stub> stub_;
  std::mutex mu_;
  std::map<oci::Digest, int64_t> sizes_;                             // guarded by mu_
  std::map<oci::Digest, std::shared_ptr<const std::string>> kept_;  // guarded by mu_
};

}  // namespace

std::shared_ptr<content::ContentStore> MakeRemoteContentStore(
    std::shared_ptr<const RemoteConnection> conn, std::string store) {
  return std::make_shared<RemoteContentStore>(std::move(conn), std::move(store));
}

Status ProbeRemoteStore(const RemoteConnection& conn, const std::string& store) {
  // Info on a blob no store holds: a store that exists says the blob is not found, an unknown
  // one says so about itself (BuildKit's client: "unknown store <id>: not found"). ListStatuses
  // would be cheaper but fails on stores without an ingest directory.
  auto stub = cs::Content::NewStub(conn.channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata(kStoreIdKey, store);
  cs::InfoRequest req;
  req.set_digest(oci::Digest::Sha256Of("hoist store probe " + conn.info.id + " " + store).str());
  cs::InfoResponse resp;
  grpc::Status s = stub->Info(&ctx, req, &resp);
  if (s.ok()) return OkStatus();
  if (s.error_code() == grpc::StatusCode::NOT_FOUND &&
      s.error_message().rfind("unknown store", 0) != 0) {
    return OkStatus();
  }
  return Unexpected(FromGrpcStatus(s));
}

}  // namespace hoist::session::internal
