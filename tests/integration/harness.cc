#include "harness.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>

#include <gtest/gtest.h>

#include "base/hash.h"
#include "base/temp_dir.h"

namespace hoist::itest {

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

RunResult Sh(const std::string& command) {
  auto dir = TempDir::Create("hoist-run-");
  RunResult r;
  if (!dir) return r;
  std::string out = dir->path() + "/out", err = dir->path() + "/err";
  std::string full = "(" + command + ") >" + Quote(out) + " 2>" + Quote(err) + " </dev/null";
  int status = std::system(full.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFileOrEmpty(out);
  r.err = ReadFileOrEmpty(err);
  return r;
}

bool DaemonMode() {
  const char* v = std::getenv("HOIST_ITEST_DAEMON");
  return v != nullptr && std::string(v) == "1";
}

namespace {

std::mutex g_daemons_mu;
std::map<std::string, std::unique_ptr<Daemon>> g_daemons;  // by root

// `--root 'R' [--config 'C'] [--snapshotter S] [--layer-memory N] build ...` → R (and the
// global flags between), when the subcommand uses the engine.
struct EngineCall {
  std::string root;
  std::string globals;
};

std::optional<EngineCall> ParseEngineCall(const std::string& args) {
  if (!args.starts_with("--root '")) return std::nullopt;
  EngineCall call;
  size_t i = 8;
  for (; i < args.size(); ++i) {
    if (args.compare(i, 4, "'\\''") == 0) {
      call.root += '\'';
      i += 3;
    } else if (args[i] == '\'') {
      break;
    } else {
      call.root += args[i];
    }
  }
  std::string rest = args.substr(std::min(args.size(), i + 1));
  while (rest.starts_with(" ")) rest.erase(0, 1);
  // The engine's own global options (each with one value, quoted or not) go to the daemon.
  for (bool more = true; more;) {
    more = false;
    for (const char* opt : {"--config ", "--snapshotter ", "--layer-memory "}) {
      if (!rest.starts_with(opt)) continue;
      const size_t n = std::string(opt).size();
      size_t end = rest.find(' ', n);
      if (rest[n] == '\'') end = rest.find('\'', n + 1) + 1;
      if (!call.globals.empty()) call.globals += " ";
      call.globals += rest.substr(0, end);
      rest = end == std::string::npos ? "" : rest.substr(end);
      while (rest.starts_with(" ")) rest.erase(0, 1);
      more = true;
    }
  }
  for (const char* sub : {"build ", "du", "prune"}) {
    if (rest.starts_with(sub)) return call;
  }
  return std::nullopt;
}

}  // namespace

std::string HoistCommand(const std::string& args, const std::string& daemon_env) {
  if (DaemonMode()) {
    if (auto call = ParseEngineCall(args)) {
      std::lock_guard lock(g_daemons_mu);
      auto& d = g_daemons[call->root];
      // Registry configuration and credentials are the daemon's own: a command that brings
      // other ones gets a daemon started with them, as an operator would restart it.
      if (d && (d->extra() != call->globals || d->env() != daemon_env)) d.reset();
      if (!d) {
        d = std::make_unique<Daemon>(call->root, call->root + ".hoistd.sock", call->globals,
                                     daemon_env);
        if (!d->Start()) {
          // A daemon that refuses to start (a broken configuration file, say) is what the
          // command meets: its error, and a failure.
          const std::string log = d->log();
          d.reset();
          return "printf '%s' " + Quote(log) + " >&2; false";
        }
      }
      return std::string(HOIST_BIN) + " --addr " + Quote(d->addr()) + " " + args;
    }
  }
  return std::string(HOIST_BIN) + " " + args;
}

RunResult Hoist(const std::string& args) { return Sh(HoistCommand(args)); }

Daemon::Daemon(std::string root, std::string socket, std::string extra_args, std::string env)
    : root_(std::move(root)),
      socket_(std::move(socket)),
      extra_(std::move(extra_args)),
      env_(std::move(env)) {}

Daemon::~Daemon() {
  if (pid_ > 0) Stop();
}

std::string Daemon::log() const { return ReadFileOrEmpty(root_ + ".hoistd.log"); }

bool Daemon::Start() {
  const size_t log_start = log().size();
  // Its socket and arguments, beside its log (every daemon started on this root): the files
  // they name are the operator's, which the daemon may name (ScanDaemonLogs).
  std::ofstream(root_ + ".hoistd.args", std::ios::app) << socket_ << " " << extra_ << "\n";
  RunResult r = Sh(env_ + " " + std::string(HOISTD_BIN) + " --root " + Quote(root_) + " --addr " +
                   Quote("unix://" + socket_) + " " + extra_ + " >>" + Quote(root_ + ".hoistd.log") +
                   " 2>&1 & echo $!");
  if (r.exit_code != 0 || r.out.empty()) return false;
  pid_ = std::stoi(r.out);
  // Up when it says so in what it logged (the socket may be another daemon's, the log may hold
  // an earlier daemon's lines) and still running.
  for (int i = 0; i < 400; ++i) {
    if (::kill(pid_, 0) != 0) break;
    if (log().find("hoistd serving " + addr(), log_start) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

namespace {
// Waits for `pid` (not our child: started through the shell) to be gone.
bool WaitGone(int pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (::kill(pid, 0) != 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ::kill(pid, 0) != 0;
}
}  // namespace

int Daemon::Stop(std::chrono::seconds grace) {
  if (pid_ <= 0) return 0;
  ::kill(pid_, SIGTERM);
  int rc = 0;
  if (!WaitGone(pid_, grace)) {
    ::kill(pid_, SIGKILL);
    WaitGone(pid_, std::chrono::seconds(5));
    rc = 128 + SIGKILL;
  }
  pid_ = -1;
  return rc;
}

void Daemon::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  WaitGone(pid_, std::chrono::seconds(5));
  pid_ = -1;
}

namespace {

std::mutex g_secrets_mu;
std::vector<std::string> g_secrets;

// The paths below `scratch` that `log` names, except those of the daemon that wrote it: its root
// (and what lies below it) and its socket. (The files it was started with are left out by the
// caller.)
std::vector<std::string> ClientPathsIn(const std::string& log, const std::string& scratch,
                                       const std::string& root) {
  std::vector<std::string> found;
  for (size_t at = log.find(scratch); at != std::string::npos; at = log.find(scratch, at + 1)) {
    size_t end = at;
    while (end < log.size() && !std::isspace(static_cast<unsigned char>(log[end])) &&
           std::string_view("\"'`:,;()[]<>").find(log[end]) == std::string_view::npos) {
      ++end;
    }
    std::string path = log.substr(at, end - at);
    if (path == root || path.starts_with(root + "/") || path.starts_with(root + ".hoistd.")) {
      continue;
    }
    found.push_back(path);
  }
  return found;
}

}  // namespace

void NoteSecret(const std::string& secret) {
  std::lock_guard lock(g_secrets_mu);
  g_secrets.push_back(secret);
}

void ScanDaemonLogs(const std::string& scratch) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(scratch, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() > 2) it.disable_recursion_pending();
    const std::string name = it->path().filename().string();
    if (!name.ends_with(".hoistd.log") || !it->is_regular_file()) continue;
    const std::string file = it->path().string();
    const std::string root = file.substr(0, file.size() - std::string(".hoistd.log").size());
    const std::string log = ReadFileOrEmpty(file);
    const std::string args = ReadFileOrEmpty(root + ".hoistd.args");
    for (const std::string& p : ClientPathsIn(log, scratch, root)) {
      if (args.find(p) != std::string::npos) continue;  // a file the daemon was started with
      ADD_FAILURE() << "hoistd's log " << name << " names a client path: " << p << "\n" << log;
    }
    std::lock_guard lock(g_secrets_mu);
    for (const std::string& secret : g_secrets) {
      if (log.find(secret) != std::string::npos) {
        ADD_FAILURE() << "hoistd's log " << name << " holds a secret the client lent";
      }
    }
  }
}

Scratch::Scratch() {
  auto d = TempDir::Create("hoist-itest-");
  if (d) path_ = d->Release();
}

Scratch::~Scratch() {
  if (path_.empty()) return;
  {
    // Daemons serving roots in here stop before their roots go.
    std::lock_guard lock(g_daemons_mu);
    for (auto it = g_daemons.begin(); it != g_daemons.end();) {
      if (it->first.starts_with(path_ + "/")) {
        it = g_daemons.erase(it);
      } else {
        ++it;
      }
    }
  }
  ScanDaemonLogs(path_);
  (void)RemoveAll(path_);
}

std::string MakeBaseImage(const std::string& out, const std::string& tag, bool tar) {
  RunResult r = Sh("HOIST=" + Quote(HOIST_BIN) + " " + std::string(HOIST_SOURCE_DIR) +
                   "/scripts/make-base-image " + Quote(out) +
                   " --tag " + Quote(tag) + (tar ? " --tar" : ""));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string d = r.out;
  while (!d.empty() && (d.back() == '\n')) d.pop_back();
  return d;
}

std::map<std::string, std::string> TreeDigest(const std::string& dir) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string rel = fs::relative(it->path(), dir).string();
    if (it->is_symlink()) {
      out[rel] = "-> " + fs::read_symlink(it->path()).string();
    } else if (it->is_regular_file()) {
      out[rel] = Sha256Hex(ReadFileOrEmpty(it->path().string()));
    } else if (it->is_directory()) {
      out[rel] = "dir";
    }
  }
  return out;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
}

std::string Corpora(const std::string& rel) { return std::string(HOIST_CORPORA_DIR) + "/" + rel; }

bool HaveTool(const std::string& tool) {
  return Sh("command -v " + Quote(tool)).exit_code == 0;
}

std::string TreeFingerprint(const std::string& dir) {
  RunResult list = Sh("cd " + Quote(dir) +
                      " && find . -mindepth 1 -printf '%p %y %m %U:%G %l %s %Ts\\n' | sort");
  RunResult sums = Sh("cd " + Quote(dir) +
                      " && find . -type f -print0 | sort -z | xargs -0 -r sha256sum");
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(sums.exit_code, 0) << sums.err;
  return list.out + sums.out;
}

}  // namespace hoist::itest
