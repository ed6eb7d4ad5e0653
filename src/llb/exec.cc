#include "llb/exec.h"

#include <fmt/core.h>

#include <algorithm>

#include "llb/caps.h"
#include "llb/internal/op_proto.h"
#include "llb/internal/vertex.h"

namespace hoist::llb {

Mount BindMount(std::string_view target, const State& source, bool readonly,
                std::string_view selector) {
  Mount m;
  m.target = std::string(target);
  m.source = source;
  m.readonly = readonly;
  m.selector = std::string(selector);
  return m;
}

Mount CacheMount(std::string_view target, std::string_view id, CacheSharing sharing,
                 std::optional<State> base) {
  Mount m;
  m.target = std::string(target);
  m.cache_id = std::string(id);
  m.sharing = sharing;
  m.source = std::move(base);
  return m;
}

Mount TmpfsMount(std::string_view target, int64_t size) {
  Mount m;
  m.target = std::string(target);
  m.tmpfs = true;
  m.tmpfs_size = size;
  return m;
}

namespace internal {

// One exec op. Mounts are kept sorted by target (a stable sort, so duplicates keep their
// order), the root mount "/" first among equals as BuildKit adds it first.
class ExecVertex : public Vertex {
 public:
  struct MountEntry {
    Mount mount;
    Output source;  // vertex == nullptr: none (scratch)
    int64_t output = -1;
  };

  ExecVertex(State base, RunOptions options) : base_(std::move(base)), options_(std::move(options)) {
    MountEntry root;
    root.mount.target = "/";
    root.mount.readonly = options_.readonly_rootfs;
    root.source = base_.output();
    mounts_.push_back(std::move(root));
    for (const Mount& m : options_.mounts) {
      MountEntry e;
      e.mount = m;
      if (m.source) e.source = m.source->output();
      mounts_.push_back(std::move(e));
    }
    std::stable_sort(mounts_.begin(), mounts_.end(), [](const MountEntry& a, const MountEntry& b) {
      return a.mount.target < b.mount.target;
    });
    int64_t next = 0;
    for (auto& e : mounts_) {
      if (HasOutput(e.mount)) e.output = next++;
    }
  }

  static bool HasOutput(const Mount& m) {
    return !m.no_output && !m.readonly && m.cache_id.empty() && !m.tmpfs;
  }

  // The output a mount gives to later States; `self` is this vertex's owner.
  Output MountOutput(const std::shared_ptr<const ExecVertex>& self, size_t i) const {
    const MountEntry& e = mounts_[i];
    if (e.mount.readonly) return e.source;
    if (e.mount.tmpfs) {
      return Output{self, 0, std::nullopt,
                    fmt::format("tmpfs mount for {} can't be used as a parent", e.mount.target)};
    }
    if (!HasOutput(e.mount)) {
      return Output{self, 0, std::nullopt,
                    fmt::format("mount marked no-output and {} can't be used as a parent",
                                e.mount.target)};
    }
    return Output{self, e.output, options_.op.platform, ""};
  }

  std::optional<size_t> FindMount(std::string_view target) const {
    for (size_t i = 0; i < mounts_.size(); ++i) {
      if (mounts_[i].mount.target == target) return i;
    }
    return std::nullopt;
  }

  std::optional<size_t> RootIndex() const { return FindMount("/"); }

  std::vector<Output> Inputs() const override {
    std::vector<Output> out;
    for (const auto& e : mounts_) {
      if (!e.source.vertex) continue;
      bool seen = std::any_of(out.begin(), out.end(), [&](const Output& o) {
        return o.vertex == e.source.vertex && o.index == e.source.index;
      });
      if (!seen) out.push_back(e.source);
    }
    return out;
  }

  Result<MarshalledOp> MarshalOp(MarshalContext& ctx) const override {
    HOIST_ASSIGN_OR_RETURN(MarshalledOp op, MarshalExec(ctx));
    return op;
  }

 private:
  Result<MarshalledOp> MarshalExec(MarshalContext& ctx) const {
    const StateValues& v = base_.values();
    std::vector<std::string> args = options_.args.empty() ? v.args : options_.args;
    if (args.empty()) return MakeError(Code::kInvalidArgument, "exec: arguments are required");
    if (v.dir.empty()) return MakeError(Code::kInvalidArgument, "exec: working directory is required");

    std::vector<std::string_view> caps;
    State env_state = base_;
    std::vector<std::string> ssh_targets;
    for (size_t i = 0; i < options_.ssh.size(); ++i) {
      ssh_targets.push_back(options_.ssh[i].target.empty()
                                ? fmt::format("/run/buildkit/ssh_agent.{}", i)
                                : options_.ssh[i].target);
    }
    if (!ssh_targets.empty() && !env_state.GetEnv("SSH_AUTH_SOCK")) {
      env_state = env_state.AddEnv("SSH_AUTH_SOCK", ssh_targets[0]);
    }

    pb::Op op;
    pb::ExecOp* exec = op.mutable_exec();
    pb::Meta* meta = exec->mutable_meta();
    for (const auto& a : args) meta->add_args(a);
    for (const auto& e : env_state.EnvList()) meta->add_env(e);
    meta->set_cwd(v.dir);
    meta->set_user(v.user);
    meta->set_hostname(v.hostname);
    meta->set_cgroupparent(v.cgroup_parent);
    meta->set_removemountstubsrecursive(true);
    if (v.valid_exit_codes) {
      for (int32_t c : *v.valid_exit_codes) meta->add_validexitcodes(c);
      caps.push_back(kCapExecValidExitCode);
    }
    for (const auto& h : v.extra_hosts) {
      auto* hip = meta->add_extrahosts();
      hip->set_host(h.host);
      hip->set_ip(h.ip);
    }
    if (!v.ulimits.empty()) {
      caps.push_back(kCapExecMetaUlimit);
      for (const auto& u : v.ulimits) {
        auto* ul = meta->add_ulimit();
        ul->set_name(u.name);
        ul->set_soft(u.soft);
        ul->set_hard(u.hard);
      }
    }
    exec->set_network(static_cast<pb::NetMode>(v.network));
    exec->set_security(static_cast<pb::SecurityMode>(v.security));
    if (v.network != NetMode::kSandbox) caps.push_back(kCapExecMetaNetwork);
    if (v.security == SecurityMode::kInsecure) caps.push_back(kCapExecMetaSecurity);
    if (options_.proxy_env) {
      auto* p = meta->mutable_proxy_env();
      p->set_http_proxy(options_.proxy_env->http_proxy);
      p->set_https_proxy(options_.proxy_env->https_proxy);
      p->set_ftp_proxy(options_.proxy_env->ftp_proxy);
      p->set_no_proxy(options_.proxy_env->no_proxy);
      p->set_all_proxy(options_.proxy_env->all_proxy);
      caps.push_back(kCapExecMetaProxy);
    }
    caps.push_back(kCapExecMetaBase);
    for (const auto& e : mounts_) {
      const Mount& m = e.mount;
      if (!m.selector.empty()) caps.push_back(kCapExecMountSelector);
      if (!m.cache_id.empty()) {
        caps.push_back(kCapExecMountCache);
        caps.push_back(kCapExecMountCacheSharing);
      } else if (m.tmpfs) {
        caps.push_back(kCapExecMountTmpfs);
        if (m.tmpfs_size > 0) caps.push_back(kCapExecMountTmpfsSize);
      } else if (e.source.vertex) {
        caps.push_back(kCapExecMountBind);
      }
      if (m.content_cache != ContentCache::kDefault) caps.push_back(kCapExecMountContentCache);
    }
    if (!options_.secrets.empty()) {
      caps.push_back(kCapExecMountSecret);
      for (const auto& s : options_.secrets) {
        if (s.env) {
          caps.push_back(kCapExecSecretEnv);
          break;
        }
      }
    }
    if (!options_.ssh.empty()) caps.push_back(kCapExecMountSSH);

    Constraints c = ctx.Merge(options_.op, caps, v.platform);
    SetConstraints(c, /*platform_specific=*/true, &op);

    std::vector<InputRef> inputs;
    for (const auto& e : mounts_) {
      const Mount& m = e.mount;
      int64_t input = -1;
      if (e.source.vertex) {
        if (m.tmpfs) {
          return MakeError(Code::kInvalidArgument,
                           fmt::format("exec: tmpfs mount {} must use scratch", m.target));
        }
        HOIST_ASSIGN_OR_RETURN(InputRef ref, ctx.ToInput(e.source));
        auto it = std::find(inputs.begin(), inputs.end(), ref);
        input = it - inputs.begin();
        if (it == inputs.end()) inputs.push_back(ref);
      }
      pb::Mount* pm = exec->add_mounts();
      pm->set_input(input);
      pm->set_dest(m.target);
      pm->set_readonly(m.readonly);
      pm->set_output(e.output);
      pm->set_selector(m.selector);
      if (!m.cache_id.empty()) {
        pm->set_mounttype(pb::CACHE);
        pm->mutable_cacheopt()->set_id(m.cache_id);
        pm->mutable_cacheopt()->set_sharing(static_cast<pb::CacheSharingOpt>(m.sharing));
      }
      pm->set_contentcache(static_cast<pb::MountContentCache>(m.content_cache));
      if (m.tmpfs) {
        pm->set_mounttype(pb::TMPFS);
        pm->mutable_tmpfsopt()->set_size(m.tmpfs_size);
      }
    }
    for (const auto& in : inputs) SetInput(in, op.add_inputs());

    for (const auto& s : options_.secrets) {
      if (s.env) {
        auto* se = exec->add_secretenv();
        se->set_id(s.id);
        se->set_name(*s.env);
        se->set_optional(s.optional);
      }
      if (s.target) {
        pb::Mount* pm = exec->add_mounts();
        pm->set_input(-1);
        pm->set_dest(*s.target);
        pm->set_mounttype(pb::SECRET);
        auto* so = pm->mutable_secretopt();
        so->set_id(s.id);
        so->set_uid(s.uid);
        so->set_gid(s.gid);
        so->set_mode(s.mode);
        so->set_optional(s.optional);
      }
    }
    for (size_t i = 0; i < options_.ssh.size(); ++i) {
      const SshMount& s = options_.ssh[i];
      pb::Mount* pm = exec->add_mounts();
      pm->set_input(-1);
      pm->set_dest(ssh_targets[i]);
      pm->set_mounttype(pb::SSH);
      auto* so = pm->mutable_sshopt();
      so->set_id(s.id);
      so->set_uid(s.uid);
      so->set_gid(s.gid);
      so->set_mode(s.mode);
      so->set_optional(s.optional);
    }
    return Finish(op, std::move(c.metadata));
  }

  State base_;
  RunOptions options_;
  std::vector<MountEntry> mounts_;
};

}  // namespace internal

ExecState::ExecState(State root, std::shared_ptr<const internal::ExecVertex> exec)
    : State(std::move(root)), exec_(std::move(exec)) {}

std::optional<State> ExecState::GetMount(std::string_view target) const {
  auto i = exec_->FindMount(target);
  if (!i) return std::nullopt;
  return WithOutput(exec_->MountOutput(exec_, *i));
}

ExecState State::Run(const RunOptions& options) const {
  auto exec = std::make_shared<internal::ExecVertex>(*this, options);
  Output root = exec->MountOutput(exec, *exec->RootIndex());
  return ExecState(WithOutput(std::move(root)), std::move(exec));
}

}  // namespace hoist::llb
