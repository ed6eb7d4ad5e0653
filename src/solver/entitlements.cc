#include "solver/entitlements.h"

#include <fmt/format.h>

#include "api/llb/ops.pb.h"

namespace hoist::solver {
namespace {

constexpr Entitlement kAll[] = {Entitlement::kNetworkHost, Entitlement::kSecurityInsecure};

// How a build gets `e`: the client asks and the engine allows.
std::string HowToGrant(Entitlement e) {
  const std::string_view name = EntitlementName(e);
  return fmt::format("build with --allow {} on an engine that allows it (hoistd "
                     "--allow-insecure-entitlement {}, or insecure-entitlements = [\"{}\"] in "
                     "the engine's configuration file)",
                     name, name, name);
}

}  // namespace

std::string_view EntitlementName(Entitlement e) {
  switch (e) {
    case Entitlement::kNetworkHost:
      return "network.host";
    case Entitlement::kSecurityInsecure:
      return "security.insecure";
  }
  return "";
}

Result<Entitlement> ParseEntitlement(std::string_view name) {
  for (Entitlement e : kAll) {
    if (name == EntitlementName(e)) return e;
  }
  return MakeError(Code::kInvalidArgument,
                   fmt::format("unknown entitlement \"{}\" (known: network.host, "
                               "security.insecure)",
                               name));
}

Result<EntitlementSet> EntitlementSet::Parse(const std::vector<std::string>& names) {
  EntitlementSet set;
  for (const std::string& n : names) {
    HOIST_ASSIGN_OR_RETURN(Entitlement e, ParseEntitlement(n));
    set.Add(e);
  }
  return set;
}

std::vector<std::string> EntitlementSet::Names() const {
  std::vector<std::string> out;
  for (Entitlement e : kAll) {
    if (Allows(e)) out.emplace_back(EntitlementName(e));
  }
  return out;
}

Result<EntitlementSet> GrantEntitlements(const std::vector<std::string>& requested,
                                         const EntitlementSet& allowed) {
  EntitlementSet granted;
  for (const std::string& name : requested) {
    HOIST_ASSIGN_OR_RETURN(Entitlement e, ParseEntitlement(name));
    if (!allowed.Allows(e)) {
      return MakeError(Code::kPermissionDenied,
                       fmt::format("granting entitlement {} is not allowed by the build engine's "
                                   "configuration (start hoistd with "
                                   "--allow-insecure-entitlement {}, or list it in "
                                   "insecure-entitlements in the engine's configuration file)",
                                   name, name));
    }
    granted.Add(e);
  }
  return granted;
}

Status CheckEntitlements(std::string_view op_bytes, std::string_view vertex_name,
                         const EntitlementSet& granted) {
  pb::Op op;
  if (!op.ParseFromArray(op_bytes.data(), static_cast<int>(op_bytes.size()))) {
    return MakeError(Code::kInvalidArgument, "LLB op: not a valid pb.Op");
  }
  if (!op.has_exec()) return OkStatus();
  auto refuse = [&](Entitlement e) {
    return MakeError(Code::kPermissionDenied,
                     fmt::format("{} is not allowed: {} needs it; {}", EntitlementName(e),
                                 vertex_name, HowToGrant(e)));
  };
  if (op.exec().network() == pb::HOST && !granted.Allows(Entitlement::kNetworkHost)) {
    return refuse(Entitlement::kNetworkHost);
  }
  if (op.exec().security() == pb::INSECURE && !granted.Allows(Entitlement::kSecurityInsecure)) {
    return refuse(Entitlement::kSecurityInsecure);
  }
  return OkStatus();
}

}  // namespace hoist::solver
