// Platform: os/architecture/variant as in the OCI image index, with containerd's parsing and
// normalisation (`amd64` → `linux/amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`) and its
// "Only" matcher, which picks the best manifest of an index for a wanted platform.
//
// The behaviour follows github.com/containerd/platforms (Parse, Normalize, Format, FormatAll,
// NewMatcher, Only, OnlyStrict, OnlyOS, Ordered, Any), including the specifier form with OS
// options, `os(version+feature+feature)/arch/variant`, whose version and features are
// percent-encoded where they contain one of `% + ( ) /`.
//
// Thread-safety: values and pure functions; HostPlatform() caches its answer once.
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

// Parses `os[(version[+feature]...)][/arch[/variant]]` or `arch[/variant]` as containerd does
// and normalises. A lone word is an OS when it is a known one (the architecture is then the
// host's), else an architecture (the OS is then the host's). Errors (kInvalidArgument) name
// the specifier: `invalid platform "linux/arm/foo/bar": too many components ...`.
Result<Platform> ParsePlatform(std::string_view specifier);
// Parses each specifier; the first failure is returned.
Result<std::vector<Platform>> ParsePlatforms(const std::vector<std::string>& specifiers);

// Normalises os, architecture and variant (lowercase, aliases, the implied default variants:
// arm → v7, arm64 v8 → none, amd64 v1 → none) and sorts and dedupes os_features. An empty
// os becomes the host's, as in containerd.
Platform Normalize(Platform p);

// `os/arch[/variant]`, e.g. `linux/arm64/v8`; os_version and os_features are left out.
// A platform without an os formats as `unknown`.
std::string FormatPlatform(const Platform& p);
// Like FormatPlatform, with `(version+feature...)` after the os when either is set:
// `windows(10.0.17763+win32k)/amd64`. Features are sorted, deduplicated, empty ones dropped.
std::string FormatPlatformAll(const Platform& p);

// The platform of the machine hoist runs on: linux/<arch>[/<variant>], the variant only on
// ARM (read once from /proc/cpuinfo, as containerd does).
Platform HostPlatform();

// The ARM variant ("8", "7", ... "3" or "unknown") implied by a uname machine string such as
// `aarch64` or `armv7l`; kInvalidArgument when it names no ARM architecture.
Result<std::string> CpuVariantFromMachine(std::string_view machine);
// The ARM variant ("v8", "v7", ... "v3" or "unknown") of a host, from the text of its
// /proc/cpuinfo and, where that has no `CPU architecture` line, its uname machine string.
// `arm32` enables the Raspberry Pi ARMv6 quirk (the kernel reports 7 on those boards).
Result<std::string> CpuVariantFromCpuInfo(std::string_view cpuinfo, std::string_view machine,
                                          bool arm32);

// A platform matcher and preference order, as containerd's MatchComparer.
//
// Only(linux/amd64/v3) matches amd64 v3, v2, v1 then 386; Only(arm64/v8.x) matches arm64
// v8.x…v8 then arm v8…v5; Only(arm/v7) matches v7, v6 and v5. On Windows the os.version must
// be one the wanted host version can run (same major.minor; exact build before Windows Server
// 2022, the previous LTSC and later from then on). An os_features list of a candidate must be
// a subset of the wanted one's. Less() orders candidates best first; use it with a stable sort.
class PlatformMatcher {
 public:
  // containerd's NewMatcher: the normalised platform only. Less() prefers matches, and between
  // two matches the higher os_version (containerd's Windows comparer).
  static PlatformMatcher Exact(const Platform& want);
  // containerd's Only: `want` and the platforms it can run, in preference order.
  static PlatformMatcher Only(const Platform& want);
  // containerd's OnlyStrict: no compatible fallbacks (`arm64` still matches `arm64/v8`).
  static PlatformMatcher OnlyStrict(const Platform& want);
  // containerd's OnlyOS: the same os (version, features), any architecture; the exact
  // architecture is preferred.
  static PlatformMatcher OnlyOS(const Platform& want);
  // Any of `platforms`, preferred in the order given.
  static PlatformMatcher Ordered(std::vector<Platform> platforms);
  // Any of `platforms`, without preference (except for more os_features).
  static PlatformMatcher Any(std::vector<Platform> platforms);
  // Everything, without preference.
  static PlatformMatcher All();

  bool Match(const Platform& p) const;
  // True when a should be preferred over b (both may or may not match).
  bool Less(const Platform& a, const Platform& b) const;
  // The first wanted platform, normalised (for All(): empty).
  const Platform& want() const { return want_; }

 private:
  enum class Kind { kExact, kOrdered, kAny, kOnlyOS, kAll };
  // One platform as containerd's NewMatcher sees it.
  struct Candidate {
    Platform platform;      // normalised
    bool windows = false;   // the unnormalised os was "windows": check os_version, drop win32k
  };

  static Candidate MakeCandidate(const Platform& p);
  static bool MatchCandidate(const Candidate& c, const Platform& p);
  bool MatchOs(const Platform& p) const;
  bool LessOrdered(Platform a, Platform b) const;
  bool LessAny(Platform a, Platform b) const;

  Kind kind_ = Kind::kAll;
  Platform want_;
  std::vector<Candidate> candidates_;  // in preference order
};

}  // namespace hoist::oci
