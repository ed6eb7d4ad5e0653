// Typed instructions: the second stage of the Dockerfile frontend (parse → instructions →
// convert). Each AST instruction node becomes one command struct with its flags parsed and its
// arguments validated, as BuildKit's frontend/dockerfile/instructions package does, with the
// same error wording. Words are not expanded here; RUN --mount values are parsed as written.
//
// Thread-safety: pure functions over values.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/error.h"
#include "frontend/dockerfile/parser.h"

namespace hoist::frontend::dockerfile {

// ENV / LABEL pair. `no_delim` is set for the legacy `ENV key value` form.
struct KeyValuePair {
  std::string key;
  std::string value;
  bool no_delim = false;
  bool operator==(const KeyValuePair&) const = default;
};

// ARG name with an optional default.
struct KeyValuePairOptional {
  std::string key;
  std::optional<std::string> value;
  bool operator==(const KeyValuePairOptional&) const = default;
};

// A COPY/ADD source given inline as a heredoc.
struct SourceContent {
  std::string path;  // the heredoc name
  std::string data;  // already chomped for `<<-`
  bool expand = false;
  bool operator==(const SourceContent&) const = default;
};

struct SourcesAndDest {
  std::string dest_path;
  std::vector<std::string> source_paths;
  std::vector<SourceContent> source_contents;
};

// A heredoc file attached to RUN / CMD / ENTRYPOINT; content as written (not chomped).
struct ShellInlineFile {
  std::string name;
  std::string data;
  bool chomp = false;
  bool operator==(const ShellInlineFile&) const = default;
};

struct ShellDependantCmdLine {
  std::vector<std::string> cmd_line;  // shell form: one element, the words joined by spaces
  std::vector<ShellInlineFile> files;
  bool prepend_shell = false;  // shell form
};

enum class MountType { kBind, kCache, kTmpfs, kSecret, kSsh };
enum class ShareMode { kUnset, kShared, kPrivate, kLocked };
std::string_view MountTypeName(MountType type);

// One RUN --mount.
struct Mount {
  MountType type = MountType::kBind;
  std::string from;
  std::string source;
  std::string target;
  bool read_only = false;
  int64_t size_limit = 0;  // tmpfs, bytes
  std::string cache_id;
  ShareMode cache_sharing = ShareMode::kUnset;
  bool required = false;  // secret, ssh
  std::optional<std::string> env;
  std::optional<uint64_t> mode;
  std::optional<uint64_t> uid;
  std::optional<uint64_t> gid;
};

// One RUN --device (CDI device name).
struct Device {
  std::string name;
  bool required = false;
  bool operator==(const Device&) const = default;
};

enum class NetworkMode { kDefault, kNone, kHost };
enum class SecurityMode { kSandbox, kInsecure };

struct HealthConfig {
  std::vector<std::string> test;  // {"NONE"}, {"CMD", argv...} or {"CMD-SHELL", line}
  std::chrono::nanoseconds interval{0};
  std::chrono::nanoseconds timeout{0};
  std::chrono::nanoseconds start_period{0};
  std::chrono::nanoseconds start_interval{0};
  int retries = 0;
};

// FROM starts a stage.
struct FromCommand {
  std::string base_name;
  std::string name;  // lower-cased stage name; empty when there is no `AS`
  std::string platform;
};
struct RunCommand {
  ShellDependantCmdLine cmd;
  std::vector<Mount> mounts;
  std::vector<std::string> mount_specs;  // the --mount values as written, for expansion
  std::vector<Device> devices;
  NetworkMode network = NetworkMode::kDefault;
  SecurityMode security = SecurityMode::kSandbox;
  std::vector<std::string> flags_used;  // names, in the order given
};
struct CmdCommand { ShellDependantCmdLine cmd; };
struct EntrypointCommand { ShellDependantCmdLine cmd; };
struct ShellCommand { std::vector<std::string> shell; };
struct LabelCommand { std::vector<KeyValuePair> labels; };
struct MaintainerCommand { std::string maintainer; };
struct ExposeCommand { std::vector<std::string> ports; };  // sorted
struct EnvCommand { std::vector<KeyValuePair> env; };
struct AddCommand {
  SourcesAndDest sources_and_dest;
  std::string chown;
  std::string chmod;
  bool link = false;
  std::optional<bool> keep_git_dir;
  std::string checksum;
  std::optional<bool> unpack;
  std::vector<std::string> exclude_patterns;
};
struct CopyCommand {
  SourcesAndDest sources_and_dest;
  std::string from;
  std::string chown;
  std::string chmod;
  bool link = false;
  bool parents = false;
  std::vector<std::string> exclude_patterns;
};
struct VolumeCommand { std::vector<std::string> volumes; };
struct UserCommand { std::string user; };
struct WorkdirCommand { std::string path; };
struct ArgCommand { std::vector<KeyValuePairOptional> args; };
// The trigger's source text (instruction keyword removed), heredoc bodies appended.
struct OnbuildCommand { std::string expression; };
struct StopSignalCommand { std::string signal; };
struct HealthCheckCommand { HealthConfig health; };

using Command =
    std::variant<FromCommand, RunCommand, CmdCommand, EntrypointCommand, ShellCommand,
                 LabelCommand, MaintainerCommand, ExposeCommand, EnvCommand, AddCommand,
                 CopyCommand, VolumeCommand, UserCommand, WorkdirCommand, ArgCommand,
                 OnbuildCommand, StopSignalCommand, HealthCheckCommand>;

// One typed instruction and where it came from.
struct Instruction {
  std::string name;  // the keyword, lower-case
  std::string code;  // the original line, trimmed
  int start_line = 0;
  int end_line = 0;
  Command command;
};

// Turns one instruction node (a child of the AST root) into a typed instruction. Errors are
// kInvalidArgument, prefixed as the parser's are: `Dockerfile:3: unknown flag: --boo`.
Result<Instruction> ParseInstruction(const Node& node);

// Parses every instruction under the root.
Result<std::vector<Instruction>> ParseInstructions(const Node& root);

// Parses one --mount value (`type=cache,target=/root/.cache,sharing=locked`).
Result<Mount> ParseMount(std::string_view value);
// The same with every `key=value` value expanded first (the conversion's pass, which sees the
// stage's ARG and ENV values); `from` may then hold what a variable expanded to.
Result<Mount> ParseMount(std::string_view value,
                         const std::function<Result<std::string>(const std::string&)>& expand);

// Parses one --device value (`vendor.com/dev=foo,required`).
Result<Device> ParseDevice(std::string_view value);

// Go's time.ParseDuration ("1m30s", "250ms").
Result<std::chrono::nanoseconds> ParseGoDuration(std::string_view s);

// The closest of `options` to `value` within edit distance 2, cased like `value` when
// `case_sensitive` is false; nullopt when none, or when `value` is one of them.
std::optional<std::string> SuggestName(std::string_view value,
                                       const std::vector<std::string>& options,
                                       bool case_sensitive);

}  // namespace hoist::frontend::dockerfile
