// Platform: os/architecture/variant as in the OCI image index, with containerd's parsing and
// normalisation (`amd64` → `linux/amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`) and its
// "Only" matcher, which picks the best manifest of an index for a wanted platform.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::oci {

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
  std::string os_version;
  std::vector<std::string> os_features;

  friend bool operator==(const Platform&, const Platform&) = default;
};

// Parses `os[/arch[/variant]]` or `arch[/variant]` as containerd does and normalises.
// Errors name the specifier: `"linux/foo/bar/baz": unknown operating system or architecture`.
Result<Platform> ParsePlatform(std::string_view specifier);
// Normalises os, architecture and variant (lowercase, aliases, default variants).
Platform Normalize(Platform p);
// `os/arch[/variant]`, e.g. `linux/arm64/v8`. An empty platform formats as `unknown`.
std::string FormatPlatform(const Platform& p);
// The platform of the machine hoist runs on (linux/<arch>[/variant]).
Platform HostPlatform();

// containerd's platforms.Only: matches `want` exactly plus the platforms it can run, in
// preference order (amd64 v3 accepts v2, v1 then 386; arm64 accepts arm/v8 and lower; arm/v7
// accepts v6 and v5). Less() orders candidates best first.
class PlatformMatcher {
 public:
  static PlatformMatcher Only(const Platform& want);
  // containerd's OnlyStrict: no compatible fallbacks.
  static PlatformMatcher OnlyStrict(const Platform& want);

  bool Match(const Platform& p) const;
  // True when a should be preferred over b (both may or may not match).
  bool Less(const Platform& a, const Platform& b) const;
  const Platform& want() const { return want_; }

 private:
  Platform want_;
  std::vector<Platform> candidates_;  // in preference order, want_ first
};

}  // namespace hoist::oci
