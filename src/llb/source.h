// Source ops: the leaves of an LLB graph. Identifiers and attrs are BuildKit's
// (docker-image://, oci-layout://, local://, git://, https://; attrs in caps.h), and each
// source carries the caps BuildKit's client adds for the options used.
//
// Thread-safety: pure functions returning values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llb/state.h"

namespace hoist::llb {

enum class ResolveMode { kDefault, kForcePull, kPreferLocal };

struct ImageOptions {
  OpOptions op;  // op.platform selects the image's platform
  ResolveMode resolve_mode = ResolveMode::kDefault;
  std::optional<int> layer_limit;
  std::string checksum;     // a digest the resolved manifest must have
  std::string record_type;  // "internal" hides the pull from history
};

// docker-image://<normalised ref>: `alpine` becomes docker.io/library/alpine:latest. A ref
// that does not parse is reported by Marshal.
State Image(std::string_view ref, const ImageOptions& options = {});

struct OciLayoutOptions {
  OpOptions op;
  // Which session serves the store, and the store's ID in it (BuildKit's OCIStore option).
  std::string session_id;
  std::string store_id;
  std::optional<int> layer_limit;
};

// oci-layout://<ref>, where ref names the image in the store by digest, e.g.
// docker.io/library/base@sha256:...; cap source.ocilayout.
State OCILayout(std::string_view ref, const OciLayoutOptions& options = {});

struct LocalOptions {
  OpOptions op;
  std::string session_id;
  std::vector<std::string> include_patterns;
  std::vector<std::string> exclude_patterns;
  std::vector<std::string> follow_paths;
  std::string shared_key_hint;
  // "none" or "metadata"; empty leaves BuildKit's default.
  std::string differ;
  bool differ_required = false;
  // Transfer metadata only, except for these patterns.
  bool metadata_only = false;
  std::vector<std::string> metadata_only_exceptions;
};

// local://<name>: a directory the client exposes through its session. Without a session ID
// the source gets BuildKit's local.unique attr from MarshalOptions::local_unique_id.
State Local(std::string_view name, const LocalOptions& options = {});

struct GitOptions {
  OpOptions op;
  std::string ref;     // branch, tag or commit
  std::string subdir;  // a directory inside the repository
  bool keep_git_dir = false;
  // Secret names for HTTP auth; BuildKit's defaults are GIT_AUTH_TOKEN / GIT_AUTH_HEADER.
  std::optional<std::string> auth_token_secret;
  std::optional<std::string> auth_header_secret;
  std::string known_ssh_hosts;
  std::string mount_ssh_sock;  // ssh ID; "default" when empty on an ssh remote
  std::string checksum;
  bool skip_submodules = false;
  std::string mtime;  // "commit" sets file times from the commit
  bool fetch_by_commit = false;
};

// git://<host>/<path>[#ref[:subdir]]. `url` may be https://, http://, git://, ssh:// or
// scp-like user@host:path; a bare host/path is taken as https. `fragment` is BuildKit's
// "ref:subdir" shorthand; options.ref/subdir override it.
State Git(std::string_view url, std::string_view fragment = "", const GitOptions& options = {});

struct HttpOptions {
  OpOptions op;
  std::string checksum;
  std::string filename;
  uint32_t perm = 0;  // file mode bits, 0 = default
  int uid = 0;
  int gid = 0;
  std::string auth_header_secret;
  std::string accept;
  std::string user_agent;
};

// A file downloaded from `url`; the identifier is the URL itself.
State HTTP(std::string_view url, const HttpOptions& options = {});

}  // namespace hoist::llb
