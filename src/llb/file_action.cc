#include "llb/file_action.h"

#include <charconv>
#include <map>

#include "llb/caps.h"
#include "llb/internal/op_proto.h"
#include "llb/internal/path.h"
#include "llb/internal/vertex.h"

namespace hoist::llb {

namespace {

std::optional<uint32_t> ParseID(std::string_view s) {
  if (s == "root") return 0;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < INT32_MIN || v > INT32_MAX) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(v);
}

UserOpt ParseUser(std::string_view s) {
  if (auto id = ParseID(s)) return UserOpt{*id, ""};
  return UserOpt{0, std::string(s)};
}

std::shared_ptr<const internal::FileActionNode> MakeNode(
    decltype(internal::FileActionNode::action) action) {
  auto n = std::make_shared<internal::FileActionNode>();
  n->action = std::move(action);
  return n;
}

}  // namespace

ChownOpt ParseChown(std::string_view user_group) {
  ChownOpt out;
  size_t colon = user_group.find(':');
  out.user = ParseUser(user_group.substr(0, colon));
  if (colon != std::string_view::npos) out.group = ParseUser(user_group.substr(colon + 1));
  return out;
}

namespace internal {

std::shared_ptr<const FileActionNode> Bind(const std::shared_ptr<const FileActionNode>& node,
                                           const State& state) {
  if (!node) return nullptr;
  auto n = std::make_shared<FileActionNode>(*node);
  n->prev = Bind(node->prev, state);
  n->state = state;
  return n;
}

}  // namespace internal

FileAction Mkdir(std::string_view path, uint32_t mode, const MkdirOptions& options) {
  return FileAction(MakeNode(internal::MkdirAction{std::string(path), mode, options}));
}
FileAction Mkfile(std::string_view path, uint32_t mode, std::string data,
                  const MkfileOptions& options) {
  return FileAction(
      MakeNode(internal::MkfileAction{std::string(path), mode, std::move(data), options}));
}
FileAction Rm(std::string_view path, const RmOptions& options) {
  return FileAction(MakeNode(internal::RmAction{std::string(path), options}));
}
FileAction Symlink(std::string_view oldpath, std::string_view newpath,
                   const SymlinkOptions& options) {
  return FileAction(
      MakeNode(internal::SymlinkAction{std::string(oldpath), std::string(newpath), options}));
}
FileAction Copy(const CopyInput& from, std::string_view src, std::string_view dest,
                const CopyOptions& options) {
  return FileAction(MakeNode(internal::CopyAction{from.state(), from.chain(), std::string(src),
                                                  std::string(dest), options}));
}

FileAction FileAction::Then(FileAction next) const {
  auto n = std::make_shared<internal::FileActionNode>(*next.node_);
  n->prev = node_;
  return FileAction(std::move(n));
}

FileAction FileAction::Mkdir(std::string_view path, uint32_t mode,
                             const MkdirOptions& options) const {
  return Then(llb::Mkdir(path, mode, options));
}
FileAction FileAction::Mkfile(std::string_view path, uint32_t mode, std::string data,
                              const MkfileOptions& options) const {
  return Then(llb::Mkfile(path, mode, std::move(data), options));
}
FileAction FileAction::Rm(std::string_view path, const RmOptions& options) const {
  return Then(llb::Rm(path, options));
}
FileAction FileAction::Symlink(std::string_view oldpath, std::string_view newpath,
                               const SymlinkOptions& options) const {
  return Then(llb::Symlink(oldpath, newpath, options));
}
FileAction FileAction::Copy(const CopyInput& from, std::string_view src, std::string_view dest,
                            const CopyOptions& options) const {
  return Then(llb::Copy(from, src, dest, options));
}

CopyInput FileAction::WithState(const State& state) const {
  CopyInput in;
  in.chain_ = internal::Bind(node_, state);
  return in;
}

namespace {

using internal::FileActionNode;

// BuildKit's normalizePath: absolute paths are cleaned, relative ones joined to the parent
// dir; with keep_slash a trailing "/" or "/." survives.
std::string NormalizePath(std::string_view parent, std::string_view p, bool keep_slash) {
  std::string out = internal::CleanPath(p);
  if (!internal::IsAbsPath(out)) {
    out = internal::JoinPath(internal::JoinPath("/", parent), out);
  }
  if (keep_slash) {
    if (p.ends_with("/") && !out.ends_with("/")) {
      out += "/";
    } else if (p.ends_with("/.")) {
      if (out != "/") out += "/";
      out += ".";
    }
  }
  return out;
}

int64_t Timestamp(const std::optional<int64_t>& t) { return t ? *t : -1; }

void SetUser(const UserOpt& u, int64_t base, pb::UserOpt* out) {
  if (!u.name.empty()) {
    out->mutable_byname()->set_name(u.name);
    out->mutable_byname()->set_input(base);
  } else {
    out->set_byid(u.id);
  }
}

void SetChown(const std::optional<ChownOpt>& c, int64_t base, pb::FileAction* action,
              pb::ChownOpt* (*mutable_owner)(pb::FileAction*)) {
  if (!c) return;
  pb::ChownOpt* owner = mutable_owner(action);
  if (c->user) SetUser(*c->user, base, owner->mutable_user());
  if (c->group) SetUser(*c->group, base, owner->mutable_group());
}

// BuildKit's marshalState: actions numbered in the order they are first reached (a chain's
// earlier actions and copy sources first), inputs deduplicated.
struct FileMarshal {
  struct ActionState {
    const FileActionNode* node;
    int64_t base = -1;
    int64_t input = -1;
    std::optional<size_t> input_relative;
    int64_t input2 = -1;
    std::optional<size_t> input2_relative;
    size_t target = 0;
  };

  internal::MarshalContext& ctx;
  std::vector<internal::InputRef> inputs;
  std::vector<ActionState> actions;
  std::map<const FileActionNode*, size_t> visited;  // → index in actions

  Result<int64_t> AddInput(const Output& o) {
    HOIST_ASSIGN_OR_RETURN(internal::InputRef ref, ctx.ToInput(o));
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i] == ref) return static_cast<int64_t>(i);
    }
    inputs.push_back(ref);
    return static_cast<int64_t>(inputs.size() - 1);
  }

  Result<size_t> Add(const FileActionNode* node) {
    if (auto it = visited.find(node); it != visited.end()) return it->second;
    std::optional<size_t> prev;
    if (node->prev) {
      HOIST_ASSIGN_OR_RETURN(prev, Add(node->prev.get()));
    }
    ActionState st;
    st.node = node;
    if (node->state && node->state->output().vertex) {
      HOIST_ASSIGN_OR_RETURN(st.base, AddInput(node->state->output()));
    }
    if (!node->prev) {
      st.input = st.base;
    } else {
      st.input_relative = actions[*prev].target;
    }
    if (const auto* copy = std::get_if<internal::CopyAction>(&node->action)) {
      if (copy->state) {
        if (copy->state->output().vertex) {
          HOIST_ASSIGN_OR_RETURN(st.input2, AddInput(copy->state->output()));
        }
      } else if (copy->chain) {
        HOIST_ASSIGN_OR_RETURN(size_t src, Add(copy->chain.get()));
        st.input2_relative = actions[src].target;
      } else {
        return MakeError(Code::kInvalidArgument, "file op: invalid empty source for copy");
      }
    }
    st.target = actions.size();
    visited[node] = actions.size();
    actions.push_back(st);
    return actions.size() - 1;
  }

  int64_t Index(int64_t input, const std::optional<size_t>& relative) const {
    if (relative) return static_cast<int64_t>(inputs.size() + *relative);
    return input;
  }
};

std::string DirOf(const std::optional<State>& s) { return s ? s->GetDir() : ""; }

// Fills `out` with the action of `st`; `caps` collects what the action needs.
void MarshalAction(const FileMarshal::ActionState& st, pb::FileAction* out,
                   std::vector<std::string_view>& caps) {
  const FileActionNode& n = *st.node;
  const std::string parent = DirOf(n.state);
  std::visit(
      [&](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, internal::MkdirAction>) {
          auto* m = out->mutable_mkdir();
          m->set_path(NormalizePath(parent, a.path, false));
          m->set_mode(static_cast<int32_t>(a.mode & 0777));
          m->set_makeparents(a.options.make_parents);
          SetChown(a.options.chown, st.base, out,
                   [](pb::FileAction* f) { return f->mutable_mkdir()->mutable_owner(); });
          m->set_timestamp(Timestamp(a.options.created_time));
        } else if constexpr (std::is_same_v<T, internal::MkfileAction>) {
          auto* m = out->mutable_mkfile();
          m->set_path(NormalizePath(parent, a.path, false));
          m->set_mode(static_cast<int32_t>(a.mode & 0777));
          m->set_data(a.data);
          SetChown(a.options.chown, st.base, out,
                   [](pb::FileAction* f) { return f->mutable_mkfile()->mutable_owner(); });
          m->set_timestamp(Timestamp(a.options.created_time));
        } else if constexpr (std::is_same_v<T, internal::RmAction>) {
          auto* m = out->mutable_rm();
          m->set_path(NormalizePath(parent, a.path, false));
          m->set_allownotfound(a.options.allow_not_found);
          m->set_allowwildcard(a.options.allow_wildcard);
        } else if constexpr (std::is_same_v<T, internal::SymlinkAction>) {
          auto* m = out->mutable_symlink();
          m->set_oldpath(a.oldpath);
          m->set_newpath(a.newpath);
          SetChown(a.options.chown, st.base, out,
                   [](pb::FileAction* f) { return f->mutable_symlink()->mutable_owner(); });
          m->set_timestamp(Timestamp(a.options.created_time));
          caps.push_back(kCapFileSymlinkCreate);
        } else {
          const CopyOptions& o = a.options;
          auto* m = out->mutable_copy();
          // The source path is relative to the source State's dir.
          std::string src = internal::CleanPath(a.src);
          std::string src_dir = "/";
          if (!internal::IsAbsPath(src)) {
            src_dir = a.state ? a.state->GetDir() : (a.chain ? DirOf(a.chain->state) : "/");
          }
          m->set_src(internal::JoinPath(src_dir, src));
          m->set_dest(NormalizePath(parent, a.dest, true));
          SetChown(o.chown, st.base, out,
                   [](pb::FileAction* f) { return f->mutable_copy()->mutable_owner(); });
          for (const auto& p : o.include_patterns) m->add_include_patterns(p);
          for (const auto& p : o.exclude_patterns) m->add_exclude_patterns(p);
          for (const auto& p : o.required_paths) m->add_required_paths(p);
          m->set_allowwildcard(o.allow_wildcard);
          m->set_allowemptywildcard(o.allow_empty_wildcard);
          m->set_followsymlink(o.follow_symlinks);
          m->set_dircopycontents(o.copy_dir_contents_only);
          m->set_attemptunpackdockercompatibility(o.attempt_unpack);
          m->set_createdestpath(o.create_dest_path);
          m->set_timestamp(Timestamp(o.created_time));
          m->set_alwaysreplaceexistingdestpaths(o.always_replace_existing_dest_paths);
          if (!o.mode_str.empty()) {
            m->set_modestr(o.mode_str);
          } else if (o.mode) {
            m->set_mode(static_cast<int32_t>(*o.mode));
          } else {
            m->set_mode(-1);
          }
          if (!o.include_patterns.empty() || !o.exclude_patterns.empty()) {
            caps.push_back(kCapFileCopyIncludeExcludePatterns);
          }
          if (!o.required_paths.empty()) caps.push_back(kCapFileCopyRequiredPaths);
          if (o.always_replace_existing_dest_paths) {
            caps.push_back(kCapFileCopyAlwaysReplaceExistingDestPaths);
          }
          if (!o.mode_str.empty()) caps.push_back(kCapFileCopyModeStringFormat);
        }
      },
      n.action);
}

// Collects the outputs a chain reads, each once (BuildKit's allOutputs order).
void AllOutputs(const FileActionNode* n, std::vector<Output>& out) {
  auto add = [&](const Output& o) {
    if (!o.vertex) return;
    for (const auto& x : out) {
      if (x.vertex == o.vertex && x.index == o.index) return;
    }
    out.push_back(o);
  };
  for (; n != nullptr; n = n->prev.get()) {
    if (n->state) add(n->state->output());
    if (const auto* copy = std::get_if<internal::CopyAction>(&n->action)) {
      if (copy->state) {
        add(copy->state->output());
      } else if (copy->chain) {
        AllOutputs(copy->chain.get(), out);
      }
    }
  }
}

class FileVertex : public internal::Vertex {
 public:
  FileVertex(std::shared_ptr<const FileActionNode> action, OpOptions options)
      : action_(std::move(action)), options_(std::move(options)) {}

  std::vector<Output> Inputs() const override {
    std::vector<Output> out;
    AllOutputs(action_.get(), out);
    return out;
  }

  Result<internal::MarshalledOp> MarshalOp(internal::MarshalContext& ctx) const override {
    FileMarshal fm{ctx, {}, {}, {}};
    HOIST_TRY(fm.Add(action_.get()));
    pb::Op op;
    pb::FileOp* file = op.mutable_file();
    std::vector<std::string_view> caps = {kCapFileBase};
    for (size_t i = 0; i < fm.actions.size(); ++i) {
      const auto& st = fm.actions[i];
      pb::FileAction* a = file->add_actions();
      a->set_input(fm.Index(st.input, st.input_relative));
      a->set_secondaryinput(fm.Index(st.input2, st.input2_relative));
      a->set_output(i + 1 == fm.actions.size() ? 0 : -1);
      MarshalAction(st, a, caps);
    }
    for (const auto& in : fm.inputs) internal::SetInput(in, op.add_inputs());
    internal::Constraints c = ctx.Merge(options_, caps, std::nullopt);
    internal::SetConstraints(c, /*platform_specific=*/false, &op);
    return internal::Finish(op, std::move(c.metadata));
  }

 private:
  std::shared_ptr<const FileActionNode> action_;
  OpOptions options_;
};

}  // namespace

State State::File(const FileAction& action, const OpOptions& options) const {
  auto v = std::make_shared<FileVertex>(internal::Bind(action.node(), *this), options);
  return WithOutput(Output{std::move(v), 0, std::nullopt, ""});
}

}  // namespace hoist::llb
