#include "cmd/login_command.h"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "registry/client.h"
#include "registry/credentials.h"
#include "registry/host_config.h"

namespace hoist::cmd {
namespace {

constexpr std::string_view kHubKey = "https://index.docker.io/v1/";

void Print(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}
void PrintErr(std::string_view s) { std::fwrite(s.data(), 1, s.size(), stderr); }

std::string_view TrimSpace(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// One line from stdin without its line ending (LF, CRLF or CR). nullopt at end of input with
// nothing read.
Result<std::optional<std::string>> ReadLine() {
  std::string line;
  bool any = false;
  while (true) {
    char c;
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, "read stdin"));
    }
    if (n == 0) break;
    any = true;
    if (c == '\n') break;
    line += c;
  }
  if (!any) return std::optional<std::string>();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return std::optional<std::string>(std::move(line));
}

// The terminal's settings while echo is off, so that an interrupt can put them back.
struct termios g_saved_termios;
volatile sig_atomic_t g_echo_off = 0;

void RestoreEchoAndReraise(int sig) {
  if (g_echo_off) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Turns terminal echo off for its lifetime (and back on if the user interrupts).
class EchoOff {
 public:
  EchoOff() {
    if (::tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return;
    struct termios t = g_saved_termios;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    old_int_ = ::signal(SIGINT, RestoreEchoAndReraise);
    old_term_ = ::signal(SIGTERM, RestoreEchoAndReraise);
    g_echo_off = 1;
    if (::tcsetattr(STDIN_FILENO, TCSANOW, &t) != 0) g_echo_off = 0;
    active_ = true;
  }
  ~EchoOff() {
    if (!active_) return;
    if (g_echo_off) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
    g_echo_off = 0;
    ::signal(SIGINT, old_int_);
    ::signal(SIGTERM, old_term_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  bool active_ = false;
  sighandler_t old_int_ = SIG_DFL;
  sighandler_t old_term_ = SIG_DFL;
};

struct LoginArgs {
  std::string registry;
  std::string username;
  std::string password;
  bool password_stdin = false;
  CLI::Option* username_option = nullptr;
  CLI::Option* password_option = nullptr;
};

// Asks for what the flags did not give, as docker login does: the username (offering the one
// already stored), then the password without echo.
Status Prompt(std::string_view host, const std::string& stored_username, std::string* username,
              std::string* password) {
  if (username->empty()) {
    if (host == "docker.io") {
      Print(
          "Log in with your Docker ID or email address to push and pull images from Docker "
          "Hub. If you don't have a Docker ID, head over to https://hub.docker.com/ to create "
          "one.\n");
    }
    Print(stored_username.empty() ? "Username: " : fmt::format("Username ({}): ", stored_username));
    HOIST_ASSIGN_OR_RETURN(std::optional<std::string> line, ReadLine());
    *username = std::string(TrimSpace(line.value_or("")));
    if (username->empty()) *username = stored_username;
    if (username->empty()) return MakeError(Code::kInvalidArgument, "username is required");
  }
  if (TrimSpace(*password).empty()) {
    // Echo goes off before the prompt appears, so that nothing typed after it shows.
    std::optional<std::string> line;
    {
      EchoOff no_echo;
      Print("Password: ");
      HOIST_ASSIGN_OR_RETURN(line, ReadLine());
    }
    Print("\n");
    *password = line.value_or("");
    if (password->empty()) return MakeError(Code::kInvalidArgument, "password is required");
  }
  return OkStatus();
}

Status RunLogin(LoginArgs args, const std::string& config_path) {
  // Flags, checked as docker checks them.
  if (args.password == "-") {
    args.password.clear();
    args.password_stdin = true;
  }
  const bool username_set = args.username_option->count() > 0;
  const bool password_set = args.password_option->count() > 0;
  if (args.password_stdin) {
    if (!args.password.empty()) {
      return MakeError(Code::kInvalidArgument,
                       "conflicting options: cannot specify both --password and --password-stdin");
    }
    if (!username_set) {
      return MakeError(Code::kInvalidArgument,
                       "the --password-stdin option requires --username to be set");
    }
  }
  if (username_set && TrimSpace(args.username).empty()) {
    return MakeError(Code::kInvalidArgument, "username is empty");
  }
  if (password_set && !args.password_stdin && args.password.empty()) {
    return MakeError(Code::kInvalidArgument, "password is empty");
  }
  if (!args.password.empty()) {
    PrintErr("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
  }
  if (args.password_stdin) {
    HOIST_ASSIGN_OR_RETURN(std::optional<std::string> line, ReadLine());
    args.password = line.value_or("");
    if (TrimSpace(args.password).empty()) {
      return MakeError(Code::kInvalidArgument, "password is empty");
    }
  }
  args.username = std::string(TrimSpace(args.username));

  const std::string host = LoginHost(args.registry);
  if (host.empty()) {
    return MakeError(Code::kInvalidArgument, fmt::format("invalid registry \"{}\"", args.registry));
  }
  HOIST_ASSIGN_OR_RETURN(registry::RegistryConfig config,
                         registry::RegistryConfig::Load(config_path));
  registry::Client client(registry::ClientOptions{.config = std::move(config)});
  registry::DockerConfigCredentials credentials;

  // With neither flag, try what is stored first, as docker login does.
  std::string stored_username;
  if (args.username.empty() && args.password.empty()) {
    auto stored = credentials.Get(host);
    if (stored && *stored && !(*stored)->username.empty()) {
      const registry::AuthConfig& auth = **stored;
      stored_username = auth.username;
      if (!auth.password.empty() || !auth.identity_token.empty()) {
        PrintErr(fmt::format("Authenticating with existing credentials... [Username: {}]\n",
                             auth.username));
        auto checked = client.CheckLogin(host, auth);
        if (checked) {
          Print("Login Succeeded\n");
          return OkStatus();
        }
        if (checked.error().code() == Code::kUnauthenticated) {
          PrintErr("Stored credentials invalid or expired\n");
        } else {
          PrintErr(fmt::format("Login did not succeed, error: {}\n", checked.error().message()));
        }
      }
    }
  }

  if ((args.username.empty() || args.password.empty()) && !::isatty(STDIN_FILENO)) {
    return MakeError(Code::kInvalidArgument,
                     "cannot perform an interactive login from a non-TTY device (use "
                     "--username with --password-stdin)");
  }
  registry::AuthConfig auth;
  auth.username = args.username;
  auth.password = args.password;
  HOIST_TRY(Prompt(host, stored_username, &auth.username, &auth.password));

  HOIST_ASSIGN_OR_RETURN(registry::Client::LoginResult login, client.CheckLogin(host, auth));
  if (!login.identity_token.empty()) {
    // As docker: keep the refresh token the registry gave, not the password.
    auth.password.clear();
    auth.identity_token = login.identity_token;
  }
  auto stored = credentials.Store(host, auth);
  if (!stored) return Unexpected(std::move(stored).error().Wrap("saving credentials"));
  Print("Login Succeeded\n");
  return OkStatus();
}

Status RunLogout(const std::string& registry_arg) {
  const std::string host = LoginHost(registry_arg);
  if (host.empty()) {
    return MakeError(Code::kInvalidArgument, fmt::format("invalid registry \"{}\"", registry_arg));
  }
  registry::DockerConfigCredentials credentials;
  auto erased = credentials.Erase(host);
  if (!erased && erased.error().code() == Code::kNotFound) {
    Print(fmt::format("Not logged in to {}\n", host));
    return OkStatus();
  }
  HOIST_TRY(erased);
  Print(fmt::format("Removing login credentials for {}\n", host));
  return OkStatus();
}

}  // namespace

std::string LoginHost(std::string_view arg) {
  if (arg.empty()) return "docker.io";
  const std::string key = registry::CredentialKey(arg);
  if (key == kHubKey) return "docker.io";
  return key;
}

void RegisterLoginCommands(CLI::App& app, const std::string* config, Status* status) {
  auto args = std::make_shared<LoginArgs>();
  CLI::App* login = app.add_subcommand(
      "login",
      "Log in to a registry (default: Docker Hub); credentials go where docker keeps "
      "them ($DOCKER_CONFIG/config.json or its credential helper)");
  login->add_option("REGISTRY", args->registry, "Registry host (default: docker.io)");
  args->username_option = login->add_option("-u,--username", args->username, "Username");
  args->password_option = login->add_option("-p,--password", args->password,
                                            "Password or token, or \"-\" to read it from stdin");
  login->add_flag("--password-stdin", args->password_stdin,
                  "Read the password or token from stdin (one line)");
  login->callback([args, config, status] { *status = RunLogin(*args, *config); });

  auto registry_arg = std::make_shared<std::string>();
  CLI::App* logout = app.add_subcommand("logout", "Log out from a registry (default: Docker Hub)");
  logout->add_option("REGISTRY", *registry_arg, "Registry host (default: docker.io)");
  logout->callback([registry_arg, status] { *status = RunLogout(*registry_arg); });
}

}  // namespace hoist::cmd
