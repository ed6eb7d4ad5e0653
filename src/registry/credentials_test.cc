#include "registry/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/scoped_env.h"
#include "base/testing/test_files.h"
#include "base/unique_fd.h"

namespace hoist::registry {
namespace {

using nlohmann::ordered_json;

constexpr char kHubKey[] = "https://index.docker.io/v1/";

// base64("alice:s3cret-pw") and friends, spelled out so the tests do not depend on the encoder
// they check.
constexpr char kAliceAuth[] = "YWxpY2U6czNjcmV0LXB3";  // alice:s3cret-pw
constexpr char kBobAuth[] = "Ym9iOmh1bnRlcjI=";        // bob:hunter2


// A credential helper speaking docker-credential-helpers' protocol, keeping its entries as
// files in `<tmp>/store` (one per server URL) and logging each call's action and stdin.
constexpr char kFakeHelper[] = R"sh(#!/bin/sh
store="$HELPER_STORE"
printf '%s\n' "$1" >> "$store/calls"
cat > "$store/stdin.$1"
input=$(cat "$store/stdin.$1")
name() { printf '%s' "$1" | tr -c 'A-Za-z0-9.-' '_'; }
case "$1" in
get)
  f="$store/entry.$(name "$input")"
  if [ -f "$f" ]; then cat "$f"; exit 0; fi
  echo "credentials not found in native keychain"; exit 1;;
store)
  url=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
  printf '%s' "$input" > "$store/entry.$(name "$url")";;
erase)
  f="$store/entry.$(name "$input")"
  if [ -f "$f" ]; then rm "$f"; exit 0; fi
  echo "credentials not found in native keychain"; exit 1;;
*)
  echo "unknown action $1"; exit 2;;
esac
)sh";

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("hoist-creds-");
    ASSERT_TRUE(dir);
    tmp_ = std::move(*dir);
    config_dir_ = tmp_.path() + "/docker";
    bin_dir_ = tmp_.path() + "/bin";
    store_dir_ = tmp_.path() + "/store";
    ASSERT_TRUE(PosixFileSystem()->MakeDirs(config_dir_));
    ASSERT_TRUE(PosixFileSystem()->MakeDirs(bin_dir_));
    ASSERT_TRUE(PosixFileSystem()->MakeDirs(store_dir_));
    const char* path = std::getenv("PATH");
    path_env_.emplace("PATH", bin_dir_ + ":" + (path ? path : "/usr/bin:/bin"));
    store_env_.emplace("HELPER_STORE", store_dir_);
    AddHelper("fake", kFakeHelper);
  }

  void AddHelper(const std::string& name, const std::string& script) {
    const std::string path = bin_dir_ + "/docker-credential-" + name;
    WriteTestFile(path, script);
    ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
  }

  // Puts an entry in the fake helper's store, as its `store` would.
  void HelperHas(const std::string& url, const std::string& username, const std::string& secret) {
    std::string name;
    for (char c : url)
      name += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
    WriteTestFile(
        store_dir_ + "/entry." + name,
        nlohmann::json{{"ServerURL", url}, {"Username", username}, {"Secret", secret}}.dump());
  }

  std::string HelperCalls() {
    auto st = PosixFileSystem()->Stat(store_dir_ + "/calls");
    return st && *st ? ReadTestFile(store_dir_ + "/calls") : "";
  }
  std::string HelperStdin(const std::string& action) {
    return ReadTestFile(store_dir_ + "/stdin." + action);
  }

  std::string ConfigPath() const { return config_dir_ + "/config.json"; }
  void WriteConfig(const ordered_json& j) { WriteTestFile(ConfigPath(), j.dump(2)); }
  ordered_json ReadConfig() { return ordered_json::parse(ReadTestFile(ConfigPath())); }

  DockerConfigCredentials Creds(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return DockerConfigCredentials(config_dir_, timeout);
  }

  AuthConfig MustGet(std::string_view host) {
    auto creds = Creds();
    auto got = creds.Get(host);
    EXPECT_TRUE(got) << host << ": " << got.error().message();
    EXPECT_TRUE(got && *got) << host << ": no credentials";
    return got && *got ? **got : AuthConfig{};
  }
  void ExpectNone(std::string_view host) {
    auto creds = Creds();
    auto got = creds.Get(host);
    ASSERT_TRUE(got) << host << ": " << got.error().message();
    EXPECT_FALSE(*got) << host << ": unexpected credentials for " << (*got)->username;
  }
  Error GetError(std::string_view host,
                 std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto creds = Creds(timeout);
    auto got = creds.Get(host);
    EXPECT_FALSE(got) << host << ": expected an error";
    return got ? Error(Code::kOk, "") : got.error();
  }

  TempDir tmp_;
  std::string config_dir_, bin_dir_, store_dir_;
  std::optional<ScopedEnv> path_env_, store_env_;
};

TEST(CredentialKeyTest, DockerHubAndOtherHosts) {
  for (const char* hub : {"docker.io", "index.docker.io", "registry-1.docker.io",
                          "https://index.docker.io/v1/", "https://registry-1.docker.io/v2/"}) {
    EXPECT_EQ(CredentialKey(hub), kHubKey) << hub;
  }
  EXPECT_EQ(CredentialKey("ghcr.io"), "ghcr.io");
  EXPECT_EQ(CredentialKey("127.0.0.1:5000"), "127.0.0.1:5000");
  EXPECT_EQ(CredentialKey("https://registry.example.com:5000/v2/"), "registry.example.com:5000");
  EXPECT_EQ(CredentialKey("http://[::1]:5000"), "[::1]:5000");
  EXPECT_EQ(CredentialKey("notdocker.io"), "notdocker.io");
}

TEST_F(CredentialsTest, NoFileMeansNoCredentials) {
  ExpectNone("docker.io");
  ExpectNone("ghcr.io");
  // An empty file is docker's empty configuration too.
  WriteTestFile(ConfigPath(), "");
  ExpectNone("ghcr.io");
}

TEST_F(CredentialsTest, DefaultDirectoryFromEnvironment) {
  {
    ScopedEnv docker_config("DOCKER_CONFIG", config_dir_);
    EXPECT_EQ(DockerConfigCredentials().path(), config_dir_ + "/config.json");
  }
  ScopedEnv docker_config("DOCKER_CONFIG", std::nullopt);
  ScopedEnv home("HOME", "/home/someone");
  EXPECT_EQ(DockerConfigCredentials().path(), "/home/someone/.docker/config.json");
}

TEST_F(CredentialsTest, AuthsAuthIsBase64UserPassword) {
  WriteConfig({{"auths", {{"ghcr.io", {{"auth", kAliceAuth}}}}}});
  AuthConfig auth = MustGet("ghcr.io");
  EXPECT_EQ(auth.username, "alice");
  EXPECT_EQ(auth.password, "s3cret-pw");
  EXPECT_EQ(auth.identity_token, "");
  ExpectNone("quay.io");
}

TEST_F(CredentialsTest, AuthsFieldsAsDockerReadsThem) {
  WriteConfig({{"auths",
                {
                    // `auth` wins over username/password.
                    {"a.example.com", {{"auth", kAliceAuth}, {"username", "x"}, {"password", "y"}}},
                    {"b.example.com", {{"username", "carol"}, {"password", "pw"}}},
                    {"c.example.com", {{"auth", kBobAuth}, {"identitytoken", "refresh-tok"}}},
                    {"d.example.com", {{"registrytoken", "bearer-tok"}}},
                    {"e.example.com", ordered_json::object()},
                    {"f.example.com", {{"auth", "dXNlcjpwYXNzAAAA"}}},  // user:pass\0\0\0
                    {"g.example.com", {{"auth", ""}, {"email", "x@y"}}},
                }}});
  AuthConfig a = MustGet("a.example.com");
  EXPECT_EQ(a.username, "alice");
  EXPECT_EQ(a.password, "s3cret-pw");
  AuthConfig b = MustGet("b.example.com");
  EXPECT_EQ(b.username, "carol");
  EXPECT_EQ(b.password, "pw");
  AuthConfig c = MustGet("c.example.com");
  EXPECT_EQ(c.username, "bob");
  EXPECT_EQ(c.identity_token, "refresh-tok");
  AuthConfig d = MustGet("d.example.com");
  EXPECT_EQ(d.registry_token, "bearer-tok");
  EXPECT_TRUE(d.username.empty());
  // `{}` is what docker leaves beside a helper: nothing.
  ExpectNone("e.example.com");
  EXPECT_EQ(MustGet("f.example.com").password, "pass");
  ExpectNone("g.example.com");
}

TEST_F(CredentialsTest, DockerHubKeyAndAliases) {
  WriteConfig({{"auths", {{kHubKey, {{"auth", kAliceAuth}}}}}});
  for (const char* host : {"docker.io", "index.docker.io", "registry-1.docker.io"}) {
    EXPECT_EQ(MustGet(host).username, "alice") << host;
  }
  // Other spellings of the Hub key work too.
  for (const char* key : {"docker.io", "index.docker.io", "registry-1.docker.io",
                          "https://index.docker.io/v2/", "https://registry-1.docker.io"}) {
    WriteConfig({{"auths", {{key, {{"auth", kBobAuth}}}}}});
    EXPECT_EQ(MustGet("docker.io").username, "bob") << key;
    EXPECT_EQ(MustGet("registry-1.docker.io").username, "bob") << key;
  }
  // The key docker writes wins over an alias, wherever it is in the file.
  WriteConfig(
      {{"auths", {{"docker.io", {{"auth", kBobAuth}}}, {kHubKey, {{"auth", kAliceAuth}}}}}});
  EXPECT_EQ(MustGet("docker.io").username, "alice");
  // A host that merely ends like Docker Hub is not it.
  ExpectNone("notdocker.io");
}

TEST_F(CredentialsTest, LegacyUrlKeysMatchTheirHost) {
  WriteConfig({{"auths",
                {{"https://registry.example.com:5000", {{"auth", kAliceAuth}}},
                 {"http://other.example.com/v1/", {{"auth", kBobAuth}}}}}});
  EXPECT_EQ(MustGet("registry.example.com:5000").username, "alice");
  EXPECT_EQ(MustGet("other.example.com").username, "bob");
  ExpectNone("registry.example.com");
  // The exact key comes first.
  WriteConfig({{"auths",
                {{"https://r.example.com", {{"auth", kAliceAuth}}},
                 {"r.example.com", {{"auth", kBobAuth}}}}}});
  EXPECT_EQ(MustGet("r.example.com").username, "bob");
}

TEST_F(CredentialsTest, MalformedEntriesAreErrorsWithoutSecrets) {
  WriteConfig({{"auths",
                {{"a.example.com", {{"auth", "not base64 s3cret!"}}},
                 {"b.example.com", {{"auth", "czNjcmV0LW5vLWNvbG9u"}}},  // s3cret-no-colon
                 {"c.example.com", "s3cret-string"},
                 {"d.example.com", {{"password", 42}}},
                 {"ok.example.com", {{"auth", kAliceAuth}}}}}});
  Error a = GetError("a.example.com");
  EXPECT_EQ(a.message(), ConfigPath() + ": auths.\"a.example.com\".auth: not valid base64");
  Error b = GetError("b.example.com");
  EXPECT_EQ(b.message(),
            ConfigPath() + ": auths.\"b.example.com\".auth: expected base64 of USERNAME:PASSWORD");
  Error c = GetError("c.example.com");
  EXPECT_EQ(c.message(), ConfigPath() + ": auths.\"c.example.com\": expected an object");
  Error d = GetError("d.example.com");
  EXPECT_EQ(d.message(), ConfigPath() + ": auths.\"d.example.com\".password: expected a string");
  for (const Error& e : {a, b, c, d}) {
    EXPECT_EQ(e.message().find("s3cret"), std::string::npos) << e.message();
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
  }
  // A broken entry for another host does not stand in the way.
  EXPECT_EQ(MustGet("ok.example.com").username, "alice");
}

TEST_F(CredentialsTest, InvalidJsonNamesLineNotText) {
  WriteTestFile(ConfigPath(), "{\n  \"auths\": {\n    \"a.io\": {\"auth\": \"s3cret\" oops}\n}}\n");
  Error e = GetError("a.io");
  EXPECT_EQ(e.message(), ConfigPath() + ":3: invalid JSON (docker's config file)");
  EXPECT_EQ(e.message().find("s3cret"), std::string::npos);
  WriteTestFile(ConfigPath(), "[1, 2]");
  EXPECT_EQ(GetError("a.io").message(), ConfigPath() + ": expected a JSON object");
  WriteTestFile(ConfigPath(), "{\"credsStore\": 5}");
  EXPECT_EQ(GetError("a.io").message(), ConfigPath() + ": credsStore: expected a string");
  WriteTestFile(ConfigPath(), "{\"auths\": []}");
  EXPECT_EQ(GetError("a.io").message(), ConfigPath() + ": auths: expected an object");
}

TEST_F(CredentialsTest, CredHelperAnswers) {
  WriteConfig({{"credHelpers", {{"ghcr.io", "fake"}}},
               {"auths", {{"ghcr.io", {{"auth", kBobAuth}}}, {"quay.io", {{"auth", kBobAuth}}}}}});
  HelperHas("ghcr.io", "alice", "s3cret-pw");
  AuthConfig auth = MustGet("ghcr.io");
  EXPECT_EQ(auth.username, "alice");
  EXPECT_EQ(auth.password, "s3cret-pw");
  EXPECT_EQ(HelperCalls(), "get\n");
  EXPECT_EQ(HelperStdin("get"), "ghcr.io");  // the server URL, without a newline
  // Other hosts go to auths.
  EXPECT_EQ(MustGet("quay.io").username, "bob");
  EXPECT_EQ(HelperCalls(), "get\n");
}

TEST_F(CredentialsTest, TokenUsernameMeansIdentityToken) {
  WriteConfig({{"credsStore", "fake"}});
  HelperHas("ghcr.io", "<token>", "refresh-tok");
  AuthConfig auth = MustGet("ghcr.io");
  EXPECT_EQ(auth.identity_token, "refresh-tok");
  EXPECT_EQ(auth.username, "");
  EXPECT_EQ(auth.password, "");
}

TEST_F(CredentialsTest, LookupOrderCredHelpersThenCredsStoreThenAuths) {
  AddHelper("other",
            "#!/bin/sh\ncat >/dev/null\n"
            "echo '{\"ServerURL\":\"x\",\"Username\":\"from-other\",\"Secret\":\"p\"}'\n");
  WriteConfig({{"credsStore", "other"},
               {"credHelpers", {{"ghcr.io", "fake"}, {"plain.example.com", ""}}},
               {"auths",
                {{"plain.example.com", {{"auth", kBobAuth}}}, {"quay.io", {{"auth", kBobAuth}}}}}});
  HelperHas("ghcr.io", "alice", "pw");
  EXPECT_EQ(MustGet("ghcr.io").username, "alice");          // credHelpers
  EXPECT_EQ(MustGet("quay.io").username, "from-other");     // credsStore, not auths
  EXPECT_EQ(MustGet("plain.example.com").username, "bob");  // "" opts out of credsStore
}

TEST_F(CredentialsTest, DockerHubHelperGetsTheIndexUrl) {
  WriteConfig({{"credHelpers", {{kHubKey, "fake"}}}});
  HelperHas(kHubKey, "alice", "pw");
  EXPECT_EQ(MustGet("docker.io").username, "alice");
  EXPECT_EQ(HelperStdin("get"), kHubKey);
  EXPECT_EQ(MustGet("registry-1.docker.io").username, "alice");
  // credHelpers under another Hub name serve Hub too.
  WriteConfig({{"credHelpers", {{"docker.io", "fake"}}}});
  EXPECT_EQ(MustGet("docker.io").username, "alice");
}

TEST_F(CredentialsTest, HelperNotFoundMeansNoneEvenWithAuths) {
  // As docker: the helper answers for the host; the plain-text entry is not consulted,
  // except for a registry token that only the file can hold.
  WriteConfig(
      {{"credsStore", "fake"},
       {"auths",
        {{"ghcr.io", {{"auth", kAliceAuth}}}, {"quay.io", {{"registrytoken", "bearer-tok"}}}}}});
  ExpectNone("ghcr.io");
  EXPECT_EQ(MustGet("quay.io").registry_token, "bearer-tok");
  EXPECT_EQ(MustGet("quay.io").username, "");
}

TEST_F(CredentialsTest, MissingHelperIsAnErrorNamingIt) {
  WriteConfig({{"credsStore", "nope"}});
  Error e = GetError("ghcr.io");
  EXPECT_EQ(e.code(), Code::kFailedPrecondition);
  EXPECT_EQ(e.message(),
            "credential helper docker-credential-nope not found in $PATH "
            "(credsStore in " +
                ConfigPath() + ")");
  WriteConfig({{"credHelpers", {{"ghcr.io", "gone"}}}});
  EXPECT_NE(GetError("ghcr.io").message().find(
                "docker-credential-gone not found in $PATH (credHelpers.\"ghcr.io\" in "),
            std::string::npos);
  // A name that is a path is refused before anything runs.
  WriteConfig({{"credsStore", "../../bin/sh"}});
  EXPECT_EQ(GetError("ghcr.io").message(),
            ConfigPath() + ": credsStore: invalid credential helper name \"../../bin/sh\"");
  // A helper that is not executable is as good as missing.
  WriteTestFile(bin_dir_ + "/docker-credential-noexec", "#!/bin/sh\n");
  WriteConfig({{"credsStore", "noexec"}});
  EXPECT_EQ(GetError("ghcr.io").code(), Code::kFailedPrecondition);
}

TEST_F(CredentialsTest, HelperFailureIsAnError) {
  AddHelper("broken",
            "#!/bin/sh\ncat >/dev/null\necho 'keychain locked'\necho detail >&2\nexit 3\n");
  WriteConfig({{"credsStore", "broken"}});
  Error e = GetError("ghcr.io");
  EXPECT_EQ(e.message(), "docker-credential-broken get ghcr.io: exit status 3: keychain locked");
  // Only stderr: that is the message.
  AddHelper("quiet", "#!/bin/sh\ncat >/dev/null\necho 'on stderr' >&2\nexit 1\n");
  WriteConfig({{"credsStore", "quiet"}});
  EXPECT_EQ(GetError("ghcr.io").message(),
            "docker-credential-quiet get ghcr.io: exit status 1: on stderr");
  // Killed by a signal.
  AddHelper("killed", "#!/bin/sh\nkill -9 $$\n");
  WriteConfig({{"credsStore", "killed"}});
  EXPECT_EQ(GetError("ghcr.io").message(), "docker-credential-killed get ghcr.io: exit status 137");
}

TEST_F(CredentialsTest, HelperFailureNeverShowsCredentials) {
  AddHelper("leaky",
            "#!/bin/sh\ncat >/dev/null\n"
            "echo '{\"ServerURL\":\"ghcr.io\",\"Username\":\"u\",\"Secret\":\"s3cret\"}'\n"
            "exit 1\n");
  WriteConfig({{"credsStore", "leaky"}});
  Error e = GetError("ghcr.io");
  EXPECT_EQ(e.message().find("s3cret"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("docker-credential-leaky get ghcr.io: exit status 1"),
            std::string::npos);
}

TEST_F(CredentialsTest, HelperGarbageIsAnError) {
  AddHelper("garbage", "#!/bin/sh\ncat >/dev/null\necho 'not json s3cret'\n");
  WriteConfig({{"credsStore", "garbage"}});
  Error e = GetError("ghcr.io");
  EXPECT_EQ(e.message(),
            "docker-credential-garbage get ghcr.io: invalid answer (expected JSON "
            "with ServerURL, Username and Secret)");
}

TEST_F(CredentialsTest, HelperTimeoutKillsIt) {
  AddHelper("slow", "#!/bin/sh\nexec sleep 30\n");
  WriteConfig({{"credsStore", "slow"}});
  const auto start = std::chrono::steady_clock::now();
  Error e = GetError("ghcr.io", std::chrono::milliseconds(300));
  EXPECT_EQ(e.code(), Code::kDeadlineExceeded);
  EXPECT_NE(e.message().find("docker-credential-slow get: no answer after"), std::string::npos)
      << e.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(CredentialsTest, HelperOutputIsBounded) {
  AddHelper("chatty", "#!/bin/sh\ncat >/dev/null\nexec head -c 3000000 /dev/zero\n");
  WriteConfig({{"credsStore", "chatty"}});
  Error e = GetError("ghcr.io");
  EXPECT_EQ(e.code(), Code::kResourceExhausted);
  EXPECT_NE(e.message().find("more than 1048576 bytes"), std::string::npos) << e.message();
}

TEST_F(CredentialsTest, HelperSeesOnlyStdio) {
  // A descriptor opened without O_CLOEXEC does not reach the helper.
  UniqueFd leaked(::open("/dev/null", O_RDONLY));
  ASSERT_TRUE(leaked);
  AddHelper("fds",
            "#!/bin/sh\ncat >/dev/null\n"
            "if [ -e /proc/$$/fd/" +
                std::to_string(leaked.get()) +
                " ]; then "
                "echo 'fd leaked'; exit 1; fi\n"
                "echo '{\"Username\":\"u\",\"Secret\":\"p\"}'\n");
  WriteConfig({{"credsStore", "fds"}});
  EXPECT_EQ(MustGet("ghcr.io").username, "u");
}

TEST_F(CredentialsTest, HelperThatIgnoresStdinIsFine) {
  // Exits without reading: writing its stdin must not kill us with SIGPIPE.
  AddHelper("deaf", "#!/bin/sh\nexit 0\n");
  WriteConfig({{"credsStore", "deaf"}});
  auto creds = Creds();
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(creds.Store("ghcr.io", AuthConfig{.username = "u", .password = "p"}));
  }
}

TEST_F(CredentialsTest, StoreInFileKeepsEverythingElse) {
  WriteTestFile(ConfigPath(), R"({
  "auths": {"quay.io": {"auth": "Ym9iOmh1bnRlcjI=", "email": "bob@example.com"}},
  "psFormat": "table {{.ID}}",
  "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
  "plugins": {"buildx": {"x": "y"}},
  "someFutureKey": [1, {"nested": true}]
})");
  ::chmod(ConfigPath().c_str(), 0644);
  auto creds = Creds();
  ASSERT_TRUE(creds.Store("ghcr.io", AuthConfig{.username = "alice", .password = "s3cret-pw"}));
  ordered_json j = ReadConfig();
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"auths", "psFormat", "proxies", "plugins", "someFutureKey"}));
  EXPECT_EQ(j["auths"]["quay.io"],
            ordered_json({{"auth", kBobAuth}, {"email", "bob@example.com"}}));
  EXPECT_EQ(j["auths"]["ghcr.io"], ordered_json({{"auth", kAliceAuth}}));
  EXPECT_EQ(j["psFormat"], "table {{.ID}}");
  EXPECT_EQ(j["someFutureKey"], ordered_json::parse(R"([1, {"nested": true}])"));
  struct stat st;
  ASSERT_EQ(::stat(ConfigPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(MustGet("ghcr.io").password, "s3cret-pw");
  // Written as docker writes it: tab-indented.
  EXPECT_NE(ReadTestFile(ConfigPath()).find("\n\t\"auths\""), std::string::npos);
}

TEST_F(CredentialsTest, StoreCreatesDirectoryAndFilePrivately) {
  const std::string dir = tmp_.path() + "/new/.docker";
  DockerConfigCredentials creds(dir);
  ASSERT_TRUE(creds.Store("docker.io", AuthConfig{.username = "alice", .password = "s3cret-pw"}));
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((dir + "/config.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ordered_json j = ordered_json::parse(ReadTestFile(dir + "/config.json"));
  EXPECT_EQ(j, ordered_json({{"auths", {{kHubKey, {{"auth", kAliceAuth}}}}}}));
  // No temporary left beside it.
  auto names = PosixFileSystem()->ListDir(dir);
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, std::vector<std::string>{"config.json"});
}

TEST_F(CredentialsTest, StoreTokensAndReplaceEntry) {
  WriteConfig({{"auths", {{"ghcr.io", {{"auth", kBobAuth}, {"email", "old@x"}}}}}});
  auto creds = Creds();
  ASSERT_TRUE(creds.Store(
      "ghcr.io", AuthConfig{.username = "alice", .identity_token = "rt", .registry_token = "bt"}));
  EXPECT_EQ(ReadConfig()["auths"]["ghcr.io"],
            ordered_json({{"auth", "YWxpY2U6"}, {"identitytoken", "rt"}, {"registrytoken", "bt"}}));
  AuthConfig got = MustGet("ghcr.io");
  EXPECT_EQ(got.username, "alice");
  EXPECT_EQ(got.password, "");
  EXPECT_EQ(got.identity_token, "rt");
  EXPECT_EQ(got.registry_token, "bt");
}

TEST_F(CredentialsTest, UnchangedStoreDoesNotRewrite) {
  auto creds = Creds();
  const AuthConfig auth{.username = "alice", .password = "s3cret-pw"};
  ASSERT_TRUE(creds.Store("ghcr.io", auth));
  struct stat before, after;
  ASSERT_EQ(::stat(ConfigPath().c_str(), &before), 0);
  ASSERT_TRUE(creds.Store("ghcr.io", auth));
  ASSERT_EQ(::stat(ConfigPath().c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
}

TEST_F(CredentialsTest, StoreWritesThroughSymlink) {
  const std::string real = tmp_.path() + "/dotfiles/docker-config.json";
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(tmp_.path() + "/dotfiles"));
  WriteTestFile(real, R"({"psFormat": "x"})");
  ASSERT_EQ(::symlink(real.c_str(), ConfigPath().c_str()), 0);
  auto creds = Creds();
  ASSERT_TRUE(creds.Store("ghcr.io", AuthConfig{.username = "alice", .password = "s3cret-pw"}));
  struct stat st;
  ASSERT_EQ(::lstat(ConfigPath().c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(ordered_json::parse(ReadTestFile(real))["auths"]["ghcr.io"]["auth"], kAliceAuth);
}

TEST_F(CredentialsTest, StoreThroughHelper) {
  WriteConfig({{"credsStore", "fake"}, {"auths", {{"ghcr.io", {{"auth", kBobAuth}}}}}});
  auto creds = Creds();
  ASSERT_TRUE(creds.Store("ghcr.io", AuthConfig{.username = "alice", .password = "s3cret-pw"}));
  EXPECT_EQ(
      nlohmann::json::parse(HelperStdin("store")),
      nlohmann::json({{"ServerURL", "ghcr.io"}, {"Username", "alice"}, {"Secret", "s3cret-pw"}}));
  // As docker: an empty entry replaces what the file held.
  EXPECT_EQ(ReadConfig()["auths"]["ghcr.io"], ordered_json::object());
  EXPECT_EQ(ReadTestFile(ConfigPath()).find("s3cret"), std::string::npos);
  EXPECT_EQ(MustGet("ghcr.io").password, "s3cret-pw");

  // Identity tokens go as <token>; Docker Hub under its index URL.
  ASSERT_TRUE(creds.Store("docker.io", AuthConfig{.username = "alice", .identity_token = "rt"}));
  EXPECT_EQ(nlohmann::json::parse(HelperStdin("store")),
            nlohmann::json({{"ServerURL", kHubKey}, {"Username", "<token>"}, {"Secret", "rt"}}));
  EXPECT_EQ(MustGet("registry-1.docker.io").identity_token, "rt");
  EXPECT_TRUE(ReadConfig()["auths"].contains(kHubKey));
}

TEST_F(CredentialsTest, StoreHelperFailureHidesTheSecret) {
  AddHelper("echoer",
            "#!/bin/sh\ninput=$(cat)\necho \"cannot store: $input\" | tr -d '{}\"'\n"
            "exit 1\n");
  WriteConfig({{"credsStore", "echoer"}});
  auto creds = Creds();
  auto st = creds.Store("ghcr.io", AuthConfig{.username = "alice", .password = "s3cret-pw"});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message().find("s3cret-pw"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("docker-credential-echoer store ghcr.io: exit status 1: "
                                      "cannot store:"),
            std::string::npos)
      << st.error().message();
  EXPECT_NE(st.error().message().find("<redacted>"), std::string::npos) << st.error().message();
  // Nothing was written.
  EXPECT_EQ(ReadConfig(), ordered_json({{"credsStore", "echoer"}}));
}

TEST_F(CredentialsTest, EraseFromFileRemovesEveryMatchingKey) {
  WriteTestFile(ConfigPath(), R"({"auths": {
    "https://index.docker.io/v1/": {"auth": "YWxpY2U6czNjcmV0LXB3"},
    "docker.io": {"auth": "YWxpY2U6czNjcmV0LXB3"},
    "ghcr.io": {"auth": "Ym9iOmh1bnRlcjI="},
    "https://ghcr.io": {"auth": "Ym9iOmh1bnRlcjI="},
    "quay.io": {"auth": "Ym9iOmh1bnRlcjI="}
  }, "psFormat": "x"})");
  auto creds = Creds();
  ASSERT_TRUE(creds.Erase("docker.io"));
  ASSERT_TRUE(creds.Erase("ghcr.io"));
  EXPECT_EQ(ReadConfig(),
            ordered_json({{"auths", {{"quay.io", {{"auth", kBobAuth}}}}}, {"psFormat", "x"}}));
  struct stat st;
  ASSERT_EQ(::stat(ConfigPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ExpectNone("docker.io");
  auto again = creds.Erase("ghcr.io");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kNotFound);
  EXPECT_EQ(again.error().message(), "not logged in to ghcr.io");
}

TEST_F(CredentialsTest, EraseWithoutFile) {
  auto creds = Creds();
  auto st = creds.Erase("ghcr.io");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kNotFound);
  auto exists = PosixFileSystem()->Exists(ConfigPath());
  ASSERT_TRUE(exists);
  EXPECT_FALSE(*exists);
}

TEST_F(CredentialsTest, EraseThroughHelper) {
  WriteConfig({{"credsStore", "fake"}});
  auto creds = Creds();
  ASSERT_TRUE(creds.Store("ghcr.io", AuthConfig{.username = "alice", .password = "pw"}));
  ASSERT_TRUE(creds.Erase("ghcr.io"));
  EXPECT_EQ(HelperStdin("erase"), "ghcr.io");
  EXPECT_EQ(ReadConfig(),
            ordered_json({{"credsStore", "fake"}, {"auths", ordered_json::object()}}));
  ExpectNone("ghcr.io");
  auto again = creds.Erase("ghcr.io");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kNotFound);
  // A failing helper is an error, not "not logged in".
  AddHelper("broken", "#!/bin/sh\ncat >/dev/null\necho locked\nexit 1\n");
  WriteConfig({{"credsStore", "broken"}});
  auto failed = creds.Erase("ghcr.io");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(),
            "docker-credential-broken erase ghcr.io: exit status 1: locked");
}

}  // namespace
}  // namespace hoist::registry
