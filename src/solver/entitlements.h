// Entitlements, as BuildKit has them: the privileges a build must be granted before its steps
// may use them. `network.host` lets an exec op use the host's network namespace (RUN
// --network=host); `security.insecure` lets it run without the sandbox (RUN
// --security=insecure: every capability, no seccomp filter, nothing masked).
//
// Two parties must agree, as with BuildKit: the engine allows an entitlement (hoistd
// --allow-insecure-entitlement, or `insecure-entitlements` in the engine's configuration
// file), and a build asks for it (`hoist build --allow`, buildctl --allow, the Solve request's
// `entitlements`). A build that asks for one the engine does not allow fails at once
// (GrantEntitlements); a graph with an op that needs one the build was not granted fails
// before anything runs (CheckEntitlements, called by the solver on the graph it loads).
//
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::solver {

enum class Entitlement : uint8_t { kNetworkHost = 1, kSecurityInsecure = 2 };

// "network.host", "security.insecure".
std::string_view EntitlementName(Entitlement e);
// kInvalidArgument `unknown entitlement "X" (known: network.host, security.insecure)`.
Result<Entitlement> ParseEntitlement(std::string_view name);

class EntitlementSet {
 public:
  EntitlementSet() = default;
  EntitlementSet(std::initializer_list<Entitlement> es) {
    for (Entitlement e : es) Add(e);
  }
  // Each name parsed with ParseEntitlement.
  static Result<EntitlementSet> Parse(const std::vector<std::string>& names);

  void Add(Entitlement e) { bits_ |= static_cast<uint8_t>(e); }
  bool Allows(Entitlement e) const { return (bits_ & static_cast<uint8_t>(e)) != 0; }
  bool empty() const { return bits_ == 0; }
  // The names, in a fixed order.
  std::vector<std::string> Names() const;

  bool operator==(const EntitlementSet&) const = default;

 private:
  uint8_t bits_ = 0;
};

// What a build that asks for `requested` is granted on an engine that allows `allowed` (BuildKit's
// entitlements.WhiteList): all of it, or kPermissionDenied `granting entitlement X is not
// allowed by the build engine's configuration (...)` for the first one the engine does not
// allow; kInvalidArgument for an unknown name.
Result<EntitlementSet> GrantEntitlements(const std::vector<std::string>& requested,
                                         const EntitlementSet& allowed);

// kPermissionDenied `X is not allowed: ...` when the exec op `op_bytes` (a pb.Op's wire bytes;
// other ops pass) needs an entitlement `granted` lacks; `vertex_name` names the step.
// kInvalidArgument for bytes that are not a pb.Op.
Status CheckEntitlements(std::string_view op_bytes, std::string_view vertex_name,
                         const EntitlementSet& granted);

}  // namespace hoist::solver
