// The files hoist bind-mounts over a container's /etc: hosts, resolv.conf and hostname, made
// as BuildKit makes them. Pure functions over text.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "executor/executor.h"

namespace hoist::executor {

// /etc/hosts: localhost and `hostname` on 127.0.0.1, the IPv6 loopback names, then one
// "IP\tHOST" line per extra host, in order.
std::string GenerateHosts(std::string_view hostname, const std::vector<HostEntry>& extra_hosts);

// /etc/resolv.conf from the host's text. In a network namespace of its own the container cannot
// reach the host's loopback, so nameservers on 127.0.0.0/8 and ::1 are dropped (and, if none
// is left, Google's public resolvers 8.8.8.8 and 8.8.4.4 are added, as Docker and BuildKit
// do); with the host network the text is kept as it is.
std::string GenerateResolvConf(std::string_view host_resolv_conf, bool host_network);

// /etc/hostname: the name and a newline.
std::string GenerateHostname(std::string_view hostname);

}  // namespace hoist::executor
