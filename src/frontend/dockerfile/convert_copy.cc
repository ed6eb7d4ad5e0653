// COPY and ADD: one FileOp of copy actions (from the build context, another stage, an image,
// a URL, a git repository or an inline heredoc), or with --link a merge of the stage with a
// copy onto scratch, as BuildKit's dispatchCopy.
#include <fmt/format.h>

#include <regex>

#include "base/hash.h"
#include "frontend/dockerfile/internal/convert_state.h"
#include "oci/digest.h"

namespace hoist::frontend::dockerfile::internal {
namespace {

struct GitSource {
  std::string remote;
  std::string ref;
  std::string subdir;
};

bool HasPrefix(std::string_view s, std::string_view p) { return s.rfind(p, 0) == 0; }

// The git sources ADD accepts: git://, ssh://, scp-like user@host:path, http(s) URLs whose path
// ends in .git, and the legacy github.com/ prefix. `#ref[:subdir]` selects what to check out.
std::optional<GitSource> ParseGitSource(std::string_view src) {
  if (HasPrefix(src, "./") || HasPrefix(src, "../")) return std::nullopt;
  std::string s(src);
  std::string fragment;
  if (size_t h = s.find('#'); h != std::string::npos) {
    fragment = s.substr(h + 1);
    s = s.substr(0, h);
  }
  bool git = false;
  if (HasPrefix(s, "git://") || HasPrefix(s, "ssh://") || HasPrefix(s, "github.com/")) {
    git = true;
  } else if (HasPrefix(s, "http://") || HasPrefix(s, "https://")) {
    std::string path = s.substr(0, s.find('?'));
    git = path.size() > 4 && path.compare(path.size() - 4, 4, ".git") == 0;
  } else {
    static const std::regex kScp("^[A-Za-z0-9_.+-]+@[A-Za-z0-9.-]+:.+");
    git = std::regex_match(s, kScp);
  }
  if (!git) return std::nullopt;
  GitSource g;
  g.remote = s;
  size_t colon = fragment.find(':');
  g.ref = fragment.substr(0, colon);
  if (colon != std::string::npos) g.subdir = fragment.substr(colon + 1);
  return g;
}

bool IsHttpSource(std::string_view src) {
  return (HasPrefix(src, "http://") || HasPrefix(src, "https://")) && !ParseGitSource(src);
}

bool ContainsWildcards(std::string_view name) {
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '*' || name[i] == '?' || name[i] == '[') return true;
    if (name[i] == '\\') ++i;
  }
  return false;
}

// BuildKit's pathRelativeToWorkingDir: a trailing slash (or "." ) survives, so that the
// destination stays a directory.
std::string DestPath(const llb::State& st, std::string_view p) {
  std::string in(p);
  if (in.empty() || in == ".") in = "./";
  std::string out = !in.empty() && in[0] == '/' ? CleanPath(in) : JoinPath(st.GetDir(), in);
  bool keep = in.back() == '/' || (in.size() >= 2 && in.compare(in.size() - 2, 2, "/.") == 0);
  if (keep && out != "/") out += "/";
  return out;
}

Result<std::optional<uint32_t>> ParseChmod(const std::string& chmod, std::string* mode_str) {
  if (chmod.empty()) return std::nullopt;
  std::string non_octal = fmt::format(
      "invalid chmod parameter: '{}'. it should be octal string and between 0 and 07777", chmod);
  bool digits = std::all_of(chmod.begin(), chmod.end(), ::isdigit);
  if (digits) {
    if (chmod.find_first_of("89") != std::string::npos || chmod.size() > 11) {
      return MakeError(Code::kInvalidArgument, non_octal);
    }
    unsigned long v = std::stoul(chmod, nullptr, 8);
    if (v > 07777) return MakeError(Code::kInvalidArgument, non_octal);
    return static_cast<uint32_t>(v);
  }
  static const std::regex kSymbolic(
      "^[ugoa]*([-+=]([rwxXst]*|[ugo]))+(,[ugoa]*([-+=]([rwxXst]*|[ugo]))+)*$");
  if (!std::regex_match(chmod, kSymbolic)) {
    return MakeError(Code::kInvalidArgument, fmt::format("invalid chmod parameter: '{}'", chmod));
  }
  *mode_str = chmod;
  return std::nullopt;
}

}  // namespace

Result<void> DispatchCopy(DispatchState& d, CopyConfig cfg, DispatchContext& dctx) {
  std::string dest = DestPath(d.state, cfg.params.dest_path);
  llb::CopyOptions base;
  if (!cfg.chown.empty()) base.chown = llb::ParseChown(cfg.chown);
  base.exclude_patterns = cfg.exclude_patterns;
  std::string mode_str;
  HOIST_ASSIGN_OR_RETURN(base.mode, ParseChmod(cfg.chmod, &mode_str));
  base.mode_str = mode_str;

  if (!cfg.checksum.empty()) {
    if (!cfg.is_add)
      return MakeError(Code::kInvalidArgument, "checksum can't be specified for COPY");
    if (cfg.params.source_paths.size() != 1) {
      return MakeError(Code::kInvalidArgument, "checksum can't be specified for multiple sources");
    }
    const std::string& s = cfg.params.source_paths[0];
    if (!IsHttpSource(s) && !ParseGitSource(s)) {
      return MakeError(Code::kInvalidArgument, "checksum requires HTTP(S) or Git sources");
    }
  }

  std::string msg = cfg.is_add ? "ADD" : "COPY";
  if (cfg.parents) msg += " --parents";
  if (!cfg.chown.empty()) msg += " --chown=" + cfg.chown;
  if (!cfg.chmod.empty()) msg += " --chmod=" + cfg.chmod;

  ShellLex lex = MakeLex(dctx);
  std::string name = UppercaseCmd(ProcessCmdEnv(lex, cfg.code, EnvOf(d.state)));
  std::string pg_name = PrefixCommand(d, name, dctx);

  std::optional<llb::FileAction> a;
  auto add = [&](const llb::CopyInput& from, const std::string& src, const llb::CopyOptions& o) {
    a = a ? a->Copy(from, src, dest, o) : llb::Copy(from, src, dest, o);
  };

  for (std::string src : cfg.params.source_paths) {
    msg += " " + src;
    if (auto git = ParseGitSource(src)) {
      if (!cfg.is_add)
        return MakeError(Code::kInvalidArgument, "source can't be a git ref for COPY");
      llb::GitOptions go;
      go.op.custom_name = pg_name;
      go.ref = git->ref;
      go.subdir = git->subdir;
      go.keep_git_dir = cfg.keep_git_dir.value_or(false);
      go.checksum = cfg.checksum;
      llb::State st = llb::Git(git->remote, "", go);
      llb::CopyOptions o = base;
      o.create_dest_path = true;
      add(st, "/", o);
    } else if (IsHttpSource(src)) {
      if (!cfg.is_add) return MakeError(Code::kInvalidArgument, "source can't be a URL for COPY");
      std::string path = src.substr(src.find("://") + 3);
      path = path.substr(0, path.find_first_of("?#"));
      size_t slash = path.find('/');
      path = slash == std::string::npos ? "" : path.substr(slash);
      std::string f = "__unnamed__";
      std::string clean = CleanPath(path.empty() ? "." : path);
      std::string base_name = clean.substr(clean.rfind('/') + 1);
      if (!base_name.empty() && base_name != "." && clean != "/") f = base_name;
      llb::HttpOptions ho;
      if (!cfg.checksum.empty()) {
        auto dg = oci::Digest::Parse(cfg.checksum);
        if (!dg) return tl::unexpected(dg.error());
        ho.checksum = cfg.checksum;
      }
      ho.filename = f;
      ho.op.custom_name = pg_name;
      ho.op.description = DfCmd("");
      llb::State st = llb::HTTP(src, ho);
      llb::CopyOptions o = base;
      o.create_dest_path = true;
      o.attempt_unpack = cfg.unpack.value_or(false);
      add(st, f, o);
    } else {
      std::vector<std::string> patterns;
      std::vector<std::string> required;
      if (cfg.parents) {
        std::string pattern;
        size_t pivot = src.find("/./");
        if (pivot == std::string::npos) {
          pattern = src;
          src = "/";
        } else {
          pattern = src.substr(pivot + 3);
          src = src.substr(0, pivot);
        }
        pattern = JoinPath("/", pattern);
        patterns = {pattern.substr(1)};
        if (!ContainsWildcards(src) && !ContainsWildcards(pattern)) {
          required = {JoinPath("/", JoinPath(src, pattern))};
        }
      }
      src = JoinPath("/", src);
      llb::CopyOptions o = base;
      o.follow_symlinks = true;
      o.copy_dir_contents_only = true;
      o.include_patterns = patterns;
      o.required_paths = required;
      o.attempt_unpack = cfg.unpack.value_or(cfg.is_add);
      o.create_dest_path = true;
      o.allow_wildcard = true;
      o.allow_empty_wildcard = true;
      add(cfg.source, src, o);
    }
  }
  for (const SourceContent& sc : cfg.params.source_contents) {
    msg += " <<" + sc.path;
    llb::OpOptions op;
    op.custom_name = "[internal] preparing inline document";
    op.platform = d.platform;
    llb::State st = llb::Scratch().File(llb::Mkfile(sc.path, 0644, sc.data), op);
    llb::CopyOptions o = base;
    o.create_dest_path = true;
    add(st, sc.path, o);
  }
  msg += " " + cfg.params.dest_path;
  if (!a) return MakeError(Code::kInvalidArgument, "COPY/ADD has no sources");

  llb::OpOptions file_op;
  file_op.custom_name = pg_name;
  file_op.description = DfCmd(cfg.code, cfg.start_line, cfg.end_line);
  if (cfg.link && cfg.chmod.empty()) {
    std::string pg_id = "link-" + hoist::Sha256Hex(pg_name + "\n" + msg).substr(0, 25);
    --d.cmd_index;
    std::string group_name = PrefixCommand(d, name, dctx);
    llb::OpOptions copy_op = file_op;
    copy_op.platform = d.platform;
    copy_op.progress_group = llb::ProgressGroup{pg_id, group_name, true};
    llb::OpOptions merge_op = file_op;
    --d.cmd_index;
    merge_op.progress_group = llb::ProgressGroup{pg_id, group_name, false};
    merge_op.custom_name = PrefixCommand(d, "LINK " + name, dctx);
    llb::State merged = llb::Merge({d.state, llb::Scratch().File(*a, copy_op)}, merge_op);
    d.state = d.state.WithOutput(merged.output());
  } else {
    d.state = d.state.File(*a, file_op);
  }
  CommitToHistory(d.image, msg, true, true, dctx.epoch);
  return {};
}

}  // namespace hoist::frontend::dockerfile::internal
