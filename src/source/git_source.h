// Git repositories as build sources (BuildKit's source/git): `git://HOST/PATH#REF:SUBDIR`
// identifiers, resolved to a commit, fetched shallowly into a bare repository the engine keeps
// per remote, and checked out into a snapshot.
//
// Debian's git CLI does the work rather than libgit2: Debian 12's libgit2 (1.5) cannot fetch
// shallowly, and only the CLI speaks every transport (smart and dumb HTTP, git://, SSH) with the
// server capabilities BuildKit relies on. Every git process runs with a clean environment: no
// system or user configuration, no terminal prompts, transports limited to http, https, git and
// ssh (so `ext::` and `file://` in a remote or a submodule URL reach nothing on the host), and
// credentials only through the environment (`GIT_CONFIG_*`, never argv or a config file).
//
// Resolution (the cache key): a full commit hash is the commit; anything else is asked of the
// remote (`git ls-remote`): the exact name, then refs/heads/NAME, refs/tags/NAME (annotated
// tags peeled to their commit), then the first match; no ref means the remote's default branch.
// Checkout: the commit, shallow where the server allows (else fetched whole), its submodules
// recursively (relative submodule URLs resolved against the remote without its credentials; the
// client's auth header goes only to URLs under the remote's); `subdir` alone when given (it must
// be a directory of the tree, reached without symlinks); `.git` kept only with keep_git_dir and
// no subdir, with `origin` set to the remote without credentials. The engine's repositories
// hold neither the remote's URL nor a credential (submodules' own URLs, once resolved, are
// recorded in their repositories, credential-free).
//
// Errors name the remote with any credentials cut out: `https://host/repo.git: repository
// does not contain ref v9`, `https://host/repo.git: fetch: <git's own last line>`.
//
// Thread-safety: a GitRepos may be used from many threads and by several processes sharing the
// root: each remote's repository is guarded by a file lock while it is fetched into or read.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/cancel.h"
#include "base/error.h"

namespace hoist::source {

inline constexpr std::string_view kGitScheme = "git";

struct GitIdentifier {
  std::string remote;  // the URL git fetches: http(s)://, git://, ssh:// or user@host:path
  std::string ref;     // branch, tag or commit; empty: the remote's default branch
  std::string subdir;  // cleaned, relative; empty: the whole tree
  bool keep_git_dir = false;
  std::string auth_token_secret;   // secret names (BuildKit's git.authtokensecret/...headersecret)
  std::string auth_header_secret;
  std::string ssh_id;  // git.mountsshsock: the client's SSH agent to use (ssh remotes)
  std::string known_ssh_hosts;  // git.knownsshhosts: known_hosts lines for the remote
  std::string checksum;         // git.checksum: the commit must start with it (hex)
  bool skip_submodules = false;  // git.skipsubmodules
  bool mtime_from_commit = false;  // git.mtime=commit: every file's times are the commit's
};

// Whether git reaches `remote` over SSH (ssh:// or user@host:path).
bool IsSSHRemote(std::string_view remote);

// Parses a source identifier after `git://` with its attrs. Remotes hoist will not fetch are
// kInvalidArgument: file:// and local paths (a client's files come through its session only),
// other transports, names starting with '-'; so are refs git would not accept as a name.
Result<GitIdentifier> ParseGitIdentifier(std::string_view identifier,
                                         const std::map<std::string, std::string>& attrs);

// `url` without credentials, for messages and `.git`: an http(s) URL loses its user and
// password (`https://host/x.git`), an ssh:// URL its password only (`ssh://git@host/x.git`).
std::string RedactGitURL(std::string_view url);

// How git authenticates to the remote: an HTTP Authorization header value from the client's
// secrets; for SSH remotes, the socket of the client's forwarded agent and the known hosts.
struct GitAuth {
  std::string authorization;  // e.g. "basic eC1hY2Nlc3MtdG9rZW46..." ; empty: none
  std::string ssh_auth_sock;   // SSH_AUTH_SOCK for ssh; empty: no agent
  // A known_hosts file (git.knownsshhosts): the host key must match; empty: not checked, as
  // BuildKit does when none is given.
  std::string known_hosts_file;
};
// The header BuildKit derives from a GIT_AUTH_TOKEN secret: basic x-access-token:TOKEN.
std::string GitTokenAuthorization(std::string_view token);

class GitRepos {
 public:
  // `dir` holds one bare repository per remote (created as needed).
  explicit GitRepos(std::string dir);

  // The commit `id.ref` names on the remote (no network for a full commit hash); with a
  // checksum, a commit that does not match it is kFailedPrecondition.
  Result<std::string> Resolve(const GitIdentifier& id, const GitAuth& auth,
                              CancelContext* cancel) const;

  // Writes the tree of `commit` (as Resolve gave it) into `dest`, an existing empty directory.
  Status Checkout(const GitIdentifier& id, const std::string& commit, const GitAuth& auth,
                  const std::string& dest, CancelContext* cancel) const;

 private:
  Result<std::string> ResolveRef(const GitIdentifier& id, const GitAuth& auth,
                                 CancelContext* cancel) const;

  std::string dir_;
};

}  // namespace hoist::source
