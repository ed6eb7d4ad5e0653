#include "client/build_options.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <utility>

#include "content/layout_ref.h"

namespace hoist::client {
namespace {

constexpr std::string_view kOciLayoutPrefix = "oci-layout://";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Values the engine resolves itself, passed through as buildx does: images, URLs, git
// repositories and other targets.
bool IsPassThrough(std::string_view v) {
  return StartsWith(v, "docker-image://") || StartsWith(v, "target:") || StartsWith(v, "http://") ||
         StartsWith(v, "https://") || StartsWith(v, "git://") || StartsWith(v, "git@") ||
         StartsWith(v, "ssh://") || StartsWith(v, "github.com/") || EndsWith(v, ".git");
}

std::vector<std::string> SplitComma(std::string_view s) {
  std::vector<std::string> out;
  for (size_t start = 0;;) {
    size_t comma = s.find(',', start);
    out.emplace_back(s.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

Result<std::pair<std::string, std::string>> ParseOciLayoutFlag(std::string_view flag) {
  size_t eq = flag.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == flag.size()) {
    return MakeError(
        Code::kInvalidArgument,
        "oci-layout option must be 'id=path/to/layout', instead had invalid " + std::string(flag));
  }
  return std::make_pair(std::string(flag.substr(0, eq)), std::string(flag.substr(eq + 1)));
}

Result<std::pair<std::string, std::string>> ParseKeyValueFlag(std::string_view flag,
                                                              std::string_view what,
                                                              std::string_view expected) {
  size_t eq = flag.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return MakeError(Code::kInvalidArgument, "invalid " + std::string(what) + " " +
                                                 std::string(flag) + ": expected " +
                                                 std::string(expected));
  }
  return std::make_pair(std::string(flag.substr(0, eq)), std::string(flag.substr(eq + 1)));
}

Result<SecretSpec> ParseSecretFlag(std::string_view flag) {
  const std::string prefix = "invalid secret " + std::string(flag) + ": ";
  SecretSpec spec;
  std::string type;
  std::string source;
  for (const std::string& field : SplitComma(flag)) {
    size_t eq = field.find('=');
    if (eq == std::string::npos) {
      return MakeError(Code::kInvalidArgument,
                       prefix + "field \"" + field + "\" must be a key=value pair");
    }
    std::string key = field.substr(0, eq);
    std::string value = field.substr(eq + 1);
    if (key == "type") {
      if (value != "file" && value != "env") {
        return MakeError(Code::kInvalidArgument, prefix + "unsupported type \"" + value + "\"");
      }
      type = value;
    } else if (key == "id") {
      spec.id = value;
    } else if (key == "src" || key == "source") {
      source = value;
    } else if (key == "env") {
      spec.env = value;
    } else {
      return MakeError(Code::kInvalidArgument, prefix + "unexpected key \"" + key + "\"");
    }
  }
  if (spec.id.empty()) return MakeError(Code::kInvalidArgument, prefix + "secret ID missing");
  if (!source.empty()) {
    if (type == "env") {
      if (spec.env.empty()) spec.env = source;
    } else {
      spec.file = source;
    }
  }
  if (!spec.file.empty() && !spec.env.empty()) {
    return MakeError(Code::kInvalidArgument, prefix + "give either src or env, not both");
  }
  if (spec.file.empty() && spec.env.empty()) spec.env = spec.id;
  return spec;
}

Result<OciLayoutContext> ResolveOciLayoutContext(std::string_view name, std::string_view value,
                                                 FileSystem* fs) {
  std::string_view rest = value;
  if (StartsWith(rest, kOciLayoutPrefix)) rest.remove_prefix(kOciLayoutPrefix.size());
  content::LayoutRef ref = content::ParseLayoutRef(rest);
  OciLayoutContext out{ref.path, ref.digest, nullptr};
  auto fail = [&](const Error& cause) {
    return MakeError(Code::kNotFound,
                     "failed to resolve digest for " + std::string(name) + ": " + cause.message());
  };
  auto layout = content::OciLayout::Open(fs, ref.path, /*read_only=*/true);
  if (!layout) {
    if (out.digest.valid())
      return Unexpected(std::move(layout).error().Wrap("build context " + std::string(name)));
    return fail(layout.error());
  }
  out.layout = std::move(*layout);
  if (out.digest.valid()) return out;
  auto desc =
      out.layout->ResolveTag(ref.tag.empty() ? "latest" : ref.tag, /*single_fallback=*/true);
  if (!desc) return fail(desc.error());
  out.digest = desc->digest;
  return out;
}

Result<PreparedBuild> PrepareBuild(const BuildFlags& flags, const PrepareOptions& options) {
  PreparedBuild out;
  out.session = std::make_shared<session::ClientSession>(options.shared_key);
  session::ClientSession& s = *out.session;

  for (const std::string& f : flags.opts) {
    HOIST_ASSIGN_OR_RETURN(auto kv, ParseKeyValueFlag(f, "opt", "KEY=VALUE"));
    out.frontend_attrs[kv.first] = kv.second;
  }
  for (const std::string& f : flags.oci_layouts) {
    HOIST_ASSIGN_OR_RETURN(auto kv, ParseOciLayoutFlag(f));
    HOIST_TRY(s.AttachOciLayout(kv.first, kv.second, options.fs));
  }
  for (const std::string& f : flags.locals) {
    HOIST_ASSIGN_OR_RETURN(auto kv, ParseKeyValueFlag(f, "local", "NAME=DIR"));
    HOIST_TRY(s.AttachLocalDir(kv.first, kv.second));
  }
  for (const std::string& f : flags.secrets) {
    HOIST_ASSIGN_OR_RETURN(auto spec, ParseSecretFlag(f));
    if (!spec.file.empty()) {
      HOIST_TRY(s.AttachSecretFile(spec.id, spec.file));
    } else {
      HOIST_TRY(s.AttachSecretEnv(spec.id, spec.env));
    }
  }
  for (const std::string& f : flags.ssh) {
    // buildx's `default|ID[=SOCKET|KEY[,KEY]]`: an agent's socket, $SSH_AUTH_SOCK when none is
    // given. Key files would need an agent of this process's; ssh-agent serves them.
    const size_t eq = f.find('=');
    const std::string id = f.substr(0, eq);
    std::string path = eq == std::string::npos ? "" : f.substr(eq + 1);
    if (id.empty()) return MakeError(Code::kInvalidArgument, "invalid --ssh " + f + ": empty ID");
    if (path.empty()) {
      const char* sock = std::getenv("SSH_AUTH_SOCK");
      if (sock == nullptr || *sock == '\0') {
        return MakeError(Code::kInvalidArgument,
                         "--ssh " + f + ": SSH_AUTH_SOCK is not set (start ssh-agent, or give "
                         "ID=SOCKET)");
      }
      path = sock;
    }
    if (path.find(',') != std::string::npos) {
      return MakeError(Code::kInvalidArgument,
                       "--ssh " + f + ": one agent socket per ID (add the keys to one ssh-agent)");
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return MakeError(Code::kInvalidArgument, "--ssh " + f + ": " + path + ": " +
                                                   std::strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode)) {
      return MakeError(Code::kInvalidArgument,
                       "--ssh " + f + ": " + path + " is not an agent socket; key files are not "
                       "read directly: add the key to ssh-agent (ssh-add KEY) and pass --ssh " +
                       id + " with SSH_AUTH_SOCK set");
    }
    HOIST_TRY(s.AttachSSHAgent(id, path));
  }
  for (const std::string& f : flags.build_contexts) {
    HOIST_ASSIGN_OR_RETURN(auto kv, ParseKeyValueFlag(f, "build context", "NAME=VALUE"));
    const auto& [name, value] = kv;
    if (value.empty()) {
      return MakeError(Code::kInvalidArgument, "invalid build context " + f + ": empty value");
    }
    const std::string attr = "context:" + name;
    if (StartsWith(value, kOciLayoutPrefix)) {
      HOIST_ASSIGN_OR_RETURN(auto ctx, ResolveOciLayoutContext(name, value, options.fs));
      std::string store_id = options.new_store_id();
      HOIST_TRY(s.AttachOpenedLayout(store_id, std::move(ctx.layout), ctx.path));
      out.frontend_attrs[attr] = "oci-layout://" + store_id + "@" + ctx.digest.str();
    } else if (IsPassThrough(value)) {
      out.frontend_attrs[attr] = value;
    } else {
      struct stat st;
      if (stat(value.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return MakeError(Code::kInvalidArgument,
                         "build context " + name + ": " + value +
                             " is neither a directory nor a known source (docker-image://, "
                             "oci-layout://, a URL or a git repository)");
      }
      HOIST_TRY(s.AttachLocalDir(name, value));
      out.frontend_attrs[attr] = "local:" + name;
    }
  }
  return out;
}

}  // namespace hoist::client
