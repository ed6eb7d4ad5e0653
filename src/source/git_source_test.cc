#include "source/git_source.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "base/file_system.h"
#include "base/subprocess.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"

namespace hoist::source {
namespace {

using Attrs = std::map<std::string, std::string>;

TEST(GitIdentifier, ParsesBuildKitIdentifiers) {
  auto id = ParseGitIdentifier("github.com/moby/buildkit#v0.11.6:frontend/../docs/",
                               {{"git.fullurl", "https://github.com/moby/buildkit.git"},
                                {"git.keepgitdir", "true"},
                                {"git.authtokensecret", "GIT_AUTH_TOKEN"},
                                {"git.authheadersecret", "GIT_AUTH_HEADER"}});
  ASSERT_TRUE(id) << id.error().message();
  EXPECT_EQ(id->remote, "https://github.com/moby/buildkit.git");
  EXPECT_EQ(id->ref, "v0.11.6");
  EXPECT_EQ(id->subdir, "docs");
  EXPECT_TRUE(id->keep_git_dir);
  EXPECT_EQ(id->auth_token_secret, "GIT_AUTH_TOKEN");
  EXPECT_EQ(id->auth_header_secret, "GIT_AUTH_HEADER");

  // Without git.fullurl the transport is https, as BuildKit's identifiers imply.
  id = ParseGitIdentifier("example.com/org/repo.git", {});
  ASSERT_TRUE(id);
  EXPECT_EQ(id->remote, "https://example.com/org/repo.git");
  EXPECT_EQ(id->ref, "");
  EXPECT_EQ(id->subdir, "");
  EXPECT_FALSE(id->keep_git_dir);
  id = ParseGitIdentifier("h/r#:/../../sub", {{"git.fullurl", "git://h/r"}});
  ASSERT_TRUE(id);
  EXPECT_EQ(id->ref, "");
  EXPECT_EQ(id->subdir, "sub");
  id = ParseGitIdentifier("h:org/r.git", {{"git.fullurl", "git@h:org/r.git"},
                                           {"git.mountsshsock", "default"}});
  ASSERT_TRUE(id) << id.error().message();
  EXPECT_EQ(id->remote, "git@h:org/r.git");
  EXPECT_EQ(id->ssh_id, "default");
}

// A remote that would read the engine's host or run a command, and names git would take for an
// option or a refspec, are refused before any git runs.
TEST(GitIdentifier, RefusesHostPathsOtherTransportsAndBadRefs) {
  for (const char* url : {"file:///etc", "/srv/repos/x.git", "./x", "ext::sh -c touch% /tmp/x",
                          "-oProxyCommand=touch /tmp/x", "ftp://h/x.git", "fd::3",
                          "https://h/x\n.git"}) {
    auto id = ParseGitIdentifier("h/x", {{"git.fullurl", url}});
    ASSERT_FALSE(id) << url;
    EXPECT_EQ(id.error().code(), Code::kInvalidArgument) << url;
  }
  auto id = ParseGitIdentifier("h/x", {{"git.fullurl", "file:///srv/x.git"}});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().message(), "file:///srv/x.git: transport file is not allowed "
                                  "(http, https, git, ssh)");
  id = ParseGitIdentifier("h/x", {{"git.fullurl", "/srv/x.git"}});
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message().find("/srv/x.git: not a remote URL"), std::string::npos);
  for (const char* ref : {"a..b", "-x", "a b", "a~1", "x.lock", "refs/heads/.x", "@",
                          "a^{}", "a\\b", "a@{1}"}) {
    auto r = ParseGitIdentifier(std::string("h/x#") + ref, {{"git.fullurl", "https://h/x.git"}});
    ASSERT_FALSE(r) << ref;
    EXPECT_NE(r.error().message().find("invalid ref"), std::string::npos) << ref;
  }
  for (const char* ref : {"main", "feature/x", "v1.2.3", "refs/tags/v1", "0123abc"}) {
    auto r = ParseGitIdentifier(std::string("h/x#") + ref, {{"git.fullurl", "https://h/x.git"}});
    ASSERT_TRUE(r) << ref << ": " << r.error().message();
    EXPECT_EQ(r->ref, ref);
  }
}

TEST(GitIdentifier, RedactsCredentialsAndBuildsTheTokenHeader) {
  EXPECT_EQ(RedactGitURL("https://user:pw@host/x.git"), "https://host/x.git");
  EXPECT_EQ(RedactGitURL("https://tok@host:8443/a@b.git"), "https://host:8443/a@b.git");
  EXPECT_EQ(RedactGitURL("https://host/x.git"), "https://host/x.git");
  EXPECT_EQ(RedactGitURL("git@host:org/x.git"), "git@host:org/x.git");
  EXPECT_EQ(RedactGitURL("ssh://git@host:2222/x.git"), "ssh://git@host:2222/x.git");
  EXPECT_EQ(RedactGitURL("ssh://git:pw@host/x.git"), "ssh://git@host/x.git");
  // base64("x-access-token:tok")
  EXPECT_EQ(GitTokenAuthorization("tok"), "basic eC1hY2Nlc3MtdG9rZW46dG9r");
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Repositories served by a real `git daemon` on loopback.
class GitReposTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("hoist-git-test-");
    ASSERT_TRUE(d);
    dir_ = std::move(*d);
    ASSERT_EQ(Sh(R"(
      set -e
      c="git -c user.email=t@example.com -c user.name=t -c init.defaultBranch=main"
      $c init -q lib && cd lib && echo lib > lib.txt && git add -A && $c commit -qm lib && cd ..
      git clone -q --bare lib lib.git
      $c init -q work && cd work
      mkdir -p sub/dir && echo hello > a.txt && echo deep > sub/dir/f && ln -s /etc sub/link
      git add -A && $c commit -qm one
      $c tag -a v1 -m v1 && $c tag light
      echo two > b.txt && git add -A && $c commit -qm two
      $c checkout -q -b feature/x && echo feature > f.txt && git add -A && $c commit -qm f
      $c checkout -q main
      $c checkout -q -b with-module
      $c -c protocol.file.allow=always submodule -q add ../lib.git mods/lib
      $c commit -qm module
      $c checkout -q -b hostile main
      printf '[submodule "evil"]\n\tpath = evil\n\turl = file:///etc\n' > .gitmodules
      git update-index --add --cacheinfo 160000,$(git -C ../lib rev-parse HEAD),evil
      git add .gitmodules && $c commit -qm hostile
      $c checkout -q main && cd ..
      mkdir srv && git clone -q --bare work srv/work.git && git clone -q --bare lib srv/lib.git
    )"),
              0);
    port_ = FreePort();
    daemon_ = Spawn("git daemon --reuseaddr --export-all --listen=127.0.0.1 --port=" +
                    std::to_string(port_) + " --base-path=" + dir_.path() + "/srv " +
                    dir_.path() + "/srv");
    for (int i = 0; i < 100; ++i) {
      if (Sh("git ls-remote " + Url("work.git") + " > /dev/null 2>&1") == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(Sh("git ls-remote " + Url("work.git") + " > /dev/null"), 0);
    auto r = TempDir::Create("hoist-git-repos-");
    ASSERT_TRUE(r);
    repos_dir_ = std::move(*r);
  }
  void TearDown() override {
    if (daemon_ > 0) {
      ::kill(-daemon_, SIGKILL);
      ::kill(daemon_, SIGKILL);
    }
  }

  int Sh(const std::string& cmd) {
    return std::system(("cd '" + dir_.path() + "' && " + cmd).c_str());
  }
  pid_t Spawn(const std::string& cmd) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      ::execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >/dev/null 2>&1").c_str(), nullptr);
      ::_exit(127);
    }
    return pid;
  }
  std::string Url(const std::string& repo) const {
    return "git://127.0.0.1:" + std::to_string(port_) + "/" + repo;
  }
  std::string Head(const std::string& ref) {
    auto r = RunSubprocess({.argv = {"/usr/bin/git", "-C", dir_.path() + "/work", "rev-parse",
                                     ref + "^{commit}"}});
    EXPECT_TRUE(r && r->exit_code == 0);
    return r ? r->out.substr(0, 40) : "";
  }
  GitIdentifier Id(const std::string& fragment) {
    auto id = ParseGitIdentifier("127.0.0.1/work.git#" + fragment,
                                 {{"git.fullurl", Url("work.git")}});
    EXPECT_TRUE(id) << id.error().message();
    return *id;
  }
  std::string NewDest() {
    static int n = 0;
    std::string d = repos_dir_.path() + "/dest" + std::to_string(++n);
    EXPECT_EQ(::mkdir(d.c_str(), 0755), 0);
    return d;
  }

  TempDir dir_, repos_dir_;
  int port_ = 0;
  pid_t daemon_ = -1;
};

TEST_F(GitReposTest, ResolvesBranchesTagsAndCommits) {
  GitRepos repos(repos_dir_.path() + "/git");
  auto cancel = CancelContext::Background();
  struct Case {
    std::string ref, want;
  };
  for (const Case& c : {Case{"main", Head("main")}, Case{"", Head("main")},
                        Case{"v1", Head("v1")}, Case{"light", Head("light")},
                        Case{"feature/x", Head("feature/x")}, Case{"refs/tags/v1", Head("v1")},
                        Case{Head("feature/x"), Head("feature/x")}}) {
    auto got = repos.Resolve(Id(c.ref), {}, cancel.get());
    ASSERT_TRUE(got) << c.ref << ": " << got.error().message();
    EXPECT_EQ(*got, c.want) << c.ref;
  }
  EXPECT_NE(Head("v1"), Head("main"));
  auto missing = repos.Resolve(Id("nope"), {}, cancel.get());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(), Url("work.git") + ": repository does not contain ref nope");
  auto id = ParseGitIdentifier("x", {{"git.fullurl", "git://127.0.0.1:1/none.git"}});
  ASSERT_TRUE(id);
  auto unreachable = repos.Resolve(*id, {}, cancel.get());
  ASSERT_FALSE(unreachable);
  EXPECT_TRUE(unreachable.error().message().starts_with("git://127.0.0.1:1/none.git: ls-remote: "))
      << unreachable.error().message();
}

TEST_F(GitReposTest, ChecksOutTreesSubdirsAndKeptGitDirs) {
  GitRepos repos(repos_dir_.path() + "/git");
  auto cancel = CancelContext::Background();
  // The whole tree of a tag's commit, without .git.
  std::string d = NewDest();
  ASSERT_TRUE(repos.Checkout(Id("v1"), Head("v1"), {}, d, cancel.get()));
  EXPECT_EQ(ReadTestFile(d + "/a.txt"), "hello\n");
  EXPECT_EQ(ReadTestFile(d + "/sub/dir/f"), "deep\n");
  struct stat st;
  EXPECT_NE(::lstat((d + "/b.txt").c_str(), &st), 0) << "b.txt came after v1";
  EXPECT_NE(::lstat((d + "/.git").c_str(), &st), 0);
  ASSERT_EQ(::lstat((d + "/sub/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));

  // A subdir alone.
  d = NewDest();
  ASSERT_TRUE(repos.Checkout(Id("main:sub/dir"), Head("main"), {}, d, cancel.get()));
  auto names = PosixFileSystem()->ListDir(d);
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, std::vector<std::string>{"f"});
  // A subdir reached through a symlink (to the host's /etc) is refused; so is a missing one.
  for (const char* sub : {"main:sub/link", "main:sub/link/ssl", "main:nope", "main:a.txt"}) {
    d = NewDest();
    Status s = repos.Checkout(Id(sub), Head("main"), {}, d, cancel.get());
    ASSERT_FALSE(s) << sub;
    EXPECT_NE(s.error().message().find("is not a directory at commit " + Head("main")),
              std::string::npos)
        << s.error().message();
  }

  // keep-git-dir: a repository at the commit, origin set, the branch named.
  d = NewDest();
  GitIdentifier kept = Id("feature/x");
  kept.keep_git_dir = true;
  Status done = repos.Checkout(kept, Head("feature/x"), {}, d, cancel.get());
  ASSERT_TRUE(done) << done.error().message();
  auto git = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/git", "-C", d});
    auto r = RunSubprocess({.argv = args});
    EXPECT_TRUE(r && r->exit_code == 0) << (r ? r->err : r.error().message());
    return r ? r->out : "";
  };
  EXPECT_EQ(git({"rev-parse", "HEAD"}), Head("feature/x") + "\n");
  EXPECT_EQ(git({"rev-parse", "feature/x"}), Head("feature/x") + "\n");
  EXPECT_EQ(git({"remote", "get-url", "origin"}), Url("work.git") + "\n");
  EXPECT_EQ(git({"status", "--porcelain"}), "");
  EXPECT_EQ(ReadTestFile(d + "/f.txt"), "feature\n");
  // The engine's repositories never hold the remote's URL.
  EXPECT_NE(Sh("grep -r -q '127.0.0.1:" + std::to_string(port_) + "' " + repos_dir_.path() +
               "/git"),
            0);
}

TEST_F(GitReposTest, SubmodulesAreCheckedOutAndHostileOnesRefused) {
  GitRepos repos(repos_dir_.path() + "/git");
  auto cancel = CancelContext::Background();
  std::string d = NewDest();
  ASSERT_TRUE(repos.Checkout(Id("with-module"), Head("with-module"), {}, d, cancel.get()));
  EXPECT_EQ(ReadTestFile(d + "/mods/lib/lib.txt"), "lib\n");
  struct stat st;
  EXPECT_NE(::lstat((d + "/mods/lib/.git").c_str(), &st), 0)
      << "a submodule's .git would point into the engine's repository";
  // Kept: the submodule is a repository of its own, inside .git/modules.
  d = NewDest();
  GitIdentifier kept = Id("with-module");
  kept.keep_git_dir = true;
  ASSERT_TRUE(repos.Checkout(kept, Head("with-module"), {}, d, cancel.get()));
  EXPECT_EQ(ReadTestFile(d + "/mods/lib/lib.txt"), "lib\n");
  EXPECT_EQ(ReadTestFile(d + "/mods/lib/.git"), "gitdir: ../../.git/modules/mods/lib\n");
  // A submodule URL naming the engine's host files is refused by git's protocol policy.
  d = NewDest();
  Status s = repos.Checkout(Id("hostile"), Head("hostile"), {}, d, cancel.get());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("submodule update"), std::string::npos)
      << s.error().message();
}

// BuildKit's later query forms: a checksum the commit must match, submodules skipped, file
// times from the commit.
TEST_F(GitReposTest, ChecksumSkipSubmodulesAndCommitTimes) {
  GitRepos repos(repos_dir_.path() + "/git");
  auto cancel = CancelContext::Background();
  GitIdentifier id = Id("main");
  id.checksum = Head("main").substr(0, 7);
  auto got = repos.Resolve(id, {}, cancel.get());
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, Head("main"));
  id.checksum = Head("v1").substr(0, 12);
  got = repos.Resolve(id, {}, cancel.get());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message(), Url("work.git") + ": expected checksum to match " +
                                       id.checksum + ", got " + Head("main"));
  auto bad = ParseGitIdentifier("h/x", {{"git.fullurl", "https://h/x.git"}, {"git.checksum", "xyz"}});
  ASSERT_FALSE(bad);
  bad = ParseGitIdentifier("h/x", {{"git.fullurl", "https://h/x.git"}, {"git.mtime", "now"}});
  ASSERT_FALSE(bad);

  std::string d = NewDest();
  GitIdentifier skip = Id("with-module");
  skip.skip_submodules = true;
  ASSERT_TRUE(repos.Checkout(skip, Head("with-module"), {}, d, cancel.get()));
  struct stat st;
  ASSERT_EQ(::lstat((d + "/mods/lib").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_NE(::lstat((d + "/mods/lib/lib.txt").c_str(), &st), 0);

  d = NewDest();
  GitIdentifier timed = Id("main");
  timed.mtime_from_commit = true;
  ASSERT_TRUE(repos.Checkout(timed, Head("main"), {}, d, cancel.get()));
  auto when = RunSubprocess({.argv = {"/usr/bin/git", "-C", dir_.path() + "/work", "log", "-1",
                                      "--format=%ct", "main"}});
  ASSERT_TRUE(when);
  const long commit_time = std::stol(when->out);
  for (const char* p : {"/a.txt", "/sub", "/sub/dir/f", "/sub/link"}) {
    ASSERT_EQ(::lstat((d + p).c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mtim.tv_sec, commit_time) << p;
  }
}

}  // namespace
}  // namespace hoist::source
