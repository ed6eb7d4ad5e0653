// RUN: the exec op with its command line (shell or exec form, heredocs), mounts (bind, cache,
// tmpfs, secret, ssh), network and security modes, its name and history entry, as BuildKit's
// dispatchRun and dispatchRunMounts.
#include <fmt/format.h>

#include "frontend/dockerfile/internal/convert_state.h"

namespace hoist::frontend::dockerfile::internal {
namespace {

std::string BaseName(std::string_view p) {
  std::string c = CleanPath(p);
  if (c == "/") return "/";
  size_t slash = c.rfind('/');
  return slash == std::string::npos ? c : c.substr(slash + 1);
}

std::string SummarizeHeredoc(std::string_view doc) {
  size_t b = doc.find_first_not_of(" \t\r\n\v\f");
  size_t e = doc.find_last_not_of(" \t\r\n\v\f");
  std::string d = b == std::string_view::npos ? "" : std::string(doc.substr(b, e - b + 1));
  size_t nl = d.find('\n');
  if (nl == std::string::npos) return d;
  std::string first = d.substr(0, nl);
  if (!first.empty() && first.back() == '\r') first.pop_back();
  return first + "...";
}

std::string RunCommandString(const std::vector<std::string>& args,
                             const std::vector<KeyValuePairOptional>& build_args,
                             const ShellEnv& env) {
  std::vector<std::string> tmp;
  std::map<std::string, size_t> idx;
  for (const KeyValuePairOptional& a : build_args) {
    auto v = env.Get(a.key);
    std::string value = v ? std::string(*v) : a.value.value_or("");
    auto it = idx.find(a.key);
    if (it != idx.end()) {
      tmp[it->second] = a.key + "=" + value;
    } else {
      idx[a.key] = tmp.size();
      tmp.push_back(a.key + "=" + value);
    }
  }
  std::vector<std::string> all;
  if (!tmp.empty()) {
    all.push_back(fmt::format("|{}", tmp.size()));
    all.insert(all.end(), tmp.begin(), tmp.end());
  }
  all.insert(all.end(), args.begin(), args.end());
  return fmt::format("{}", fmt::join(all, " "));
}

Result<llb::SecretMount> SecretFor(const Mount& m) {
  llb::SecretMount s;
  std::string id = m.cache_id;
  if (!m.source.empty()) id = m.source;
  if (id.empty()) {
    if (m.target.empty()) {
      return MakeError(Code::kInvalidArgument, "one of source, target required");
    }
    id = BaseName(m.target);
  }
  s.id = id;
  if (!m.target.empty()) s.target = m.target;
  if (!m.env) s.target = m.target.empty() ? "/run/secrets/" + BaseName(id) : m.target;
  s.optional = !m.required;
  s.env = m.env;
  if (m.uid || m.gid || m.mode) {
    s.uid = static_cast<uint32_t>(m.uid.value_or(0));
    s.gid = static_cast<uint32_t>(m.gid.value_or(0));
    s.mode = static_cast<uint32_t>(m.mode.value_or(0400));
  }
  return s;
}

Result<llb::SshMount> SshFor(const Mount& m) {
  if (!m.source.empty()) return MakeError(Code::kInvalidArgument, "ssh does not support source");
  llb::SshMount s;
  s.id = m.cache_id.empty() ? "default" : m.cache_id;
  s.target = m.target;
  s.optional = !m.required;
  if (m.uid || m.gid || m.mode) {
    s.uid = static_cast<uint32_t>(m.uid.value_or(0));
    s.gid = static_cast<uint32_t>(m.gid.value_or(0));
    s.mode = static_cast<uint32_t>(m.mode.value_or(0600));
  }
  return s;
}

Result<void> RunMounts(DispatchState& d, Command& cmd, const RunCommand& c, DispatchContext& dctx,
                       llb::RunOptions& ro) {
  ShellLex lex = MakeLex(dctx);
  auto expand = [&](const std::string& w) { return lex.ProcessWord(w, EnvOf(d.state)); };
  for (size_t i = 0; i < c.mount_specs.size(); ++i) {
    HOIST_ASSIGN_OR_RETURN(Mount m, ParseMount(c.mount_specs[i], expand));
    if (m.from.empty() && m.type == MountType::kCache) m.from = "scratch";
    llb::State st = dctx.build_context;
    if (!m.from.empty()) {
      DispatchState* src = i < cmd.sources.size() ? cmd.sources[i] : nullptr;
      if (src == nullptr || !src->dispatched) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("cannot mount from stage \"{}\" to \"{}\", stage needs to be "
                                     "defined before current command",
                                     m.from, m.target));
      }
      st = src->state;
    }
    if (m.type == MountType::kSecret) {
      HOIST_ASSIGN_OR_RETURN(auto s, SecretFor(m));
      ro.secrets.push_back(std::move(s));
      continue;
    }
    if (m.type == MountType::kSsh) {
      HOIST_ASSIGN_OR_RETURN(auto s, SshFor(m));
      ro.ssh.push_back(std::move(s));
      continue;
    }
    llb::Mount mount;
    if (m.type == MountType::kTmpfs) {
      st = llb::Scratch();
      mount.tmpfs = true;
      mount.tmpfs_size = m.size_limit;
    }
    if (m.read_only) {
      mount.readonly = true;
    } else if (m.type == MountType::kBind) {
      mount.no_output = true;
    }
    if (m.type == MountType::kCache) {
      mount.sharing = m.cache_sharing == ShareMode::kPrivate  ? llb::CacheSharing::kPrivate
                      : m.cache_sharing == ShareMode::kLocked ? llb::CacheSharing::kLocked
                                                              : llb::CacheSharing::kShared;
      std::string id = m.cache_id.empty() ? CleanPath(m.target) : m.cache_id;
      mount.cache_id = "/" + id;  // BuildKit: CacheIDNamespace + "/" + id
    }
    std::string target = m.target;
    if (CleanPath(target).rfind('/', 0) != 0)
      target = JoinPath(JoinPath("/", d.state.GetDir()), target);
    if (target == "/") {
      return MakeError(Code::kInvalidArgument, fmt::format("invalid mount target \"{}\"", target));
    }
    mount.target = target;
    std::string src_path = JoinPath("/", m.source);
    if (src_path != "/") {
      mount.selector = src_path;
    } else if (m.uid || m.gid || m.mode) {
      llb::MkdirOptions mo;
      llb::ChownOpt ch;
      ch.user = llb::UserOpt{static_cast<uint32_t>(m.uid.value_or(0)), ""};
      ch.group = llb::UserOpt{static_cast<uint32_t>(m.gid.value_or(0)), ""};
      mo.chown = ch;
      llb::OpOptions op;
      op.custom_name = "[internal] setting cache mount permissions";
      st = st.File(llb::Mkdir("/cache", static_cast<uint32_t>(m.mode.value_or(0755)), mo), op);
      mount.selector = "/cache";
    }
    if (m.type != MountType::kTmpfs) mount.source = st;
    ro.mounts.push_back(std::move(mount));
    if (m.from.empty()) dctx.ctx_paths->insert(JoinPath("/", m.source));
  }
  return {};
}

}  // namespace

Result<void> DispatchRun(DispatchState& d, Command& cmd, const RunCommand& c,
                         DispatchContext& dctx) {
  llb::RunOptions ro;
  std::string custom_name = cmd.instr.code;
  std::vector<std::string> args = c.cmd.cmd_line;
  if (!c.cmd.files.empty()) {
    if (args.size() != 1 || !c.cmd.prepend_shell) {
      return MakeError(
          Code::kInvalidArgument,
          fmt::format("parsing produced an invalid run command: [{}]", fmt::join(args, " ")));
    }
    auto hd = ParseHeredoc(args[0]);
    if (hd && *hd) {
      const ShellInlineFile& f = c.cmd.files[0];
      std::string data = f.chomp ? ChompHeredocContent(f.data) : f.data;
      if (d.image.os != "windows" && data.rfind("#!", 0) == 0) {
        llb::OpOptions op;
        op.custom_name = "[internal] preparing inline document";
        op.platform = d.platform;
        llb::State st = llb::Scratch().Dir("/").File(llb::Mkfile(f.name, 0755, data), op);
        ro.mounts.push_back(llb::BindMount("/dev/pipes/", st, true, "/"));
        args = {JoinPath("/dev/pipes/", f.name)};
      } else {
        args = {data};
      }
      custom_name += " (" + SummarizeHeredoc(f.data) + ")";
    } else {
      std::string b = args[0];
      for (const ShellInlineFile& f : c.cmd.files) b += "\n" + f.data + f.name;
      args = {b};
    }
  }
  if (c.cmd.prepend_shell) args = WithShell(d.image, args);
  ro.args = args;
  ro.op.description = DfCmd(cmd.instr.code, cmd.instr.start_line, cmd.instr.end_line);
  if (dctx.proxy_env) ro.proxy_env = dctx.proxy_env;
  HOIST_TRY(RunMounts(d, cmd, c, dctx, ro));

  // The name shows variables expanded, secrets given as env masked.
  std::vector<std::string> env_entries = d.state.EnvList();
  for (const llb::SecretMount& s : ro.secrets) {
    if (s.env) env_entries.push_back(*s.env + "=****");
  }
  ShellEnvList masked(env_entries);
  ShellLex lex = MakeLex(dctx, /*raw_quotes=*/true, /*skip_unset=*/true);
  ro.op.custom_name = PrefixCommand(d, UppercaseCmd(ProcessCmdEnv(lex, custom_name, masked)), dctx);

  llb::State run_on = d.state;
  if (c.security == SecurityMode::kInsecure) run_on = run_on.Security(llb::SecurityMode::kInsecure);
  if (c.network == NetworkMode::kNone) run_on = run_on.Network(llb::NetMode::kNone);
  if (c.network == NetworkMode::kHost) run_on = run_on.Network(llb::NetMode::kHost);
  llb::ExecState exec = run_on.Run(ro);
  d.state = d.state.WithOutput(exec.Root().output());
  ShellEnvList env = EnvOf(d.state);
  CommitToHistory(d.image, "RUN " + RunCommandString(args, d.build_args, env), true, true,
                  dctx.epoch);
  return {};
}

}  // namespace hoist::frontend::dockerfile::internal
