#include "frontend/dockerfile/named_context.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "frontend/dockerfile/dockerignore.h"
#include "llb/source.h"
#include "oci/reference.h"

namespace hoist::frontend::dockerfile {
namespace {

constexpr std::string_view kContextPrefix = "context:";
constexpr std::string_view kInputMetadataPrefix = "input-metadata:";
constexpr std::string_view kSharedKeyPrefix = "sharedkey:localdir:";
// The exporter metadata key that carries an image config (BuildKit's exptypes).
constexpr std::string_view kImageConfigKey = "containerimage.config";
constexpr std::string_view kEmptyImageName = "scratch";
constexpr std::string_view kDockerignoreName = ".dockerignore";

bool EqualFold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view TrimPrefix(std::string_view s, std::string_view prefix) {
  if (s.starts_with(prefix)) s.remove_prefix(prefix.size());
  return s;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Decodes standard base64 with padding, as Go's encoding/json reads []byte.
std::optional<std::string> DecodeBase64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    std::array<int, 4> v{};
    int pad = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[j] = value(c);
      if (v[j] < 0) return std::nullopt;
    }
    uint32_t n =
        (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

// BuildKit's State.WithImageConfig: the config's Env, WorkingDir and platform.
llb::State WithImageConfig(llb::State st, const oci::ImageConfig& img) {
  for (const std::string& env : img.config.env) {
    size_t eq = env.find('=');
    std::string_view key = std::string_view(env).substr(0, eq);
    if (key.empty()) continue;
    st = st.AddEnv(key, eq == std::string::npos ? "" : std::string_view(env).substr(eq + 1));
  }
  if (!img.config.working_dir.empty()) st = st.Dir(img.config.working_dir);
  if (!img.architecture.empty() && !img.os.empty()) {
    st = st.Platform(
        oci::Platform{img.os, img.architecture, img.variant, img.os_version, img.os_features});
  }
  return st;
}

// ---- git URLs (BuildKit's dfgitutil.ParseGitRef over gitutil.ParseURL) ----

struct GitRef {
  std::string remote;
  std::string ref;
  std::string subdir;
  std::string checksum;
  std::optional<bool> keep_git_dir;
  std::optional<bool> submodules;
  std::string mtime;
  bool fetch_by_commit = false;
};

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// path.Join("/", p) without the leading slash: `./a/../b/` → `b`, `..` → ``.
std::string CleanSubdir(std::string_view p) {
  std::vector<std::string_view> parts;
  while (!p.empty()) {
    size_t slash = p.find('/');
    std::string_view part = p.substr(0, slash);
    p = slash == std::string_view::npos ? std::string_view() : p.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (std::string_view part : parts) {
    if (!out.empty()) out.push_back('/');
    out.append(part);
  }
  return out;
}

// url.ParseQuery: key → values, keys sorted.
std::map<std::string, std::vector<std::string>> ParseQuery(std::string_view q) {
  std::map<std::string, std::vector<std::string>> out;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string key = PercentDecode(part.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? "" : PercentDecode(part.substr(eq + 1), true);
    out[key].push_back(std::move(value));
  }
  return out;
}

// Go's strconv.ParseBool.
std::optional<bool> ParseBool(std::string_view s) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (s == t) return true;
  }
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (s == f) return false;
  }
  return std::nullopt;
}

Status LoadGitQuery(const std::map<std::string, std::vector<std::string>>& query, GitRef* g) {
  std::string tag;
  std::string branch;
  for (const auto& [k, values] : query) {
    if (values.size() > 1) {
      return MakeError(Code::kInvalidArgument, fmt::format("query \"{}\" has multiple values", k));
    }
    std::optional<std::string> v;
    if (!values.empty() && !values[0].empty()) v = values[0];
    if (!v && k != "submodules" && k != "keep-git-dir" && k != "fetch-by-commit") {
      return MakeError(Code::kInvalidArgument, fmt::format("query \"{}\" has no value", k));
    }
    auto flag = [&](std::string_view what) -> Result<bool> {
      if (!v) return true;
      auto b = ParseBool(*v);
      if (!b) {
        return MakeError(Code::kInvalidArgument, fmt::format("invalid {} value: \"{}\"", what, *v));
      }
      return *b;
    };
    if (k == "ref") {
      if (!g->ref.empty() && g->ref != *v) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("ref conflicts: \"{}\" vs \"{}\"", g->ref, *v));
      }
      g->ref = *v;
    } else if (k == "tag") {
      tag = *v;
    } else if (k == "branch") {
      branch = *v;
    } else if (k == "subdir") {
      if (!g->subdir.empty() && g->subdir != *v) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("subdir conflicts: \"{}\" vs \"{}\"", g->subdir, *v));
      }
      g->subdir = *v;
    } else if (k == "checksum" || k == "commit") {
      g->checksum = *v;
    } else if (k == "keep-git-dir") {
      HOIST_ASSIGN_OR_RETURN(g->keep_git_dir, flag("keep-git-dir"));
    } else if (k == "submodules") {
      HOIST_ASSIGN_OR_RETURN(g->submodules, flag("submodules"));
    } else if (k == "fetch-by-commit") {
      HOIST_ASSIGN_OR_RETURN(g->fetch_by_commit, flag("fetch-by-commit"));
    } else if (k == "mtime") {
      if (*v != "checkout" && *v != "commit") {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("invalid mtime value: \"{}\" (must be \"checkout\" or "
                                     "\"commit\")",
                                     *v));
      }
      g->mtime = *v;
    } else {
      return MakeError(Code::kInvalidArgument, fmt::format("unexpected query \"{}\"", k));
    }
  }
  auto merge_ref = [&](std::string full) -> Status {
    if (!g->ref.empty() && g->ref != full) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("ref conflicts: \"{}\" vs \"{}\"", g->ref, full));
    }
    g->ref = std::move(full);
    return OkStatus();
  };
  if (!tag.empty()) {
    HOIST_TRY(merge_ref(tag.starts_with("refs/tags/") ? tag : "refs/tags/" + tag));
  }
  if (!branch.empty()) {
    if (!tag.empty()) return MakeError(Code::kInvalidArgument, "branch conflicts with tag");
    HOIST_TRY(merge_ref(branch.starts_with("refs/heads/") ? branch : "refs/heads/" + branch));
  }
  return OkStatus();
}

// Whether `s` is user@host:path[?query][#fragment] (BuildKit's scp-style regexp).
bool SplitScpStyle(std::string_view s, std::string_view* remote, std::string_view* query,
                   std::string_view* fragment) {
  size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0) return false;
  for (char c : s.substr(0, at)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  size_t colon = s.find(':', at + 1);
  if (colon == std::string_view::npos || colon == at + 1) return false;
  for (char c : s.substr(at + 1, colon - at - 1)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  size_t end = s.find_first_of("?#", colon + 1);
  *remote = s.substr(0, end);
  *query = {};
  *fragment = {};
  if (end != std::string_view::npos && s[end] == '?') {
    size_t hash = s.find('#', end);
    *query = s.substr(end + 1, hash == std::string_view::npos ? hash : hash - end - 1);
    end = hash;
  }
  if (end != std::string_view::npos) *fragment = s.substr(end + 1);
  return true;
}

// nullopt: not a git reference; an error: a git reference with a bad query.
Result<std::optional<GitRef>> ParseGitRef(std::string_view s) {
  std::string_view remote;
  std::string_view query;
  std::string_view fragment;
  std::string scheme;
  std::string path;
  size_t proto_end = 0;
  while (proto_end < s.size() && std::isalnum(static_cast<unsigned char>(s[proto_end]))) {
    ++proto_end;
  }
  if (proto_end > 0 && s.substr(proto_end).starts_with("://")) {
    scheme = ToLower(s.substr(0, proto_end));
    if (scheme != "http" && scheme != "https" && scheme != "ssh" && scheme != "git") {
      return std::optional<GitRef>();
    }
    size_t hash = s.find('#');
    std::string_view no_fragment = s.substr(0, hash);
    if (hash != std::string_view::npos) fragment = s.substr(hash + 1);
    size_t q = no_fragment.find('?');
    remote = no_fragment.substr(0, q);
    if (q != std::string_view::npos) query = no_fragment.substr(q + 1);
    std::string_view rest = remote.substr(proto_end + 3);
    size_t slash = rest.find('/');
    path = slash == std::string_view::npos ? "" : PercentDecode(rest.substr(slash), false);
    // An HTTP(S) URL names a repository only with the .git suffix.
    if ((scheme == "http" || scheme == "https") && !path.ends_with(".git")) {
      return std::optional<GitRef>();
    }
  } else if (!SplitScpStyle(s, &remote, &query, &fragment)) {
    return std::optional<GitRef>();
  }
  GitRef g;
  g.remote = std::string(remote);
  if (!fragment.empty()) {
    size_t colon = fragment.find(':');
    g.ref = std::string(fragment.substr(0, colon));
    if (colon != std::string_view::npos) g.subdir = CleanSubdir(fragment.substr(colon + 1));
  }
  HOIST_TRY(LoadGitQuery(ParseQuery(query), &g));
  return std::optional<GitRef>(std::move(g));
}

// BuildKit's DetectGitContext.
Result<std::optional<llb::State>> DetectGitContext(std::string_view value) {
  HOIST_ASSIGN_OR_RETURN(std::optional<GitRef> g, ParseGitRef(value));
  if (!g) return std::optional<llb::State>();
  llb::GitOptions opts;
  opts.op.custom_name = fmt::format("[internal] load git source {}", value);
  opts.ref = g->ref;
  opts.subdir = g->subdir;
  opts.keep_git_dir = g->keep_git_dir.value_or(false);
  opts.checksum = g->checksum;
  opts.skip_submodules = g->submodules.has_value() && !*g->submodules;
  opts.mtime = g->mtime;
  opts.fetch_by_commit = g->fetch_by_commit;
  return std::optional<llb::State>(llb::Git(g->remote, "", opts));
}

// ---- one context value ----

struct Lookup {
  std::string name;                // normalised
  std::string name_with_platform;  // as matched: NAME or NAME::<platform>
  std::string value;
  const oci::Platform* platform;  // null: the engine's default
  const NamedContextOptions* options;
};

std::string Opt(const NamedContextOptions& options, const std::string& key) {
  auto it = options.frontend_opts->find(key);
  return it == options.frontend_opts->end() ? "" : it->second;
}

Result<oci::ImageConfig> ParseConfigFor(const Lookup& l, std::string_view ref,
                                        std::string_view json) {
  auto img = oci::ParseImageConfig(json);
  if (!img) {
    return Unexpected(
        std::move(img.error())
            .Wrap(fmt::format("context {}: image config of {}", l.name_with_platform, ref)));
  }
  return std::move(*img);
}

Result<ResolvedImageConfig> Resolve(const Lookup& l, std::string_view ref,
                                    const ResolveImageConfigOptions& opts) {
  if (l.options->resolver == nullptr) {
    return MakeError(Code::kFailedPrecondition,
                     fmt::format("context {}: load metadata for {}: no image resolver",
                                 l.name_with_platform, ref));
  }
  ResolveImageConfigOptions with_name = opts;
  with_name.log_prefix = fmt::format("[context {}] ", l.name_with_platform);
  auto res = l.options->resolver->ResolveImageConfig(ref, with_name);
  if (!res) {
    return Unexpected(
        std::move(res.error())
            .Wrap(fmt::format("context {}: load metadata for {}", l.name_with_platform, ref)));
  }
  return res;
}

Result<NamedContext> LoadDockerImage(const Lookup& l, std::string_view spec) {
  std::string_view ref = TrimPrefix(spec, "//");
  if (ref == kEmptyImageName) return NamedContext{llb::Scratch(), std::nullopt};
  auto named = oci::ParseNormalizedNamed(ref);
  if (!named) {
    return Unexpected(
        std::move(named.error()).Wrap(fmt::format("context {}", l.name_with_platform)));
  }
  std::string full = oci::TagNameOnly(*named).String();

  ResolveImageConfigOptions ropts;
  if (l.platform) ropts.platform = *l.platform;
  ropts.resolver_type = ResolverType::kRegistry;
  ropts.resolve_mode = l.options->resolve_mode;
  HOIST_ASSIGN_OR_RETURN(ResolvedImageConfig resolved, Resolve(l, full, ropts));
  HOIST_ASSIGN_OR_RETURN(oci::ImageConfig img, ParseConfigFor(l, full, resolved.config_json));
  img.created.clear();

  // Pin the source to what was resolved.
  std::string pinned = resolved.ref.empty() ? full : resolved.ref;
  if (auto parsed = oci::ParseNormalizedNamed(pinned);
      parsed && !parsed->has_digest() && resolved.digest.valid()) {
    if (auto with = oci::WithDigest(*parsed, resolved.digest)) pinned = with->String();
  }
  llb::ImageOptions iopts;
  iopts.op.custom_name = fmt::format("[context {}] {}", l.name_with_platform, ref);
  if (l.platform) iopts.op.platform = *l.platform;
  llb::State st = WithImageConfig(llb::Image(pinned, iopts), img);
  return NamedContext{std::move(st), std::move(img)};
}

Result<NamedContext> LoadOciLayout(const Lookup& l, std::string_view spec) {
  std::string_view ref_spec = TrimPrefix(spec, "//");
  auto ref = oci::ParseReference(ref_spec);
  if (!ref) {
    return Unexpected(
        std::move(ref.error())
            .Wrap(fmt::format("could not parse oci-layout reference \"{}\"", ref_spec)));
  }
  if (!ref->has_name()) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("oci-layout reference \"{}\" has no name", ref->String()));
  }
  if (!ref->has_digest()) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("oci-layout reference \"{}\" has no digest", ref->String()));
  }
  const std::string store_id = ref->Name();

  // The dummy ref names the image by the context's name: the store ID may reveal a path.
  auto dummy = oci::ParseNormalizedNamed(l.name);
  if (dummy) dummy = oci::WithDigest(*dummy, *ref->digest());
  if (!dummy) {
    return Unexpected(
        std::move(dummy.error())
            .Wrap(fmt::format("could not parse oci-layout reference \"{}\"", l.name)));
  }
  const std::string dummy_ref = dummy->String();

  ResolveImageConfigOptions ropts;
  if (l.platform) ropts.platform = *l.platform;
  ropts.resolver_type = ResolverType::kOciLayout;
  ropts.session_id = l.options->session_id;
  ropts.store_id = store_id;
  HOIST_ASSIGN_OR_RETURN(ResolvedImageConfig resolved, Resolve(l, dummy_ref, ropts));
  HOIST_ASSIGN_OR_RETURN(oci::ImageConfig img, ParseConfigFor(l, dummy_ref, resolved.config_json));

  llb::OciLayoutOptions oopts;
  oopts.op.custom_name = fmt::format("[context {}] OCI load from client", l.name_with_platform);
  if (l.platform) oopts.op.platform = *l.platform;
  oopts.session_id = l.options->session_id;
  oopts.store_id = store_id;
  llb::State st = WithImageConfig(llb::OCILayout(dummy_ref, oopts), img);
  return NamedContext{std::move(st), std::move(img)};
}

Result<NamedContext> LoadLocal(const Lookup& l, std::string_view local_name) {
  const NamedContextOptions& o = *l.options;
  std::string session_id = o.session_id;
  if (o.local_session_ids != nullptr) {
    if (auto it = o.local_session_ids->find(std::string(local_name));
        it != o.local_session_ids->end()) {
      session_id = it->second;
    }
  }
  std::vector<std::string> excludes;
  if (!o.no_dockerignore && o.local_dockerignores != nullptr) {
    if (auto it = o.local_dockerignores->find(std::string(local_name));
        it != o.local_dockerignores->end()) {
      excludes = ReadDockerignore(it->second);
      if (auto m = PatternMatcher::Create(excludes); !m) {
        return Unexpected(std::move(m.error()).Wrap(
            fmt::format("context {}: failed parsing {}", l.name_with_platform, kDockerignoreName)));
      }
    }
  }
  llb::LocalOptions lopts;
  lopts.op.custom_name = fmt::format("[context {}] load from client", l.name_with_platform);
  lopts.session_id = session_id;
  lopts.shared_key_hint = fmt::format("context:{}-{}", l.name_with_platform,
                                      Opt(o, std::string(kSharedKeyPrefix) + l.name_with_platform));
  lopts.exclude_patterns = std::move(excludes);
  return NamedContext{llb::Local(local_name, lopts), std::nullopt};
}

Result<NamedContext> LoadInput(const Lookup& l, std::string_view key) {
  const NamedContextOptions& o = *l.options;
  const llb::State* input = nullptr;
  if (o.inputs != nullptr) {
    if (auto it = o.inputs->find(std::string(key)); it != o.inputs->end()) input = &it->second;
  }
  if (input == nullptr) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("invalid input {} for {}", key, l.name_with_platform));
  }
  auto md = o.frontend_opts->find(std::string(kInputMetadataPrefix) + std::string(key));
  if (md == o.frontend_opts->end()) return NamedContext{*input, std::nullopt};

  auto bad_metadata = [&](std::string_view why) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("failed to parse input metadata {}: {}", md->second, why));
  };
  nlohmann::json j = nlohmann::json::parse(md->second, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad_metadata("not JSON");
  if (!j.is_object()) return bad_metadata("not a JSON object");
  std::optional<std::string> config;
  for (const auto& [k, v] : j.items()) {
    if (v.is_null()) continue;
    if (!v.is_string()) return bad_metadata(fmt::format("member \"{}\" is not a string", k));
    auto bytes = DecodeBase64(v.get<std::string>());
    if (!bytes) return bad_metadata(fmt::format("member \"{}\" is not base64", k));
    if (k == kImageConfigKey) config = std::move(*bytes);
  }
  if (!config) return NamedContext{*input, std::nullopt};
  auto img = oci::ParseImageConfig(*config);
  if (!img) {
    return Unexpected(
        std::move(img.error())
            .Wrap(fmt::format("failed to parse image config for {}", l.name_with_platform)));
  }
  llb::State st = WithImageConfig(*input, *img);
  return NamedContext{std::move(st), std::move(*img)};
}

Result<std::optional<llb::State>> DetectGitContextFor(const Lookup& l) {
  auto git = DetectGitContext(l.value);
  if (!git) {
    return Unexpected(std::move(git.error()).Wrap(fmt::format("context {}", l.name_with_platform)));
  }
  return git;
}

Result<NamedContext> LoadHttp(const Lookup& l) {
  HOIST_ASSIGN_OR_RETURN(std::optional<llb::State> git, DetectGitContextFor(l));
  if (git) return NamedContext{std::move(*git), std::nullopt};
  llb::HttpOptions hopts;
  hopts.filename = "context";
  hopts.op.custom_name = fmt::format("[context {}] {}", l.name_with_platform, l.value);
  return NamedContext{llb::HTTP(l.value, hopts), std::nullopt};
}

Result<NamedContext> LoadGit(const Lookup& l) {
  HOIST_ASSIGN_OR_RETURN(std::optional<llb::State> git, DetectGitContextFor(l));
  if (!git) {
    return MakeError(Code::kInvalidArgument, fmt::format("invalid git context {}", l.value));
  }
  return NamedContext{std::move(*git), std::nullopt};
}

Result<NamedContext> Load(const Lookup& l) {
  size_t colon = l.value.find(':');
  if (colon == std::string::npos) {
    return MakeError(Code::kInvalidArgument, fmt::format("invalid context specifier {} for {}",
                                                         l.value, l.name_with_platform));
  }
  std::string type = l.value.substr(0, colon);
  std::string_view rest = std::string_view(l.value).substr(colon + 1);
  // git@host:path without a scheme.
  if (type.starts_with("git@")) type = "git";
  Result<NamedContext> res = [&]() -> Result<NamedContext> {
    if (type == "docker-image") return LoadDockerImage(l, rest);
    if (type == "oci-layout") return LoadOciLayout(l, rest);
    if (type == "local") return LoadLocal(l, rest);
    if (type == "input") return LoadInput(l, rest);
    if (type == "http" || type == "https") return LoadHttp(l);
    if (type == "git") return LoadGit(l);
    return MakeError(Code::kInvalidArgument, fmt::format("unsupported context source {} for {}",
                                                         type, l.name_with_platform));
  }();
  return res;
}

}  // namespace

Result<std::optional<NamedContext>> LoadNamedContext(std::string_view name,
                                                     const oci::Platform& platform,
                                                     const NamedContextOptions& options) {
  if (EqualFold(name, "scratch") || EqualFold(name, "context")) return std::nullopt;
  auto named = oci::ParseNormalizedNamed(name);
  if (!named) return std::nullopt;  // not an image name, so never a context's
  std::string normalized = oci::FamiliarString(*named);
  if (normalized.ends_with(":latest")) normalized.resize(normalized.size() - 7);

  const bool default_platform = platform.os.empty() && platform.architecture.empty();
  const oci::Platform key_platform =
      default_platform ? oci::HostPlatform() : oci::Normalize(platform);
  Lookup l;
  l.name = normalized;
  l.platform = default_platform ? nullptr : &platform;
  l.options = &options;
  for (std::string candidate :
       {normalized + "::" + oci::FormatPlatformAll(key_platform), normalized}) {
    auto it = options.frontend_opts->find(std::string(kContextPrefix) + candidate);
    if (it == options.frontend_opts->end()) continue;
    l.name_with_platform = std::move(candidate);
    l.value = it->second;
    HOIST_ASSIGN_OR_RETURN(NamedContext nc, Load(l));
    return std::optional<NamedContext>(std::move(nc));
  }
  return std::nullopt;
}

Result<std::optional<llb::State>> GitBuildContext(std::string_view value) {
  return DetectGitContext(value);
}

}  // namespace hoist::frontend::dockerfile
