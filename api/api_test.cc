// Guards the wire contract of the Control API and gRPC health protos: method names and
// streaming kinds, and field numbers as BuildKit v0.11.6 has them. A failure here means an
// edit of api/ would stop buildctl (or buildkitd) from understanding hoist.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/control/control.pb.h"
#include "api/health/health.pb.h"
#include "api/types/worker.pb.h"

namespace hoist::api {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

enum class Streaming { kUnary, kServer, kClient, kBidi };

struct MethodCase {
  std::string full_name;
  std::string input;
  std::string output;
  Streaming streaming;
};

// `anchor` is a message of the service's file: naming one makes the linker keep that file's
// descriptors, which a static library would otherwise drop from this binary.
void ExpectService(const Descriptor* anchor, const std::string& service,
                   const std::vector<MethodCase>& methods) {
  ASSERT_NE(anchor, nullptr);
  const ServiceDescriptor* sd = DescriptorPool::generated_pool()->FindServiceByName(service);
  ASSERT_NE(sd, nullptr) << service;
  EXPECT_EQ(sd->file(), anchor->file()) << service;
  EXPECT_EQ(sd->method_count(), static_cast<int>(methods.size())) << service;
  for (const MethodCase& c : methods) {
    SCOPED_TRACE(c.full_name);
    const MethodDescriptor* m = DescriptorPool::generated_pool()->FindMethodByName(c.full_name);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->service(), sd);
    EXPECT_EQ(m->input_type()->full_name(), c.input);
    EXPECT_EQ(m->output_type()->full_name(), c.output);
    Streaming got = m->client_streaming()
                        ? (m->server_streaming() ? Streaming::kBidi : Streaming::kClient)
                        : (m->server_streaming() ? Streaming::kServer : Streaming::kUnary);
    EXPECT_EQ(got, c.streaming);
  }
}

TEST(ApiControlTest, MethodsAndStreamingKinds) {
  const std::string p = "moby.buildkit.v1.";
  ExpectService(
      moby::buildkit::v1::SolveRequest::descriptor(), "moby.buildkit.v1.Control",
      {
          {p + "Control.DiskUsage", p + "DiskUsageRequest", p + "DiskUsageResponse",
           Streaming::kUnary},
          {p + "Control.Prune", p + "PruneRequest", p + "UsageRecord", Streaming::kServer},
          {p + "Control.Solve", p + "SolveRequest", p + "SolveResponse", Streaming::kUnary},
          {p + "Control.Status", p + "StatusRequest", p + "StatusResponse", Streaming::kServer},
          {p + "Control.Session", p + "BytesMessage", p + "BytesMessage", Streaming::kBidi},
          {p + "Control.ListWorkers", p + "ListWorkersRequest", p + "ListWorkersResponse",
           Streaming::kUnary},
          {p + "Control.Info", p + "InfoRequest", p + "InfoResponse", Streaming::kUnary},
          {p + "Control.ListenBuildHistory", p + "BuildHistoryRequest", p + "BuildHistoryEvent",
           Streaming::kServer},
          {p + "Control.UpdateBuildHistory", p + "UpdateBuildHistoryRequest",
           p + "UpdateBuildHistoryResponse", Streaming::kUnary},
      });
}

TEST(ApiHealthTest, MethodsAndStatuses) {
  const std::string p = "grpc.health.v1.";
  ExpectService(grpc::health::v1::HealthCheckRequest::descriptor(), "grpc.health.v1.Health",
                {
                    {p + "Health.Check", p + "HealthCheckRequest", p + "HealthCheckResponse",
                     Streaming::kUnary},
                    {p + "Health.Watch", p + "HealthCheckRequest", p + "HealthCheckResponse",
                     Streaming::kServer},
                });
  using grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(HealthCheckResponse::UNKNOWN, 0);
  EXPECT_EQ(HealthCheckResponse::SERVING, 1);
  EXPECT_EQ(HealthCheckResponse::NOT_SERVING, 2);
  EXPECT_EQ(HealthCheckResponse::SERVICE_UNKNOWN, 3);
}

const std::string kTimestamp = "google.protobuf.Timestamp";
const std::string kMap = "map";  // map<string, string>

// The message type a field holds (for a map, its values' type, or kMap for scalar values);
// empty for a scalar field.
std::string MessageTypeName(const FieldDescriptor* f) {
  if (f->type() != FieldDescriptor::TYPE_MESSAGE) return "";
  if (!f->is_map()) return f->message_type()->full_name();
  const Descriptor* value = f->message_type()->map_value()->message_type();
  return value != nullptr ? value->full_name() : kMap;
}

struct FieldCase {
  std::string name;
  int number;
  // As MessageTypeName gives it.
  std::string type = "";
};

// Checks that `message` has exactly `fields`: same names, numbers and message types, no others.
void ExpectFields(const std::string& message, const std::vector<FieldCase>& fields) {
  SCOPED_TRACE(message);
  const Descriptor* d = DescriptorPool::generated_pool()->FindMessageTypeByName(message);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->field_count(), static_cast<int>(fields.size()));
  for (const FieldCase& c : fields) {
    const FieldDescriptor* f = d->FindFieldByName(c.name);
    ASSERT_NE(f, nullptr) << c.name;
    EXPECT_EQ(f->number(), c.number) << c.name;
    EXPECT_EQ(MessageTypeName(f), c.type) << c.name;
  }
}

TEST(ApiControlTest, SolveFieldNumbers) {
  ExpectFields("moby.buildkit.v1.SolveRequest",
               {{"Ref", 1},
                {"Definition", 2, "pb.Definition"},
                {"Exporter", 3},
                {"ExporterAttrs", 4, kMap},
                {"Session", 5},
                {"Frontend", 6},
                {"FrontendAttrs", 7, kMap},
                {"Cache", 8, "moby.buildkit.v1.CacheOptions"},
                {"Entitlements", 9},
                {"FrontendInputs", 10, "pb.Definition"},
                {"Internal", 11},
                {"SourcePolicy", 12, "moby.buildkit.v1.sourcepolicy.Policy"}});
  ExpectFields("moby.buildkit.v1.CacheOptions",
               {{"ExportRefDeprecated", 1},
                {"ImportRefsDeprecated", 2},
                {"ExportAttrsDeprecated", 3, kMap},
                {"Exports", 4, "moby.buildkit.v1.CacheOptionsEntry"},
                {"Imports", 5, "moby.buildkit.v1.CacheOptionsEntry"}});
  ExpectFields("moby.buildkit.v1.CacheOptionsEntry", {{"Type", 1}, {"Attrs", 2, kMap}});
  ExpectFields("moby.buildkit.v1.SolveResponse", {{"ExporterResponse", 1, kMap}});
  ExpectFields("moby.buildkit.v1.sourcepolicy.Policy",
               {{"version", 1}, {"rules", 2, "moby.buildkit.v1.sourcepolicy.Rule"}});
}

TEST(ApiControlTest, StatusFieldNumbers) {
  ExpectFields("moby.buildkit.v1.StatusRequest", {{"Ref", 1}});
  ExpectFields("moby.buildkit.v1.StatusResponse",
               {{"vertexes", 1, "moby.buildkit.v1.Vertex"},
                {"statuses", 2, "moby.buildkit.v1.VertexStatus"},
                {"logs", 3, "moby.buildkit.v1.VertexLog"},
                {"warnings", 4, "moby.buildkit.v1.VertexWarning"}});
  ExpectFields("moby.buildkit.v1.Vertex", {{"digest", 1},
                                           {"inputs", 2},
                                           {"name", 3},
                                           {"cached", 4},
                                           {"started", 5, kTimestamp},
                                           {"completed", 6, kTimestamp},
                                           {"error", 7},
                                           {"progressGroup", 8, "pb.ProgressGroup"}});
  ExpectFields("moby.buildkit.v1.VertexStatus", {{"ID", 1},
                                                 {"vertex", 2},
                                                 {"name", 3},
                                                 {"current", 4},
                                                 {"total", 5},
                                                 {"timestamp", 6, kTimestamp},
                                                 {"started", 7, kTimestamp},
                                                 {"completed", 8, kTimestamp}});
  ExpectFields("moby.buildkit.v1.VertexLog",
               {{"vertex", 1}, {"timestamp", 2, kTimestamp}, {"stream", 3}, {"msg", 4}});
  ExpectFields("moby.buildkit.v1.VertexWarning", {{"vertex", 1},
                                                  {"level", 2},
                                                  {"short", 3},
                                                  {"detail", 4},
                                                  {"url", 5},
                                                  {"info", 6, "pb.SourceInfo"},
                                                  {"ranges", 7, "pb.Range"}});
  ExpectFields("moby.buildkit.v1.BytesMessage", {{"data", 1}});
}

TEST(ApiControlTest, CacheFieldNumbers) {
  ExpectFields("moby.buildkit.v1.DiskUsageRequest", {{"filter", 1}});
  ExpectFields("moby.buildkit.v1.DiskUsageResponse",
               {{"record", 1, "moby.buildkit.v1.UsageRecord"}});
  ExpectFields("moby.buildkit.v1.UsageRecord", {{"ID", 1},
                                                {"Mutable", 2},
                                                {"InUse", 3},
                                                {"Size", 4},
                                                {"Parent", 5},
                                                {"CreatedAt", 6, kTimestamp},
                                                {"LastUsedAt", 7, kTimestamp},
                                                {"UsageCount", 8},
                                                {"Description", 9},
                                                {"RecordType", 10},
                                                {"Shared", 11},
                                                {"Parents", 12}});
  ExpectFields("moby.buildkit.v1.PruneRequest",
               {{"filter", 1}, {"all", 2}, {"keepDuration", 3}, {"keepBytes", 4}});
}

TEST(ApiControlTest, WorkerAndInfoFieldNumbers) {
  ExpectFields("moby.buildkit.v1.ListWorkersRequest", {{"filter", 1}});
  ExpectFields("moby.buildkit.v1.ListWorkersResponse",
               {{"record", 1, "moby.buildkit.v1.types.WorkerRecord"}});
  ExpectFields("moby.buildkit.v1.types.WorkerRecord",
               {{"ID", 1},
                {"Labels", 2, kMap},
                {"platforms", 3, "pb.Platform"},
                {"GCPolicy", 4, "moby.buildkit.v1.types.GCPolicy"},
                {"BuildkitVersion", 5, "moby.buildkit.v1.types.BuildkitVersion"}});
  ExpectFields("moby.buildkit.v1.types.GCPolicy",
               {{"all", 1}, {"keepDuration", 2}, {"keepBytes", 3}, {"filters", 4}});
  ExpectFields("moby.buildkit.v1.types.BuildkitVersion",
               {{"package", 1}, {"version", 2}, {"revision", 3}});
  ExpectFields("moby.buildkit.v1.InfoRequest", {});
  ExpectFields("moby.buildkit.v1.InfoResponse",
               {{"buildkitVersion", 1, "moby.buildkit.v1.types.BuildkitVersion"}});
}

TEST(ApiControlTest, SolveRequestRoundTrip) {
  moby::buildkit::v1::SolveRequest req;
  req.set_ref("build-1");
  req.set_session("session-1");
  req.set_frontend("dockerfile.v0");
  (*req.mutable_frontendattrs())["filename"] = "Dockerfile";
  (*req.mutable_frontendattrs())["context:base"] = "oci-layout://store@sha256:abc";
  req.set_exporter("oci");
  (*req.mutable_exporterattrs())["name"] = "example.com/app:1";
  req.add_entitlements("network.host");
  auto* cache = req.mutable_cache();
  auto* exp = cache->add_exports();
  exp->set_type("registry");
  (*exp->mutable_attrs())["ref"] = "example.com/app:cache";
  (*exp->mutable_attrs())["mode"] = "max";
  cache->add_imports()->set_type("local");
  (*cache->mutable_imports(0)->mutable_attrs())["src"] = "/tmp/cache";
  req.mutable_definition()->add_def("op-bytes");
  (*req.mutable_frontendinputs())["context"].add_def("context-op");

  std::string wire;
  ASSERT_TRUE(req.SerializeToString(&wire));
  moby::buildkit::v1::SolveRequest got;
  ASSERT_TRUE(got.ParseFromString(wire));
  EXPECT_EQ(got.ref(), "build-1");
  EXPECT_EQ(got.session(), "session-1");
  EXPECT_EQ(got.frontend(), "dockerfile.v0");
  EXPECT_EQ(got.frontendattrs().size(), 2u);
  EXPECT_EQ(got.frontendattrs().at("context:base"), "oci-layout://store@sha256:abc");
  EXPECT_EQ(got.exporter(), "oci");
  EXPECT_EQ(got.exporterattrs().at("name"), "example.com/app:1");
  ASSERT_EQ(got.entitlements_size(), 1);
  EXPECT_EQ(got.entitlements(0), "network.host");
  ASSERT_EQ(got.cache().exports_size(), 1);
  EXPECT_EQ(got.cache().exports(0).type(), "registry");
  EXPECT_EQ(got.cache().exports(0).attrs().at("mode"), "max");
  ASSERT_EQ(got.cache().imports_size(), 1);
  EXPECT_EQ(got.cache().imports(0).attrs().at("src"), "/tmp/cache");
  EXPECT_EQ(got.definition().def(0), "op-bytes");
  EXPECT_EQ(got.frontendinputs().at("context").def(0), "context-op");
  // Map entries are not serialized in a fixed order, so equality is by value, not by bytes.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got, req));
}

// Spot-checks the bytes themselves: field 1 (Ref) as tag 0x0a and field 7 (FrontendAttrs) as
// tag 0x3a, as BuildKit's Go code encodes them.
TEST(ApiControlTest, SolveRequestWireTags) {
  moby::buildkit::v1::SolveRequest req;
  req.set_ref("r");
  (*req.mutable_frontendattrs())["k"] = "v";
  std::string wire;
  ASSERT_TRUE(req.SerializeToString(&wire));
  // 0a 01 'r' | 3a 06 (0a 01 'k' 12 01 'v')
  EXPECT_EQ(wire, std::string("\x0a\x01r\x3a\x06\x0a\x01k\x12\x01v", 11));
}

}  // namespace
}  // namespace hoist::api
