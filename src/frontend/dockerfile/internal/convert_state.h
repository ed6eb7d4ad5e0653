// The conversion's working state, shared by convert*.cc: one DispatchState per stage (and per
// external image a COPY --from or RUN --mount from= names), BuildKit's dispatchState.
//
// Ownership: the Converter owns every DispatchState (unique_ptr, stable addresses); states
// point at each other (base, deps, command sources) without owning. Single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/pattern_matcher.h"
#include "frontend/dockerfile/convert.h"
#include "frontend/dockerfile/dockerignore.h"
#include "frontend/dockerfile/instructions.h"
#include "frontend/dockerfile/named_context.h"
#include "frontend/dockerfile/shell_lex.h"
#include "llb/llb.h"
#include "oci/image_config.h"
#include "oci/platform.h"

namespace hoist::frontend::dockerfile::internal {

// An ordered KEY=VALUE list in which a new value for a key replaces the old one in place
// (BuildKit's EnvList for global args).
class ArgList {
 public:
  void AddOrReplace(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  std::optional<std::string> Get(std::string_view key) const;
  std::vector<std::string> Keys() const;
  std::vector<std::string> Entries() const;  // KEY=VALUE

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

// A FROM and the instructions up to the next one.
struct Stage {
  FromCommand from;
  std::string source_code;  // the FROM line as written
  int line = 0;
  std::vector<Instruction> commands;
};

struct DispatchState;

// One instruction of a stage with the stages it reads from (COPY --from, RUN --mount from=).
struct Command {
  Instruction instr;
  std::vector<DispatchState*> sources;  // RUN: one per mount, in mount order
  std::vector<Mount> mounts;            // RUN: the mounts, parsed before expansion
  bool is_onbuild = false;
};

struct DispatchState {
  llb::State state;
  oci::ImageConfig image;
  std::optional<oci::ImageConfig> base_img;
  std::optional<NamedContext> named_context;  // a context replaces this whole stage
  std::optional<oci::Platform> platform;
  Stage stage;
  DispatchState* base = nullptr;
  bool dispatched = false;
  bool resolved = false;
  bool onbuild_init = false;
  bool unregistered = false;  // an image named by --from, not a stage
  // The stages this one reads from, in the order first seen, with the instruction that does.
  std::vector<std::pair<DispatchState*, Instruction>> deps;
  std::vector<KeyValuePairOptional> build_args;
  std::vector<Command> commands;
  std::string stage_name;
  int cmd_index = 0;
  int cmd_total = 0;
  bool cmd_is_onbuild = false;
  bool workdir_set = false;
  bool cmd_set = false;  // CMD seen in this stage (the ENTRYPOINT reset rule)

  void AddDep(DispatchState* src, const Instruction& instr);
  // Inherits the base stage's state, image (without ONBUILD triggers) and args.
  void Init();
};

// Options and context shared by the dispatch functions.
struct DispatchContext {
  const ConvertOptions* opts = nullptr;
  oci::Platform target_platform;
  oci::Platform build_platform;
  bool implicit_target = false;
  ArgList global_args;
  std::optional<int64_t> epoch;
  char escape_token = '\\';
  llb::State build_context;
  std::optional<llb::ProxyEnv> proxy_env;
  const PatternMatcher* ignore_matcher = nullptr;
  std::set<std::string>* ctx_paths = nullptr;
  std::vector<Warning>* warnings = nullptr;
  std::map<std::string, DispatchState*>* by_name = nullptr;
};

// Shell lexing with the Dockerfile's escape token.
ShellLex MakeLex(const DispatchContext& dctx, bool raw_quotes = false, bool skip_unset = false);
// The State's environment as a ShellEnv (KEY=VALUE list, later entries win).
ShellEnvList EnvOf(const llb::State& state);

// `Dockerfile:LINE: message`, unless the message already names a line.
Error AtLine(Error err, int line);
tl::unexpected<Error> ErrorAt(int line, std::string message);

// Dispatches one instruction of a stage (convert_dispatch.cc, convert_run.cc, convert_copy.cc).
Result<void> Dispatch(DispatchState& d, Command& cmd, DispatchContext& dctx);
Result<void> DispatchRun(DispatchState& d, Command& cmd, const RunCommand& c,
                         DispatchContext& dctx);
struct CopyConfig {
  SourcesAndDest params;
  std::vector<std::string> exclude_patterns;
  llb::State source;
  bool is_add = false;
  std::string code;  // the instruction as written, for names
  int start_line = 0;  // where it is in the Dockerfile
  int end_line = 0;
  std::string chown;
  std::string chmod;
  bool link = false;
  std::optional<bool> keep_git_dir;
  std::string checksum;
  bool parents = false;
  std::optional<bool> unpack;
};
Result<void> DispatchCopy(DispatchState& d, CopyConfig cfg, DispatchContext& dctx);
// `in` names the op (nullptr for a base image's WorkingDir, which makes no op).
Result<void> DispatchWorkdir(DispatchState& d, const std::string& path, bool commit,
                             DispatchContext& dctx, const Instruction* in = nullptr);
void DispatchUser(DispatchState& d, const std::string& user, bool commit,
                  const DispatchContext& dctx);

// Helpers shared by the dispatchers.
void CommitToHistory(oci::ImageConfig& img, std::string msg, bool with_layer, bool buildkit,
                     const std::optional<int64_t>& epoch);
std::string PrefixCommand(DispatchState& d, std::string_view str, const DispatchContext& dctx);
std::string UppercaseCmd(std::string_view s);
std::string ProcessCmdEnv(const ShellLex& lex, std::string_view cmd, const ShellEnv& env);
std::vector<std::string> WithShell(const oci::ImageConfig& img,
                                   const std::vector<std::string>& args);
// The op description of an instruction: its text and, when known, its lines
// (`hoist.dockerfile.lines` = "START:END"), which the client uses to show the Dockerfile
// excerpt of a failed step.
std::map<std::string, std::string> DfCmd(std::string_view code, int start_line = 0,
                                         int end_line = 0);
llb::OpOptions OpWithName(std::string name, std::string_view code);
std::string JoinPath(std::string_view a, std::string_view b);
using ::hoist::CleanPath;  // Go's path.Clean (base/pattern_matcher.h)
std::string GoQuoteList(const std::vector<std::string>& v);  // Go's %q of a []string
std::string FormatRfc3339(int64_t epoch);
oci::ImageConfig EmptyImage(const oci::Platform& p);
std::string DefaultPathEnv(std::string_view os);

}  // namespace hoist::frontend::dockerfile::internal
