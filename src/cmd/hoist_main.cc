// hoist: the command-line client. The only place that wires objects together and the only
// code that writes to stdout/stderr.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "base/mount.h"
#include "cmd/build_command.h"
#include "cmd/cache_commands.h"
#include "cmd/debug_command.h"
#include "cmd/engine_flags.h"
#include "cmd/global_options.h"
#include "cmd/image_commands.h"
#include "cmd/layout_command.h"
#include "cmd/login_command.h"
#include "session/rpc_runtime.h"
#include "source/in_place_context.h"

namespace {

// Tests only: with HOIST_TESTING_CONTEXT_FIFO=PATH (a FIFO), the embedded engine stops after
// the first content checksum of a context read in place: it writes a line to the FIFO, then
// waits until the test has opened it for writing and closed it. The test changes files in
// between, deterministically.
void WireContextTestingHook() {
  const char* fifo = std::getenv("HOIST_TESTING_CONTEXT_FIFO");
  if (fifo == nullptr || *fifo == '\0') return;
  hoist::source::InPlaceContext::SetChecksumHookForTesting([path = std::string(fifo), done = false]() mutable {
    if (done) return;
    done = true;
    int w = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (w < 0) return;
    (void)!::write(w, "checksummed\n", 12);
    ::close(w);
    int r = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (r < 0) return;
    char buf[64];
    while (::read(r, buf, sizeof(buf)) > 0) {
    }
    ::close(r);
  });
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread: the engine's mounts stay in this process's own namespace
  // (engine.h, "Several processes on one root").
  if (::geteuid() == 0) (void)hoist::EnterPrivateMountNamespace();
  hoist::session::ConfigureRpcRuntime();
  WireContextTestingHook();
  CLI::App app{"hoist builds OCI container images from Dockerfiles", "hoist"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hoist version 0.1.0");
  app.add_flag_callback(
      "-D,--debug", [] { hoist::SetLogLevel(hoist::LogLevel::kDebug); }, "Enable debug logging");

  hoist::cmd::GlobalOptions global;
  std::string& root = global.root;
  std::string& config = global.config;
  app.add_option("--root", root, "Engine state directory (default: $HOIST_ROOT, /var/lib/hoist)")
      ->envname("HOIST_ROOT");
  hoist::cmd::AddEngineStorageFlags(app, "Embedded engine: ", &global.snapshotter,
                                    &global.layer_memory);
  app.add_option("--addr", global.addr,
                 "Build through this daemon (unix:///PATH or tcp://HOST:PORT; default: "
                 "$HOIST_HOST, $BUILDKIT_HOST, else the embedded engine)");
  app.add_option("--tlscacert", global.tls.ca_cert, "CA certificate for a tcp:// daemon");
  app.add_option("--tlscert", global.tls.cert, "Client certificate for a tcp:// daemon");
  app.add_option("--tlskey", global.tls.key, "Client key for a tcp:// daemon");
  app.add_option("--tlsservername", global.tls.server_name, "Server name to verify");
  app.add_option("--config", config,
                 "Registry configuration file (default: $XDG_CONFIG_HOME/hoist/hoist.toml, "
                 "/etc/hoist/hoist.toml)");

  hoist::Status status;
  hoist::cmd::RegisterBuildCommand(app, &global, &status);
  hoist::cmd::RegisterCacheCommands(app, &global, &status);
  hoist::cmd::RegisterLayoutCommands(app, &config, &status);
  hoist::cmd::RegisterImageCommands(app, &status);
  hoist::cmd::RegisterDebugCommands(app, &global, &status);
  hoist::cmd::RegisterLoginCommands(app, &config, &status);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ERROR: %s\nRun '%s --help' for usage.\n", e.what(),
                 app.get_name().c_str());
    return 1;
  }
  if (!status) {
    std::fflush(stdout);
    std::fprintf(stderr, "ERROR: %s\n", status.error().message().c_str());
    return 1;
  }
  return 0;
}
