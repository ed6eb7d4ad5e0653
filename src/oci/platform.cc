#include "oci/platform.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <sys/utsname.h>

namespace hoist::oci {
namespace {

// The Go names of the host, which containerd fills in for the missing half of a specifier.
constexpr std::string_view kHostOs = "linux";
#if defined(__x86_64__)
constexpr std::string_view kHostArch = "amd64";
#elif defined(__aarch64__)
constexpr std::string_view kHostArch = "arm64";
#elif defined(__arm__)
constexpr std::string_view kHostArch = "arm";
#elif defined(__i386__)
constexpr std::string_view kHostArch = "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr std::string_view kHostArch = "ppc64le";
#elif defined(__powerpc64__)
constexpr std::string_view kHostArch = "ppc64";
#elif defined(__s390x__)
constexpr std::string_view kHostArch = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
constexpr std::string_view kHostArch = "riscv64";
#elif defined(__loongarch64)
constexpr std::string_view kHostArch = "loong64";
#elif defined(__mips64) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr std::string_view kHostArch = "mips64le";
#elif defined(__mips64)
constexpr std::string_view kHostArch = "mips64";
#else
#error "unknown host architecture: add its Go GOARCH name here"
#endif

bool IsArmArch(std::string_view arch) { return arch == "arm" || arch == "arm64"; }

// Go's syslist, as containerd copies it.
bool IsKnownOs(std::string_view os) {
  static constexpr std::string_view kKnown[] = {
      "aix",   "android", "darwin",  "dragonfly", "freebsd", "hurd",  "illumos", "ios",  "js",
      "linux", "nacl",    "netbsd",  "openbsd",   "plan9",   "solaris", "windows", "zos"};
  return std::find(std::begin(kKnown), std::end(kKnown), os) != std::end(kKnown);
}

bool IsKnownArch(std::string_view arch) {
  static constexpr std::string_view kKnown[] = {
      "386",      "amd64",   "amd64p32", "arm",    "armbe",  "arm64",     "arm64be",
      "ppc64",    "ppc64le", "loong64",  "mips",   "mipsle", "mips64",    "mips64le",
      "mips64p32", "mips64p32le", "ppc",  "riscv",  "riscv64", "s390",    "s390x",
      "sparc",    "sparc64", "wasm"};
  return std::find(std::begin(kKnown), std::end(kKnown), arch) != std::end(kKnown);
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string NormalizeOs(std::string_view os) {
  if (os.empty()) return std::string(kHostOs);
  std::string out = ToLower(os);
  if (out == "macos") out = "darwin";
  return out;
}

// Maps architecture aliases to Go's names and fills in or drops the implied variants.
std::pair<std::string, std::string> NormalizeArch(std::string_view arch_in,
                                                  std::string_view variant_in) {
  std::string arch = ToLower(arch_in);
  std::string variant = ToLower(variant_in);
  if (arch == "i386") {
    arch = "386";
    variant.clear();
  } else if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
    arch = "amd64";
    if (variant == "v1") variant.clear();
  } else if (arch == "aarch64" || arch == "arm64") {
    arch = "arm64";
    if (variant == "8" || variant == "v8" || variant == "v8.0") {
      variant.clear();
    } else if (variant == "9" || variant == "9.0" || variant == "v9.0") {
      variant = "v9";
    }
  } else if (arch == "armhf") {
    arch = "arm";
    variant = "v7";
  } else if (arch == "armel") {
    arch = "arm";
    variant = "v6";
  } else if (arch == "arm") {
    if (variant.empty() || variant == "7") {
      variant = "v7";
    } else if (variant == "5" || variant == "6" || variant == "8") {
      variant = "v" + variant;
    }
  }
  return {std::move(arch), std::move(variant)};
}

const std::string& HostCpuVariant() {
  static const std::string variant = [] {
    if (!IsArmArch(kHostArch)) return std::string();
    std::ifstream in("/proc/cpuinfo");
    std::stringstream text;
    text << in.rdbuf();
    struct utsname uts {};
    std::string machine = uname(&uts) == 0 ? std::string(uts.machine) : std::string();
    Result<std::string> v = CpuVariantFromCpuInfo(text.str(), machine, kHostArch == "arm");
    // containerd logs the failure and goes on without a variant; there is no log here.
    return v ? *std::move(v) : std::string();
  }();
  return variant;
}

tl::unexpected<Error> PlatformError(std::string_view specifier, std::string_view reason) {
  return MakeError(Code::kInvalidArgument,
                   fmt::format("invalid platform \"{}\": {}", specifier, reason));
}

// --- the `os(version+feature)` option syntax ---

bool IsOsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}
bool IsOsOptionChar(char c) { return IsOsNameChar(c) || c == '.' || c == '%'; }
bool IsComponentChar(char c) { return IsOsNameChar(c) || c == '.'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Undoes the percent-encoding of an os version or feature; every `%` must start `%XX`.
Result<std::string> DecodeOsOption(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '%') {
      out += v[i];
      continue;
    }
    int hi = i + 1 < v.size() ? HexValue(v[i + 1]) : -1;
    int lo = i + 2 < v.size() ? HexValue(v[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("invalid escape \"{}\"", v.substr(i, std::min<size_t>(3, v.size() - i))));
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string EncodeOsOption(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  // containerd escapes `% + ( ) /`; any other byte the parser does not take as it is (a decoded
  // `%3B`, say) is escaped the same way, so that what is formatted always parses back.
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : v) {
    if (c != '%' && IsOsOptionChar(c)) {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

// The pieces of a first component `name[(version[+feature]...)]`, still encoded.
struct OsComponent {
  std::string_view name;
  std::string_view version;
  std::vector<std::string_view> features;
};

std::optional<OsComponent> ScanOsComponent(std::string_view s) {
  OsComponent out;
  size_t i = 0;
  while (i < s.size() && IsOsNameChar(s[i])) ++i;
  if (i == 0) return std::nullopt;
  out.name = s.substr(0, i);
  if (i == s.size()) return out;
  if (s[i] != '(' || s.back() != ')') return std::nullopt;
  std::string_view inner = s.substr(i + 1, s.size() - i - 2);
  size_t j = 0;
  while (j < inner.size() && IsOsOptionChar(inner[j])) ++j;
  out.version = inner.substr(0, j);
  while (j < inner.size()) {
    if (inner[j] != '+') return std::nullopt;
    size_t start = ++j;
    while (j < inner.size() && IsOsOptionChar(inner[j])) ++j;
    if (j == start) return std::nullopt;  // `++` or a trailing `+`: an empty feature
    out.features.push_back(inner.substr(start, j - start));
  }
  return out;
}

// "." and ".." are made of component characters but name nothing, and formatting (a path join,
// as containerd's) would drop or fold them: refused.
bool IsComponent(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && std::all_of(s.begin(), s.end(), IsComponentChar);
}

// Go's path.Join for the non-empty elements of a formatted platform, including its Clean.
std::string JoinPath(std::initializer_list<std::string_view> parts) {
  std::vector<std::string_view> out;
  bool rooted = false;
  bool any = false;
  for (std::string_view part : parts) {
    if (part.empty()) continue;
    if (!any) rooted = part.front() == '/';
    any = true;
    size_t start = 0;
    while (start <= part.size()) {
      size_t end = part.find('/', start);
      if (end == std::string_view::npos) end = part.size();
      std::string_view seg = part.substr(start, end - start);
      if (seg.empty() || seg == ".") {
        // dropped
      } else if (seg == "..") {
        if (!out.empty() && out.back() != "..") {
          out.pop_back();
        } else if (!rooted) {
          out.push_back(seg);
        }
      } else {
        out.push_back(seg);
      }
      start = end + 1;
    }
  }
  if (!any) return "";
  std::string joined = rooted ? "/" : "";
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) joined += '/';
    joined += out[i];
  }
  if (joined.empty()) return ".";
  return joined;
}

// --- Windows os.version compatibility ---

struct WindowsVersion {
  uint8_t major = 0;
  uint8_t minor = 0;
  uint16_t build = 0;
  bool empty() const { return major == 0 && minor == 0 && build == 0; }
};

// Windows builds: Server 2022 (the first LTSC with a stable container ABI) and Server 2025.
constexpr uint16_t kLtsc2022 = 20348;
constexpr uint16_t kCompatLtscReleases[] = {kLtsc2022, 26100};

template <typename T>
bool ParseDecimal(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// `major.minor.build[.revision...]`; anything unparsable is the empty version.
WindowsVersion ParseWindowsVersion(std::string_view v) {
  if (std::count(v.begin(), v.end(), '.') < 2) return {};
  size_t a = v.find('.');
  size_t b = v.find('.', a + 1);
  size_t c = v.find('.', b + 1);
  std::string_view major = v.substr(0, a);
  std::string_view minor = v.substr(a + 1, b - a - 1);
  std::string_view build = c == std::string_view::npos ? v.substr(b + 1) : v.substr(b + 1, c - b - 1);
  WindowsVersion out;
  if (!ParseDecimal(major, &out.major) || !ParseDecimal(minor, &out.minor) ||
      !ParseDecimal(build, &out.build)) {
    return {};
  }
  return out;
}

// Whether a host of version `host` can run a container image built for `ctr`.
bool WindowsHostCanRun(const WindowsVersion& host, const WindowsVersion& ctr) {
  if (host.major != ctr.major || host.minor != ctr.minor) return false;
  // Before the stable ABI, process isolation needs the very same build.
  if (host.build < kLtsc2022) return host.build == ctr.build;
  // From then on a host runs images from the last LTSC before it up to its own build.
  uint16_t oldest = kLtsc2022;
  for (auto it = std::rbegin(kCompatLtscReleases); it != std::rend(kCompatLtscReleases); ++it) {
    if (host.build > *it) {
      oldest = *it;
      break;
    }
  }
  return oldest <= ctr.build && ctr.build <= host.build;
}

bool WindowsVersionMatches(std::string_view host_version, std::string_view version) {
  WindowsVersion host = ParseWindowsVersion(host_version);
  if (host.empty() || version.empty()) return true;
  return WindowsHostCanRun(host, ParseWindowsVersion(version));
}

// Both lists sorted and deduplicated: whether every element of `sub` is in `super`.
bool IsSortedSubset(const std::vector<std::string>& sub, const std::vector<std::string>& super) {
  return std::includes(super.begin(), super.end(), sub.begin(), sub.end());
}

// --- Only's fallback lists ---

std::optional<int> VersionNumber(std::string_view variant) {
  if (variant.starts_with('v')) variant.remove_prefix(1);
  int n = 0;
  if (!ParseDecimal(variant, &n)) return std::nullopt;
  return n;
}

// arm64 variants: the (major, highest minor) pairs each one can run, best first. v9.x includes
// the v8 features up to v8.(x+5), capped at v8.9.
struct Arm64Span {
  int major;
  int minor;
};
std::vector<Arm64Span> Arm64Spans(std::string_view variant) {
  if (variant == "v8" || variant == "v8.0") return {{8, 0}};
  if (variant.size() == 4 && variant.starts_with("v8.") && variant[3] >= '1' && variant[3] <= '9') {
    return {{8, variant[3] - '0'}};
  }
  if (variant == "v9" || variant == "v9.0") return {{9, 0}, {8, 5}};
  if (variant.size() == 4 && variant.starts_with("v9.") && variant[3] >= '1' && variant[3] <= '7') {
    int minor = variant[3] - '0';
    return {{9, minor}, {8, std::min(minor + 5, 9)}};
  }
  return {};
}

Platform WithArchVariant(const Platform& base, std::string arch, std::string variant) {
  Platform p;
  p.os = base.os;
  p.os_version = base.os_version;
  p.os_features = base.os_features;
  p.architecture = std::move(arch);
  p.variant = std::move(variant);
  return p;
}

// The platforms a normalised platform can run, best first (containerd's platformVector).
std::vector<Platform> CompatibleSet(const Platform& p) {
  std::vector<Platform> out = {p};
  if (p.architecture == "amd64") {
    if (std::optional<int> v = VersionNumber(p.variant); v && *v > 1) {
      for (int n = *v - 1; n >= 1; --n) out.push_back(WithArchVariant(p, "amd64", fmt::format("v{}", n)));
    }
    out.push_back(WithArchVariant(p, "386", ""));
  } else if (p.architecture == "arm") {
    if (std::optional<int> v = VersionNumber(p.variant); v && *v > 5) {
      for (int n = *v - 1; n >= 5; --n) out.push_back(WithArchVariant(p, "arm", fmt::format("v{}", n)));
    }
  } else if (p.architecture == "arm64") {
    std::string variant = p.variant.empty() ? "v8" : p.variant;
    out.clear();
    for (const Arm64Span& span : Arm64Spans(variant)) {
      for (int minor = span.minor; minor >= 0; --minor) {
        std::string v = minor == 0 ? fmt::format("v{}", span.major)
                                   : fmt::format("v{}.{}", span.major, minor);
        out.push_back(WithArchVariant(p, "arm64", std::move(v)));
      }
    }
    // Every arm64 v8.x/v9.x core runs 32-bit arm up to v8; other variants keep their own.
    if (variant.starts_with("v8") || variant.starts_with("v9")) variant = "v8";
    std::vector<Platform> arm = CompatibleSet(WithArchVariant(p, "arm", variant));
    out.insert(out.end(), arm.begin(), arm.end());
  }
  return out;
}

}  // namespace

Result<Platform> ParsePlatform(std::string_view specifier) {
  if (specifier.find('*') != std::string_view::npos) {
    return PlatformError(specifier, "wildcards are not supported");
  }
  if (specifier.empty()) {
    return PlatformError(specifier, "empty specifier (want os[/arch[/variant]] or arch[/variant])");
  }
  // At most four pieces, the last one holding any rest, as containerd splits.
  std::vector<std::string_view> parts;
  std::string_view rest = specifier;
  while (parts.size() < 3) {
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) break;
    parts.push_back(rest.substr(0, slash));
    rest.remove_prefix(slash + 1);
  }
  parts.push_back(rest);

  Platform p;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i == 0) {
      std::optional<OsComponent> os = ScanOsComponent(parts[0]);
      if (!os) {
        return PlatformError(specifier,
                             fmt::format("\"{}\" is not a valid operating system component (want "
                                         "name[(version[+feature]...)] of letters, digits, _ and -)",
                                         parts[0]));
      }
      p.os = NormalizeOs(os->name);
      Result<std::string> version = DecodeOsOption(os->version);
      if (!version) {
        return PlatformError(specifier, fmt::format("invalid OS version \"{}\": {}", os->version,
                                                    version.error().message()));
      }
      p.os_version = *std::move(version);
      for (std::string_view raw : os->features) {
        Result<std::string> feature = DecodeOsOption(raw);
        if (!feature) {
          return PlatformError(specifier, fmt::format("invalid OS feature \"{}\": {}", raw,
                                                      feature.error().message()));
        }
        if (!feature->empty()) p.os_features.push_back(*std::move(feature));
      }
    } else if (!IsComponent(parts[i])) {
      return PlatformError(specifier,
                           fmt::format("\"{}\" is not a valid component (want letters, digits, "
                                       "_, . and -)",
                                       parts[i]));
    }
  }

  switch (parts.size()) {
    case 1: {
      // One word: an OS if we know it, else an architecture; the host fills in the other.
      if (IsKnownOs(p.os)) {
        p.architecture = std::string(kHostArch);
        if (p.architecture == "arm" && HostCpuVariant() != "v7") p.variant = HostCpuVariant();
        return p;
      }
      std::tie(p.architecture, p.variant) = NormalizeArch(parts[0], "");
      if (p.architecture == "arm" && p.variant == "v7") p.variant.clear();
      if (IsKnownArch(p.architecture)) {
        p.os = std::string(kHostOs);
        return p;
      }
      return PlatformError(specifier, "unknown operating system or architecture");
    }
    case 2:
      // os/arch: whether we know the pair does not matter.
      std::tie(p.architecture, p.variant) = NormalizeArch(parts[1], "");
      if (p.architecture == "arm" && p.variant == "v7") p.variant.clear();
      return p;
    case 3:
      std::tie(p.architecture, p.variant) = NormalizeArch(parts[1], parts[2]);
      if (p.architecture == "arm64" && p.variant.empty()) p.variant = "v8";
      return p;
    default:
      return PlatformError(specifier, "too many components (want os/arch[/variant])");
  }
}

Result<std::vector<Platform>> ParsePlatforms(const std::vector<std::string>& specifiers) {
  std::vector<Platform> out;
  out.reserve(specifiers.size());
  for (const std::string& s : specifiers) {
    HOIST_ASSIGN_OR_RETURN(Platform p, ParsePlatform(s));
    out.push_back(std::move(p));
  }
  return out;
}

Platform Normalize(Platform p) {
  p.os = NormalizeOs(p.os);
  std::tie(p.architecture, p.variant) = NormalizeArch(p.architecture, p.variant);
  std::sort(p.os_features.begin(), p.os_features.end());
  p.os_features.erase(std::unique(p.os_features.begin(), p.os_features.end()), p.os_features.end());
  return p;
}

std::string FormatPlatform(const Platform& p) {
  if (p.os.empty()) return "unknown";
  return JoinPath({p.os, p.architecture, p.variant});
}

std::string FormatPlatformAll(const Platform& p) {
  if (p.os.empty()) return "unknown";
  if (p.os_version.empty() && p.os_features.empty()) return FormatPlatform(p);
  std::vector<std::string_view> features(p.os_features.begin(), p.os_features.end());
  std::sort(features.begin(), features.end());
  features.erase(std::unique(features.begin(), features.end()), features.end());
  std::string encoded_features;
  for (std::string_view f : features) {
    if (f.empty()) continue;
    if (!encoded_features.empty()) encoded_features += '+';
    encoded_features += EncodeOsOption(f);
  }
  std::string os = p.os;
  std::string version = EncodeOsOption(p.os_version);
  if (!version.empty() || !encoded_features.empty()) {
    os += '(';
    os += version;
    if (!encoded_features.empty()) os += '+' + encoded_features;
    os += ')';
  }
  return JoinPath({os, p.architecture, p.variant});
}

Platform HostPlatform() {
  Platform p;
  p.os = std::string(kHostOs);
  p.architecture = std::string(kHostArch);
  p.variant = HostCpuVariant();
  return p;
}

Result<std::string> CpuVariantFromMachine(std::string_view machine) {
  std::string arch = ToLower(machine);
  if (arch == "aarch64") return std::string("8");
  if (arch.size() >= 5 && arch.starts_with("armv")) {
    char digit = arch[4];
    if (digit >= '3' && digit <= '8') return std::string(1, digit);
    return std::string("unknown");
  }
  return MakeError(Code::kInvalidArgument,
                   fmt::format("machine \"{}\" names no ARM architecture", machine));
}

Result<std::string> CpuVariantFromCpuInfo(std::string_view cpuinfo, std::string_view machine,
                                          bool arm32) {
  // The value of the first `key : value` line whose key matches, case-insensitively; like the
  // kernel's format, the value ends at the next colon.
  auto field = [&](std::string_view key) -> std::optional<std::string_view> {
    std::string wanted = ToLower(key);
    std::string_view text = cpuinfo;
    while (!text.empty()) {
      size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      if (ToLower(TrimSpace(line.substr(0, colon))) != wanted) continue;
      std::string_view value = line.substr(colon + 1);
      return TrimSpace(value.substr(0, value.find(':')));
    }
    return std::nullopt;
  };

  std::string variant;
  if (std::optional<std::string_view> v = field("Cpu architecture")) {
    variant = std::string(*v);
  } else {
    // Emulated ARM on another host has no such line; the machine name still tells.
    HOIST_ASSIGN_OR_RETURN(variant, CpuVariantFromMachine(machine));
  }
  // Raspberry Pi ARMv6 boards report architecture 7; their model name gives them away.
  if (arm32 && variant == "7") {
    std::optional<std::string_view> model = field("model name");
    if (model && ToLower(*model).starts_with("armv6-compatible")) variant = "6";
  }
  std::string v = ToLower(variant);
  if (v == "8" || v == "aarch64") return std::string("v8");
  if (v == "7" || v == "7m" || v == "?(12)" || v == "?(13)" || v == "?(14)" || v == "?(15)" ||
      v == "?(16)" || v == "?(17)") {
    return std::string("v7");
  }
  if (v == "6" || v == "6tej") return std::string("v6");
  if (v == "5" || v == "5t" || v == "5te" || v == "5tej") return std::string("v5");
  if (v == "4" || v == "4t") return std::string("v4");
  if (v == "3") return std::string("v3");
  return std::string("unknown");
}

// --- PlatformMatcher ---

PlatformMatcher::Candidate PlatformMatcher::MakeCandidate(const Platform& p) {
  return Candidate{Normalize(p), p.os == "windows"};
}

bool PlatformMatcher::MatchCandidate(const Candidate& c, const Platform& p_in) {
  Platform p = p_in;
  if (c.windows) {
    // Older releases ignored win32k when matching; it is dropped from the candidate only.
    auto it = std::find(p.os_features.begin(), p.os_features.end(), "win32k");
    if (it != p.os_features.end()) p.os_features.erase(it);
  }
  Platform n = Normalize(std::move(p));
  if (c.platform.os != n.os || c.platform.architecture != n.architecture ||
      c.platform.variant != n.variant) {
    return false;
  }
  if (c.windows && !WindowsVersionMatches(c.platform.os_version, n.os_version)) return false;
  return IsSortedSubset(n.os_features, c.platform.os_features);
}

PlatformMatcher PlatformMatcher::Exact(const Platform& want) {
  PlatformMatcher m;
  m.kind_ = Kind::kExact;
  m.candidates_.push_back(MakeCandidate(want));
  m.want_ = m.candidates_.front().platform;
  return m;
}

PlatformMatcher PlatformMatcher::Only(const Platform& want) {
  return Ordered(CompatibleSet(Normalize(want)));
}

PlatformMatcher PlatformMatcher::OnlyStrict(const Platform& want) {
  return Ordered({Normalize(want)});
}

PlatformMatcher PlatformMatcher::OnlyOS(const Platform& want) {
  PlatformMatcher m;
  m.kind_ = Kind::kOnlyOS;
  m.want_ = Normalize(want);
  m.candidates_.push_back(MakeCandidate(m.want_));
  return m;
}

PlatformMatcher PlatformMatcher::Ordered(std::vector<Platform> platforms) {
  PlatformMatcher m;
  m.kind_ = Kind::kOrdered;
  for (const Platform& p : platforms) m.candidates_.push_back(MakeCandidate(p));
  if (!m.candidates_.empty()) m.want_ = m.candidates_.front().platform;
  return m;
}

PlatformMatcher PlatformMatcher::Any(std::vector<Platform> platforms) {
  PlatformMatcher m = Ordered(std::move(platforms));
  m.kind_ = Kind::kAny;
  return m;
}

PlatformMatcher PlatformMatcher::All() { return PlatformMatcher(); }

bool PlatformMatcher::MatchOs(const Platform& p) const {
  Platform n = Normalize(p);
  if (n.os != want_.os) return false;
  if (want_.os == "windows" && !WindowsVersionMatches(want_.os_version, p.os_version)) {
    return false;
  }
  return IsSortedSubset(n.os_features, want_.os_features);
}

bool PlatformMatcher::Match(const Platform& p) const {
  switch (kind_) {
    case Kind::kAll:
      return true;
    case Kind::kOnlyOS:
      return MatchOs(p);
    case Kind::kExact:
    case Kind::kOrdered:
    case Kind::kAny:
      return std::any_of(candidates_.begin(), candidates_.end(),
                         [&](const Candidate& c) { return MatchCandidate(c, p); });
  }
  return false;
}

bool PlatformMatcher::LessOrdered(Platform a, Platform b) const {
  for (const Candidate& c : candidates_) {
    bool am = MatchCandidate(c, a);
    bool bm = MatchCandidate(c, b);
    if (am && !bm) return true;
    if (am || bm) {
      // Both match the same candidate: the one with more features is the closer fit.
      if (am && bm && a.os_features.size() != b.os_features.size()) {
        return a.os_features.size() > b.os_features.size();
      }
      return false;
    }
  }
  // Neither matched anything: rank them as if they had no features.
  if (!a.os_features.empty() || !b.os_features.empty()) {
    a.os_features.clear();
    b.os_features.clear();
    return LessOrdered(std::move(a), std::move(b));
  }
  return false;
}

bool PlatformMatcher::LessAny(Platform a, Platform b) const {
  bool am = false;
  bool bm = false;
  for (const Candidate& c : candidates_) {
    if (!am && MatchCandidate(c, a)) am = true;
    if (!bm && MatchCandidate(c, b)) bm = true;
    if (am && bm) {
      if (a.os_features.size() != b.os_features.size()) {
        return a.os_features.size() > b.os_features.size();
      }
      break;
    }
  }
  if (!am && !bm && (!a.os_features.empty() || !b.os_features.empty())) {
    a.os_features.clear();
    b.os_features.clear();
    return LessAny(std::move(a), std::move(b));
  }
  return am && !bm;
}

bool PlatformMatcher::Less(const Platform& a, const Platform& b) const {
  switch (kind_) {
    case Kind::kAll:
      return false;
    case Kind::kExact: {
      bool am = Match(a);
      bool bm = Match(b);
      if (am && bm) return a.os_version > b.os_version;
      return am && !bm;
    }
    case Kind::kOrdered:
      return LessOrdered(a, b);
    case Kind::kAny:
      return LessAny(a, b);
    case Kind::kOnlyOS: {
      bool am = MatchOs(a);
      bool bm = MatchOs(b);
      if (am && !bm) return true;
      if (!am) return false;
      // Both run on this OS: prefer the wanted architecture.
      return LessOrdered(a, b);
    }
  }
  return false;
}

}  // namespace hoist::oci
