#include "executor/etc_files.h"

#include <fmt/format.h>

namespace hoist::executor {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsLoopback(std::string_view ip) {
  if (ip.starts_with("127.")) return true;
  // ::1 and its long spellings, optionally with a zone.
  std::string_view addr = ip.substr(0, ip.find('%'));
  if (addr == "::1" || addr == "0:0:0:0:0:0:0:1") return true;
  return false;
}

}  // namespace

std::string GenerateHosts(std::string_view hostname, const std::vector<HostEntry>& extra_hosts) {
  std::string out = "127.0.0.1\tlocalhost";
  if (!hostname.empty()) out += fmt::format(" {}", hostname);
  out += "\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  for (const HostEntry& h : extra_hosts) out += fmt::format("{}\t{}\n", h.ip, h.host);
  return out;
}

std::string GenerateResolvConf(std::string_view host, bool host_network) {
  if (host_network) {
    std::string out(host);
    if (!out.empty() && out.back() != '\n') out += '\n';
    return out;
  }
  std::string out;
  bool any_nameserver = false;
  while (!host.empty()) {
    size_t nl = host.find('\n');
    std::string_view line = host.substr(0, nl);
    host.remove_prefix(nl == std::string_view::npos ? host.size() : nl + 1);
    std::string_view t = Trim(line);
    if (t.starts_with("nameserver") && t.size() > 10 && (t[10] == ' ' || t[10] == '\t')) {
      std::string_view ip = Trim(t.substr(10));
      ip = ip.substr(0, ip.find_first_of(" \t#"));
      if (IsLoopback(ip)) continue;
      any_nameserver = true;
    }
    out += line;
    out += '\n';
  }
  if (!any_nameserver) out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
  return out;
}

std::string GenerateHostname(std::string_view hostname) { return fmt::format("{}\n", hostname); }

}  // namespace hoist::executor
