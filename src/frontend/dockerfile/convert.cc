// The driver of the conversion: stages and meta ARGs, the target, the dependency graph between
// stages, base image resolution, ONBUILD triggers, then dispatch and the final image config,
// in the order of BuildKit's toDispatchState.
#include "frontend/dockerfile/convert.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "base/utf8.h"
#include "frontend/dockerfile/internal/convert_state.h"
#include "oci/reference.h"

namespace hoist::frontend::dockerfile {
namespace {

using internal::ArgList;
using internal::Command;
using internal::DispatchContext;
using internal::DispatchState;
using internal::ErrorAt;
using internal::Stage;

constexpr std::string_view kScratch = "scratch";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// BuildKit's defaultArgs: the automatic platform args and TARGETSTAGE.
ArgList DefaultArgs(const DispatchContext& dctx, const std::map<std::string, std::string>& over,
                    std::string target) {
  const oci::Platform& bp = dctx.build_platform;
  const oci::Platform& tp = dctx.target_platform;
  if (target.empty()) target = "default";
  const std::pair<std::string, std::string> kv[] = {
      {"BUILDPLATFORM", oci::FormatPlatform(bp)},
      {"BUILDOS", bp.os},
      {"BUILDOSVERSION", bp.os_version},
      {"BUILDARCH", bp.architecture},
      {"BUILDVARIANT", bp.variant},
      {"TARGETPLATFORM", oci::FormatPlatformAll(tp)},
      {"TARGETOS", tp.os},
      {"TARGETOSVERSION", tp.os_version},
      {"TARGETARCH", tp.architecture},
      {"TARGETVARIANT", tp.variant},
      {"TARGETSTAGE", target},
  };
  ArgList env;
  for (const auto& [k, v] : kv) {
    auto it = over.find(k);
    env.AddOrReplace(k, it != over.end() ? it->second : v);
  }
  return env;
}

std::optional<llb::ProxyEnv> ProxyEnvFromBuildArgs(const std::map<std::string, std::string>& args) {
  llb::ProxyEnv pe;
  bool set = false;
  for (const auto& [k, v] : args) {  // sorted, as BuildKit sorts the keys
    std::string l = Lower(k);
    std::string* slot = l == "http_proxy"    ? &pe.http_proxy
                        : l == "https_proxy" ? &pe.https_proxy
                        : l == "ftp_proxy"   ? &pe.ftp_proxy
                        : l == "no_proxy"    ? &pe.no_proxy
                        : l == "all_proxy"   ? &pe.all_proxy
                                             : nullptr;
    if (slot) {
      *slot = v;
      set = true;
    }
  }
  if (!set) return std::nullopt;
  return pe;
}

class Converter {
 public:
  explicit Converter(const ConvertOptions& opts) : opts_(opts) {}
  Result<ConvertResult> Run(std::string_view dockerfile);

 private:
  Result<std::vector<Stage>> GroupStages(const std::vector<Instruction>& instrs);
  Result<void> BuildMetaArgs(const std::vector<Instruction>& meta);
  Result<void> ResolveEpoch(const std::vector<Stage>& stages);
  DispatchState* AddState(std::unique_ptr<DispatchState> ds);
  DispatchState* FindByName(std::string_view name) const;
  Result<void> BuildDispatchStates(std::vector<Stage>& stages);
  Result<DispatchState*> ResolveTarget();
  Result<Command> ToCommand(const Instruction& instr);
  Result<void> BuildDependencyGraph();
  Result<void> ValidateCircular();
  std::vector<DispatchState*> Reachable(DispatchState* target);
  Result<void> ResolveStages(DispatchState* target);
  Result<void> ResolveBaseImage(DispatchState& d, bool reachable);
  Result<bool> InitOnBuildTriggers(DispatchState& d, const std::vector<std::string>& triggers);
  Result<void> DispatchStages(const std::vector<DispatchState*>& reachable);
  std::optional<oci::Platform> ImagePlatform(const oci::ImageConfig& img) const;
  void WarnUnusedBuildArgs(const std::vector<Stage>& stages);

  const ConvertOptions& opts_;
  DispatchContext dctx_;
  std::map<std::string, std::string> build_args_;
  std::vector<std::unique_ptr<DispatchState>> owned_;
  std::vector<DispatchState*> states_;
  std::map<std::string, DispatchState*> by_name_;
  std::set<std::string> ctx_paths_;
  std::vector<Warning> warnings_;
  std::optional<PatternMatcher> ignore_;
  std::vector<std::string> meta_keys_;
};

Result<std::vector<Stage>> Converter::GroupStages(const std::vector<Instruction>& instrs) {
  std::vector<Stage> stages;
  for (const Instruction& in : instrs) {
    if (const auto* from = std::get_if<FromCommand>(&in.command)) {
      Stage st;
      st.from = *from;
      st.source_code = in.code;
      st.line = in.start_line;
      stages.push_back(std::move(st));
      continue;
    }
    if (stages.empty()) {
      if (std::holds_alternative<ArgCommand>(in.command)) continue;  // meta args
      return ErrorAt(in.start_line, "no build stage in current context");
    }
    stages.back().commands.push_back(in);
  }
  return stages;
}

Result<void> Converter::BuildMetaArgs(const std::vector<Instruction>& meta) {
  ShellLex lex = internal::MakeLex(dctx_);
  for (const Instruction& in : meta) {
    for (const KeyValuePairOptional& kp : std::get<ArgCommand>(in.command).args) {
      std::optional<std::string> value;
      auto it = build_args_.find(kp.key);
      if (it != build_args_.end()) {
        value = it->second;
      } else if (kp.value) {
        ShellEnvList env(dctx_.global_args.Entries());
        auto r = lex.ProcessWord(*kp.value, env);
        if (!r) return tl::unexpected(internal::AtLine(r.error(), in.start_line));
        value = *r;
      }
      if (value) dctx_.global_args.AddOrReplace(kp.key, *value);
    }
  }
  return {};
}

Result<void> Converter::ResolveEpoch(const std::vector<Stage>& stages) {
  std::optional<std::string> v;
  if (auto it = build_args_.find("SOURCE_DATE_EPOCH"); it != build_args_.end()) {
    v = it->second;
  } else if (auto g = dctx_.global_args.Get("SOURCE_DATE_EPOCH"); g && !g->empty()) {
    v = *g;
  } else if (opts_.source_date_epoch) {
    v = std::to_string(*opts_.source_date_epoch);
    build_args_["SOURCE_DATE_EPOCH"] = *v;
  }
  if (!v || v->empty()) return {};
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v->c_str(), &end, 10);
  if (errno == 0 && end && *end == '\0') {
    dctx_.epoch = n;
    if (dctx_.global_args.Get("SOURCE_DATE_EPOCH")) {
      dctx_.global_args.AddOrReplace("SOURCE_DATE_EPOCH", std::to_string(n));
    }
    return {};
  }
  // A stage or context name: its files' times decide, which needs a solve; not resolved here.
  if (*v == "context") return {};
  for (const Stage& s : stages) {
    if (Lower(s.from.name) == Lower(*v)) return {};
  }
  return MakeError(Code::kInvalidArgument, "invalid SOURCE_DATE_EPOCH: " + *v);
}

DispatchState* Converter::AddState(std::unique_ptr<DispatchState> ds) {
  DispatchState* p = ds.get();
  owned_.push_back(std::move(ds));
  states_.push_back(p);
  if (auto it = by_name_.find(p->stage.from.base_name); it != by_name_.end()) p->base = it->second;
  if (!p->stage.from.name.empty()) by_name_[Lower(p->stage.from.name)] = p;
  return p;
}

DispatchState* Converter::FindByName(std::string_view name) const {
  auto it = by_name_.find(Lower(name));
  return it == by_name_.end() ? nullptr : it->second;
}

NamedContextOptions MakeNamedOptions(const ConvertOptions& opts) {
  NamedContextOptions o;
  o.frontend_opts = &opts.frontend_opts;
  o.resolver = opts.resolver;
  o.session_id = opts.session_id;
  o.inputs = &opts.inputs;
  o.resolve_mode = opts.image_resolve_mode;
  return o;
}

Result<void> Converter::BuildDispatchStates(std::vector<Stage>& stages) {
  ShellLex lex = internal::MakeLex(dctx_);
  ShellEnvList global(dctx_.global_args.Entries());
  for (size_t i = 0; i < stages.size(); ++i) {
    Stage& st = stages[i];
    auto name = lex.ProcessWord(st.from.base_name, global);
    if (!name) return tl::unexpected(internal::AtLine(name.error(), st.line));
    if (name->empty()) {
      return ErrorAt(st.line, fmt::format("base name ({}) should not be blank", st.from.base_name));
    }
    st.from.base_name = *name;
    auto ds = std::make_unique<DispatchState>();
    ds->stage = st;
    ds->stage_name = st.from.name;
    if (!st.from.platform.empty()) {
      auto pv = lex.ProcessWord(st.from.platform, global);
      if (!pv) {
        Error e = pv.error();
        e.Wrap("failed to process arguments for platform");
        return tl::unexpected(internal::AtLine(e, st.line));
      }
      if (pv->empty()) {
        return ErrorAt(st.line,
                       fmt::format("empty platform value from expression {}", st.from.platform));
      }
      auto p = oci::ParsePlatform(*pv);
      if (!p) {
        return ErrorAt(st.line, fmt::format("failed to parse platform {}: {}", st.from.platform,
                                            p.error().message()));
      }
      ds->platform = *p;
    }
    if (!st.from.name.empty()) {
      auto nc = LoadNamedContext(st.from.name, ds->platform.value_or(dctx_.target_platform),
                                 MakeNamedOptions(opts_));
      if (!nc) return tl::unexpected(internal::AtLine(nc.error(), st.line));
      if (*nc) {
        ds->named_context = std::move(**nc);
        DispatchState* p = AddState(std::move(ds));
        p->base = nullptr;
        continue;
      }
    }
    if (st.from.name.empty()) ds->stage_name = fmt::format("stage-{}", i);
    DispatchState* p = AddState(std::move(ds));
    int total = 0;
    if (p->stage.from.base_name != kScratch && p->base == nullptr) total = 1;
    for (const Instruction& in : p->stage.commands) {
      if (std::holds_alternative<AddCommand>(in.command) ||
          std::holds_alternative<CopyCommand>(in.command) ||
          std::holds_alternative<RunCommand>(in.command) ||
          std::holds_alternative<WorkdirCommand>(in.command)) {
        ++total;
      }
    }
    p->cmd_total = total;
  }
  return {};
}

Result<DispatchState*> Converter::ResolveTarget() {
  if (opts_.target.empty()) return states_.back();
  if (DispatchState* d = FindByName(opts_.target)) return d;
  std::vector<std::string> names;
  for (DispatchState* s : states_) {
    if (!s->stage_name.empty()) names.push_back(s->stage_name);
  }
  std::string msg = fmt::format("target stage \"{}\" could not be found", opts_.target);
  if (auto s = SuggestName(opts_.target, names, true))
    msg += fmt::format(" (did you mean {}?)", *s);
  return MakeError(Code::kNotFound, msg);
}

std::unique_ptr<DispatchState> Unregistered(std::string from, int line) {
  auto st = std::make_unique<DispatchState>();
  st->stage.from.base_name = std::move(from);
  st->stage.line = line;
  st->unregistered = true;
  return st;
}

Result<Command> Converter::ToCommand(const Instruction& instr) {
  Command cmd;
  cmd.instr = instr;
  auto source_for = [&](const std::string& from, int line) -> DispatchState* {
    if (DispatchState* s = FindByName(from)) return s;
    return AddState(Unregistered(from, line));
  };
  if (const auto* c = std::get_if<CopyCommand>(&instr.command); c && !c->from.empty()) {
    ShellLex lex = internal::MakeLex(dctx_);
    auto res = lex.ProcessWord(c->from, ShellEnvList({}));
    if (!res) return tl::unexpected(internal::AtLine(res.error(), instr.start_line));
    if (*res != c->from) {
      return ErrorAt(instr.start_line,
                     "variable expansion is not supported for --from, define a new stage with "
                     "FROM using ARG from global scope as a workaround");
    }
    bool numeric = !c->from.empty() && std::all_of(c->from.begin(), c->from.end(), [](char ch) {
      return std::isdigit(static_cast<unsigned char>(ch)) || ch == '-';
    });
    if (numeric) {
      long idx = std::strtol(c->from.c_str(), nullptr, 10);
      if (idx < 0 || static_cast<size_t>(idx) >= states_.size()) {
        return ErrorAt(instr.start_line, fmt::format("invalid stage index {}", idx));
      }
      cmd.sources.push_back(states_[idx]);
    } else {
      cmd.sources.push_back(source_for(c->from, instr.start_line));
    }
  }
  if (const auto* r = std::get_if<RunCommand>(&instr.command)) {
    cmd.mounts = r->mounts;
    for (const Mount& m : r->mounts) {
      cmd.sources.push_back(
          source_for(m.from.empty() ? std::string(kScratch) : m.from, instr.start_line));
    }
  }
  return cmd;
}

Result<void> Converter::BuildDependencyGraph() {
  // Unregistered states appended while iterating have no commands.
  for (size_t i = 0; i < states_.size(); ++i) {
    DispatchState* d = states_[i];
    if (d->unregistered) continue;
    for (const Instruction& in : d->stage.commands) {
      HOIST_ASSIGN_OR_RETURN(Command cmd, ToCommand(in));
      for (DispatchState* src : cmd.sources) d->AddDep(src, in);
      d->commands.push_back(std::move(cmd));
    }
  }
  HOIST_TRY(ValidateCircular());
  if (states_.size() == 1) states_[0]->stage_name.clear();
  return {};
}

Result<void> Converter::ValidateCircular() {
  std::set<DispatchState*> visited;
  std::set<DispatchState*> path;
  std::function<std::optional<int>(DispatchState*)> visit =
      [&](DispatchState* s) -> std::optional<int> {
    if (visited.count(s)) return std::nullopt;
    visited.insert(s);
    path.insert(s);
    for (auto& [dep, in] : s->deps) {
      if (path.count(dep)) return in.start_line;
      if (auto line = visit(dep)) return line;
    }
    path.erase(s);
    return std::nullopt;
  };
  for (DispatchState* s : states_) {
    if (auto line = visit(s)) {
      return ErrorAt(*line, "circular dependency detected on stage: " + s->stage_name);
    }
  }
  return {};
}

std::vector<DispatchState*> Converter::Reachable(DispatchState* target) {
  std::set<DispatchState*> seen;
  std::function<void(DispatchState*)> add = [&](DispatchState* s) {
    if (!seen.insert(s).second) return;
    if (s->base) add(s->base);
    for (auto& [d, in] : s->deps) add(d);
  };
  add(target);
  std::vector<DispatchState*> out;
  for (DispatchState* s : states_) {
    if (seen.count(s)) out.push_back(s);
  }
  return out;
}

Result<void> Converter::ResolveStages(DispatchState* target) {
  while (true) {
    std::vector<DispatchState*> reachable = Reachable(target);
    for (DispatchState* d : states_) {
      bool is_reachable = std::find(reachable.begin(), reachable.end(), d) != reachable.end();
      if (d->base != nullptr || d->dispatched || d->resolved) continue;
      d->resolved = is_reachable;
      if (d->stage.from.base_name == kScratch && !d->named_context) {
        d->state = llb::Scratch();
        d->image = internal::EmptyImage(dctx_.target_platform);
        d->platform = dctx_.target_platform;
        if (d->unregistered) d->dispatched = true;
        continue;
      }
      HOIST_TRY(ResolveBaseImage(*d, is_reachable));
    }
    bool new_deps = false;
    for (DispatchState* d : reachable) {
      d->Init();
      std::vector<std::string> onbuilds = d->image.config.on_build;
      if (d->base != nullptr && !d->onbuild_init) {
        for (const Command& c : d->base->commands) {
          if (const auto* ob = std::get_if<OnbuildCommand>(&c.instr.command)) {
            onbuilds.push_back(ob->expression);
          }
        }
        d->onbuild_init = true;
      }
      if (!onbuilds.empty()) {
        auto added = InitOnBuildTriggers(*d, onbuilds);
        if (!added) return tl::unexpected(internal::AtLine(added.error(), d->stage.line));
        new_deps = new_deps || *added;
        d->image.config.on_build.clear();
      }
    }
    if (!new_deps) return {};
  }
}

std::optional<oci::Platform> Converter::ImagePlatform(const oci::ImageConfig& img) const {
  if (img.architecture.empty() || img.os.empty()) return std::nullopt;
  oci::Platform p;
  p.os = img.os;
  p.architecture = img.architecture;
  p.variant = img.variant;
  p.os_version = img.os_version;
  p.os_features = img.os_features;
  return p;
}

Result<void> Converter::ResolveBaseImage(DispatchState& d, bool reachable) {
  auto at = [&](Error e) { return tl::unexpected(internal::AtLine(std::move(e), d.stage.line)); };
  std::string orig = d.stage.from.base_name;
  auto ref = oci::ParseNormalizedNamed(orig);
  if (!ref) {
    return ErrorAt(d.stage.line, fmt::format("failed to parse stage name \"{}\": {}", orig,
                                             ref.error().message()));
  }
  oci::Platform platform = d.platform.value_or(dctx_.target_platform);
  d.stage.from.base_name = oci::TagNameOnly(*ref).String();
  bool is_scratch = false;
  if (d.unregistered) d.dispatched = true;
  if (reachable) {
    if (d.named_context) {
      d.dispatched = true;
      d.state = d.named_context->state;
      if (d.named_context->image) {
        d.image = *d.named_context->image;
        d.image.created.clear();
        if (auto p = ImagePlatform(d.image)) d.platform = *p;
      }
      return {};
    }
    auto nc = LoadNamedContext(d.stage.from.base_name, platform, MakeNamedOptions(opts_));
    if (!nc) return at(nc.error());
    if (*nc) {
      oci::ImageConfig img = (*nc)->image ? *(*nc)->image : internal::EmptyImage(platform);
      d.base_img = img;
      img.created.clear();
      d.image = img;
      d.state = (*nc)->state.Platform(platform);
      d.platform = platform;
      return {};
    }
    if (opts_.resolver != nullptr && opts_.resolve_registry_images) {
      ResolveImageConfigOptions ro;
      ro.platform = platform;
      ro.resolver_type = ResolverType::kRegistry;
      ro.resolve_mode = opts_.image_resolve_mode;
      ro.log_prefix = "[internal] ";
      auto res = opts_.resolver->ResolveImageConfig(d.stage.from.base_name, ro);
      if (!res) {
        Error e = res.error();
        // Registry errors already start with the reference they are about.
        if (!e.message().starts_with(orig)) e.Wrap(orig);
        return at(e);
      }
      oci::Reference r = *ref;
      if (!res->ref.empty() && ref->String() != res->ref) {
        auto r2 = oci::ParseNormalizedNamed(res->ref);
        if (!r2) {
          return ErrorAt(d.stage.line, fmt::format("failed to parse ref \"{}\": {}", res->ref,
                                                   r2.error().message()));
        }
        r = *r2;
      }
      auto img = oci::ParseImageConfig(res->config_json);
      if (!img) {
        return ErrorAt(d.stage.line, "failed to parse image config: " + img.error().message());
      }
      d.base_img = *img;
      img->created.clear();
      if (!d.platform && dctx_.implicit_target) {
        if (!(platform.os == img->os && platform.architecture == img->architecture) &&
            dctx_.build_platform.os == img->os &&
            dctx_.build_platform.architecture == img->architecture) {
          platform = dctx_.build_platform;
        }
      }
      if (res->digest.valid()) {
        auto rd = oci::WithDigest(r, res->digest);
        if (!rd) return at(rd.error());
        r = *rd;
      }
      d.stage.from.base_name = r.String();
      if (img->rootfs.diff_ids.empty()) {
        is_scratch = true;
        for (const oci::History& h : img->history) {
          if (!h.empty_layer) {
            is_scratch = false;
            break;
          }
        }
      }
      d.image = *img;
    } else {
      d.image = oci::ImageConfig{};
      d.image.os = platform.os;
      d.image.architecture = platform.architecture;
      d.image.variant = platform.variant;
    }
  }
  if (is_scratch) {
    d.state = llb::Scratch();
  } else {
    llb::ImageOptions io;
    io.op.platform = platform;
    io.op.description = internal::DfCmd(d.stage.source_code);
    if (opts_.image_resolve_mode == "pull") io.resolve_mode = llb::ResolveMode::kForcePull;
    if (opts_.image_resolve_mode == "local") io.resolve_mode = llb::ResolveMode::kPreferLocal;
    io.op.custom_name = internal::PrefixCommand(d, "FROM " + d.stage.from.base_name, dctx_);
    d.state = llb::Image(d.stage.from.base_name, io);
  }
  d.platform = platform;
  return {};
}

Result<bool> Converter::InitOnBuildTriggers(DispatchState& d,
                                            const std::vector<std::string>& triggers) {
  bool new_deps = false;
  std::vector<Command> cmds;
  for (const std::string& trigger : triggers) {
    HOIST_ASSIGN_OR_RETURN(ParseResult pr, Parse(trigger));
    if (pr.root.children.size() != 1) {
      return MakeError(Code::kInvalidArgument, "onbuild trigger should be a single expression");
    }
    Node node = pr.root.children[0];
    node.start_line = node.end_line = d.stage.line;
    HOIST_ASSIGN_OR_RETURN(Instruction in, ParseInstruction(node));
    if (std::holds_alternative<FromCommand>(in.command) ||
        std::holds_alternative<OnbuildCommand>(in.command)) {
      return MakeError(Code::kInvalidArgument, fmt::format("{} isn't allowed as an ONBUILD trigger",
                                                           internal::UppercaseCmd(in.name)));
    }
    HOIST_ASSIGN_OR_RETURN(Command cmd, ToCommand(in));
    cmd.is_onbuild = true;
    if (!cmd.sources.empty()) new_deps = true;
    for (DispatchState* src : cmd.sources) d.AddDep(src, in);
    cmds.push_back(std::move(cmd));
  }
  d.cmd_total += static_cast<int>(cmds.size());
  cmds.insert(cmds.end(), d.commands.begin(), d.commands.end());
  d.commands = std::move(cmds);
  return new_deps;
}

Result<void> Converter::DispatchStages(const std::vector<DispatchState*>& reachable) {
  for (DispatchState* d : states_) {
    if (std::find(reachable.begin(), reachable.end(), d) == reachable.end() || d->dispatched) {
      continue;
    }
    d->Init();
    d->dispatched = true;
    if (!d->platform) d->platform = dctx_.target_platform;
    bool has_path = false;
    for (const std::string& e : d->image.config.env) {
      if (e.rfind("PATH=", 0) == 0 || e == "PATH") has_path = true;
    }
    if (!has_path && d->platform->os != "windows") {
      d->image.config.env.push_back("PATH=" + internal::DefaultPathEnv(d->platform->os));
    }
    for (const std::string& e : d->image.config.env) {
      size_t eq = e.find('=');
      d->state = d->state.AddEnv(e.substr(0, eq), eq == std::string::npos ? "" : e.substr(eq + 1));
    }
    if (!opts_.hostname.empty()) d->state = d->state.Hostname(opts_.hostname);
    if (!d->image.config.working_dir.empty()) {
      auto r = internal::DispatchWorkdir(*d, d->image.config.working_dir, false, dctx_);
      if (!r) return tl::unexpected(internal::AtLine(r.error(), d->stage.line));
    }
    if (!d->image.config.user.empty()) {
      internal::DispatchUser(*d, d->image.config.user, false, dctx_);
    }
    for (Command& cmd : d->commands) {
      auto r = internal::Dispatch(*d, cmd, dctx_);
      if (!r) return tl::unexpected(internal::AtLine(r.error(), cmd.instr.start_line));
    }
  }
  return {};
}

void Converter::WarnUnusedBuildArgs(const std::vector<Stage>& stages) {
  static const std::set<std::string> kBuiltin = {"BUILDPLATFORM",
                                                 "BUILDOS",
                                                 "BUILDOSVERSION",
                                                 "BUILDARCH",
                                                 "BUILDVARIANT",
                                                 "TARGETPLATFORM",
                                                 "TARGETOS",
                                                 "TARGETOSVERSION",
                                                 "TARGETARCH",
                                                 "TARGETVARIANT",
                                                 "TARGETSTAGE",
                                                 "SOURCE_DATE_EPOCH",
                                                 "HTTP_PROXY",
                                                 "HTTPS_PROXY",
                                                 "FTP_PROXY",
                                                 "NO_PROXY",
                                                 "ALL_PROXY",
                                                 "http_proxy",
                                                 "https_proxy",
                                                 "ftp_proxy",
                                                 "no_proxy",
                                                 "all_proxy",
                                                 "BUILDKIT_SBOM_SCAN_CONTEXT",
                                                 "BUILDKIT_SBOM_SCAN_STAGE"};
  std::set<std::string> declared;
  for (const std::string& k : meta_keys_) declared.insert(k);
  for (const Stage& s : stages) {
    for (const Instruction& in : s.commands) {
      if (const auto* a = std::get_if<ArgCommand>(&in.command)) {
        for (const auto& kv : a->args) declared.insert(kv.key);
      }
    }
  }
  std::vector<std::string> unused;
  for (const auto& [k, v] : opts_.build_args) {
    if (!declared.count(k) && !kBuiltin.count(k)) unused.push_back(k);
  }
  if (unused.empty()) return;
  Warning w;
  w.short_message =
      fmt::format("One or more build-args [{}] were not consumed", fmt::join(unused, " "));
  warnings_.push_back(std::move(w));
}

Result<ConvertResult> Converter::Run(std::string_view dockerfile) {
  if (dockerfile.empty()) {
    return MakeError(Code::kInvalidArgument, "the Dockerfile cannot be empty");
  }
  HOIST_ASSIGN_OR_RETURN(ParseResult parsed, Parse(dockerfile));
  warnings_ = parsed.warnings;
  HOIST_ASSIGN_OR_RETURN(std::vector<Instruction> instrs, ParseInstructions(parsed.root));
  HOIST_ASSIGN_OR_RETURN(std::vector<Stage> stages, GroupStages(instrs));
  if (stages.empty()) {
    return MakeError(Code::kInvalidArgument, "dockerfile contains no stages to build");
  }
  std::vector<Instruction> meta;
  for (const Instruction& in : instrs) {
    if (std::holds_alternative<FromCommand>(in.command)) break;
    meta.push_back(in);
    for (const auto& kv : std::get<ArgCommand>(in.command).args) meta_keys_.push_back(kv.key);
  }

  build_args_ = opts_.build_args;
  dctx_.opts = &opts_;
  dctx_.escape_token = parsed.escape_token;
  dctx_.implicit_target = opts_.target_platforms.empty();
  dctx_.build_platform = opts_.build_platform ? oci::Normalize(*opts_.build_platform)
                         : !opts_.target_platforms.empty()
                             ? oci::Normalize(opts_.target_platforms[0])
                             : oci::HostPlatform();
  dctx_.target_platform =
      dctx_.implicit_target ? dctx_.build_platform : oci::Normalize(opts_.target_platforms[0]);
  std::string target_name = opts_.target.empty() ? stages.back().from.name : opts_.target;
  dctx_.global_args = DefaultArgs(dctx_, build_args_, target_name);
  HOIST_TRY(BuildMetaArgs(meta));
  HOIST_TRY(ResolveEpoch(stages));
  dctx_.proxy_env = ProxyEnvFromBuildArgs(opts_.build_args);
  dctx_.ctx_paths = &ctx_paths_;
  dctx_.warnings = &warnings_;
  dctx_.by_name = &by_name_;
  std::vector<std::string> patterns = ReadDockerignore(opts_.dockerignore);
  if (!patterns.empty()) {
    auto m = PatternMatcher::Create(patterns);
    if (!m) {
      Error e = m.error();
      e.Wrap("failed to read dockerignore patterns");
      return tl::unexpected(e);
    }
    ignore_.emplace(std::move(*m));
    dctx_.ignore_matcher = &*ignore_;
  }

  HOIST_TRY(BuildDispatchStates(stages));
  HOIST_ASSIGN_OR_RETURN(DispatchState * target, ResolveTarget());
  HOIST_TRY(BuildDependencyGraph());
  HOIST_TRY(ResolveStages(target));
  std::vector<DispatchState*> reachable = Reachable(target);

  // BuildKit fills the context's output in after every stage has said which paths it reads;
  // States here are immutable, so dispatch once to learn the paths, then again for real.
  std::vector<DispatchState> snapshot;
  for (DispatchState* d : states_) snapshot.push_back(*d);
  std::vector<Warning> warnings_before = warnings_;
  dctx_.build_context = llb::Scratch();
  HOIST_TRY(DispatchStages(reachable));
  for (size_t i = 0; i < states_.size(); ++i) *states_[i] = snapshot[i];
  warnings_ = warnings_before;

  llb::LocalOptions lo;
  lo.session_id = opts_.session_id;
  lo.exclude_patterns = patterns;
  lo.shared_key_hint = opts_.context_name;
  lo.op.custom_name = "[internal] load build context";
  if (!ctx_paths_.count("/")) {
    for (const std::string& p : ctx_paths_)
      lo.follow_paths.push_back(p.substr(1).empty() ? "." : p.substr(1));
  }
  ctx_paths_.clear();
  dctx_.build_context =
      opts_.context_state ? *opts_.context_state : llb::Local(opts_.context_name, lo);
  HOIST_TRY(DispatchStages(reachable));
  WarnUnusedBuildArgs(stages);

  for (const auto& [k, v] : opts_.labels) target->image.config.labels[k] = v;
  if (!dctx_.implicit_target) {
    const oci::Platform& tp = dctx_.target_platform;
    bool same = tp.os == target->image.os && tp.architecture == target->image.architecture;
    target->image.os = tp.os;
    target->image.architecture = tp.architecture;
    if (!tp.variant.empty() || !same) target->image.variant = tp.variant;
    if (!tp.os_version.empty() || !same) target->image.os_version = tp.os_version;
    if (!tp.os_features.empty()) target->image.os_features = tp.os_features;
  }
  if (!target->image.os.empty() || !target->image.architecture.empty()) {
    oci::Platform p{target->image.os, target->image.architecture, target->image.variant,
                    target->image.os_version, target->image.os_features};
    p = oci::Normalize(p);
    target->image.os = p.os;
    target->image.architecture = p.architecture;
    target->image.variant = p.variant;
    target->image.os_features = p.os_features;
  }

  ConvertResult out;
  out.state = target->state;
  llb::MarshalOptions mo;
  mo.platform = dctx_.target_platform;
  mo.local_unique_id = opts_.local_unique_id;
  HOIST_ASSIGN_OR_RETURN(out.definition, llb::Marshal(out.state, mo));
  out.image = target->image;
  out.base_image = target->base_img;
  out.warnings = std::move(warnings_);
  return out;
}

}  // namespace

Result<ConvertResult> ConvertToLLB(std::string_view dockerfile, const ConvertOptions& options) {
  // LLB carries text as protobuf strings, which must be UTF-8: say so here, where the line is
  // known, rather than fail later on an op that cannot be read back.
  if (size_t bad = 0; !IsValidUtf8(dockerfile, &bad)) {
    const size_t line = 1 + static_cast<size_t>(std::count(dockerfile.begin(), dockerfile.begin() + bad, '\n'));
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{}:{}: the Dockerfile is not valid UTF-8", options.dockerfile_name, line));
  }
  for (const auto& [k, v] : options.build_args) {
    if (!IsValidUtf8(k) || !IsValidUtf8(v)) {
      return MakeError(Code::kInvalidArgument, "a --build-arg is not valid UTF-8");
    }
  }
  for (const auto& [k, v] : options.labels) {
    if (!IsValidUtf8(k) || !IsValidUtf8(v)) {
      return MakeError(Code::kInvalidArgument, "a --label is not valid UTF-8");
    }
  }
  Converter c(options);
  return c.Run(dockerfile);
}

std::optional<std::pair<int, int>> DockerfileLines(const llb::OpMetadata& metadata) {
  auto it = metadata.description.find(std::string(kDescriptionDockerfileLines));
  if (it == metadata.description.end()) return std::nullopt;
  int start = 0, end = 0;
  if (std::sscanf(it->second.c_str(), "%d:%d", &start, &end) != 2 || start <= 0) {
    return std::nullopt;
  }
  return std::make_pair(start, end);
}

}  // namespace hoist::frontend::dockerfile
