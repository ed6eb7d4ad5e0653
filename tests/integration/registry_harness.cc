#include "registry_harness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/temp_dir.h"
#include "harness.h"

extern char** environ;

namespace hoist::itest {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Debian's interpreter: it is the one python3-cryptography is installed for.
std::string Python() {
  return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

std::string RegistryBin() {
  const char* env = std::getenv("HOIST_TEST_REGISTRY_BIN");
  return env != nullptr ? env : "/usr/bin/docker-registry";
}

std::string Script() { return std::string(HOIST_SOURCE_DIR) + "/tests/registry/registry.py"; }

std::string Base64(const std::string& in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string TomlString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Reads one line from `fd` within `timeout`; false on EOF, error or timeout.
bool ReadLine(int fd, std::chrono::milliseconds timeout, std::string* line) {
  const auto deadline = Clock::now() + timeout;
  std::string buf;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
    if (auto nl = buf.find('\n'); nl != std::string::npos) {
      *line = buf.substr(0, nl);
      return true;
    }
  }
}

}  // namespace

std::string TestRegistry::Unavailable() {
  static const std::string reason = [] {
    if (::access(RegistryBin().c_str(), X_OK) != 0) {
      return RegistryBin() + " not found (apt-get install docker-registry)";
    }
    if (!HaveTool("curl")) return std::string("curl not found (apt-get install curl)");
    RunResult r = Sh(Python() + " -c 'import cryptography'");
    if (r.exit_code != 0) {
      return "python3 with python3-cryptography not found (apt-get install "
             "python3-cryptography): " +
             r.err;
    }
    return std::string();
  }();
  return reason;
}

std::unique_ptr<TestRegistry> TestRegistry::Start(const RegistryOptions& options) {
  std::unique_ptr<TestRegistry> reg(new TestRegistry());
  auto tmp = TempDir::Create("hoist-registry-");
  if (!tmp) {
    ADD_FAILURE() << "cannot make a registry directory";
    return nullptr;
  }
  reg->dir_ = tmp->Release();

  std::vector<std::string> args = {
      Python(),      Script(),  "start",       "--foreground",
      "--dir",       reg->dir_, "--watch-pid", std::to_string(::getpid()),
      "--remove-dir"};
  switch (options.auth) {
    case RegistryOptions::Auth::kNone:
      args.insert(args.end(), {"--auth", "none"});
      break;
    case RegistryOptions::Auth::kBasic:
      args.insert(args.end(), {"--auth", "basic"});
      break;
    case RegistryOptions::Auth::kToken:
      args.insert(args.end(), {"--auth", "token"});
      break;
  }
  if (options.tls) args.push_back("--tls");
  if (options.proxy) args.push_back("--proxy");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return nullptr;
  }
  const std::string err_path = reg->dir_ + "/start.err";
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawnattr_init(&attr);
  // Its own session, hence its own process group: the destructor signals the whole group.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    ADD_FAILURE() << "cannot run " << args[0] << ": " << std::strerror(rc);
    return nullptr;
  }
  reg->supervisor_ = pid;

  std::string line;
  // registry.py gives up by itself after 20 s; this covers it plus the interpreter's start.
  bool got = ReadLine(fds[0], std::chrono::seconds(40), &line);
  ::close(fds[0]);
  json info = got ? json::parse(line, nullptr, false) : json();
  if (!got || !info.is_object()) {
    reg->Stop();  // reaps the supervisor so that its stderr is complete
    ADD_FAILURE() << "registry did not start: " << line << "\n" << ReadFileOrEmpty(err_path);
    return nullptr;
  }
  reg->host_ = info.value("host", "");
  reg->scheme_ = info.value("scheme", "");
  reg->proxy_host_ = info.value("proxy_host", "");
  reg->token_host_ = info.value("token_host", "");
  reg->ca_file_ = info.value("ca", "");
  reg->cert_dir_ = info.value("cert_dir", "");
  reg->username_ = info.value("username", "");
  reg->password_ = info.value("password", "");
  if (!reg->password_.empty()) NoteSecret(reg->password_);
  for (const auto& p : info.value("pids", json::array())) reg->pids_.push_back(p.get<pid_t>());
  return reg;
}

TestRegistry::~TestRegistry() {
  Stop();
  if (!dir_.empty()) (void)RemoveAll(dir_);
}

void TestRegistry::Stop() {
  if (supervisor_ <= 0) return;
  const pid_t group = supervisor_;  // the supervisor leads its own session and group
  ::kill(-group, SIGTERM);
  // Wait for the supervisor to exit without reaping it: while it is a zombie its pid, which is
  // the group id, cannot be reused, so the SIGKILL below cannot reach a stranger.
  const auto deadline = Clock::now() + std::chrono::seconds(8);
  while (Clock::now() < deadline) {
    siginfo_t si{};
    if (::waitid(P_PID, static_cast<id_t>(group), &si, WEXITED | WNOHANG | WNOWAIT) != 0) break;
    if (si.si_pid == group) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(-group, SIGKILL);  // stragglers, and the supervisor itself if it hung
  int status = 0;
  while (::waitpid(group, &status, 0) < 0 && errno == EINTR) {
  }
  supervisor_ = -1;
}

std::string TestRegistry::Control(const std::string& method, const std::string& url,
                                  const std::string& body) {
  std::string cmd = "curl -sS --max-time 20 --fail-with-body -X " + method;
  if (!body.empty()) {
    cmd += " -H 'Content-Type: application/json' --data-binary " + Quote(body);
  }
  RunResult r = Sh(cmd + " " + Quote(url));
  EXPECT_EQ(r.exit_code, 0) << method << " " << url << ": " << r.err << r.out;
  return r.out;
}

void TestRegistry::SetFaults(const std::string& rules_json) {
  EXPECT_FALSE(proxy_host_.empty()) << "SetFaults needs a registry started with proxy";
  Control("PUT", "http://" + proxy_host_ + "/__proxy/rules", rules_json);
}

void TestRegistry::ClearFaults() {
  EXPECT_FALSE(proxy_host_.empty()) << "ClearFaults needs a registry started with proxy";
  Control("DELETE", "http://" + proxy_host_ + "/__proxy/rules");
}

std::string TestRegistry::ProxyLog() {
  EXPECT_FALSE(proxy_host_.empty()) << "ProxyLog needs a registry started with proxy";
  return Control("GET", "http://" + proxy_host_ + "/__proxy/log");
}

void TestRegistry::ClearProxyLog() {
  EXPECT_FALSE(proxy_host_.empty()) << "ClearProxyLog needs a registry started with proxy";
  Control("DELETE", "http://" + proxy_host_ + "/__proxy/log");
}

std::string TestRegistry::TokenLog() {
  EXPECT_FALSE(token_host_.empty()) << "TokenLog needs a registry started with token auth";
  return Control("GET", "http://" + token_host_ + "/__log");
}

void TestRegistry::ClearTokenLog() {
  EXPECT_FALSE(token_host_.empty()) << "ClearTokenLog needs a registry started with token auth";
  Control("DELETE", "http://" + token_host_ + "/__log");
}

void TestRegistry::SetTokenConfig(const std::string& settings_json) {
  EXPECT_FALSE(token_host_.empty()) << "SetTokenConfig needs a registry started with token auth";
  Control("PUT", "http://" + token_host_ + "/__config", settings_json);
}

std::string TestRegistry::WriteDockerConfig(const std::string& dir) const {
  json auths = json::object();
  if (!username_.empty()) {
    const std::string auth = Base64(username_ + ":" + password_);
    auths[host_] = {{"auth", auth}};
    if (!proxy_host_.empty()) auths[proxy_host_] = {{"auth", auth}};
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  EXPECT_FALSE(ec) << dir << ": " << ec.message();
  WriteFile(dir + "/config.json", json{{"auths", auths}}.dump(2) + "\n");
  return dir;
}

std::string TestRegistry::WriteHoistConfig(const std::string& path) const {
  std::string toml = "[registry." + TomlString(host_) + "]\n";
  toml += std::string("  http = ") + (scheme_ == "http" ? "true" : "false") + "\n";
  if (!ca_file_.empty()) toml += "  ca = [" + TomlString(ca_file_) + "]\n";
  if (!proxy_host_.empty()) toml += "[registry." + TomlString(proxy_host_) + "]\n  http = true\n";
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  WriteFile(path, toml);
  return path;
}

}  // namespace hoist::itest
