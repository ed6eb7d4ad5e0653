#include "cmd/debug_command.h"

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cmd/engine.h"
#include "control/fsck.h"
#include "executor/spec.h"
#include "llb/dump.h"

namespace hoist::cmd {
namespace {

// All of `path`, or of stdin for "-".
Result<std::string> ReadAll(const std::string& path) {
  FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rbe");
  if (f == nullptr) return Unexpected(ErrnoError(errno, "open " + path));
  std::string data;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) data.append(buf, n);
  bool failed = std::ferror(f) != 0;
  int err = errno;
  if (f != stdin) std::fclose(f);
  if (failed) return Unexpected(ErrnoError(err, "read " + path));
  return data;
}

Status DumpLLBCommand(const std::string& path) {
  HOIST_ASSIGN_OR_RETURN(std::string bytes, ReadAll(path));
  auto dump = llb::DumpLLB(bytes);
  if (!dump) return Unexpected(std::move(dump).error().Wrap(path == "-" ? "stdin" : path));
  std::fwrite(dump->data(), 1, dump->size(), stdout);
  return OkStatus();
}

// Prints each problem and repair, then a summary; problems left make the command fail.
Status FsckCommand(const GlobalOptions& global, bool repair) {
  // Alone on the root: what a running build is writing is no problem to repair.
  HOIST_ASSIGN_OR_RETURN(auto engine, Engine::Open({.root = global.root,
                                                    .snapshotter = global.snapshotter,
                                                    .need_executor = false,
                                                    .need_registry = false,
                                                    .exclusive = true}));
  HOIST_ASSIGN_OR_RETURN(control::FsckReport report,
                         control::Fsck(engine->parts(), {.repair = repair}));
  for (const std::string& p : report.problems) std::printf("problem: %s\n", p.c_str());
  for (const std::string& r : report.repairs) std::printf("repaired: %s\n", r.c_str());
  for (const std::string& f : report.failures) std::printf("failed: %s\n", f.c_str());
  std::printf("checked %lld blobs (%lld bytes), %lld snapshots, %lld cache records: %zu "
              "problems, %zu repaired\n",
              static_cast<long long>(report.blobs), static_cast<long long>(report.blob_bytes),
              static_cast<long long>(report.snapshots), static_cast<long long>(report.records),
              report.problems.size(), report.repairs.size());
  if (report.unrepaired > 0) {
    return MakeError(Code::kDataLoss,
                     fmt::format("{} problem{} left{}", report.unrepaired,
                                 report.unrepaired == 1 ? "" : "s",
                                 repair ? "" : "; run `hoist debug fsck --repair` to repair them"));
  }
  return OkStatus();
}

struct RuntimeSpecOptions {
  std::string network = "default";
  std::string security = "sandbox";
  std::vector<std::string> args = {"/bin/true"};
};

// Prints the runtime spec a RUN step of `options.args` as root gets on this host, as the
// executor writes it but for the step's own files (its rootfs is "rootfs" in the bundle; no
// /etc/hosts, /etc/resolv.conf or /etc/hostname binds, no mounts of its own, no limits).
Status RuntimeSpecCommand(const RuntimeSpecOptions& options) {
  executor::SpecInput in = executor::HostSpecInput();
  in.rootfs_path = "rootfs";
  in.args = options.args;
  in.env = {executor::kDefaultPathEnv};
  in.hostname = "buildkitsandbox";
  if (options.network == "none") {
    in.network = executor::NetworkMode::kNone;
  } else if (options.network == "host") {
    in.network = executor::NetworkMode::kHost;
  } else if (options.network != "default") {
    return MakeError(
        Code::kInvalidArgument,
        fmt::format("--network \"{}\": must be default, none or host", options.network));
  }
  if (options.security == "insecure") {
    in.security = executor::SecurityMode::kInsecure;
  } else if (options.security != "sandbox") {
    return MakeError(
        Code::kInvalidArgument,
        fmt::format("--security \"{}\": must be sandbox or insecure", options.security));
  }
  HOIST_ASSIGN_OR_RETURN(std::string spec, executor::GenerateSpec(in));
  spec.push_back('\n');
  std::fwrite(spec.data(), 1, spec.size(), stdout);
  return OkStatus();
}

}  // namespace

void RegisterDebugCommands(CLI::App& app, const GlobalOptions* global, Status* status) {
  auto* debug = app.add_subcommand("debug", "Debugging tools");
  debug->require_subcommand(1);
  auto file = std::make_shared<std::string>("-");
  auto* dump = debug->add_subcommand(
      "dump-llb", "Print a marshalled LLB definition (binary pb.Definition) as JSON, one op a line");
  dump->add_option("FILE", *file, "Definition file, or - for stdin (default)");
  dump->callback([file, status] { *status = DumpLLBCommand(*file); });

  auto repair = std::make_shared<bool>(false);
  auto* fsck = debug->add_subcommand(
      "fsck", "Check the engine root (blobs, snapshots, cache records, mounts) and repair it");
  fsck->add_flag("--repair", *repair, "Repair what is found (stale records, corrupt blobs, leftovers)");
  fsck->callback([global, repair, status] { *status = FsckCommand(*global, *repair); });

  auto spec = std::make_shared<RuntimeSpecOptions>();
  auto* runtime_spec = debug->add_subcommand(
      "runtime-spec",
      "Print the OCI runtime spec (config.json) a RUN step as root gets on this host: "
      "namespaces, capabilities, seccomp filter, masked paths (its rootfs is \"rootfs\"; the "
      "step's own mounts and files are left out)");
  runtime_spec->add_option("--network", spec->network, "default, none or host (RUN --network)");
  runtime_spec->add_option("--security", spec->security, "sandbox or insecure (RUN --security)");
  runtime_spec->add_option("COMMAND", spec->args, "The process to run (default /bin/true)");
  runtime_spec->callback([spec, status] { *status = RuntimeSpecCommand(*spec); });
}

}  // namespace hoist::cmd
