#include "solver/entitlements.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "api/llb/ops.pb.h"
#include "base/temp_dir.h"
#include "solver/scheduler.h"

namespace hoist::solver {
namespace {

std::string ExecBytes(pb::NetMode network, pb::SecurityMode security) {
  pb::Op op;
  pb::ExecOp* exec = op.mutable_exec();
  exec->mutable_meta()->add_args("true");
  pb::Mount* root = exec->add_mounts();
  root->set_dest("/");
  root->set_input(-1);
  exec->set_network(network);
  exec->set_security(security);
  std::string bytes;
  op.SerializeToString(&bytes);
  return bytes;
}

TEST(Entitlements, ParseAndNames) {
  EXPECT_EQ(*ParseEntitlement("network.host"), Entitlement::kNetworkHost);
  EXPECT_EQ(*ParseEntitlement("security.insecure"), Entitlement::kSecurityInsecure);
  auto bad = ParseEntitlement("security.unconfined");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.error().message(),
            "unknown entitlement \"security.unconfined\" (known: network.host, "
            "security.insecure)");
  auto set = EntitlementSet::Parse({"security.insecure", "network.host", "network.host"});
  ASSERT_TRUE(set);
  EXPECT_EQ(set->Names(), (std::vector<std::string>{"network.host", "security.insecure"}));
  EXPECT_TRUE(EntitlementSet().empty());
}

TEST(Entitlements, GrantNeedsTheEngineToAllow) {
  const EntitlementSet allowed{Entitlement::kNetworkHost};
  auto none = GrantEntitlements({}, allowed);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto host = GrantEntitlements({"network.host"}, allowed);
  ASSERT_TRUE(host);
  EXPECT_EQ(*host, allowed);
  auto refused = GrantEntitlements({"network.host", "security.insecure"}, allowed);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kPermissionDenied);
  EXPECT_EQ(refused.error().message().rfind(
                "granting entitlement security.insecure is not allowed by the build engine's "
                "configuration (start hoistd with --allow-insecure-entitlement "
                "security.insecure",
                0),
            0u)
      << refused.error().message();
  auto unknown = GrantEntitlements({"all"}, allowed);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), Code::kInvalidArgument);
}

TEST(Entitlements, ExecOpsNeedWhatTheyUse) {
  const std::string sandboxed = ExecBytes(pb::UNSET, pb::SANDBOX);
  const std::string none = ExecBytes(pb::NONE, pb::SANDBOX);
  const std::string host = ExecBytes(pb::HOST, pb::SANDBOX);
  const std::string insecure = ExecBytes(pb::UNSET, pb::INSECURE);
  EXPECT_TRUE(CheckEntitlements(sandboxed, "\"RUN true\"", {}));
  EXPECT_TRUE(CheckEntitlements(none, "\"RUN true\"", {}));
  auto h = CheckEntitlements(host, "\"[2/2] RUN --network=host true\"", {});
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code(), Code::kPermissionDenied);
  EXPECT_EQ(h.error().message(),
            "network.host is not allowed: \"[2/2] RUN --network=host true\" needs it; build with "
            "--allow network.host on an engine that allows it (hoistd "
            "--allow-insecure-entitlement network.host, or insecure-entitlements = "
            "[\"network.host\"] in the engine's configuration file)");
  auto i = CheckEntitlements(insecure, "\"RUN\"", {Entitlement::kNetworkHost});
  ASSERT_FALSE(i);
  EXPECT_EQ(i.error().message().rfind("security.insecure is not allowed: \"RUN\" needs it", 0), 0u);
  EXPECT_TRUE(CheckEntitlements(host, "x", {Entitlement::kNetworkHost}));
  EXPECT_TRUE(CheckEntitlements(insecure, "x", {Entitlement::kSecurityInsecure}));
  // Other ops need nothing; garbage is not an op.
  pb::Op source;
  source.mutable_source()->set_identifier("local://context");
  EXPECT_TRUE(CheckEntitlements(source.SerializeAsString(), "x", {}));
  EXPECT_EQ(CheckEntitlements("\xff\xff\xff", "x", {}).error().code(), Code::kInvalidArgument);
}

// Resolves no op: a solve that gets past loading fails here.
class NoOps final : public OpResolver, public ResultStore {
 public:
  Result<std::unique_ptr<Op>> Resolve(const oci::Digest&, std::string_view,
                                      const llb::OpMetadata&) override {
    resolved = true;
    return MakeError(Code::kUnimplemented, "no ops here");
  }
  Result<std::optional<ResultRef>> Load(const std::string&) override { return std::nullopt; }
  int64_t Size(const std::string&) override { return 0; }
  bool resolved = false;
};

TEST(Entitlements, TheSolverRefusesAGraphBeforeRunningAnything) {
  auto dir = TempDir::Create("entitlements-test");
  ASSERT_TRUE(dir);
  auto db = CacheDb::Open(std::filesystem::path(dir->path()) / "root");
  ASSERT_TRUE(db) << db.error().message();
  NoOps ops;
  Solver solver(&ops, &ops, db->get());
  llb::Definition def;
  def.def.push_back(ExecBytes(pb::HOST, pb::SANDBOX));
  const oci::Digest exec = oci::Digest::Sha256Of(def.def[0]);
  def.metadata[exec].description["llb.customname"] = "[1/1] RUN --network=host true";
  pb::Op head;
  head.add_inputs()->set_digest(exec.str());
  def.def.push_back(head.SerializeAsString());

  auto refused = solver.Solve(def, {}, CancelContext::Background());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kPermissionDenied);
  EXPECT_NE(refused.error().message().find("\"[1/1] RUN --network=host true\" needs it"),
            std::string::npos)
      << refused.error().message();
  EXPECT_FALSE(ops.resolved);

  auto granted = solver.Solve(def, {.entitlements = {Entitlement::kNetworkHost}},
                              CancelContext::Background());
  ASSERT_FALSE(granted);
  EXPECT_NE(granted.error().code(), Code::kPermissionDenied);
  EXPECT_TRUE(ops.resolved);
}

}  // namespace
}  // namespace hoist::solver
