// The options every hoist subcommand shares (given before the subcommand).
#pragma once

#include <string>

#include "client/remote_engine.h"

namespace hoist::cmd {

struct GlobalOptions {
  std::string root;    // --root (embedded engine state)
  std::string config;  // --config (registry configuration file)
  std::string snapshotter;  // --snapshotter (embedded engine): erofs, overlayfs, native
  std::string layer_memory;  // --layer-memory (embedded engine): a size, "" for the default
  // --addr: the daemon to build through (hoistd or buildkitd); empty: $HOIST_HOST, then
  // $BUILDKIT_HOST, then the embedded engine (client::DaemonAddress).
  std::string addr;
  client::TlsFiles tls;  // --tlscacert, --tlscert, --tlskey, --tlsservername
};

}  // namespace hoist::cmd
