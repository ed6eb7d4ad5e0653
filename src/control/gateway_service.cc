// The gateway API (moby.buildkit.v1.frontend.LLBBridge), as BuildKit v0.11's client.Build
// drives it: Ping, then Solve with the frontend, then Return. Each call names its build in the
// `buildkit-controlapi-buildid` metadata.
#include <set>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "api/gateway/gateway.grpc.pb.h"
#include "control/control_service.h"
#include "control/frontend_attrs.h"
#include "control/gateway_builds.h"
#include "control/internal/service_util.h"
#include "llb/caps.h"
#include "oci/image_config.h"
#include "oci/platform.h"

namespace hoist::control {
namespace {

namespace gw = ::moby::buildkit::v1::frontend;
using internal::CallWatcher;
using internal::ToGrpc;

constexpr char kBuildIdKey[] = "buildkit-controlapi-buildid";
// How long a gateway call waits for the Control.Solve that opens its build: the client sends
// both at once.
constexpr auto kOpenWait = std::chrono::seconds(10);

// The frontend API capabilities served: a solve with the built-in frontend whose result comes
// back as refs (one, or one per platform) and is returned with Return; warnings. A solve's
// result is always evaluated, so the evaluate flag is met too. With the refs go the
// definitions they were solved from (reference.output): buildx builds a bake target's
// `target:` context first and sends that definition back as a frontend input.
constexpr const char* kFrontendCaps[] = {
    "solve.base",
    "return",
    "returnmap",
    "proto.refarray",
    "importcaches",
    "gateway.solve.metadata",
    "gateway.solve.evaluate",
    "gateway.warnings",
    "reference.output",
};

// A ref as the client takes it back: its ID and the definition its result was solved from.
void SetRef(const std::string& id, const PlatformResult& r, gw::Ref* out) {
  out->set_id(id);
  if (!r.converted.definition.def.empty()) {
    (void)out->mutable_def()->ParseFromString(r.converted.definition.Serialize());
  }
}

class GatewayServiceImpl final : public gw::LLBBridge::Service {
 public:
  explicit GatewayServiceImpl(ServiceOptions o) : o_(std::move(o)) {}

  grpc::Status Ping(grpc::ServerContext* ctx, const gw::PingRequest*,
                    gw::PongResponse* resp) override {
    if (auto build = FindBuild(ctx); !build) return ToGrpc(build.error());
    for (const char* id : kFrontendCaps) {
      auto* c = resp->add_frontendapicaps();
      c->set_id(id);
      c->set_enabled(true);
    }
    for (std::string_view id : llb::ServedCaps()) {
      auto* c = resp->add_llbcaps();
      c->set_id(std::string(id));
      c->set_enabled(true);
    }
    internal::FillWorkerRecord(o_, resp->add_workers());
    return grpc::Status::OK;
  }

  grpc::Status Solve(grpc::ServerContext* ctx, const gw::SolveRequest* req,
                     gw::SolveResponse* resp) override {
    auto build = FindBuild(ctx);
    if (!build) return ToGrpc(build.error());
    if (req->has_definition() && req->definition().def_size() > 0) {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          "solving an LLB definition sent by the client is not supported; use "
                          "the dockerfile.v0 frontend");
    }
    if (req->frontend().empty()) {
      resp->mutable_result();  // nothing to solve: an empty result
      return grpc::Status::OK;
    }
    Attrs attrs(req->frontendopt().begin(), req->frontendopt().end());
    auto frontend_note = CheckFrontend(req->frontend(), attrs);
    if (!frontend_note) return ToGrpc(frontend_note.error());
    if (auto it = attrs.find("requestid"); it != attrs.end()) {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          fmt::format("frontend subrequest {} is not supported", it->second));
    }
    GatewayBuild& b = **build;
    for (const auto& [k, v] : b.attestations()) attrs.try_emplace(k, v);
    if (*frontend_note) WriteWarning(b.progress(), **frontend_note);
    auto inputs = internal::FrontendInputs(req->frontendinputs());
    if (!inputs) return ToGrpc(inputs.error());
    auto cancel = b.cancel()->Child();
    Result<std::shared_ptr<BuildResult>> built = [&] {
      CallWatcher watch(ctx, cancel, o_.shutdown);
      return o_.controller->Build(attrs, *inputs, b.session_id(), b.cache_imports(),
                                  b.entitlements(), b.progress(), cancel);
    }();
    if (!built) return ToGrpc(built.error());
    const std::vector<std::string> ids = b.AddResult(*built);
    const std::vector<PlatformResult>& results = (*built)->results;
    if (!req->allowresultreturn()) {
      if (ids.size() != 1) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "a result of several platforms needs a client that takes results "
                            "back (allowResultReturn)");
      }
      resp->set_ref(ids[0]);
      return grpc::Status::OK;
    }
    gw::Result* out = resp->mutable_result();
    if (ids.size() == 1) {
      if (req->allowresultarrayref()) {
        SetRef(ids[0], results[0], out->mutable_ref());
      } else {
        out->set_refdeprecated(ids[0]);
      }
      // The image config, as BuildKit's Dockerfile frontend returns it: a client that builds on
      // this result (a bake target's `target:` context) takes its environment from there.
      (*out->mutable_metadata())["containerimage.config"] =
          oci::SerializeImageConfig(results[0].converted.image);
      return grpc::Status::OK;
    }
    // One ref per platform, keyed by the platform, and the list in `refs.platforms` as the
    // Dockerfile frontend gives them.
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = 0; i < ids.size(); ++i) {
      const oci::Platform p = results[i].platform.value_or(oci::Normalize(oci::HostPlatform()));
      const std::string key = oci::FormatPlatform(p);
      nlohmann::json pj = {{"os", p.os}, {"architecture", p.architecture}};
      if (!p.variant.empty()) pj["variant"] = p.variant;
      list.push_back({{"id", key}, {"platform", pj}});
      if (req->allowresultarrayref()) {
        SetRef(ids[i], results[i], &(*out->mutable_refs()->mutable_refs())[key]);
      } else {
        (*out->mutable_refsdeprecated()->mutable_refs())[key] = ids[i];
      }
      (*out->mutable_metadata())["containerimage.config/" + key] =
          oci::SerializeImageConfig(results[i].converted.image);
    }
    (*out->mutable_metadata())["refs.platforms"] = nlohmann::json{{"platforms", list}}.dump();
    return grpc::Status::OK;
  }

  grpc::Status Return(grpc::ServerContext* ctx, const gw::ReturnRequest* req,
                      gw::ReturnResponse*) override {
    auto build = FindBuild(ctx);
    if (!build) return ToGrpc(build.error());
    if (req->has_error() && req->error().code() != 0) {
      const int code = req->error().code();
      const Code c = code > 0 && code <= 16 ? static_cast<Code>(code) : Code::kUnknown;
      auto st = (*build)->ReturnError(Error(c, req->error().message()));
      return st ? grpc::Status::OK : ToGrpc(st.error());
    }
    std::vector<std::string> ids;
    auto add = [&](const std::string& id) {
      if (!id.empty()) ids.push_back(id);
    };
    const gw::Result& r = req->result();
    switch (r.result_case()) {
      case gw::Result::kRefDeprecated:
        add(r.refdeprecated());
        break;
      case gw::Result::kRefsDeprecated:
        for (const auto& [_, id] : r.refsdeprecated().refs()) add(id);
        break;
      case gw::Result::kRef:
        add(r.ref().id());
        break;
      case gw::Result::kRefs:
        for (const auto& [_, ref] : r.refs().refs()) add(ref.id());
        break;
      case gw::Result::RESULT_NOT_SET:
        break;
    }
    auto st = (*build)->Return(ids);
    return st ? grpc::Status::OK : ToGrpc(st.error());
  }

  grpc::Status Warn(grpc::ServerContext* ctx, const gw::WarnRequest* req,
                    gw::WarnResponse*) override {
    auto build = FindBuild(ctx);
    if (!build) return ToGrpc(build.error());
    if (progress::ProgressWriter* p = (*build)->progress(); p != nullptr) {
      progress::VertexWarning w{.vertex = req->digest(),
                                .level = static_cast<int>(req->level()),
                                .short_message = req->short_(),
                                .url = req->url()};
      for (const std::string& d : req->detail()) w.detail.push_back(d);
      p->Write({.warnings = {std::move(w)}});
    }
    return grpc::Status::OK;
  }

 private:
  Result<std::shared_ptr<GatewayBuild>> FindBuild(grpc::ServerContext* ctx) {
    const auto& md = ctx->client_metadata();
    auto it = md.find(kBuildIdKey);
    if (it == md.end() || it->second.empty()) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("no build named: the call carries no {} metadata", kBuildIdKey));
    }
    return o_.gateway->Find(std::string(it->second.data(), it->second.size()), kOpenWait);
  }

  ServiceOptions o_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewGatewayService(ServiceOptions options) {
  return std::make_unique<GatewayServiceImpl>(std::move(options));
}

}  // namespace hoist::control
