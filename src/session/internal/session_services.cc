#include "session/internal/session_services.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "api/content/content.grpc.pb.h"
#include "api/fsutil/wire.pb.h"
#include "api/health/health.grpc.pb.h"
#include "api/session/auth.grpc.pb.h"
#include "api/session/batch.grpc.pb.h"
#include "api/session/filesync.grpc.pb.h"
#include "api/session/secrets.grpc.pb.h"
#include "api/session/sshforward.grpc.pb.h"
#include "session/byte_pump.h"
#include "session/ssh_forward.h"
#include "session/internal/dir_receiver.h"
#include "session/internal/fsutil_send.h"
#include "session/internal/grpc_glue.h"
#include "session/internal/packet_stream.h"

namespace hoist::session::internal {
namespace {

namespace fs = moby::filesync::v1;
namespace cs = containerd::services::content::v1;
namespace sec = moby::buildkit::secrets::v1;
namespace hfs = ::hoist::filesync::v1;
namespace sshf = moby::sshforward::v1;
namespace health = grpc::health::v1;
using fsutil::types::Packet;

// Content.Read sends at most this much per message (containerd's server sends 1 MiB).
constexpr size_t kReadChunk = 1 << 20;

grpc::Status Grpc(const Error& e) { return ToGrpcStatus(e); }

grpc::Status Unimplemented(std::string_view what) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, std::string(what));
}

// Sends the local directory a DiffCopy call's metadata names, over `packets`.
grpc::Status ServeDiffCopy(ClientSession& session, const grpc::ServerContext& ctx,
                           PacketStream& packets) {
  auto dir = session.LocalDir(MetadataValue(ctx, kDirNameKey));
  if (!dir) return Grpc(dir.error());
  WalkOptions options;
  options.include_patterns = MetadataValues(ctx, kIncludePatternsKey);
  options.exclude_patterns = MetadataValues(ctx, kExcludePatternsKey);
  options.follow_paths = MetadataValues(ctx, kFollowPathsKey);
  auto st = SendTree(packets, **dir, options);
  if (!st) return Grpc(st.error());
  return grpc::Status::OK;
}

// Receives a tree over `packets` into the output directory `dir`.
grpc::Status ReceiveOutputDir(const std::string& dir, PacketStream& packets) {
  auto writer = ConfinedDirWriter::Open(dir);
  if (!writer) return Grpc(writer.error());
  auto st = ReceiveTree(packets, **writer);
  if (!st) return Grpc(st.error());
  return grpc::Status::OK;
}

// A call that comes after the client let its session go.
grpc::Status SessionEnded() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the client's session has ended");
}

class FileSyncService final : public fs::FileSync::Service {
 public:
  explicit FileSyncService(std::shared_ptr<SessionLender> lender) : lender_(std::move(lender)) {}

  grpc::Status DiffCopy(grpc::ServerContext* ctx,
                        grpc::ServerReaderWriter<Packet, Packet>* stream) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    GrpcPacketStream<grpc::ServerReaderWriter<Packet, Packet>, grpc::ServerContext> packets(stream,
                                                                                            ctx);
    return ServeDiffCopy(*lease, *ctx, packets);
  }

  grpc::Status TarStream(grpc::ServerContext*, grpc::ServerReaderWriter<Packet, Packet>*) override {
    return Unimplemented("file sync: tarstream is not supported, use diffcopy");
  }

 private:
  std::shared_ptr<SessionLender> lender_;
};

// The same, several packets per message (api/session/batch.proto).
class BatchedFileSyncService final : public hfs::BatchedFileSync::Service {
 public:
  explicit BatchedFileSyncService(std::shared_ptr<SessionLender> lender)
      : lender_(std::move(lender)) {}

  grpc::Status DiffCopy(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<hfs::PacketBatch, hfs::PacketBatch>* stream) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    BatchedPacketStream<grpc::ServerReaderWriter<hfs::PacketBatch, hfs::PacketBatch>,
                        grpc::ServerContext, hfs::PacketBatch>
        packets(stream, ctx);
    return ServeDiffCopy(*lease, *ctx, packets);
  }

 private:
  std::shared_ptr<SessionLender> lender_;
};

// An output directory's DiffCopy, batched (api/session/batch.proto).
class BatchedFileSendService final : public hfs::BatchedFileSend::Service {
 public:
  explicit BatchedFileSendService(std::shared_ptr<SessionLender> lender)
      : lender_(std::move(lender)) {}

  grpc::Status DiffCopy(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<hfs::PacketBatch, hfs::PacketBatch>* stream) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    const std::string dir = lease->output_dir();
    if (dir.empty()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "the client attached no output directory");
    }
    // The receiver reads and writes from this thread alone.
    BatchedPacketStream<grpc::ServerReaderWriter<hfs::PacketBatch, hfs::PacketBatch>,
                        grpc::ServerContext, hfs::PacketBatch>
        packets(stream, ctx, /*one_thread=*/true);
    return ReceiveOutputDir(dir, packets);
  }

 private:
  std::shared_ptr<SessionLender> lender_;
};

class FileSendService final : public fs::FileSend::Service {
 public:
  explicit FileSendService(std::shared_ptr<SessionLender> lender) : lender_(std::move(lender)) {}

  grpc::Status DiffCopy(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<fs::BytesMessage, fs::BytesMessage>* stream) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    const std::string dir = lease->output_dir();
    const std::string kind = MetadataValue(*ctx, kOutputKindKey);
    if (kind == "dir" && dir.empty()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "the client attached no output directory");
    }
    if (kind == "file" && !dir.empty()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "the client attached no output file");
    }
    if (!dir.empty()) return ReceiveDir(ctx, stream, dir);
    std::map<std::string, std::string> metadata;
    const std::string prefix = kExporterMetaPrefix;
    for (const auto& [k, v] : ctx->client_metadata()) {
      std::string_view key(k.data(), k.size());
      if (key.substr(0, prefix.size()) == prefix) {
        std::string& value = metadata[std::string(key.substr(prefix.size()))];
        if (!value.empty()) value += ",";
        value.append(v.data(), v.size());
      }
    }
    const bool marked = kind == "file";
    auto file = lease->OpenOutputTar(metadata);
    if (!file) return Grpc(file.error());
    fs::BytesMessage m;
    bool ended = false;  // the last message was the end marker
    while (stream->Read(&m)) {
      if (!m.GetReflection()->GetUnknownFields(m).empty()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "output: the engine sent a directory where a file was expected");
      }
      ended = m.data().empty();
      if (auto st = (*file)->Write(m.data()); !st) return Grpc(st.error());
    }
    // A whole file ends with the engine closing its side (after the end marker, when it said it
    // sends one); a cancelled call leaves nothing.
    if ((marked && !ended) || ctx->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the output file transfer was cancelled");
    }
    if (auto st = (*file)->Commit(); !st) return Grpc(st.error());
    return grpc::Status::OK;
  }

 private:
  grpc::Status ReceiveDir(grpc::ServerContext* ctx,
                          grpc::ServerReaderWriter<fs::BytesMessage, fs::BytesMessage>* stream,
                          const std::string& dir) {
    GrpcBytesPacketStream<grpc::ServerReaderWriter<fs::BytesMessage, fs::BytesMessage>,
                          grpc::ServerContext, fs::BytesMessage>
        packets(stream, ctx);
    return ReceiveOutputDir(dir, packets);
  }

  std::shared_ptr<SessionLender> lender_;
};

void SetNow(google::protobuf::Timestamp* t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  t->set_seconds(ns / 1000000000);
  t->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

class ContentService final : public cs::Content::Service {
 public:
  explicit ContentService(std::shared_ptr<SessionLender> lender) : lender_(std::move(lender)) {}

  grpc::Status Info(grpc::ServerContext* ctx, const cs::InfoRequest* req,
                    cs::InfoResponse* resp) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    auto store = Choose(*lease, *ctx);
    if (!store) return Grpc(store.error());
    auto digest = ParseDigest(req->digest());
    if (!digest) return Grpc(digest.error());
    auto info = (*store)->Info(*digest);
    if (!info) return Grpc(info.error());
    resp->mutable_info()->set_digest(info->digest.str());
    resp->mutable_info()->set_size(info->size);
    return grpc::Status::OK;
  }

  grpc::Status Read(grpc::ServerContext* ctx, const cs::ReadContentRequest* req,
                    grpc::ServerWriter<cs::ReadContentResponse>* writer) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    auto store = Choose(*lease, *ctx);
    if (!store) return Grpc(store.error());
    auto digest = ParseDigest(req->digest());
    if (!digest) return Grpc(digest.error());
    auto reader = (*store)->ReaderAt(*digest);
    if (!reader) return Grpc(reader.error());
    const int64_t total = (*reader)->Size();
    int64_t offset = std::max<int64_t>(req->offset(), 0);
    if (offset > total) {
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                          "read past object length " + std::to_string(total) + " bytes");
    }
    int64_t end = req->size() <= 0 || req->size() > total - offset ? total : offset + req->size();
    cs::ReadContentResponse resp;
    std::string* buf = resp.mutable_data();
    while (offset < end) {
      if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "read cancelled");
      size_t want = static_cast<size_t>(std::min<int64_t>(end - offset, kReadChunk));
      buf->resize(want);
      auto n = (*reader)->ReadAt(offset, buf->data(), want);
      if (!n) return Grpc(n.error());
      if (*n == 0) {
        return grpc::Status(grpc::StatusCode::DATA_LOSS,
                            "content " + digest->str() + ": shorter than its size");
      }
      buf->resize(*n);
      resp.set_offset(offset);
      if (!writer->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "read cancelled");
      offset += static_cast<int64_t>(*n);
    }
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext* ctx, const cs::StatusRequest* req,
                      cs::StatusResponse*) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    auto store = Choose(*lease, *ctx);
    if (!store) return Grpc(store.error());
    // Writes happen within one Write call here; none is ever left to resume.
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "could not get status for ref \"" + req->ref() + "\": not found");
  }

  grpc::Status ListStatuses(grpc::ServerContext* ctx, const cs::ListStatusesRequest*,
                            cs::ListStatusesResponse*) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    auto store = Choose(*lease, *ctx);
    if (!store) return Grpc(store.error());
    return grpc::Status::OK;
  }

  grpc::Status Abort(grpc::ServerContext* ctx, const cs::AbortRequest*,
                     google::protobuf::Empty*) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    auto store = Choose(*lease, *ctx);
    if (!store) return Grpc(store.error());
    // A writer that was not committed discarded its data when its call ended.
    return grpc::Status::OK;
  }

  grpc::Status Write(grpc::ServerContext* ctx,
                     grpc::ServerReaderWriter<cs::WriteContentResponse, cs::WriteContentRequest>*
                         stream) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    auto store = Choose(*lease, *ctx, /*writing=*/true);
    if (!store) return Grpc(store.error());
    cs::WriteContentRequest req;
    if (!stream->Read(&req)) return grpc::Status::OK;
    if (req.ref().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "first message must have a reference");
    }
    const std::string ref = req.ref();
    auto writer = (*store)->Writer(ref);
    if (!writer) return Grpc(writer.error());
    int64_t total = 0;
    oci::Digest expected;
    cs::WriteContentResponse msg;
    SetNow(msg.mutable_started_at());
    for (;;) {
      msg.set_action(req.action());
      msg.set_offset((*writer)->Offset());
      msg.clear_digest();
      SetNow(msg.mutable_updated_at());
      if (!req.expected().empty()) {
        auto d = ParseDigest(req.expected());
        if (!d) return Grpc(d.error());
        expected = *d;
        if ((*store)->Info(expected)) {
          return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                              "blob with expected digest " + expected.str() + " exists");
        }
      }
      if (req.total() > 0) total = req.total();
      msg.set_total(total);
      if (req.action() == cs::WRITE || req.action() == cs::COMMIT) {
        if (req.offset() > 0 && req.offset() != (*writer)->Offset()) {
          return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                              "write @" + std::to_string(req.offset()) +
                                  " must occur at current offset " +
                                  std::to_string((*writer)->Offset()));
        }
        if (req.offset() == 0 && (*writer)->Offset() > 0) {
          // Starting over: the old ingest is discarded with its writer.
          writer->reset();
          writer = (*store)->Writer(ref);
          if (!writer) return Grpc(writer.error());
          msg.set_offset(0);
        }
        if (!req.data().empty()) {
          if (auto st = (*writer)->Write(req.data()); !st) return Grpc(st.error());
          msg.set_offset((*writer)->Offset());
        }
        if (req.action() == cs::COMMIT) {
          auto st = (*writer)->Commit(total > 0 ? total : -1, expected);
          if (!st) return Grpc(st.error());
          msg.set_digest((*writer)->Digest().str());
        }
      }
      if (!stream->Write(msg)) return grpc::Status(grpc::StatusCode::CANCELLED, "write cancelled");
      if (req.action() == cs::COMMIT) return grpc::Status::OK;
      if (!stream->Read(&req)) return grpc::Status::OK;
    }
  }

  grpc::Status Update(grpc::ServerContext*, const cs::UpdateRequest*,
                      cs::UpdateResponse*) override {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "the client's stores keep no labels the engine may change");
  }

  grpc::Status Delete(grpc::ServerContext* ctx, const cs::DeleteContentRequest* req,
                      google::protobuf::Empty*) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    auto store = Choose(*lease, *ctx);
    if (!store) return Grpc(store.error());
    auto digest = ParseDigest(req->digest());
    if (!digest) return Grpc(digest.error());
    auto st = (*store)->Delete(*digest);
    if (!st) return Grpc(st.error());
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* ctx, const cs::ListContentRequest*,
                    grpc::ServerWriter<cs::ListContentResponse>*) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    auto store = Choose(*lease, *ctx);
    if (!store) return Grpc(store.error());
    auto st = (*store)->Walk([](const content::BlobInfo&) -> hoist::Status { return {}; });
    if (!st) return Grpc(st.error());
    return grpc::Status::OK;
  }

 private:
  // The store the call names. `writing`: the call writes (a cache's store differs then).
  Result<std::shared_ptr<content::ContentStore>> Choose(ClientSession& session,
                                                        const grpc::ServerContext& ctx,
                                                        bool writing = false) {
    auto ids = MetadataValues(ctx, kStoreIdKey);
    if (ids.empty()) {
      return MakeError(Code::kInvalidArgument,
                       std::string("request lacks metadata \"") + kStoreIdKey + "\"");
    }
    const std::string& id = ids.front();
    const std::string_view prefix = kOciStorePrefix;
    if (id.compare(0, prefix.size(), prefix) == 0)
      return session.OciStore(id.substr(prefix.size()));
    if (id == kExportStoreId) {
      auto s = session.OutputStore();
      if (!s) return MakeError(Code::kNotFound, "unknown store export");
      return s;
    }
    const std::string_view cache_prefix = kCacheStorePrefix;
    if (id.compare(0, cache_prefix.size(), cache_prefix) == 0) {
      auto s = session.CacheStore(std::string_view(id).substr(cache_prefix.size()), writing);
      // BuildKit's words for a store the client does not have, which the engine recognises.
      if (!s && s.error().code() == Code::kNotFound) {
        return MakeError(Code::kNotFound, "unknown store " + id);
      }
      return s;
    }
    return MakeError(Code::kNotFound, "unknown store " + id);
  }

  static Result<oci::Digest> ParseDigest(const std::string& s) {
    auto d = oci::Digest::Parse(s);
    if (!d) return MakeError(Code::kInvalidArgument, "\"" + s + "\" failed validation");
    return d;
  }

  std::shared_ptr<SessionLender> lender_;
};

class SecretsService final : public sec::Secrets::Service {
 public:
  explicit SecretsService(std::shared_ptr<SessionLender> lender) : lender_(std::move(lender)) {}

  grpc::Status GetSecret(grpc::ServerContext*, const sec::GetSecretRequest* req,
                         sec::GetSecretResponse* resp) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    auto data = lease->Secret(req->id());
    if (!data) return Grpc(data.error());
    resp->set_data(std::move(*data));
    return grpc::Status::OK;
  }

 private:
  std::shared_ptr<SessionLender> lender_;
};

// SSH agent forwarding (moby.sshforward.v1.SSH): each ForwardAgent call is one connection to
// the agent the call's metadata names, relayed read-only.
class SSHService final : public sshf::SSH::Service {
 public:
  explicit SSHService(std::shared_ptr<SessionLender> lender) : lender_(std::move(lender)) {}

  grpc::Status CheckAgent(grpc::ServerContext*, const sshf::CheckAgentRequest* req,
                          sshf::CheckAgentResponse*) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    const std::string id = req->id().empty() ? std::string(kDefaultSSHID) : req->id();
    if (Status st = lease->CheckSSH(id); !st) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, st.error().message());
    }
    return grpc::Status::OK;
  }

  grpc::Status ForwardAgent(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<sshf::BytesMessage, sshf::BytesMessage>* stream) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    std::string id(kDefaultSSHID);
    const auto& md = ctx->client_metadata();
    if (auto it = md.find(grpc::string_ref(kSSHIDMetadataKey.data(), kSSHIDMetadataKey.size()));
        it != md.end() && it->second.size() > 0) {
      id.assign(it->second.data(), it->second.size());
    }
    auto conn = lease->ForwardSSH(id);
    if (!conn) return grpc::Status(grpc::StatusCode::NOT_FOUND, conn.error().message());
    GrpcBytesStream<sshf::BytesMessage,
                    grpc::ServerReaderWriter<sshf::BytesMessage, sshf::BytesMessage>>
        adapter(stream);
    (void)PumpBytes(std::move(*conn), adapter);
    return grpc::Status::OK;
  }

 private:
  std::shared_ptr<SessionLender> lender_;
};

// Only Credentials: the token-authority methods and FetchToken answer Unimplemented (the base
// class does), which BuildKit's daemon takes as "ask Credentials and fetch tokens yourself".
// (AuthService follows the SSH forwarding service below.)
class AuthService final : public fs::Auth::Service {
 public:
  explicit AuthService(std::shared_ptr<SessionLender> lender) : lender_(std::move(lender)) {}

  grpc::Status Credentials(grpc::ServerContext*, const fs::CredentialsRequest* req,
                           fs::CredentialsResponse* resp) override {
    auto lease = lender_->Borrow();
    if (!lease) return SessionEnded();
    auto creds = lease->Credentials(req->host());
    if (!creds) return Grpc(creds.error());
    // None: an empty answer, as BuildKit's client gives.
    if (*creds) {
      resp->set_username(std::move((*creds)->username));
      resp->set_secret(std::move((*creds)->secret));
    }
    return grpc::Status::OK;
  }

 private:
  std::shared_ptr<SessionLender> lender_;
};

class HealthService final : public health::Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext*, const health::HealthCheckRequest*,
                     health::HealthCheckResponse* resp) override {
    resp->set_status(health::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }

  grpc::Status Watch(grpc::ServerContext* ctx, const health::HealthCheckRequest*,
                     grpc::ServerWriter<health::HealthCheckResponse>* writer) override {
    health::HealthCheckResponse resp;
    resp.set_status(health::HealthCheckResponse::SERVING);
    if (!writer->Write(resp)) return grpc::Status::OK;
    // Nothing ever changes; hold the stream until the caller goes.
    while (!ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return grpc::Status::OK;
  }
};

void AddMethods(const char* service, std::vector<std::string>* out) {
  const auto* desc = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  if (desc == nullptr) return;
  for (int i = 0; i < desc->method_count(); ++i) {
    out->push_back("/" + desc->full_name() + "/" + desc->method(i)->name());
  }
}

}  // namespace

SessionLender::Lease::Lease(Lease&& o) noexcept
    : lender_(std::exchange(o.lender_, nullptr)), session_(std::exchange(o.session_, nullptr)) {}

SessionLender::Lease::~Lease() {
  if (lender_ == nullptr) return;
  std::lock_guard lock(lender_->mu_);
  if (--lender_->lent_ == 0) lender_->returned_.notify_all();
}

SessionLender::Lease SessionLender::Borrow() {
  std::lock_guard lock(mu_);
  if (!session_) return Lease(nullptr, nullptr);
  ++lent_;
  return Lease(this, session_.get());
}

bool SessionLender::TakeBack(std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  if (!returned_.wait_for(lock, wait, [&] { return lent_ == 0; })) return false;
  session_.reset();
  return true;
}

std::vector<std::unique_ptr<grpc::Service>> MakeSessionServices(
    std::shared_ptr<SessionLender> lender) {
  std::vector<std::unique_ptr<grpc::Service>> out;
  out.push_back(std::make_unique<FileSyncService>(lender));
  out.push_back(std::make_unique<BatchedFileSyncService>(lender));
  out.push_back(std::make_unique<BatchedFileSendService>(lender));
  out.push_back(std::make_unique<FileSendService>(lender));
  out.push_back(std::make_unique<ContentService>(lender));
  out.push_back(std::make_unique<SecretsService>(lender));
  out.push_back(std::make_unique<AuthService>(lender));
  out.push_back(std::make_unique<SSHService>(lender));
  out.push_back(std::make_unique<HealthService>());
  return out;
}

std::vector<std::string> ExposedMethods(const ClientSession& session) {
  std::vector<std::string> out;
  AddMethods(health::Health::service_full_name(), &out);
  if (session.HasLocalDirs()) {
    AddMethods(fs::FileSync::service_full_name(), &out);
    AddMethods(hfs::BatchedFileSync::service_full_name(), &out);
  }
  if (session.HasOutputFileOrDir()) AddMethods(fs::FileSend::service_full_name(), &out);
  if (!session.output_dir().empty()) AddMethods(hfs::BatchedFileSend::service_full_name(), &out);
  if (!session.StoreIds().empty() || session.output_layout() != nullptr ||
      session.HasCacheStores()) {
    AddMethods(cs::Content::service_full_name(), &out);
  }
  if (session.HasSecrets()) AddMethods(sec::Secrets::service_full_name(), &out);
  if (session.HasSSH()) AddMethods(sshf::SSH::service_full_name(), &out);
  if (session.HasRegistryCredentials()) out.push_back(kAuthCredentials);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace hoist::session::internal
