#include "cmd/debug_command.h"

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>

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

}  // namespace

void RegisterDebugCommands(CLI::App& app, Status* status) {
  auto* debug = app.add_subcommand("debug", "Debugging tools");
  debug->require_subcommand(1);
  auto file = std::make_shared<std::string>("-");
  auto* dump = debug->add_subcommand(
      "dump-llb", "Print a marshalled LLB definition (binary pb.Definition) as JSON, one op a line");
  dump->add_option("FILE", *file, "Definition file, or - for stdin (default)");
  dump->callback([file, status] { *status = DumpLLBCommand(*file); });
}

}  // namespace hoist::cmd
