// Helpers for end-to-end tests: run commands, make fixtures, snapshot trees.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace hoist::itest {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `command` with /bin/sh -c, capturing stdout and stderr.
RunResult Sh(const std::string& command);
// Runs the hoist binary with `args` (shell words, already quoted as needed).
RunResult Hoist(const std::string& args);
// The shell command Hoist runs for `args`. In daemon mode (HOIST_ITEST_DAEMON=1, the suite's
// second run) a command starting `--root R build|du|prune` goes through a hoistd serving R,
// started on first use and stopped with the Scratch that holds R.
// `daemon_env` (VAR=value words) is the environment such a daemon starts with.
std::string HoistCommand(const std::string& args, const std::string& daemon_env = "");
// Whether the suite runs its builds through hoistd.
bool DaemonMode();

// A hoistd the test starts on `root`, listening on `socket` (unix). Stopped (SIGTERM, then
// SIGKILL) when destroyed.
class Daemon {
 public:
  Daemon(std::string root, std::string socket, std::string extra_args = "",
         std::string env = "");
  ~Daemon();
  // Starts it and waits until the socket accepts connections; false (with the log) if not.
  bool Start();
  // SIGTERM and wait (SIGKILL after `grace`); returns the exit status (128+sig if killed).
  int Stop(std::chrono::seconds grace = std::chrono::seconds(20));
  void Kill();  // SIGKILL, and reap
  int pid() const { return pid_; }
  std::string addr() const { return "unix://" + socket_; }
  std::string log() const;
  const std::string& extra() const { return extra_; }
  const std::string& env() const { return env_; }

 private:
  std::string root_, socket_, extra_, env_;
  int pid_ = -1;
};
// Single-quotes a string for the shell.
std::string Quote(const std::string& s);

// Notes a secret a test hands to a build (a --secret value, a registry password): no hoistd log
// may ever contain it (see Scratch).
void NoteSecret(const std::string& secret);

// Fails the running test for every client path or noted secret in a hoistd log under `scratch`.
void ScanDaemonLogs(const std::string& scratch);

// A fresh scratch directory, removed when the test ends. Before it goes, the daemons serving
// roots in it are stopped and every hoistd log in it (`<root>.hoistd.log`) is scanned: a log
// that holds a path in the scratch directory other than its own daemon's root, socket and
// configuration, or a noted secret, fails the test. Everything a test gives a client (contexts,
// layouts, outputs, secret files, caches) lives in its scratch directory, so this proves across
// the whole suite that hoistd never logs a client's path.
class Scratch {
 public:
  Scratch();
  ~Scratch();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Makes the busybox base image layout (scripts/make-base-image); returns its manifest digest.
std::string MakeBaseImage(const std::string& out, const std::string& tag = "busybox:1.36",
                          bool tar = false);
// Relative path → sha256 of content (or link target) for every entry under `dir`.
std::map<std::string, std::string> TreeDigest(const std::string& dir);
// Every entry under `dir` (type, mode, owner, link target, size, mtime in whole seconds) and
// the sha256 of every regular file, one per line, sorted; the root's own metadata left out.
// Two trees with the same fingerprint hold the same files the same way.
std::string TreeFingerprint(const std::string& dir);
std::string ReadFileOrEmpty(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);
std::string Corpora(const std::string& rel);
// True when `tool` is on PATH.
bool HaveTool(const std::string& tool);

}  // namespace hoist::itest
