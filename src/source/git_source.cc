#include "source/git_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "archive/confined_root.h"
#include "base/base64.h"
#include "base/file_system.h"
#include "base/hash.h"
#include "base/subprocess.h"
#include "base/temp_dir.h"

namespace hoist::source {
namespace {

// A fetch of a large repository over a slow link takes long; a hung server does not hang a
// build for ever.
constexpr auto kGitTimeout = std::chrono::minutes(30);
constexpr size_t kGitMaxOutput = 64 << 20;  // ls-remote of a repository with many refs
constexpr std::string_view kAllowedProtocols = "http:https:git:ssh";

bool IsCommitHash(std::string_view s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

// git check-ref-format's rules for a name, also refusing what could pass for an option or a
// refspec (a leading '-', ':').
bool IsValidRefName(std::string_view ref) {
  if (ref.empty() || ref.front() == '-' || ref.front() == '/' || ref.back() == '/' ||
      ref.back() == '.' || ref.ends_with(".lock") || ref == "@" || HasControl(ref)) {
    return false;
  }
  if (ref.find("..") != std::string_view::npos || ref.find("//") != std::string_view::npos ||
      ref.find("@{") != std::string_view::npos || ref.find("/.") != std::string_view::npos ||
      ref.front() == '.') {
    return false;
  }
  return ref.find_first_of(" ~^:?*[\\") == std::string_view::npos;
}

// The scheme of a remote URL; "ssh" for the scp-like form; nullopt for a local path.
std::optional<std::string> RemoteScheme(std::string_view url) {
  if (size_t sep = url.find("://"); sep != std::string_view::npos) {
    return std::string(url.substr(0, sep));
  }
  // [user@]host:path with no slash before the colon (git's own rule for scp-like syntax);
  // hoist also wants the user, as BuildKit does, so that C:\x-like paths never qualify.
  const size_t colon = url.find(':');
  const size_t slash = url.find('/');
  const size_t at = url.find('@');
  if (colon != std::string_view::npos && at != std::string_view::npos && at < colon &&
      at > 0 && colon > at + 1 && (slash == std::string_view::npos || colon < slash)) {
    return "ssh";
  }
  return std::nullopt;
}

Status CheckRemote(std::string_view url) {
  if (url.empty()) return MakeError(Code::kInvalidArgument, "git: empty remote URL");
  if (url.front() == '-' || HasControl(url)) {
    return MakeError(Code::kInvalidArgument, fmt::format("git: invalid remote URL {:?}", url));
  }
  auto scheme = RemoteScheme(url);
  if (!scheme) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{}: not a remote URL; local repositories are not read "
                                 "(a client's files reach a build only through its session)",
                                 RedactGitURL(url)));
  }
  if (*scheme != "http" && *scheme != "https" && *scheme != "git" && *scheme != "ssh") {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{}: transport {} is not allowed (http, https, git, ssh)",
                                 RedactGitURL(url), *scheme));
  }
  return OkStatus();
}

std::string FindGit() {
  for (const char* p : {"/usr/bin/git", "/usr/local/bin/git", "/bin/git"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// Runs git with a clean environment. `config` entries go through GIT_CONFIG_* variables.
class GitRunner {
 public:
  GitRunner(const GitIdentifier& id, const GitAuth& auth, CancelContext* cancel)
      : id_(id), auth_(auth), cancel_(cancel), git_(FindGit()) {}

  // Runs `git args...` in `cwd`. A failure to start git is an error; a git failure is a
  // result with its exit code (see Failed for the message).
  Result<SubprocessResult> Run(std::vector<std::string> args, const std::string& cwd = "",
                               const std::vector<std::pair<std::string, std::string>>& extra = {},
                               bool allow_file = false) const {
    if (git_.empty()) {
      return MakeError(Code::kFailedPrecondition,
                       "git sources need git installed on the engine's host (Debian package git)");
    }
    std::vector<std::string> env = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/dev/null",
        "LC_ALL=C",
        "GIT_TERMINAL_PROMPT=0",
        "GIT_CONFIG_NOSYSTEM=1",
        "GIT_CONFIG_GLOBAL=/dev/null",
        "GIT_ASKPASS=/bin/false",
        "SSH_ASKPASS=/bin/false",
        auth_.known_hosts_file.empty()
            ? std::string("GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes "
                          "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                          "-o LogLevel=ERROR")
            : "GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes "
              "-o UserKnownHostsFile=" + auth_.known_hosts_file,
        std::string("GIT_ALLOW_PROTOCOL=") + std::string(kAllowedProtocols) +
            (allow_file ? ":file" : ""),
    };
    if (!index_file_.empty()) env.push_back("GIT_INDEX_FILE=" + index_file_);
    if (!auth_.ssh_auth_sock.empty()) env.push_back("SSH_AUTH_SOCK=" + auth_.ssh_auth_sock);
    std::vector<std::pair<std::string, std::string>> config = extra;
    config.emplace_back("protocol.file.allow", allow_file ? "always" : "never");
    if (!auth_.authorization.empty()) {
      config.emplace_back("http." + RedactGitURL(id_.remote) + ".extraheader",
                          "Authorization: " + auth_.authorization);
    }
    env.push_back("GIT_CONFIG_COUNT=" + std::to_string(config.size()));
    for (size_t i = 0; i < config.size(); ++i) {
      env.push_back(fmt::format("GIT_CONFIG_KEY_{}={}", i, config[i].first));
      env.push_back(fmt::format("GIT_CONFIG_VALUE_{}={}", i, config[i].second));
    }
    std::vector<std::string> argv = {git_};
    for (std::string& a : args) argv.push_back(std::move(a));
    return RunSubprocess({.argv = std::move(argv),
                          .env = std::move(env),
                          .cwd = cwd,
                          .timeout = kGitTimeout,
                          .max_output = kGitMaxOutput,
                          .cancel = cancel_,
                          .name = "git"});
  }

  // Runs and requires success; the error is `REMOTE: WHAT: <git's last line>`.
  Result<SubprocessResult> Must(std::string_view what, std::vector<std::string> args,
                                const std::string& cwd = "",
                                const std::vector<std::pair<std::string, std::string>>& extra = {},
                                bool allow_file = false) const {
    HOIST_ASSIGN_OR_RETURN(SubprocessResult r, Run(std::move(args), cwd, extra, allow_file));
    if (r.exit_code != 0) return Unexpected(Failed(what, r));
    return r;
  }

  // Checkouts into the engine's repositories use an index of their own.
  void set_index_file(std::string path) { index_file_ = std::move(path); }

  Error Failed(std::string_view what, const SubprocessResult& r) const {
    // git's last words are the reason ("fatal: repository '...' not found").
    std::string text = r.err.empty() ? r.out : r.err;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (size_t nl = text.rfind('\n'); nl != std::string::npos) text.erase(0, nl + 1);
    for (std::string_view prefix : {"fatal: ", "error: "}) {
      if (text.starts_with(prefix)) text.erase(0, prefix.size());
    }
    // Whatever a remote or git echoes, the client's credentials never reach a message.
    auto replace_all = [&](const std::string& what, const std::string& with) {
      if (what.empty() || what == with) return;
      for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at)) {
        text.replace(at, what.size(), with);
        at += with.size();
      }
    };
    replace_all(id_.remote, RedactGitURL(id_.remote));
    replace_all(auth_.authorization, "<redacted>");
    if (text.size() > 400) text = text.substr(0, 400) + "...";
    if (text.find("Permission denied (publickey") != std::string::npos) {
      text += auth_.ssh_auth_sock.empty()
                  ? " (forward an SSH agent holding the key: --ssh default)"
                  : " (no key of the forwarded SSH agent was accepted)";
    } else if (text.find("Host key verification failed") != std::string::npos) {
      text += " (the host's key is not among the known SSH hosts given)";
    }
    if (text.find("could not read Username") != std::string::npos ||
        text.find("Authentication failed") != std::string::npos) {
      text += auth_.authorization.empty()
                  ? " (the remote wants credentials: pass a token with --secret "
                    "id=GIT_AUTH_TOKEN,env=VAR, or a header with id=GIT_AUTH_HEADER)"
                  : " (the credentials given were refused)";
    }
    if (text.empty()) text = fmt::format("exit status {}", r.exit_code);
    return Error(Code::kUnavailable,
                 fmt::format("{}: {}: {}", RedactGitURL(id_.remote), what, text));
  }

 private:
  const GitIdentifier& id_;
  const GitAuth& auth_;
  CancelContext* cancel_;
  std::string git_;
  std::string index_file_;
};

bool MentionsShallow(const SubprocessResult& r) {
  return r.err.find("shallow") != std::string::npos || r.err.find("--depth") != std::string::npos;
}

// Runs a fetch with --depth=1, and again without it when the server cannot serve shallow
// fetches (dumb HTTP, old servers), as BuildKit does.
Result<SubprocessResult> FetchShallowIfPossible(const GitRunner& git, std::vector<std::string> args,
                                                const std::string& cwd = "",
                                                bool allow_file = false) {
  std::vector<std::string> shallow = args;
  auto at = std::find(shallow.begin(), shallow.end(), "fetch");
  shallow.insert(at + 1, "--depth=1");
  HOIST_ASSIGN_OR_RETURN(SubprocessResult r, git.Run(shallow, cwd, {}, allow_file));
  if (r.exit_code == 0 || !MentionsShallow(r)) return r;
  return git.Run(std::move(args), cwd, {}, allow_file);
}

// Removes lock files a killed git left in a repository only this process now holds.
void RemoveStaleLocks(const std::string& repo) {
  auto names = PosixFileSystem()->ListDir(repo);
  if (!names) return;
  for (const std::string& n : *names) {
    if (n.ends_with(".lock")) ::unlink(JoinPath(repo, n).c_str());
  }
}

// Removes every `.git` below `dir` (submodules' pointers into the engine's repositories).
Status RemoveGitEntries(const std::string& dir) {
  auto names = PosixFileSystem()->ListDir(dir);
  if (!names) return Unexpected(std::move(names).error());
  for (const std::string& n : *names) {
    const std::string p = JoinPath(dir, n);
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) continue;
    if (n == ".git") {
      HOIST_TRY(RemoveAll(p));
    } else if (S_ISDIR(st.st_mode)) {
      HOIST_TRY(RemoveGitEntries(p));
    }
  }
  return OkStatus();
}

// Sets the access and modification times of everything below `dir` (symlinks themselves),
// except a kept .git, to `when`.
Status SetTimes(const std::string& dir, int64_t when, bool skip_git) {
  const struct timespec times[2] = {{when, 0}, {when, 0}};
  auto names = PosixFileSystem()->ListDir(dir);
  if (!names) return Unexpected(std::move(names).error());
  for (const std::string& n : *names) {
    if (skip_git && n == ".git") continue;
    const std::string p = JoinPath(dir, n);
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) return Unexpected(ErrnoError(errno, "stat " + n));
    if (S_ISDIR(st.st_mode)) HOIST_TRY(SetTimes(p, when, false));
    if (::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return Unexpected(ErrnoError(errno, "set times of " + n));
    }
  }
  return OkStatus();
}

}  // namespace

std::string RedactGitURL(std::string_view url) {
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return std::string(url);
  const size_t start = sep + 3;
  size_t end = url.find('/', start);
  if (end == std::string_view::npos) end = url.size();
  const size_t at = url.substr(start, end - start).rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  // An SSH user names an account, not a secret (ssh://git@host/...): only a password goes.
  // Over HTTP a user is often the token itself: all of it goes.
  if (url.substr(0, sep) == "ssh") {
    const std::string_view user = url.substr(start, at);
    const size_t colon = user.find(':');
    if (colon == std::string_view::npos) return std::string(url);
    return std::string(url.substr(0, start)) + std::string(user.substr(0, colon)) +
           std::string(url.substr(start + at));
  }
  return std::string(url.substr(0, start)) + std::string(url.substr(start + at + 1));
}

bool IsSSHRemote(std::string_view remote) {
  auto scheme = RemoteScheme(remote);
  return scheme && *scheme == "ssh";
}

std::string GitTokenAuthorization(std::string_view token) {
  return "basic " + Base64Encode("x-access-token:" + std::string(token));
}

Result<GitIdentifier> ParseGitIdentifier(std::string_view identifier,
                                         const std::map<std::string, std::string>& attrs) {
  auto attr = [&](std::string_view key) -> std::string {
    auto it = attrs.find(std::string(key));
    return it == attrs.end() ? "" : it->second;
  };
  GitIdentifier id;
  std::string_view fragment;
  std::string_view base = identifier;
  if (size_t hash = identifier.find('#'); hash != std::string_view::npos) {
    base = identifier.substr(0, hash);
    fragment = identifier.substr(hash + 1);
  }
  id.remote = attr("git.fullurl");
  if (id.remote.empty()) {
    // BuildKit's identifiers drop the transport; without git.fullurl it is https.
    id.remote = RemoteScheme(base) ? std::string(base) : "https://" + std::string(base);
  }
  if (size_t hash = id.remote.find('#'); hash != std::string::npos) id.remote.resize(hash);
  HOIST_TRY(CheckRemote(id.remote));
  const size_t colon = fragment.find(':');
  id.ref = std::string(fragment.substr(0, colon));
  if (colon != std::string_view::npos) id.subdir = archive::CleanInRoot(fragment.substr(colon + 1));
  if (!id.ref.empty() && !IsValidRefName(id.ref)) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{}: invalid ref {:?}", RedactGitURL(id.remote), id.ref));
  }
  id.keep_git_dir = attr("git.keepgitdir") == "true";
  id.auth_token_secret = attr("git.authtokensecret");
  id.auth_header_secret = attr("git.authheadersecret");
  id.ssh_id = attr("git.mountsshsock");
  id.known_ssh_hosts = attr("git.knownsshhosts");
  id.checksum = attr("git.checksum");
  for (char& c : id.checksum) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!id.checksum.empty() &&
      (id.checksum.size() > 40 || !std::all_of(id.checksum.begin(), id.checksum.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      }))) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{}: invalid checksum {:?}: not a commit hash (prefix)",
                                 RedactGitURL(id.remote), id.checksum));
  }
  id.skip_submodules = attr("git.skipsubmodules") == "true";
  if (const std::string m = attr("git.mtime"); !m.empty()) {
    if (m != "commit" && m != "checkout") {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("{}: invalid mtime {:?} (commit or checkout)",
                                   RedactGitURL(id.remote), m));
    }
    id.mtime_from_commit = m == "commit";
  }
  return id;
}

GitRepos::GitRepos(std::string dir) : dir_(std::move(dir)) {}

Result<std::string> GitRepos::Resolve(const GitIdentifier& id, const GitAuth& auth,
                                      CancelContext* cancel) const {
  HOIST_ASSIGN_OR_RETURN(std::string commit, ResolveRef(id, auth, cancel));
  if (!id.checksum.empty() && !commit.starts_with(id.checksum)) {
    return MakeError(Code::kFailedPrecondition,
                     fmt::format("{}: expected checksum to match {}, got {}",
                                 RedactGitURL(id.remote), id.checksum, commit));
  }
  return commit;
}

Result<std::string> GitRepos::ResolveRef(const GitIdentifier& id, const GitAuth& auth,
                                         CancelContext* cancel) const {
  if (IsCommitHash(id.ref)) return id.ref;
  GitRunner git(id, auth, cancel);
  const std::string pattern = id.ref.empty() ? "HEAD" : id.ref;
  HOIST_ASSIGN_OR_RETURN(SubprocessResult r,
                         git.Must("ls-remote", {"ls-remote", "--", id.remote, pattern, pattern + "^{}"}));
  // "<sha>\t<name>" lines; annotated tags also as "<name>^{}" with their commit.
  std::map<std::string, std::string> refs;
  std::vector<std::string> order;
  for (size_t from = 0; from < r.out.size();) {
    size_t nl = r.out.find('\n', from);
    if (nl == std::string::npos) nl = r.out.size();
    std::string_view line(r.out.data() + from, nl - from);
    from = nl + 1;
    const size_t tab = line.find('\t');
    if (tab == std::string_view::npos || !IsCommitHash(line.substr(0, tab))) continue;
    std::string name(line.substr(tab + 1));
    if (!refs.contains(name)) order.push_back(name);
    refs[name] = std::string(line.substr(0, tab));
  }
  std::string chosen;
  for (const std::string& candidate :
       {pattern, "refs/heads/" + pattern, "refs/tags/" + pattern}) {
    if (refs.contains(candidate)) {
      chosen = candidate;
      break;
    }
  }
  if (chosen.empty()) {
    for (const std::string& name : order) {
      if (!name.ends_with("^{}")) {
        chosen = name;
        break;
      }
    }
  }
  if (chosen.empty()) {
    return MakeError(Code::kNotFound, fmt::format("{}: repository does not contain ref {}",
                                                  RedactGitURL(id.remote), pattern));
  }
  if (auto peeled = refs.find(chosen + "^{}"); peeled != refs.end()) return peeled->second;
  return refs[chosen];
}

Status GitRepos::Checkout(const GitIdentifier& id, const std::string& commit, const GitAuth& auth,
                          const std::string& dest, CancelContext* cancel) const {
  if (!IsCommitHash(commit)) {
    return MakeError(Code::kInvalidArgument, fmt::format("git: not a commit hash: {}", commit));
  }
  GitRunner git(id, auth, cancel);
  FileSystem* fs = PosixFileSystem();
  HOIST_TRY(fs->MakeDirs(dir_, 0700));
  // One repository per remote, named by a hash of its URL: neither the URL nor a credential
  // in it is written anywhere.
  const std::string repo = JoinPath(dir_, Sha256Hex(id.remote).substr(0, 32) + ".git");
  HOIST_ASSIGN_OR_RETURN(auto lock, fs->Lock(repo + ".lock"));
  HOIST_ASSIGN_OR_RETURN(bool exists, fs->Exists(JoinPath(repo, "HEAD")));
  if (!exists) {
    // Made aside and renamed into place, so a kill never leaves half a repository.
    HOIST_ASSIGN_OR_RETURN(TempDir fresh, TempDir::Create(".new-repo-", dir_));
    HOIST_TRY(git.Must("init", {"init", "--bare", "-q", fresh.path()}));
    // The checkout of a kept .git fetches the commit from here by hash.
    HOIST_TRY(git.Must("init", {"--git-dir", fresh.path(), "config",
                                "uploadpack.allowAnySHA1InWant", "true"}));
    (void)RemoveAll(repo);
    HOIST_TRY(fs->Rename(fresh.path(), repo));
    fresh.Release();
  }
  RemoveStaleLocks(repo);
  const std::vector<std::string> in_repo = {"--git-dir", repo};
  auto with = [&](std::vector<std::string> args) {
    std::vector<std::string> all = in_repo;
    all.insert(all.end(), args.begin(), args.end());
    return all;
  };
  auto has_commit = [&]() -> Result<bool> {
    HOIST_ASSIGN_OR_RETURN(SubprocessResult r,
                           git.Run(with({"cat-file", "-e", commit + "^{commit}"})));
    return r.exit_code == 0;
  };

  HOIST_ASSIGN_OR_RETURN(bool have, has_commit());
  if (!have) {
    // By name first (what every server serves), then by hash (a branch that moved since it
    // was resolved, or a commit asked for by hash), then everything.
    std::optional<SubprocessResult> failed;
    std::vector<std::vector<std::string>> attempts;
    if (!IsCommitHash(id.ref)) {
      const std::string name = id.ref.empty() ? "HEAD" : id.ref;
      attempts.push_back(with({"fetch", "-q", "--no-tags", "--", id.remote,
                               "+" + name + ":refs/hoist/fetched"}));
    }
    attempts.push_back(with({"fetch", "-q", "--no-tags", "--", id.remote, commit}));
    for (auto& args : attempts) {
      HOIST_ASSIGN_OR_RETURN(SubprocessResult r, FetchShallowIfPossible(git, args));
      if (r.exit_code != 0) {
        failed = std::move(r);
        continue;
      }
      HOIST_ASSIGN_OR_RETURN(have, has_commit());
      if (have) break;
    }
    if (!have) {
      // A server that serves neither a shallow fetch of that name nor the hash: fetch all of
      // its branches and tags (unshallowing what is there).
      std::vector<std::string> args = with({"fetch", "-q", "--no-tags"});
      HOIST_ASSIGN_OR_RETURN(bool shallow, fs->Exists(JoinPath(repo, "shallow")));
      if (shallow) args.push_back("--unshallow");
      args.insert(args.end(), {"--", id.remote, "+refs/heads/*:refs/hoist/heads/*",
                               "+refs/tags/*:refs/hoist/tags/*"});
      HOIST_ASSIGN_OR_RETURN(SubprocessResult r, git.Run(args));
      if (r.exit_code != 0) return Unexpected(git.Failed("fetch", failed ? *failed : r));
      HOIST_ASSIGN_OR_RETURN(have, has_commit());
      if (!have) {
        return MakeError(Code::kNotFound,
                         fmt::format("{}: commit {} not found on the remote",
                                     RedactGitURL(id.remote), commit));
      }
    }
  }

  // FETCH_HEAD names the URL fetched from, credentials and all.
  ::unlink(JoinPath(repo, "FETCH_HEAD").c_str());

  // The tree goes to `dest`, or to a directory inside it when only a subdir is wanted (moved
  // up afterwards; inside, so that the moves never cross file systems).
  std::optional<TempDir> whole;
  std::string tree = dest;
  if (!id.subdir.empty()) {
    HOIST_ASSIGN_OR_RETURN(TempDir t, TempDir::Create(".git-checkout-", dest));
    whole = std::move(t);
    tree = whole->path();
  }
  const bool keep = id.keep_git_dir && id.subdir.empty();
  std::string git_dir = repo;
  std::optional<TempDir> index_dir;
  auto run_in_tree = [&](std::string_view what, std::vector<std::string> args) -> Status {
    std::vector<std::string> all = {"--git-dir", git_dir, "--work-tree", tree};
    all.insert(all.end(), args.begin(), args.end());
    // Relative submodule URLs resolve against the remote, which no config file names; without
    // its credentials, which submodule update would write into the repository's config.
    const std::vector<std::pair<std::string, std::string>> extra = {
        {"core.bare", "false"}, {"remote.origin.url", RedactGitURL(id.remote)}};
    HOIST_ASSIGN_OR_RETURN(SubprocessResult r, git.Run(all, tree, extra));
    if (r.exit_code != 0 && MentionsShallow(r) &&
        std::find(all.begin(), all.end(), "--depth=1") != all.end()) {
      std::erase(all, std::string("--depth=1"));
      HOIST_ASSIGN_OR_RETURN(r, git.Run(all, tree, extra));
    }
    if (r.exit_code != 0) return Unexpected(git.Failed(what, r));
    return OkStatus();
  };
  if (keep) {
    git_dir = JoinPath(dest, ".git");
    HOIST_TRY(git.Must("init", {"init", "-q", dest}));
    HOIST_ASSIGN_OR_RETURN(
        SubprocessResult r,
        FetchShallowIfPossible(git, {"--git-dir", git_dir, "fetch", "-q", "--no-tags",
                                     "file://" + repo, commit},
                               "", /*allow_file=*/true));
    if (r.exit_code != 0) return Unexpected(git.Failed("fetch", r));
    HOIST_TRY(run_in_tree("checkout", {"checkout", "-q", "--detach", commit}));
    if (!id.ref.empty() && !IsCommitHash(id.ref) && !id.ref.starts_with("refs/")) {
      // The name built from, as a clone would have it.
      HOIST_TRY(git.Must("branch", {"--git-dir", git_dir, "branch", "-q", "--", id.ref, commit}));
    }
    HOIST_TRY(git.Must("remote", {"--git-dir", git_dir, "remote", "add", "origin",
                                  RedactGitURL(id.remote)}));
  } else {
    // The engine's repository lends its objects; this checkout's index is its own, so the
    // repository's files are never written by a checkout.
    HOIST_ASSIGN_OR_RETURN(TempDir idx, TempDir::Create(".git-index-", dir_));
    index_dir = std::move(idx);
    git.set_index_file(JoinPath(index_dir->path(), "index"));
    HOIST_TRY(run_in_tree("checkout", {"checkout", "-q", commit, "--", "."}));
  }
  HOIST_ASSIGN_OR_RETURN(bool has_modules, fs->Exists(JoinPath(tree, ".gitmodules")));
  if (has_modules && !id.skip_submodules) {
    HOIST_TRY(run_in_tree("submodule update",
                          {"submodule", "-q", "update", "--init", "--recursive", "--depth=1"}));
  }
  if (keep) {
    HOIST_TRY(git.Must("reflog", {"--git-dir", git_dir, "reflog", "expire", "--all",
                                  "--expire=now"}));
    ::unlink(JoinPath(git_dir, "FETCH_HEAD").c_str());
  } else {
    // Submodules' `.git` files point into the engine's repository: not for a build to see.
    HOIST_TRY(RemoveGitEntries(tree));
  }
  if (id.mtime_from_commit) {
    HOIST_ASSIGN_OR_RETURN(SubprocessResult r,
                           git.Must("log", {"--git-dir", keep ? git_dir : repo, "log", "-1",
                                            "--format=%ct", commit}));
    const int64_t when = std::strtoll(r.out.c_str(), nullptr, 10);
    HOIST_TRY(SetTimes(tree, when, keep));
  }
  if (id.subdir.empty()) return OkStatus();

  // The subdir, reached through directories only: a symlink in the repository never leads
  // the checkout anywhere else.
  std::string at = tree;
  size_t from = 0;
  while (from < id.subdir.size()) {
    size_t slash = id.subdir.find('/', from);
    if (slash == std::string::npos) slash = id.subdir.size();
    at = JoinPath(at, id.subdir.substr(from, slash - from));
    struct stat st;
    if (::lstat(at.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return MakeError(Code::kNotFound,
                       fmt::format("{}: subdir {} is not a directory at commit {}",
                                   RedactGitURL(id.remote), id.subdir, commit));
    }
    from = slash + 1;
  }
  HOIST_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(at));
  for (const std::string& n : names) {
    HOIST_TRY(fs->Rename(JoinPath(at, n), JoinPath(dest, n)));
  }
  return OkStatus();
}

}  // namespace hoist::source
