// Dispatch of the instructions that change a stage's metadata and image config (ENV, LABEL,
// WORKDIR, USER, CMD, ENTRYPOINT, HEALTHCHECK, EXPOSE, VOLUME, STOPSIGNAL, SHELL, ARG,
// MAINTAINER, ONBUILD), word expansion, history entries and the helpers the other dispatchers
// share, as BuildKit's dockerfile2llb dispatch* functions.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "frontend/dockerfile/internal/convert_state.h"
#include "frontend/dockerfile/internal/parser_go_text.h"

namespace hoist::frontend::dockerfile::internal {

void ArgList::AddOrReplace(std::string_view key, std::string_view value) {
  for (auto& [k, v] : kv_) {
    if (k == key) {
      v = value;
      return;
    }
  }
  kv_.emplace_back(key, value);
}

void ArgList::Delete(std::string_view key) {
  std::erase_if(kv_, [&](const auto& p) { return p.first == key; });
}

std::optional<std::string> ArgList::Get(std::string_view key) const {
  for (const auto& [k, v] : kv_) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::vector<std::string> ArgList::Keys() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : kv_) out.push_back(k);
  return out;
}

std::vector<std::string> ArgList::Entries() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : kv_) out.push_back(k + "=" + v);
  return out;
}

void DispatchState::AddDep(DispatchState* src, const Instruction& instr) {
  for (auto& [s, i] : deps) {
    if (s == src) {
      i = instr;
      return;
    }
  }
  deps.emplace_back(src, instr);
}

void DispatchState::Init() {
  if (base == nullptr) return;
  state = base->state;
  platform = base->platform;
  image = base->image;
  image.config.on_build.clear();
  base_img = base->base_img;
  workdir_set = base->workdir_set;
  build_args.insert(build_args.end(), base->build_args.begin(), base->build_args.end());
}

ShellLex MakeLex(const DispatchContext& dctx, bool raw_quotes, bool skip_unset) {
  ShellLexOptions o;
  o.escape_token = static_cast<char32_t>(dctx.escape_token);
  o.raw_quotes = raw_quotes;
  o.skip_unset_env = skip_unset;
  return ShellLex(o);
}

ShellEnvList EnvOf(const llb::State& state) { return ShellEnvList(state.EnvList()); }

Error AtLine(Error err, int line) {
  if (line <= 0 || err.message().rfind("Dockerfile:", 0) == 0) return err;
  return Error(err.code(), fmt::format("Dockerfile:{}: {}", line, err.message()));
}

tl::unexpected<Error> ErrorAt(int line, std::string message) {
  return tl::unexpected(AtLine(Error(Code::kInvalidArgument, std::move(message)), line));
}

std::string DefaultPathEnv(std::string_view os) {
  if (os == "windows") return "c:\\Windows\\System32;c:\\Windows";
  return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

oci::ImageConfig EmptyImage(const oci::Platform& p) {
  oci::ImageConfig img;
  img.architecture = p.architecture;
  img.os = p.os;
  img.os_version = p.os_version;
  img.os_features = p.os_features;
  img.variant = p.variant;
  img.rootfs.type = "layers";
  img.config.working_dir = "/";
  if (p.os != "windows") img.config.env = {"PATH=" + DefaultPathEnv(p.os)};
  return img;
}

std::string FormatRfc3339(int64_t epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void CommitToHistory(oci::ImageConfig& img, std::string msg, bool with_layer, bool buildkit,
                     const std::optional<int64_t>& epoch) {
  if (buildkit) msg += " # buildkit";
  oci::History h;
  h.created_by = std::move(msg);
  h.comment = "buildkit.dockerfile.v0";
  h.empty_layer = !with_layer;
  if (epoch) h.created = FormatRfc3339(*epoch);
  img.history.push_back(std::move(h));
}

std::string UppercaseCmd(std::string_view s) {
  size_t sp = s.find(' ');
  std::string head(s.substr(0, sp));
  for (char& c : head) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (sp == std::string_view::npos) return head;
  return head + std::string(s.substr(sp));
}

std::string ProcessCmdEnv(const ShellLex& lex, std::string_view cmd, const ShellEnv& env) {
  auto r = lex.ProcessWord(cmd, env);
  return r ? *r : std::string(cmd);
}

std::string PrefixCommand(DispatchState& d, std::string_view str, const DispatchContext& dctx) {
  (void)dctx;  // one target platform: no platform prefix (BuildKit adds one for several)
  if (d.cmd_total == 0) return std::string(str);
  std::string out = "[";
  if (!d.stage_name.empty()) out += d.stage_name + " ";
  ++d.cmd_index;
  int width = static_cast<int>(1 + std::log10(static_cast<double>(d.cmd_total)));
  out += fmt::format("{:>{}}/{}] ", d.cmd_index, width, d.cmd_total);
  if (d.cmd_is_onbuild) out += "ONBUILD ";
  return out + std::string(str);
}

std::vector<std::string> WithShell(const oci::ImageConfig& img,
                                   const std::vector<std::string>& args) {
  std::vector<std::string> shell;
  if (img.config.shell && !img.config.shell->empty()) {
    shell = *img.config.shell;
  } else if (img.os == "windows") {
    shell = {"cmd", "/S", "/C"};
  } else {
    shell = {"/bin/sh", "-c"};
  }
  std::string joined;
  for (size_t i = 0; i < args.size(); ++i) joined += (i ? " " : "") + args[i];
  shell.push_back(joined);
  return shell;
}

std::map<std::string, std::string> DfCmd(std::string_view code, int start_line, int end_line) {
  std::map<std::string, std::string> d = {{"com.docker.dockerfile.v1.command", std::string(code)}};
  if (start_line > 0) {
    d[std::string(kDescriptionDockerfileLines)] = fmt::format("{}:{}", start_line, end_line);
  }
  return d;
}

llb::OpOptions OpWithName(std::string name, std::string_view code) {
  llb::OpOptions o;
  o.custom_name = std::move(name);
  o.description = DfCmd(code);
  return o;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return CleanPath(b);
  if (b.empty()) return CleanPath(a);
  return CleanPath(std::string(a) + "/" + std::string(b));
}

namespace {


// Go's %v of a []string: [a b c].
std::string GoList(const std::vector<std::string>& v) {
  return fmt::format("[{}]", fmt::join(v, " "));
}

// Go's time.Duration.String().
std::string GoDuration(int64_t ns) {
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  uint64_t u = ns < 0 ? static_cast<uint64_t>(-ns) : static_cast<uint64_t>(ns);
  auto frac = [](uint64_t v, int digits) {
    std::string s = fmt::format("{:0{}}", v, digits);
    while (!s.empty() && s.back() == '0') s.pop_back();
    return s.empty() ? "" : "." + s;
  };
  if (u < 1000) return sign + fmt::format("{}ns", u);
  if (u < 1000000) return sign + fmt::format("{}{}µs", u / 1000, frac(u % 1000, 3));
  if (u < 1000000000) return sign + fmt::format("{}{}ms", u / 1000000, frac(u % 1000000, 6));
  uint64_t secs = u / 1000000000;
  std::string s = fmt::format("{}{}s", secs % 60, frac(u % 1000000000, 9));
  uint64_t mins = secs / 60;
  if (mins == 0) return sign + s;
  s = fmt::format("{}m", mins % 60) + s;
  uint64_t hours = mins / 60;
  if (hours == 0) return sign + s;
  return sign + fmt::format("{}h", hours) + s;
}

bool ValidSignal(const std::string& sig) {
  static const std::vector<std::string> kNames = {
      "ABRT", "ALRM",   "BUS",  "CHLD",   "CLD",   "CONT", "FPE",  "HUP",   "ILL",
      "INT",  "IO",     "IOT",  "KILL",   "PIPE",  "POLL", "PROF", "PWR",   "QUIT",
      "SEGV", "STKFLT", "STOP", "SYS",    "TERM",  "TRAP", "TSTP", "TTIN",  "TTOU",
      "URG",  "USR1",   "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX"};
  if (!sig.empty() && std::all_of(sig.begin(), sig.end(), ::isdigit)) {
    long n = std::strtol(sig.c_str(), nullptr, 10);
    return n > 0 && n <= 64;
  }
  std::string s = sig;
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  if (std::find(kNames.begin(), kNames.end(), s) != kNames.end()) return true;
  for (const char* rt : {"RTMIN+", "RTMAX-"}) {
    if (s.rfind(rt, 0) == 0) {
      std::string n = s.substr(6);
      return !n.empty() && std::all_of(n.begin(), n.end(), ::isdigit) && std::stoi(n) <= 15;
    }
  }
  return false;
}

Result<int> ParsePortNumber(const std::string& raw) {
  if (raw.empty()) return MakeError(Code::kInvalidArgument, "value is empty");
  if (!std::all_of(raw.begin(), raw.end(), ::isdigit) || raw.size() > 6) {
    return MakeError(Code::kInvalidArgument, "invalid syntax");
  }
  int n = std::stoi(raw);
  if (n > 65535) return MakeError(Code::kInvalidArgument, "value out of range (0–65535)");
  return n;
}

Result<std::pair<int, int>> ParsePortRange(const std::string& ports) {
  if (ports.empty()) return MakeError(Code::kInvalidArgument, "empty string specified for ports");
  size_t dash = ports.find('-');
  std::string start = ports.substr(0, dash);
  auto s = ParsePortNumber(start);
  if (!s) return MakeError(Code::kInvalidArgument, "invalid start port");
  if (dash == std::string::npos) return std::make_pair(*s, *s);
  std::string end = ports.substr(dash + 1);
  if (end == start) return std::make_pair(*s, *s);
  auto e = ParsePortNumber(end);
  if (!e || *e < *s) return MakeError(Code::kInvalidArgument, "invalid port range");
  return std::make_pair(*s, *e);
}

// BuildKit's parsePort: `[ip:][host:]port[-end][/proto]` → "port/proto" entries.
Result<std::vector<std::string>> ParsePort(const std::string& raw) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (true) {
    size_t j = raw.find(':', i);
    parts.push_back(raw.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  std::string host_port = parts.size() >= 2 ? parts[parts.size() - 2] : "";
  std::string container = parts.back();
  size_t slash = container.find('/');
  std::string port = container.substr(0, slash);
  std::string proto = slash == std::string::npos ? "" : container.substr(slash + 1);
  std::string lproto = proto;
  for (char& c : lproto) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (port.empty()) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("invalid port: {}: no port specified", internal::Quote(raw)));
  }
  if (lproto.empty()) {
    lproto = "tcp";
  } else if (lproto != "tcp" && lproto != "udp" && lproto != "sctp") {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("invalid port: {}: invalid proto: {}", internal::Quote(raw), proto));
  }
  auto range = ParsePortRange(port);
  if (!range) return MakeError(Code::kInvalidArgument, "invalid containerPort: " + port);
  if (!host_port.empty()) {
    auto hr = ParsePortRange(host_port);
    if (!hr) return MakeError(Code::kInvalidArgument, "invalid hostPort: " + host_port);
    if (range->second - range->first != hr->second - hr->first && range->second != range->first) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("invalid ranges specified for container and host Ports: {} "
                                   "and {}",
                                   port, host_port));
    }
  }
  std::vector<std::string> out;
  for (int p = range->first; p <= range->second; ++p)
    out.push_back(fmt::format("{}/{}", p, lproto));
  return out;
}

Result<std::string> Expand(const std::string& word, const ShellLex& lex, const llb::State& st) {
  return lex.ProcessWord(word, EnvOf(st));
}

Result<void> ExpandAll(std::vector<std::string>& words, const ShellLex& lex, const llb::State& st) {
  for (std::string& w : words) {
    HOIST_ASSIGN_OR_RETURN(w, Expand(w, lex, st));
  }
  return {};
}

Result<void> ExpandSources(SourcesAndDest& sd, const ShellLex& lex, const llb::State& st) {
  HOIST_TRY(ExpandAll(sd.source_paths, lex, st));
  HOIST_ASSIGN_OR_RETURN(sd.dest_path, Expand(sd.dest_path, lex, st));
  ShellLexOptions raw;
  raw.skip_process_quotes = true;
  ShellLex raw_lex(raw);
  for (SourceContent& c : sd.source_contents) {
    if (!c.expand) continue;
    HOIST_ASSIGN_OR_RETURN(c.data, raw_lex.ProcessWord(c.data, EnvOf(st)));
  }
  return {};
}

Result<void> DispatchArg(DispatchState& d, const ArgCommand& c, DispatchContext& dctx) {
  std::vector<std::string> commit;
  ShellLex lex = MakeLex(dctx);
  for (KeyValuePairOptional arg : c.args) {
    auto bv = dctx.opts->build_args.find(arg.key);
    bool has_value = bv != dctx.opts->build_args.end();
    if (arg.key == "SOURCE_DATE_EPOCH" && dctx.epoch && !has_value) {
      arg.value = std::to_string(*dctx.epoch);
    } else if (!arg.value && !has_value) {
      if (auto g = dctx.global_args.Get(arg.key)) arg.value = *g;
    }
    if (has_value) {
      arg.value = bv->second;
    } else if (arg.value) {
      HOIST_ASSIGN_OR_RETURN(arg.value, Expand(*arg.value, lex, d.state));
    }
    if (arg.value && arg.key != "BUILDKIT_SBOM_SCAN_CONTEXT" &&
        arg.key != "BUILDKIT_SBOM_SCAN_STAGE") {
      d.state = d.state.AddEnv(arg.key, *arg.value);
    }
    d.build_args.push_back(arg);
    commit.push_back(arg.value ? arg.key + "=" + *arg.value : arg.key);
  }
  CommitToHistory(d.image, "ARG " + fmt::format("{}", fmt::join(commit, " ")), false, false,
                  dctx.epoch);
  return {};
}

}  // namespace

std::string GoQuoteList(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const std::string& s : v) q.push_back(internal::Quote(s));
  return fmt::format("[{}]", fmt::join(q, " "));
}

Result<void> DispatchWorkdir(DispatchState& d, const std::string& path, bool commit,
                             DispatchContext& dctx, const Instruction* in) {
  if (commit) d.workdir_set = true;
  if (path.empty()) {
    return MakeError(Code::kInvalidArgument, "normalizing workdir: cannot normalize nothing");
  }
  std::string wd =
      path[0] == '/' ? CleanPath(path) : JoinPath(JoinPath("/", d.image.config.working_dir), path);
  d.image.config.working_dir = wd;
  d.state = d.state.Dir(wd);
  if (!commit) return {};
  bool with_layer = false;
  if (wd != "/") {
    llb::MkdirOptions mo;
    mo.make_parents = true;
    if (!d.image.config.user.empty()) mo.chown = llb::ParseChown(d.image.config.user);
    if (dctx.epoch) mo.created_time = *dctx.epoch * 1000000000LL;
    llb::OpOptions op;
    op.platform = d.platform;
    if (in != nullptr) {
      ShellLex lex = MakeLex(dctx);
      op.custom_name =
          PrefixCommand(d, UppercaseCmd(ProcessCmdEnv(lex, in->code, EnvOf(d.state))), dctx);
    }
    d.state = d.state.File(llb::Mkdir(wd, 0755, mo), op);
    with_layer = true;
  }
  CommitToHistory(d.image, "WORKDIR " + wd, with_layer, false, dctx.epoch);
  return {};
}

void DispatchUser(DispatchState& d, const std::string& user, bool commit,
                  const DispatchContext& dctx) {
  d.state = d.state.User(user);
  d.image.config.user = user;
  if (commit) CommitToHistory(d.image, "USER " + user, false, false, dctx.epoch);
}

Result<void> Dispatch(DispatchState& d, Command& cmd, DispatchContext& dctx) {
  d.cmd_is_onbuild = cmd.is_onbuild;
  ShellLex lex = MakeLex(dctx);
  Instruction& in = cmd.instr;
  oci::ImageConfig& img = d.image;
  const auto& epoch = dctx.epoch;
  if (auto* c = std::get_if<EnvCommand>(&in.command)) {
    std::string msg = "ENV";
    for (KeyValuePair e : c->env) {
      HOIST_ASSIGN_OR_RETURN(e.key, Expand(e.key, lex, d.state));
      HOIST_ASSIGN_OR_RETURN(e.value, Expand(e.value, lex, d.state));
      msg += " " + e.key + "=" + e.value;
      d.state = d.state.AddEnv(e.key, e.value);
      bool found = false;
      for (std::string& kv : img.config.env) {
        if (kv.substr(0, kv.find('=')) == e.key) {
          kv = e.key + "=" + e.value;
          found = true;
          break;
        }
      }
      if (!found) img.config.env.push_back(e.key + "=" + e.value);
    }
    CommitToHistory(img, msg, false, false, epoch);
  } else if (auto* c = std::get_if<LabelCommand>(&in.command)) {
    std::string msg = "LABEL";
    for (KeyValuePair l : c->labels) {
      HOIST_ASSIGN_OR_RETURN(l.key, Expand(l.key, lex, d.state));
      HOIST_ASSIGN_OR_RETURN(l.value, Expand(l.value, lex, d.state));
      img.config.labels[l.key] = l.value;
      msg += " " + l.key + "=" + l.value;
    }
    CommitToHistory(img, msg, false, false, epoch);
  } else if (auto* c = std::get_if<MaintainerCommand>(&in.command)) {
    img.author = c->maintainer;
    CommitToHistory(img, "MAINTAINER " + c->maintainer, false, false, epoch);
  } else if (auto* c = std::get_if<WorkdirCommand>(&in.command)) {
    HOIST_ASSIGN_OR_RETURN(std::string path, Expand(c->path, lex, d.state));
    HOIST_TRY(DispatchWorkdir(d, path, true, dctx, &in));
  } else if (auto* c = std::get_if<UserCommand>(&in.command)) {
    HOIST_ASSIGN_OR_RETURN(std::string user, Expand(c->user, lex, d.state));
    DispatchUser(d, user, true, dctx);
  } else if (auto* c = std::get_if<CmdCommand>(&in.command)) {
    std::vector<std::string> args = c->cmd.cmd_line;
    if (c->cmd.prepend_shell) args = WithShell(img, args);
    img.config.cmd = args;
    img.config.args_escaped = true;
    d.cmd_set = true;
    CommitToHistory(img, "CMD " + GoQuoteList(args), false, false, epoch);
  } else if (auto* c = std::get_if<EntrypointCommand>(&in.command)) {
    std::vector<std::string> args = c->cmd.cmd_line;
    if (c->cmd.prepend_shell) args = WithShell(img, args);
    img.config.entrypoint = args;
    if (!d.cmd_set) img.config.cmd.reset();
    CommitToHistory(img, "ENTRYPOINT " + GoQuoteList(args), false, false, epoch);
  } else if (auto* c = std::get_if<HealthCheckCommand>(&in.command)) {
    oci::HealthConfig h;
    h.test = c->health.test;
    h.interval = c->health.interval.count();
    h.timeout = c->health.timeout.count();
    h.start_period = c->health.start_period.count();
    h.start_interval = c->health.start_interval.count();
    h.retries = c->health.retries;
    img.config.healthcheck = h;
    CommitToHistory(
        img,
        fmt::format("HEALTHCHECK {{Test:{} Interval:{} Timeout:{} StartPeriod:{} "
                    "StartInterval:{} Retries:{}}}",
                    GoList(c->health.test), GoDuration(h.interval), GoDuration(h.timeout),
                    GoDuration(h.start_period), GoDuration(h.start_interval), h.retries),
        false, false, epoch);
  } else if (auto* c = std::get_if<ExposeCommand>(&in.command)) {
    std::vector<std::string> ports;
    for (const std::string& p : c->ports) {
      HOIST_ASSIGN_OR_RETURN(auto words, lex.ProcessWords(p, EnvOf(d.state)));
      ports.insert(ports.end(), words.begin(), words.end());
    }
    std::vector<std::string> parsed;
    for (const std::string& p : ports) {
      HOIST_ASSIGN_OR_RETURN(auto pp, ParsePort(p));
      parsed.insert(parsed.end(), pp.begin(), pp.end());
    }
    for (const std::string& p : parsed) img.config.exposed_ports.insert(p);
    CommitToHistory(img, "EXPOSE " + GoList(parsed), false, false, epoch);
  } else if (auto* c = std::get_if<VolumeCommand>(&in.command)) {
    std::vector<std::string> vols = c->volumes;
    HOIST_TRY(ExpandAll(vols, lex, d.state));
    for (const std::string& v : vols) {
      if (v.empty()) {
        return MakeError(Code::kInvalidArgument, "VOLUME specified can not be an empty string");
      }
      img.config.volumes.insert(v);
    }
    CommitToHistory(img, "VOLUME " + GoList(vols), false, false, epoch);
  } else if (auto* c = std::get_if<StopSignalCommand>(&in.command)) {
    HOIST_ASSIGN_OR_RETURN(std::string sig, Expand(c->signal, lex, d.state));
    if (!ValidSignal(sig)) {
      return MakeError(Code::kInvalidArgument, "Invalid signal: " + sig);
    }
    img.config.stop_signal = sig;
    CommitToHistory(img, "STOPSIGNAL " + sig, false, false, epoch);
  } else if (auto* c = std::get_if<ShellCommand>(&in.command)) {
    img.config.shell = c->shell;
    CommitToHistory(img, "SHELL " + GoList(c->shell), false, false, epoch);
  } else if (auto* c = std::get_if<ArgCommand>(&in.command)) {
    HOIST_TRY(DispatchArg(d, *c, dctx));
  } else if (auto* c = std::get_if<OnbuildCommand>(&in.command)) {
    img.config.on_build.push_back(c->expression);
  } else if (auto* c = std::get_if<RunCommand>(&in.command)) {
    HOIST_TRY(DispatchRun(d, cmd, *c, dctx));
  } else if (auto* c = std::get_if<AddCommand>(&in.command)) {
    CopyConfig cfg;
    cfg.start_line = in.start_line;
    cfg.end_line = in.end_line;
    cfg.params = c->sources_and_dest;
    HOIST_TRY(ExpandSources(cfg.params, lex, d.state));
    HOIST_ASSIGN_OR_RETURN(cfg.chown, Expand(c->chown, lex, d.state));
    HOIST_ASSIGN_OR_RETURN(cfg.chmod, Expand(c->chmod, lex, d.state));
    HOIST_ASSIGN_OR_RETURN(cfg.checksum, Expand(c->checksum, lex, d.state));
    cfg.exclude_patterns = c->exclude_patterns;
    cfg.source = dctx.build_context;
    cfg.is_add = true;
    cfg.code = in.code;
    cfg.link = c->link;
    cfg.keep_git_dir = c->keep_git_dir;
    cfg.unpack = c->unpack;
    std::vector<std::string> srcs = cfg.params.source_paths;
    HOIST_TRY(DispatchCopy(d, std::move(cfg), dctx));
    for (const std::string& s : srcs) {
      if (s.rfind("http://", 0) != 0 && s.rfind("https://", 0) != 0) {
        dctx.ctx_paths->insert(JoinPath("/", s));
      }
    }
  } else if (auto* c = std::get_if<CopyCommand>(&in.command)) {
    CopyConfig cfg;
    cfg.start_line = in.start_line;
    cfg.end_line = in.end_line;
    cfg.params = c->sources_and_dest;
    HOIST_TRY(ExpandSources(cfg.params, lex, d.state));
    HOIST_ASSIGN_OR_RETURN(cfg.chown, Expand(c->chown, lex, d.state));
    HOIST_ASSIGN_OR_RETURN(cfg.chmod, Expand(c->chmod, lex, d.state));
    cfg.exclude_patterns = c->exclude_patterns;
    cfg.source = dctx.build_context;
    if (!cmd.sources.empty()) {
      DispatchState* src = cmd.sources[0];
      if (!src->dispatched) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("cannot copy from stage \"{}\", it needs to be defined "
                                     "before current stage \"{}\"",
                                     c->from, d.stage_name));
      }
      cfg.source = src->state;
    }
    cfg.code = in.code;
    cfg.link = c->link;
    cfg.parents = c->parents;
    std::vector<std::string> srcs = cfg.params.source_paths;
    HOIST_TRY(DispatchCopy(d, std::move(cfg), dctx));
    if (cmd.sources.empty()) {
      for (const std::string& s : srcs) dctx.ctx_paths->insert(JoinPath("/", s));
    }
  }
  return {};
}

}  // namespace hoist::frontend::dockerfile::internal
