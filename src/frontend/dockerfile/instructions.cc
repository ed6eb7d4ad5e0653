// AST instruction nodes to typed commands, following BuildKit's instructions/parse.go.
#include "frontend/dockerfile/instructions.h"
#include "frontend/dockerfile/internal/instruction_text.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <regex>

#include <fmt/format.h>

namespace hoist::frontend::dockerfile {
namespace {

using internal::Invalid;
using internal::Lower;
using internal::Upper;
std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// BuildKit's BFlags: `--name=value` words checked against the flags an instruction declares.
class BFlags {
 public:
  enum class Type { kBool, kString, kStrings };
  struct Flag {
    Type type;
    std::string value;
    std::vector<std::string> values;
  };

  explicit BFlags(const std::vector<std::string>& args) : args_(args) {}

  Flag* Add(const std::string& name, Type type, std::string default_value = "") {
    Flag& f = flags_[name];
    f.type = type;
    f.value = std::move(default_value);
    return &f;
  }
  bool Used(const std::string& name) const {
    return std::find(used_.begin(), used_.end(), name) != used_.end();
  }
  const std::vector<std::string>& used() const { return used_; }

  Status Parse() {
    for (const std::string& a : args_) {
      if (a == "--") return OkStatus();
      if (a.rfind("--", 0) != 0) return Invalid("arg should start with -- : " + a);
      size_t eq = a.find('=');
      bool has_value = eq != std::string::npos;
      std::string flag_name = a.substr(0, eq);
      std::string value = has_value ? a.substr(eq + 1) : "";
      std::string name = flag_name.substr(2);
      auto it = flags_.find(name);
      if (it == flags_.end()) {
        std::vector<std::string> names;
        for (const auto& [n, _] : flags_) names.push_back(n);
        std::string message = "unknown flag: " + flag_name;
        if (auto match = SuggestName(name, names, true)) {
          message += fmt::format(" (did you mean {}?)", *match);
        }
        return Invalid(std::move(message));
      }
      Flag& flag = it->second;
      if (Used(name) && flag.type != Type::kStrings) {
        return Invalid("duplicate flag specified: " + flag_name);
      }
      if (!Used(name)) used_.push_back(name);
      switch (flag.type) {
        case Type::kBool: {
          if (has_value && value.empty()) return Invalid("missing a value on flag: " + flag_name);
          std::string v = Lower(value);
          if (v == "true" || v.empty()) {
            flag.value = "true";
          } else if (v == "false") {
            flag.value = "false";
          } else {
            return Invalid(fmt::format("expecting boolean value for flag {}, not: {}", flag_name,
                                       value));
          }
          break;
        }
        case Type::kString:
          if (!has_value) return Invalid("missing a value on flag: " + flag_name);
          flag.value = value;
          break;
        case Type::kStrings:
          if (!has_value) return Invalid("missing a value on flag: " + flag_name);
          flag.values.push_back(value);
          break;
      }
    }
    return OkStatus();
  }

 private:
  std::vector<std::string> args_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> used_;
};

struct Request {
  const Node& node;
  std::string command;
  std::vector<std::string> args;
  BFlags flags;
};

void AppendArgs(const Node& node, std::vector<std::string>* out) {
  for (const Node& arg : node.next) {
    if (arg.children.empty()) {
      out->push_back(arg.value);
    } else if (arg.children.size() == 1) {
      out->push_back(arg.children[0].value);
      AppendArgs(arg.children[0], out);
    }
  }
}

tl::unexpected<Error> AtLeastOne(std::string_view cmd) {
  return Invalid(fmt::format("{} requires at least one argument", cmd));
}
tl::unexpected<Error> ExactlyOne(std::string_view cmd) {
  return Invalid(fmt::format("{} requires exactly one argument", cmd));
}
tl::unexpected<Error> NoDestination(std::string_view cmd) {
  return Invalid(fmt::format(
      "{} requires at least two arguments, but only one was provided. Destination could not be "
      "determined",
      cmd));
}
tl::unexpected<Error> BlankNames(std::string_view cmd) {
  return Invalid(fmt::format("{} names can not be blank", cmd));
}

std::vector<std::string> HandleJsonArgs(const std::vector<std::string>& args, bool json) {
  if (args.empty()) return {};
  if (json) return args;
  std::string joined;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) joined += ' ';
    joined += args[i];
  }
  return {joined};
}

Result<std::vector<KeyValuePair>> ParseKvps(const std::vector<std::string>& args,
                                            std::string_view cmd) {
  if (args.empty()) return AtLeastOne(cmd);
  if (args.size() % 3 != 0) return Invalid(fmt::format("Bad input to {}, too many arguments", cmd));
  std::vector<KeyValuePair> out;
  for (size_t j = 0; j < args.size(); j += 3) {
    if (args[j].empty()) return BlankNames(cmd);
    out.push_back({args[j], args[j + 1], args[j + 2].empty()});
  }
  return out;
}

std::optional<Heredoc> MaybeHeredoc(std::string_view word) {
  auto h = ParseHeredoc(word);
  if (!h) return std::nullopt;
  return *h;
}

Result<SourcesAndDest> ParseSourcesAndDest(const Request& req, std::string_view cmd) {
  SourcesAndDest out;
  out.dest_path = req.args.back();
  if (MaybeHeredoc(out.dest_path)) {
    return Invalid(fmt::format("{} cannot accept a heredoc as a destination", cmd));
  }
  for (size_t i = 0; i + 1 < req.args.size(); ++i) {
    const std::string& src = req.args[i];
    if (auto h = MaybeHeredoc(src)) {
      std::string content;
      for (const Heredoc& d : req.node.heredocs) {
        if (d.name == h->name) content = d.content;  // the last one wins, as a map would
      }
      if (h->chomp) content = ChompHeredocContent(content);
      out.source_contents.push_back({h->name, content, h->expand});
    } else {
      out.source_paths.push_back(src);
    }
  }
  return out;
}

ShellDependantCmdLine ShellDependent(const Request& req, const std::vector<std::string>& args) {
  ShellDependantCmdLine out;
  for (const Heredoc& h : req.node.heredocs) out.files.push_back({h.name, h.content, h.chomp});
  out.cmd_line = HandleJsonArgs(args, req.node.json);
  out.prepend_shell = !req.node.json;
  return out;
}

Result<Command> ParseFrom(Request& req) {
  std::string name;
  const auto& a = req.args;
  if (a.size() == 3 && Lower(a[1]) == "as") {
    name = Lower(a[2]);
    static const std::regex kValid("^[a-z][a-z0-9-_.]*$");
    if (!std::regex_match(name, kValid)) {
      return Invalid(fmt::format(
          "invalid name for build stage: \"{}\", name can't start with a number or contain "
          "symbols",
          a[2]));
    }
  } else if (a.size() != 1) {
    return Invalid("FROM requires either one or three arguments");
  }
  auto* platform = req.flags.Add("platform", BFlags::Type::kString);
  HOIST_TRY(req.flags.Parse());
  return FromCommand{a[0], name, platform->value};
}

Result<Command> ParseRun(Request& req) {
  auto* mounts = req.flags.Add("mount", BFlags::Type::kStrings);
  auto* network = req.flags.Add("network", BFlags::Type::kString, "default");
  auto* security = req.flags.Add("security", BFlags::Type::kString, "sandbox");
  auto* devices = req.flags.Add("device", BFlags::Type::kStrings);
  HOIST_TRY(req.flags.Parse());
  RunCommand cmd;
  cmd.flags_used = req.flags.used();
  cmd.cmd = ShellDependent(req, req.args);
  for (const std::string& m : mounts->values) {
    HOIST_ASSIGN_OR_RETURN(Mount mount, ParseMount(m));
    cmd.mounts.push_back(std::move(mount));
    cmd.mount_specs.push_back(m);
  }
  for (const std::string& d : devices->values) {
    HOIST_ASSIGN_OR_RETURN(Device device, ParseDevice(d));
    cmd.devices.push_back(std::move(device));
  }
  if (network->value == "default") {
    cmd.network = NetworkMode::kDefault;
  } else if (network->value == "none") {
    cmd.network = NetworkMode::kNone;
  } else if (network->value == "host") {
    cmd.network = NetworkMode::kHost;
  } else {
    return Invalid(fmt::format("invalid network mode \"{}\"", network->value));
  }
  if (security->value == "sandbox") {
    cmd.security = SecurityMode::kSandbox;
  } else if (security->value == "insecure") {
    cmd.security = SecurityMode::kInsecure;
  } else {
    return Invalid(fmt::format("security \"{}\" is not valid", security->value));
  }
  return cmd;
}

Result<std::chrono::nanoseconds> ParseOptInterval(const std::string& name,
                                                  const std::string& value) {
  if (value.empty()) return std::chrono::nanoseconds(0);
  HOIST_ASSIGN_OR_RETURN(auto d, ParseGoDuration(value));
  if (d.count() == 0) return d;
  if (d < std::chrono::milliseconds(1)) {
    return Invalid(fmt::format("Interval \"{}\" cannot be less than 1ms", name));
  }
  return d;
}

Result<Command> ParseHealthcheck(Request& req) {
  if (req.args.empty()) return AtLeastOne("HEALTHCHECK");
  std::string type = Upper(req.args[0]);
  std::vector<std::string> args(req.args.begin() + 1, req.args.end());
  HealthCheckCommand cmd;
  if (type == "NONE") {
    if (!args.empty()) return Invalid("HEALTHCHECK NONE takes no arguments");
    cmd.health.test = {type};
    return cmd;
  }
  const char* kDurations[] = {"interval", "timeout", "start-period", "start-interval"};
  BFlags::Flag* durations[4];
  for (int i = 0; i < 4; ++i) durations[i] = req.flags.Add(kDurations[i], BFlags::Type::kString);
  auto* retries = req.flags.Add("retries", BFlags::Type::kString);
  HOIST_TRY(req.flags.Parse());
  if (type != "CMD") {
    return Invalid(fmt::format("Unknown type \"{}\" in HEALTHCHECK (try CMD)", type));
  }
  std::vector<std::string> cmd_slice = HandleJsonArgs(args, req.node.json);
  if (cmd_slice.empty()) return Invalid("Missing command after HEALTHCHECK CMD");
  if (!req.node.json) type = "CMD-SHELL";
  cmd.health.test.push_back(type);
  cmd.health.test.insert(cmd.health.test.end(), cmd_slice.begin(), cmd_slice.end());
  std::chrono::nanoseconds* targets[] = {&cmd.health.interval, &cmd.health.timeout,
                                         &cmd.health.start_period, &cmd.health.start_interval};
  for (int i = 0; i < 4; ++i) {
    HOIST_ASSIGN_OR_RETURN(*targets[i], ParseOptInterval(kDurations[i], durations[i]->value));
  }
  if (!retries->value.empty()) {
    const std::string& v = retries->value;
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < INT32_MIN || n > INT32_MAX) {
      return Invalid(fmt::format("strconv.ParseInt: parsing \"{}\": invalid syntax", v));
    }
    if (n < 0) return Invalid(fmt::format("--retries cannot be negative ({})", n));
    cmd.health.retries = static_cast<int>(n);
  }
  return cmd;
}

Result<Command> ParseOnbuild(Request& req) {
  if (req.args.empty()) return AtLeastOne("ONBUILD");
  HOIST_TRY(req.flags.Parse());
  std::string trigger = Upper(TrimSpace(req.args[0]));
  if (trigger == "ONBUILD") return Invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (trigger == "MAINTAINER" || trigger == "FROM") {
    return Invalid(trigger + " isn't allowed as an ONBUILD trigger");
  }
  static const std::regex kPrefix("^\\s*[Oo][Nn][Bb][Uu][Ii][Ll][Dd]\\s*");
  std::string expression = std::regex_replace(req.node.original, kPrefix, "",
                                              std::regex_constants::format_first_only);
  for (const Heredoc& h : req.node.heredocs) expression += "\n" + h.content + h.name;
  return OnbuildCommand{expression};
}

Result<Command> ParseByName(Request& req, const std::string& name) {
  auto& a = req.args;
  using T = BFlags::Type;
  if (name == "env" || name == "label") {
    HOIST_TRY(req.flags.Parse());
    HOIST_ASSIGN_OR_RETURN(auto kvps, ParseKvps(a, name == "env" ? "ENV" : "LABEL"));
    if (name == "env") return EnvCommand{std::move(kvps)};
    return LabelCommand{std::move(kvps)};
  }
  if (name == "maintainer" || name == "workdir" || name == "user") {
    if (a.size() != 1) return ExactlyOne(Upper(name));
    HOIST_TRY(req.flags.Parse());
    if (name == "maintainer") return MaintainerCommand{a[0]};
    if (name == "workdir") return WorkdirCommand{a[0]};
    return UserCommand{a[0]};
  }
  if (name == "stopsignal") {
    if (a.size() != 1) return ExactlyOne("STOPSIGNAL");
    return StopSignalCommand{a[0]};
  }
  if (name == "add") {
    if (a.size() < 2) return NoDestination("ADD");
    auto* chown = req.flags.Add("chown", T::kString);
    auto* chmod = req.flags.Add("chmod", T::kString);
    auto* link = req.flags.Add("link", T::kBool, "false");
    auto* keep_git = req.flags.Add("keep-git-dir", T::kBool, "false");
    auto* checksum = req.flags.Add("checksum", T::kString);
    auto* unpack = req.flags.Add("unpack", T::kBool, "false");
    auto* excludes = req.flags.Add("exclude", T::kStrings);
    HOIST_TRY(req.flags.Parse());
    HOIST_ASSIGN_OR_RETURN(auto sd, ParseSourcesAndDest(req, "ADD"));
    AddCommand cmd{std::move(sd), chown->value, chmod->value, link->value == "true",
                   std::nullopt, checksum->value, std::nullopt, excludes->values};
    if (req.flags.Used("keep-git-dir")) cmd.keep_git_dir = keep_git->value == "true";
    if (req.flags.Used("unpack")) cmd.unpack = unpack->value == "true";
    return cmd;
  }
  if (name == "copy") {
    if (a.size() < 2) return NoDestination("COPY");
    auto* chown = req.flags.Add("chown", T::kString);
    auto* from = req.flags.Add("from", T::kString);
    auto* chmod = req.flags.Add("chmod", T::kString);
    auto* link = req.flags.Add("link", T::kBool, "false");
    auto* excludes = req.flags.Add("exclude", T::kStrings);
    auto* parents = req.flags.Add("parents", T::kBool, "false");
    HOIST_TRY(req.flags.Parse());
    HOIST_ASSIGN_OR_RETURN(auto sd, ParseSourcesAndDest(req, "COPY"));
    return CopyCommand{std::move(sd), from->value, chown->value, chmod->value,
                       link->value == "true", parents->value == "true", excludes->values};
  }
  if (name == "from") return ParseFrom(req);
  if (name == "onbuild") return ParseOnbuild(req);
  if (name == "run") return ParseRun(req);
  if (name == "cmd" || name == "entrypoint") {
    HOIST_TRY(req.flags.Parse());
    ShellDependantCmdLine line = ShellDependent(req, a);
    if (name == "cmd") return CmdCommand{std::move(line)};
    return EntrypointCommand{std::move(line)};
  }
  if (name == "healthcheck") return ParseHealthcheck(req);
  if (name == "expose") {
    if (a.empty()) return AtLeastOne("EXPOSE");
    HOIST_TRY(req.flags.Parse());
    std::vector<std::string> ports = a;
    std::sort(ports.begin(), ports.end());
    return ExposeCommand{std::move(ports)};
  }
  if (name == "volume") {
    if (a.empty()) return AtLeastOne("VOLUME");
    HOIST_TRY(req.flags.Parse());
    VolumeCommand cmd;
    for (const std::string& v : a) {
      std::string_view t = TrimSpace(v);
      if (t.empty()) return Invalid("VOLUME specified can not be an empty string");
      cmd.volumes.emplace_back(t);
    }
    return cmd;
  }
  if (name == "arg") {
    if (a.empty()) return AtLeastOne("ARG");
    ArgCommand cmd;
    for (const std::string& arg : a) {
      size_t eq = arg.find('=');
      if (eq == std::string::npos) {
        cmd.args.push_back({arg, std::nullopt});
      } else {
        if (eq == 0) return BlankNames("ARG");
        cmd.args.push_back({arg.substr(0, eq), arg.substr(eq + 1)});
      }
    }
    return cmd;
  }
  if (name == "shell") {
    HOIST_TRY(req.flags.Parse());
    std::vector<std::string> shell = HandleJsonArgs(a, req.node.json);
    if (shell.empty()) return AtLeastOne("SHELL");
    if (!req.node.json) {
      return Invalid(fmt::format("SHELL requires the arguments to be in JSON form"));
    }
    return ShellCommand{std::move(shell)};
  }
  static const std::vector<std::string> kNames = {
      "ADD",     "ARG",        "CMD",    "COPY",  "ENTRYPOINT", "ENV",  "EXPOSE",
      "FROM",    "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL",
      "STOPSIGNAL", "USER",    "VOLUME", "WORKDIR"};
  std::string message = "unknown instruction: " + req.node.value;
  if (auto match = SuggestName(req.node.value, kNames, false)) {
    message += fmt::format(" (did you mean {}?)", *match);
  }
  return Invalid(std::move(message));
}

}  // namespace

Result<Instruction> ParseInstruction(const Node& node) {
  Request req{node, node.value, {}, BFlags(node.flags)};
  AppendArgs(node, &req.args);
  std::string name = Lower(node.value);
  auto command = ParseByName(req, name);
  if (!command) {
    std::string message = command.error().message();
    if (node.start_line <= 0) return Invalid("Dockerfile: " + message);
    return Invalid(fmt::format("Dockerfile:{}: {}", node.start_line, message));
  }
  return Instruction{name, std::string(TrimSpace(node.original)), node.start_line, node.end_line,
                     std::move(*command)};
}

Result<std::vector<Instruction>> ParseInstructions(const Node& root) {
  std::vector<Instruction> out;
  for (const Node& child : root.children) {
    HOIST_ASSIGN_OR_RETURN(Instruction instruction, ParseInstruction(child));
    out.push_back(std::move(instruction));
  }
  return out;
}

}  // namespace hoist::frontend::dockerfile
