#include "registry/host_config.h"

#include <pwd.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

#include <fmt/format.h>
// toml++ is heavy: it is included here and in control/engine_config.cc only. Debian builds it as a shared library
// with exceptions on, so a syntax error arrives as toml::parse_error, caught right below.
#include <toml++/toml.h>

#include "base/file_system.h"

namespace hoist::registry {
namespace {

constexpr uint64_t kMaxConfigSize = 1 << 20;
constexpr std::string_view kHubHost = "docker.io";

// The ways Docker Hub is spelled; all of them share `[registry."docker.io"]`.
bool IsHubHost(std::string_view host) {
  return host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io";
}

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool IsValidPort(std::string_view s) {
  if (!IsDigits(s) || s.size() > 5) return false;
  const int port = std::atoi(std::string(s).c_str());
  return port >= 1 && port <= 65535;
}

// `name[:port]` or `[ipv6][:port]`, as a registry host is written in an image reference.
bool IsValidHostPort(std::string_view s) {
  if (s.empty()) return false;
  std::string_view host = s;
  if (s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : s.substr(1, close - 1)) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    }
    std::string_view rest = s.substr(close + 1);
    if (rest.empty()) return true;
    return rest.front() == ':' && IsValidPort(rest.substr(1));
  }
  if (const size_t colon = s.rfind(':'); colon != std::string_view::npos) {
    if (!IsValidPort(s.substr(colon + 1))) return false;
    host = s.substr(0, colon);
  }
  if (host.empty()) return false;
  for (char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) {
      return false;
    }
  }
  return host.front() != '.' && host.front() != '-' && host.back() != '.' && host.back() != '-';
}

// A mirror: `host[:port]` optionally followed by a path (`harbor.local/proxy.docker.io`).
bool IsValidMirror(std::string_view s) {
  const size_t slash = s.find('/');
  if (!IsValidHostPort(s.substr(0, slash))) return false;
  if (slash == std::string_view::npos) return true;
  std::string_view path = s.substr(slash);
  return path.find("//") == std::string_view::npos &&
         path.find_first_of(" \t\r\n?#") == std::string_view::npos;
}

// One place that spells an error's location: `hoist.toml:3: registry."docker.io".mirrors: …`.
class ErrorSite {
 public:
  explicit ErrorSite(std::string_view origin) : origin_(origin) {}

  Error At(const toml::source_region& where, std::string_view key_path,
           std::string_view problem) const {
    std::string msg = origin_;
    if (where.begin.line > 0) msg += fmt::format(":{}", where.begin.line);
    msg += ": ";
    if (!key_path.empty()) {
      msg += key_path;
      msg += ": ";
    }
    msg += problem;
    return Error(Code::kInvalidArgument, std::move(msg));
  }

 private:
  std::string origin_;
};

std::string HostPath(std::string_view host) { return fmt::format("registry.\"{}\"", host); }

Result<bool> ReadBool(const ErrorSite& site, const toml::node& value, std::string_view key_path) {
  if (const auto* b = value.as_boolean()) return b->get();
  return Unexpected(site.At(value.source(), key_path, "expected true or false"));
}

Result<std::vector<std::string>> ReadStrings(const ErrorSite& site, const toml::node& value,
                                             std::string_view key_path) {
  const toml::array* array = value.as_array();
  if (array == nullptr) {
    return Unexpected(site.At(value.source(), key_path, "expected an array of strings"));
  }
  std::vector<std::string> out;
  for (const toml::node& element : *array) {
    const auto* s = element.as_string();
    if (s == nullptr) {
      return Unexpected(site.At(element.source(), key_path, "expected an array of strings"));
    }
    out.push_back(s->get());
  }
  return out;
}

// The directory part of `origin`, so that a relative `ca` path in a file means a path beside
// that file, wherever hoist runs from. "" when `origin` names no directory.
std::string OriginDir(std::string_view origin) {
  const size_t slash = origin.rfind('/');
  if (slash == std::string_view::npos) return "";
  if (slash == 0) return "/";
  return std::string(origin.substr(0, slash));
}

// The default file locations, most specific first.
std::vector<std::string> DefaultPaths() {
  std::vector<std::string> paths;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  std::string config_home;
  if (xdg != nullptr && xdg[0] == '/') {  // the XDG spec ignores relative values
    config_home = xdg;
  } else {
    const char* home = std::getenv("HOME");
    std::string home_dir = home != nullptr ? home : "";
    if (home_dir.empty()) {
      if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) {
        home_dir = pw->pw_dir;
      }
    }
    if (!home_dir.empty()) config_home = JoinPath(home_dir, ".config");
  }
  if (!config_home.empty()) paths.push_back(JoinPath(config_home, "hoist/hoist.toml"));
  paths.push_back("/etc/hoist/hoist.toml");
  return paths;
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    const size_t close = name.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view rest = name.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && IsValidPort(rest.substr(1)))) return false;
    name = name.substr(1, close - 1);
    return name == "::1" || name == "0:0:0:0:0:0:0:1";
  }
  if (name == "::1") return true;  // an unbracketed IPv6 literal has no port
  if (const size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    if (!IsValidPort(name.substr(colon + 1))) return false;
    name = name.substr(0, colon);
  }
  if (name.size() == 9) {
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "localhost") return true;
  }
  // A dotted quad in 127.0.0.0/8: four decimal octets, the first 127.
  int octets = 0;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t dot = name.find('.', pos);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view octet = name.substr(pos, dot - pos);
    if (!IsDigits(octet) || octet.size() > 3 || std::atoi(std::string(octet).c_str()) > 255) {
      return false;
    }
    if (octets == 0 && octet != "127") return false;
    ++octets;
    pos = dot + 1;
  }
  return octets == 4;
}

Result<RegistryConfig> RegistryConfig::Parse(std::string_view text, std::string_view origin) {
  const ErrorSite site(origin);
  toml::table doc;
  try {
    doc = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return Unexpected(site.At(e.source(), "", e.description()));
  }

  RegistryConfig config;
  config.origin_ = std::string(origin);
  const toml::node* registry = doc.get("registry");
  if (registry == nullptr) return config;
  const toml::table* hosts = registry->as_table();
  if (hosts == nullptr) {
    return Unexpected(
        site.At(registry->source(), "registry", "expected a table of hosts ([registry.\"HOST\"])"));
  }
  const std::string ca_dir = OriginDir(origin);
  for (const auto& [host_key, host_node] : *hosts) {
    const std::string host(host_key.str());
    const std::string host_path = HostPath(host);
    if (!IsValidHostPort(host)) {
      return Unexpected(site.At(host_key.source(), host_path,
                                "expected a registry host (HOST or HOST:PORT, without a "
                                "scheme or path)"));
    }
    const toml::table* table = host_node.as_table();
    if (table == nullptr) {
      return Unexpected(site.At(host_node.source(), host_path, "expected a table"));
    }
    Entry entry;
    for (const auto& [key, value] : *table) {
      const std::string key_path = fmt::format("{}.{}", host_path, key.str());
      if (key == "mirrors") {
        HOIST_ASSIGN_OR_RETURN(entry.config.mirrors, ReadStrings(site, value, key_path));
        for (size_t i = 0; i < entry.config.mirrors.size(); ++i) {
          const std::string& mirror = entry.config.mirrors[i];
          if (!IsValidMirror(mirror)) {
            const toml::node* element = value.as_array()->get(i);
            return Unexpected(
                site.At(element->source(), key_path,
                        fmt::format("\"{}\" is not HOST[:PORT][/PATH]{}", mirror,
                                    mirror.find("://") != std::string::npos
                                        ? " (write the mirror without a scheme; set http = true in "
                                          "its own [registry.\"HOST\"] table for plain HTTP)"
                                        : "")));
          }
        }
      } else if (key == "http") {
        HOIST_ASSIGN_OR_RETURN(entry.config.plain_http, ReadBool(site, value, key_path));
        entry.http_set = true;
      } else if (key == "insecure") {
        HOIST_ASSIGN_OR_RETURN(entry.config.insecure, ReadBool(site, value, key_path));
      } else if (key == "ca") {
        HOIST_ASSIGN_OR_RETURN(entry.config.ca_files, ReadStrings(site, value, key_path));
        for (std::string& ca : entry.config.ca_files) {
          if (ca.empty()) return Unexpected(site.At(value.source(), key_path, "empty path"));
          if (ca.front() != '/' && !ca_dir.empty()) ca = JoinPath(ca_dir, ca);
        }
      } else if (value.is_table()) {
        // [registry.docker.io] (unquoted) nests tables: say how to write it.
        return Unexpected(site.At(
            key.source(), key_path,
            fmt::format("unknown key (a host name with dots needs quotes: [registry.\"{}.{}\"])",
                        host, key.str())));
      } else {
        return Unexpected(site.At(key.source(), key_path,
                                  "unknown key (expected mirrors, http, insecure or ca)"));
      }
    }
    config.hosts_.emplace(host, std::move(entry));
  }
  return config;
}

Result<std::optional<ConfigFileText>> ReadConfigFile(const std::string& explicit_path) {
  FileSystem* fs = PosixFileSystem();
  std::vector<std::string> candidates;
  if (!explicit_path.empty()) {
    candidates.push_back(explicit_path);
  } else {
    candidates = DefaultPaths();
  }
  for (const std::string& path : candidates) {
    HOIST_ASSIGN_OR_RETURN(std::optional<FileInfo> info, fs->Stat(path));
    if (!info) {
      if (!explicit_path.empty()) {
        return MakeError(Code::kNotFound, path + ": no such configuration file");
      }
      continue;
    }
    auto text = fs->ReadFile(path, kMaxConfigSize + 1);
    if (!text) return Unexpected(std::move(text).error().Wrap("read configuration file"));
    if (text->size() > kMaxConfigSize) {
      return MakeError(
          Code::kInvalidArgument,
          fmt::format("{}: configuration file larger than {} bytes", path, kMaxConfigSize));
    }
    return ConfigFileText{.path = path, .text = std::move(*text)};
  }
  return std::optional<ConfigFileText>();
}

Result<RegistryConfig> RegistryConfig::Load(const std::string& explicit_path) {
  HOIST_ASSIGN_OR_RETURN(std::optional<ConfigFileText> file, ReadConfigFile(explicit_path));
  if (!file) return RegistryConfig();
  return Parse(file->text, file->path);
}

HostConfig RegistryConfig::ForHost(std::string_view host) const {
  auto it = hosts_.find(host);
  if (it == hosts_.end() && IsHubHost(host)) {
    it = hosts_.find(kHubHost);
    for (std::string_view alias : {"index.docker.io", "registry-1.docker.io"}) {
      if (it == hosts_.end()) it = hosts_.find(alias);
    }
  }
  if (it == hosts_.end()) {
    HostConfig config;
    config.plain_http = IsLoopbackHost(host);
    return config;
  }
  HostConfig config = it->second.config;
  if (!it->second.http_set) config.plain_http = IsLoopbackHost(host);
  return config;
}

}  // namespace hoist::registry
