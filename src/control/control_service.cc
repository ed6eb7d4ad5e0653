#include "control/control_service.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <fmt/format.h>
#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/grpcpp.h>

#include "api/control/control.grpc.pb.h"
#include "api/health/health.grpc.pb.h"
#include "control/gateway_builds.h"
#include "control/internal/service_util.h"
#include "base/log.h"
#include "oci/platform.h"
#include "session/byte_pump.h"
#include "session/remote_session.h"

namespace hoist::control {
namespace {

namespace pb = ::moby::buildkit::v1;
using internal::CallWatcher;
using internal::ToGrpc;

void SetTimeNs(int64_t ns, google::protobuf::Timestamp* out) {
  out->set_seconds(ns / 1000000000);
  out->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

void SetTime(progress::Time t, google::protobuf::Timestamp* out) {
  SetTimeNs(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(),
            out);
}

void ToProto(const progress::SolveStatus& s, pb::StatusResponse* out) {
  for (const progress::Vertex& v : s.vertexes) {
    pb::Vertex* p = out->add_vertexes();
    p->set_digest(v.digest);
    for (const std::string& i : v.inputs) p->add_inputs(i);
    p->set_name(v.name);
    p->set_cached(v.cached);
    if (v.started) SetTime(*v.started, p->mutable_started());
    if (v.completed) SetTime(*v.completed, p->mutable_completed());
    p->set_error(v.error);
  }
  for (const progress::VertexStatus& st : s.statuses) {
    pb::VertexStatus* p = out->add_statuses();
    p->set_id(st.id);
    p->set_vertex(st.vertex);
    p->set_name(st.name);
    p->set_current(st.current);
    p->set_total(st.total);
    SetTime(st.timestamp == progress::Time{} ? progress::Clock::now() : st.timestamp,
            p->mutable_timestamp());
    if (st.started) SetTime(*st.started, p->mutable_started());
    if (st.completed) SetTime(*st.completed, p->mutable_completed());
  }
  for (const progress::VertexLog& l : s.logs) {
    pb::VertexLog* p = out->add_logs();
    p->set_vertex(l.vertex);
    SetTime(l.timestamp == progress::Time{} ? progress::Clock::now() : l.timestamp,
            p->mutable_timestamp());
    p->set_stream(l.stream);
    p->set_msg(l.data);
  }
  for (const progress::VertexWarning& w : s.warnings) {
    pb::VertexWarning* p = out->add_warnings();
    p->set_vertex(w.vertex);
    p->set_level(w.level);
    p->set_short_(w.short_message);
    for (const std::string& d : w.detail) p->add_detail(d);
    p->set_url(w.url);
  }
}

std::vector<TypedAttrs> Entries(const google::protobuf::RepeatedPtrField<pb::CacheOptionsEntry>& in) {
  std::vector<TypedAttrs> out;
  for (const pb::CacheOptionsEntry& e : in) {
    out.push_back({.type = e.type(), .attrs = Attrs(e.attrs().begin(), e.attrs().end())});
  }
  return out;
}

class ControlServiceImpl final : public pb::Control::Service {
 public:
  explicit ControlServiceImpl(ServiceOptions o) : o_(std::move(o)) {}

  grpc::Status Solve(grpc::ServerContext* ctx, const pb::SolveRequest* req,
                     pb::SolveResponse* resp) override {
    SolveRequest r;
    r.ref = req->ref();
    r.frontend = req->frontend();
    r.frontend_attrs = Attrs(req->frontendattrs().begin(), req->frontendattrs().end());
    if (!req->exporter().empty()) {
      r.exporters.push_back(
          {.type = req->exporter(),
           .attrs = Attrs(req->exporterattrs().begin(), req->exporterattrs().end())});
    }
    r.cache_exports = Entries(req->cache().exports());
    r.cache_imports = Entries(req->cache().imports());
    r.session_id = req->session();
    r.entitlements.assign(req->entitlements().begin(), req->entitlements().end());
    if (req->has_definition() && req->definition().def_size() > 0) {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          "solving an LLB definition sent by the client is not supported; use "
                          "the dockerfile.v0 frontend");
    }
    if (r.ref.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no build ref");
    auto progress = o_.progress->Open(r.ref);
    if (!progress) return ToGrpc(progress.error());
    if (r.frontend.empty()) {
      Result<SolveResponse> result = SolveThroughGateway(ctx, r, progress->get());
      (*progress)->Close();
      if (!result) return ToGrpc(result.error());
      for (const auto& [k, v] : result->exporter_response) (*resp->mutable_exporterresponse())[k] = v;
      return grpc::Status::OK;
    }
    auto inputs = internal::FrontendInputs(req->frontendinputs());
    if (!inputs) {
      (*progress)->Close();
      return ToGrpc(inputs.error());
    }
    r.frontend_inputs = std::move(*inputs);
    auto cancel = CancelContext::Background();
    SolveFailure failure;
    Result<SolveResponse> result = [&] {
      CallWatcher watch(ctx, cancel, o_.shutdown);
      return o_.controller->Solve(r, progress->get(), cancel, &failure);
    }();
    (*progress)->Close();
    if (!result) {
      if (!failure.excerpt.empty()) ctx->AddTrailingMetadata("hoist-dockerfile-excerpt-bin", failure.excerpt);
      return ToGrpc(result.error());
    }
    for (const auto& [k, v] : result->exporter_response) (*resp->mutable_exporterresponse())[k] = v;
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext* ctx, const pb::StatusRequest* req,
                      grpc::ServerWriter<pb::StatusResponse>* writer) override {
    auto cancel = CancelContext::Background();
    CallWatcher watch(ctx, cancel, o_.shutdown);
    auto progress = o_.progress->Watch(req->ref(), std::chrono::minutes(5), cancel.get());
    if (!progress) return ToGrpc(progress.error());
    size_t next = 0;
    while (auto batch = (*progress)->Next(&next, std::chrono::milliseconds(100))) {
      if (!cancel->Check()) return grpc::Status(grpc::StatusCode::CANCELLED, "context canceled");
      if (batch->empty()) continue;
      pb::StatusResponse out;
      for (const progress::SolveStatus& s : *batch) ToProto(s, &out);
      if (!writer->Write(out)) return grpc::Status(grpc::StatusCode::CANCELLED, "context canceled");
    }
    return grpc::Status::OK;
  }

  grpc::Status Session(grpc::ServerContext* ctx,
                       grpc::ServerReaderWriter<pb::BytesMessage, pb::BytesMessage>* stream) override {
    std::vector<std::pair<std::string, std::string>> md;
    for (const auto& [k, v] : ctx->client_metadata()) {
      md.emplace_back(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
    auto info = session::ParseSessionMetadata(md);
    if (!info) return ToGrpc(info.error());
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "socketpair failed");
    }
    UniqueFd pump(fds[0]);
    // To end the pump when the client goes, whatever still holds the engine's end.
    UniqueFd pump_control(::fcntl(pump.get(), F_DUPFD_CLOEXEC, 0));
    const std::string id = info->id;
    auto remote = session::RemoteSession::Connect(std::move(*info), UniqueFd(fds[1]));
    if (!remote) return ToGrpc(remote.error());
    if (auto st = o_.controller->engine().sessions->Register(*remote); !st) return ToGrpc(st.error());
    HOIST_LOG(kDebug, "session {} attached", id);
    class Stream final : public session::MessageStream {
     public:
      Stream(grpc::ServerReaderWriter<pb::BytesMessage, pb::BytesMessage>* s, int control)
          : s_(s), control_(control) {}
      bool Read(std::string* data) override {
        pb::BytesMessage m;
        if (!s_->Read(&m)) {
          // The client is gone: builds using its session fail now rather than hang.
          ::shutdown(control_, SHUT_RDWR);
          return false;
        }
        *data = std::move(*m.mutable_data());
        return true;
      }
      bool Write(std::string_view data) override {
        pb::BytesMessage m;
        m.set_data(data.data(), data.size());
        return s_->Write(m);
      }
      void CloseWrite() override {}

     private:
      grpc::ServerReaderWriter<pb::BytesMessage, pb::BytesMessage>* s_;
      int control_;
    } adapter(stream, pump_control.get());
    (void)session::PumpBytes(std::move(pump), adapter);
    o_.controller->engine().sessions->Unregister(id);
    HOIST_LOG(kDebug, "session {} detached", id);
    return grpc::Status::OK;
  }

  grpc::Status ListWorkers(grpc::ServerContext*, const pb::ListWorkersRequest*,
                           pb::ListWorkersResponse* resp) override {
    internal::FillWorkerRecord(o_, resp->add_record());
    return grpc::Status::OK;
  }

  grpc::Status Info(grpc::ServerContext*, const pb::InfoRequest*, pb::InfoResponse* resp) override {
    SetVersion(resp->mutable_buildkitversion());
    return grpc::Status::OK;
  }

  grpc::Status DiskUsage(grpc::ServerContext*, const pb::DiskUsageRequest*,
                         pb::DiskUsageResponse* resp) override {
    auto records = o_.controller->DiskUsage();
    if (!records) return ToGrpc(records.error());
    for (const solver::CacheRecord& r : *records) ToUsage(r, resp->add_record());
    return grpc::Status::OK;
  }

  grpc::Status Prune(grpc::ServerContext*, const pb::PruneRequest* req,
                     grpc::ServerWriter<pb::UsageRecord>* writer) override {
    PruneRequest p{.all = req->all()};
    if (req->keepbytes() > 0) p.keep_storage = req->keepbytes();
    auto result = o_.controller->Prune(p);
    if (!result) return ToGrpc(result.error());
    for (const solver::CacheRecord& r : result->removed) {
      pb::UsageRecord u;
      ToUsage(r, &u);
      if (!writer->Write(u)) break;
    }
    return grpc::Status::OK;
  }

 private:
  // A build the client drives through the gateway: opened here, solved and returned by its
  // LLBBridge calls, exported here.
  Result<SolveResponse> SolveThroughGateway(grpc::ServerContext* ctx, const SolveRequest& r,
                                            progress::ProgressWriter* progress) {
    HOIST_TRY(ValidateSolveRequest(r));
    HOIST_ASSIGN_OR_RETURN(solver::EntitlementSet entitlements,
                           o_.controller->GrantEntitlements(r));
    auto no_prune = o_.controller->HoldOffPrune();
    auto cancel = CancelContext::Background();
    CallWatcher watch(ctx, cancel, o_.shutdown);
    Attrs attestations;
    for (const auto& [k, v] : r.frontend_attrs) {
      if (k.starts_with("attest:")) attestations.emplace(k, v);
    }
    auto build = std::make_shared<GatewayBuild>(r.session_id, r.cache_imports, entitlements,
                                                progress, cancel, std::move(attestations));
    HOIST_TRY(o_.gateway->Open(r.ref, build));
    Result<std::shared_ptr<BuildResult>> built = build->Wait();
    o_.gateway->Close(r.ref);
    if (!built) return Unexpected(std::move(built).error());
    return o_.controller->Export(r, **built, progress, cancel);
  }

  void SetVersion(::moby::buildkit::v1::types::BuildkitVersion* v) {
    v->set_package("hoist");
    v->set_version(o_.version);
  }

  static void ToUsage(const solver::CacheRecord& r, pb::UsageRecord* u) {
    u->set_id(r.cache_key);
    u->set_size(r.size);
    SetTimeNs(r.created_ns, u->mutable_createdat());
    if (r.last_used_ns > 0) SetTimeNs(r.last_used_ns, u->mutable_lastusedat());
    u->set_description(r.description);
    u->set_recordtype("regular");
  }

  ServiceOptions o_;
};

class HealthServiceImpl final : public ::grpc::health::v1::Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext*, const ::grpc::health::v1::HealthCheckRequest* req,
                     ::grpc::health::v1::HealthCheckResponse* resp) override {
    if (!Known(req->service())) return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
    resp->set_status(::grpc::health::v1::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
  grpc::Status Watch(grpc::ServerContext* ctx, const ::grpc::health::v1::HealthCheckRequest* req,
                     grpc::ServerWriter<::grpc::health::v1::HealthCheckResponse>* w) override {
    ::grpc::health::v1::HealthCheckResponse resp;
    resp.set_status(Known(req->service()) ? ::grpc::health::v1::HealthCheckResponse::SERVING
                                          : ::grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN);
    if (!w->Write(resp)) return grpc::Status::OK;
    while (!ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return grpc::Status::OK;
  }

 private:
  static bool Known(const std::string& s) { return s.empty() || s == "moby.buildkit.v1.Control"; }
};

}  // namespace

std::unique_ptr<grpc::Service> NewControlService(ServiceOptions options) {
  return std::make_unique<ControlServiceImpl>(std::move(options));
}

std::unique_ptr<grpc::Service> NewHealthService() { return std::make_unique<HealthServiceImpl>(); }

}  // namespace hoist::control
