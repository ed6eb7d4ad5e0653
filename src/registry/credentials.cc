#include "registry/credentials.h"

#include <limits.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/file_system.h"
#include "base/subprocess.h"
#include "base/unique_fd.h"
#include "base/base64.h"

namespace hoist::registry {
namespace {

// Ordered, so that Store and Erase write every key back where it was.
using Json = nlohmann::ordered_json;

constexpr std::string_view kHubKey = "https://index.docker.io/v1/";
constexpr std::string_view kTokenUsername = "<token>";
constexpr std::string_view kHelperPrefix = "docker-credential-";
constexpr std::string_view kHelperNotFound = "credentials not found in native keychain";
constexpr uint64_t kMaxConfigSize = 16 << 20;
constexpr size_t kMaxHelperOutput = 1 << 20;
constexpr size_t kMaxHelperMessage = 300;

// ---------------------------------------------------------------------------------------------
// Keys

// What docker's credentials.ConvertToHostname makes of a config key: a URL's host[:port], else
// everything before the first '/'.
std::string_view HostOfKey(std::string_view key) {
  if (const size_t scheme = key.find("://"); scheme != std::string_view::npos) {
    std::string_view rest = key.substr(scheme + 3);
    rest = rest.substr(0, rest.find('/'));
    if (const size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
    if (!rest.empty()) return rest;
  }
  return key.substr(0, key.find('/'));
}

bool IsHubName(std::string_view host) {
  std::string_view h = HostOfKey(host);
  return h == "docker.io" || h == "index.docker.io" || h == "registry-1.docker.io";
}

// Whether config key `file_key` holds credentials for `key` (= CredentialKey of the host).
bool KeyMatches(std::string_view file_key, std::string_view key, bool hub) {
  if (file_key == key) return true;
  return hub ? IsHubName(file_key) : HostOfKey(file_key) == key;
}

// ---------------------------------------------------------------------------------------------
// config.json

// `auths."ghcr.io".auth` as a path into the file, for errors.
std::string KeyPath(std::string_view section, std::string_view key, std::string_view field = "") {
  std::string out = fmt::format("{}.\"{}\"", section, key);
  if (!field.empty()) out += fmt::format(".{}", field);
  return out;
}

Error FileError(const std::string& path, std::string_view what) {
  return Error(Code::kInvalidArgument, fmt::format("{}: {}", path, what));
}

// The parsed file; an object. A missing or empty file is an empty object, as docker reads it.
Result<Json> ReadConfig(FileSystem* fs, const std::string& path) {
  HOIST_ASSIGN_OR_RETURN(std::optional<FileInfo> info, fs->Stat(path));
  if (!info) return Json::object();
  HOIST_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(path, kMaxConfigSize + 1));
  if (text.size() > kMaxConfigSize) {
    return Unexpected(FileError(path, fmt::format("larger than {} bytes", kMaxConfigSize)));
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return Json::object();
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::exception& e) {
    // The parser's own message quotes the text around the error, which may be a secret: say
    // only where it is.
    size_t byte = text.size();
    if (const auto* pe = dynamic_cast<const Json::parse_error*>(&e)) {
      byte = std::min<size_t>(pe->byte, text.size());
    }
    const size_t line =
        1 + static_cast<size_t>(std::count(
                text.begin(), text.begin() + static_cast<std::ptrdiff_t>(byte > 0 ? byte - 1 : 0),
                '\n'));
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{}:{}: invalid JSON (docker's config file)", path, line));
  }
  if (!doc.is_object()) return Unexpected(FileError(path, "expected a JSON object"));
  return doc;
}

// A string member of `obj`: "" when absent or null; an error naming it when of another type.
Result<std::string> StringField(const Json& obj, std::string_view name, const std::string& path,
                                std::string_view where) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return Unexpected(FileError(path, fmt::format("{}: expected a string", where)));
  }
  return it->get<std::string>();
}

// The object member `name` of the document, or nullptr when absent or null.
Result<const Json*> ObjectSection(const Json& doc, std::string_view name, const std::string& path) {
  auto it = doc.find(name);
  if (it == doc.end() || it->is_null()) return static_cast<const Json*>(nullptr);
  if (!it->is_object()) {
    return Unexpected(FileError(path, fmt::format("{}: expected an object", name)));
  }
  return &*it;
}

// A helper name as it may follow `docker-credential-`: a plain file name.
bool IsValidHelperName(std::string_view name) {
  return !name.empty() && name.find('/') == std::string_view::npos && name != "." && name != "..";
}

// Which helper serves `key`, as docker chooses it: `credHelpers` (the exact key, then another
// name of Docker Hub), else `credsStore`. nullopt: none, use `auths`. `what` says where the
// name came from, for errors.
struct HelperChoice {
  std::string name;
  std::string what;
};

Result<std::optional<HelperChoice>> ChooseHelper(const Json& doc, std::string_view key, bool hub,
                                                 const std::string& path) {
  HOIST_ASSIGN_OR_RETURN(const Json* helpers, ObjectSection(doc, "credHelpers", path));
  std::optional<HelperChoice> chosen;
  if (helpers != nullptr) {
    auto pick = [&](const std::string& file_key, const Json& value) -> Status {
      const std::string where = KeyPath("credHelpers", file_key);
      if (!value.is_string()) {
        return Unexpected(FileError(path, fmt::format("{}: expected a string", where)));
      }
      chosen = HelperChoice{value.get<std::string>(), where};
      return OkStatus();
    };
    if (auto it = helpers->find(key); it != helpers->end()) {
      HOIST_TRY(pick(it.key(), *it));
    } else if (hub) {
      for (auto it2 = helpers->begin(); it2 != helpers->end() && !chosen; ++it2) {
        if (IsHubName(it2.key())) HOIST_TRY(pick(it2.key(), *it2));
      }
    }
  }
  if (!chosen) {
    HOIST_ASSIGN_OR_RETURN(std::string store, StringField(doc, "credsStore", path, "credsStore"));
    if (store.empty()) return std::optional<HelperChoice>();
    chosen = HelperChoice{std::move(store), "credsStore"};
  }
  // An empty credHelpers entry opts the host out of credsStore.
  if (chosen->name.empty()) return std::optional<HelperChoice>();
  if (!IsValidHelperName(chosen->name)) {
    return Unexpected(FileError(path, fmt::format("{}: invalid credential helper name \"{}\"",
                                                  chosen->what, chosen->name)));
  }
  return chosen;
}

// The `auths` entry for `key`: the exact key, else the first matching one in file order.
// {"", nullptr} when none.
Result<std::pair<std::string, const Json*>> FindAuthEntry(const Json& doc, std::string_view key,
                                                          bool hub, const std::string& path) {
  HOIST_ASSIGN_OR_RETURN(const Json* auths, ObjectSection(doc, "auths", path));
  std::pair<std::string, const Json*> found{"", nullptr};
  if (auths == nullptr) return found;
  if (auto it = auths->find(key); it != auths->end()) {
    found = {it.key(), &*it};
  } else {
    for (auto it2 = auths->begin(); it2 != auths->end(); ++it2) {
      if (KeyMatches(it2.key(), key, hub)) {
        found = {it2.key(), &*it2};
        break;
      }
    }
  }
  if (found.second != nullptr && !found.second->is_object()) {
    return Unexpected(
        FileError(path, fmt::format("{}: expected an object", KeyPath("auths", found.first))));
  }
  return found;
}

Result<AuthConfig> DecodeAuthEntry(const Json& entry, const std::string& file_key,
                                   const std::string& path) {
  auto field = [&](std::string_view name) {
    return StringField(entry, name, path, KeyPath("auths", file_key, name));
  };
  AuthConfig auth;
  HOIST_ASSIGN_OR_RETURN(std::string encoded, field("auth"));
  HOIST_ASSIGN_OR_RETURN(auth.username, field("username"));
  HOIST_ASSIGN_OR_RETURN(auth.password, field("password"));
  HOIST_ASSIGN_OR_RETURN(auth.identity_token, field("identitytoken"));
  HOIST_ASSIGN_OR_RETURN(auth.registry_token, field("registrytoken"));
  if (!encoded.empty()) {
    const std::string where = KeyPath("auths", file_key, "auth");
    std::optional<std::string> decoded = Base64Decode(encoded);
    if (!decoded) return Unexpected(FileError(path, where + ": not valid base64"));
    const size_t colon = decoded->find(':');
    if (colon == std::string::npos || colon == 0) {
      return Unexpected(FileError(path, where + ": expected base64 of USERNAME:PASSWORD"));
    }
    auth.username = decoded->substr(0, colon);
    std::string_view password = std::string_view(*decoded).substr(colon + 1);
    // Docker trims NULs that some writers left at either end of the password.
    while (!password.empty() && password.front() == '\0') password.remove_prefix(1);
    while (!password.empty() && password.back() == '\0') password.remove_suffix(1);
    auth.password = std::string(password);
  }
  return auth;
}

// The file docker would write: through a symlink to its target (a dangling one included), so
// that a config.json kept elsewhere and linked in stays linked.
std::string WriteTarget(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) != nullptr) return resolved;
  char link[PATH_MAX];
  const ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
  if (n <= 0) return path;
  std::string target(link, static_cast<size_t>(n));
  if (target.front() == '/') return target;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? target : JoinPath(path.substr(0, slash), target);
}

Status WriteConfig(FileSystem* fs, const std::string& path, const Json& doc) {
  const std::string target = WriteTarget(path);
  if (const size_t slash = target.rfind('/'); slash != std::string::npos && slash > 0) {
    HOIST_TRY(fs->MakeDirs(target.substr(0, slash), 0700));
  }
  // Tab-indented, as docker writes it. Invalid UTF-8 (only possible in a helper's answer
  // stored back) becomes U+FFFD, as Go's encoder does, instead of throwing.
  const std::string text = doc.dump(1, '\t', false, Json::error_handler_t::replace);
  auto st = WriteFileAtomic(fs, target, text, 0600);
  if (!st) return Unexpected(std::move(st).error().Wrap("save docker config"));
  return OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Credential helpers

using HelperRun = SubprocessResult;

// Runs `program action` with `input` on its stdin.
Result<HelperRun> RunHelper(const std::string& program, std::string_view action,
                            std::string_view input, std::chrono::milliseconds timeout) {
  return RunSubprocess({.argv = {program, std::string(action)},
                        .input = std::string(input),
                        .timeout = timeout,
                        .max_output = kMaxHelperOutput,
                        .name = program.substr(program.rfind('/') + 1) + " " + std::string(action)});
}

std::string_view Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// A helper's own words about a failure, fit for an error message: its stdout (where helpers
// write errors), else its stderr; one line, bounded; any secret it was given cut out; nothing
// if it looks like credentials.
std::string HelperMessage(const HelperRun& run, std::initializer_list<std::string_view> secrets) {
  std::string text(Trim(run.out));
  if (text.empty()) text = std::string(Trim(run.err));
  if (text.find("\"Secret\"") != std::string::npos)
    return "(output withheld: it holds credentials)";
  for (std::string_view secret : secrets) {
    if (secret.empty()) continue;
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 10)) {
      text.replace(at, secret.size(), "<redacted>");
    }
  }
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (text.size() > kMaxHelperMessage) text = text.substr(0, kMaxHelperMessage) + "...";
  return text;
}

bool IsNotFoundAnswer(const HelperRun& run) { return Trim(run.out) == kHelperNotFound; }

Error HelperFailed(std::string_view program, std::string_view action, std::string_view key,
                   const HelperRun& run, std::initializer_list<std::string_view> secrets) {
  const std::string why = HelperMessage(run, secrets);
  const std::string name(program.substr(program.rfind('/') + 1));
  return Error(Code::kUnknown, fmt::format("{} {} {}: exit status {}{}{}", name, action, key,
                                           run.exit_code, why.empty() ? "" : ": ", why));
}

// The absolute path of docker-credential-<name> on $PATH. Relative and empty $PATH entries
// are skipped: a helper is never taken from the working directory.
Result<std::string> FindHelper(const HelperChoice& choice, const std::string& config_path) {
  const std::string program = std::string(kHelperPrefix) + choice.name;
  const char* env = std::getenv("PATH");
  std::string_view dirs = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const size_t colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    if (!dir.empty() && dir.front() == '/') {
      const std::string candidate = JoinPath(dir, program);
      struct stat st;
      if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          ::access(candidate.c_str(), X_OK) == 0) {
        return candidate;
      }
    }
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return MakeError(Code::kFailedPrecondition,
                   fmt::format("credential helper {} not found in $PATH ({} in {})", program,
                               choice.what, config_path));
}

Result<std::optional<AuthConfig>> HelperGet(const std::string& program, std::string_view key,
                                            std::chrono::milliseconds timeout) {
  HOIST_ASSIGN_OR_RETURN(HelperRun run, RunHelper(program, "get", key, timeout));
  if (IsNotFoundAnswer(run)) return std::optional<AuthConfig>();
  if (run.exit_code != 0) return Unexpected(HelperFailed(program, "get", key, run, {}));
  const nlohmann::json answer = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  const std::string name = program.substr(program.rfind('/') + 1);
  auto invalid = [&] {
    return MakeError(Code::kUnknown,
                     fmt::format("{} get {}: invalid answer (expected JSON with ServerURL, "
                                 "Username and Secret)",
                                 name, key));
  };
  if (!answer.is_object()) return invalid();
  auto field = [&](const char* n, std::string* out) {
    auto it = answer.find(n);
    if (it == answer.end() || it->is_null()) return true;
    if (!it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  std::string username, secret;
  if (!field("Username", &username) || !field("Secret", &secret)) return invalid();
  AuthConfig auth;
  if (username == kTokenUsername) {
    auth.identity_token = std::move(secret);
  } else {
    auth.username = std::move(username);
    auth.password = std::move(secret);
  }
  if (auth.empty()) return std::optional<AuthConfig>();
  return std::optional<AuthConfig>(std::move(auth));
}

Status HelperStore(const std::string& program, std::string_view key, const AuthConfig& auth,
                   std::chrono::milliseconds timeout) {
  nlohmann::json request = {
      {"ServerURL", key}, {"Username", auth.username}, {"Secret", auth.password}};
  if (!auth.identity_token.empty()) {
    request["Username"] = kTokenUsername;
    request["Secret"] = auth.identity_token;
  }
  const std::string input =
      request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  HOIST_ASSIGN_OR_RETURN(HelperRun run, RunHelper(program, "store", input, timeout));
  if (run.exit_code != 0) {
    return Unexpected(HelperFailed(program, "store", key, run,
                                   {auth.password, auth.identity_token, auth.registry_token}));
  }
  return OkStatus();
}

// True when the helper erased something, false when it had nothing for `key`.
Result<bool> HelperErase(const std::string& program, std::string_view key,
                         std::chrono::milliseconds timeout) {
  HOIST_ASSIGN_OR_RETURN(HelperRun run, RunHelper(program, "erase", key, timeout));
  if (IsNotFoundAnswer(run)) return false;
  if (run.exit_code != 0) return Unexpected(HelperFailed(program, "erase", key, run, {}));
  return true;
}

std::string DefaultDir() {
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir != nullptr && dir[0] != '\0') {
    return dir;
  }
  std::string home;
  if (const char* h = std::getenv("HOME"); h != nullptr) home = h;
  if (home.empty()) {
    if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) {
      home = pw->pw_dir;
    }
  }
  return JoinPath(home.empty() ? "/" : home, ".docker");
}

}  // namespace

std::string CredentialKey(std::string_view host) {
  if (IsHubName(host)) return std::string(kHubKey);
  return std::string(HostOfKey(host));
}

DockerConfigCredentials::DockerConfigCredentials(std::string dir,
                                                 std::chrono::milliseconds helper_timeout)
    : dir_(dir.empty() ? DefaultDir() : std::move(dir)),
      path_(JoinPath(dir_, "config.json")),
      helper_timeout_(helper_timeout) {}

Result<std::optional<AuthConfig>> DockerConfigCredentials::Get(std::string_view host) {
  const std::string key = CredentialKey(host);
  const bool hub = IsHubName(host);
  FileSystem* fs = PosixFileSystem();
  HOIST_ASSIGN_OR_RETURN(Json doc, ReadConfig(fs, path_));
  HOIST_ASSIGN_OR_RETURN(std::optional<HelperChoice> helper, ChooseHelper(doc, key, hub, path_));
  HOIST_ASSIGN_OR_RETURN(auto entry, FindAuthEntry(doc, key, hub, path_));
  if (helper) {
    HOIST_ASSIGN_OR_RETURN(std::string program, FindHelper(*helper, path_));
    HOIST_ASSIGN_OR_RETURN(std::optional<AuthConfig> auth,
                           HelperGet(program, key, helper_timeout_));
    // As docker: the helper's answer stands in for the file's, except a registry token that
    // only the file can hold.
    AuthConfig out = auth.value_or(AuthConfig{});
    if (entry.second != nullptr) {
      HOIST_ASSIGN_OR_RETURN(out.registry_token,
                             StringField(*entry.second, "registrytoken", path_,
                                         KeyPath("auths", entry.first, "registrytoken")));
    }
    if (out.empty()) return std::optional<AuthConfig>();
    return std::optional<AuthConfig>(std::move(out));
  }
  if (entry.second == nullptr) return std::optional<AuthConfig>();
  HOIST_ASSIGN_OR_RETURN(AuthConfig auth, DecodeAuthEntry(*entry.second, entry.first, path_));
  if (auth.empty()) return std::optional<AuthConfig>();
  return std::optional<AuthConfig>(std::move(auth));
}

Status DockerConfigCredentials::Store(std::string_view host, const AuthConfig& auth) {
  const std::string key = CredentialKey(host);
  const bool hub = IsHubName(host);
  FileSystem* fs = PosixFileSystem();
  HOIST_ASSIGN_OR_RETURN(Json doc, ReadConfig(fs, path_));
  HOIST_ASSIGN_OR_RETURN(bool existed, fs->Exists(path_));
  const Json before = doc;
  HOIST_ASSIGN_OR_RETURN(std::optional<HelperChoice> helper, ChooseHelper(doc, key, hub, path_));
  HOIST_TRY(ObjectSection(doc, "auths", path_));
  Json entry = Json::object();
  if (helper) {
    HOIST_ASSIGN_OR_RETURN(std::string program, FindHelper(*helper, path_));
    HOIST_TRY(HelperStore(program, key, auth, helper_timeout_));
    // Docker leaves an empty entry: the file then lists the registries logged in to, and a
    // plain-text password that an earlier login left there is gone.
  } else {
    if (!auth.username.empty() || !auth.password.empty()) {
      entry["auth"] = Base64Encode(auth.username + ":" + auth.password);
    }
    if (!auth.identity_token.empty()) entry["identitytoken"] = auth.identity_token;
    if (!auth.registry_token.empty()) entry["registrytoken"] = auth.registry_token;
  }
  doc["auths"][key] = std::move(entry);
  if (existed && doc == before) return OkStatus();
  return WriteConfig(fs, path_, doc);
}

Status DockerConfigCredentials::Erase(std::string_view host) {
  const std::string key = CredentialKey(host);
  const bool hub = IsHubName(host);
  FileSystem* fs = PosixFileSystem();
  HOIST_ASSIGN_OR_RETURN(Json doc, ReadConfig(fs, path_));
  HOIST_ASSIGN_OR_RETURN(std::optional<HelperChoice> helper, ChooseHelper(doc, key, hub, path_));
  HOIST_TRY(ObjectSection(doc, "auths", path_));
  bool erased = false;
  if (helper) {
    HOIST_ASSIGN_OR_RETURN(std::string program, FindHelper(*helper, path_));
    HOIST_ASSIGN_OR_RETURN(erased, HelperErase(program, key, helper_timeout_));
  }
  bool changed = false;
  if (auto auths = doc.find("auths"); auths != doc.end() && auths->is_object()) {
    for (auto it = auths->begin(); it != auths->end();) {
      if (KeyMatches(it.key(), key, hub)) {
        it = auths->erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }
  if (changed) HOIST_TRY(WriteConfig(fs, path_, doc));
  if (!erased && !changed) {
    return MakeError(Code::kNotFound, fmt::format("not logged in to {}", host));
  }
  return OkStatus();
}

}  // namespace hoist::registry
