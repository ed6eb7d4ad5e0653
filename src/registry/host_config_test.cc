#include "registry/host_config.h"

#include <cstdlib>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/scoped_env.h"
#include "base/testing/test_files.h"

namespace hoist::registry {
namespace {


RegistryConfig MustParse(std::string_view text, std::string_view origin = "hoist.toml") {
  auto config = RegistryConfig::Parse(text, origin);
  EXPECT_TRUE(config) << config.error().message();
  return config ? *config : RegistryConfig();
}

std::string ParseError(std::string_view text, std::string_view origin = "hoist.toml") {
  auto config = RegistryConfig::Parse(text, origin);
  EXPECT_FALSE(config) << "parsed:\n" << text;
  if (config) return "";
  EXPECT_EQ(config.error().code(), Code::kInvalidArgument);
  return config.error().message();
}

TEST(HostConfigTest, EmptyFileIsDefaults) {
  RegistryConfig config = MustParse("");
  HostConfig hub = config.ForHost("docker.io");
  EXPECT_TRUE(hub.mirrors.empty());
  EXPECT_FALSE(hub.plain_http);
  EXPECT_FALSE(hub.insecure);
  EXPECT_TRUE(hub.ca_files.empty());
  EXPECT_EQ(config.origin(), "hoist.toml");
  EXPECT_EQ(RegistryConfig().origin(), "");
}

TEST(HostConfigTest, ParsesEveryKey) {
  RegistryConfig config = MustParse(R"(
[registry."docker.io"]
  mirrors = ["127.0.0.1:5000", "harbor.example.com/proxy.docker.io", "[fd00::1]:5000"]
[registry."127.0.0.1:5000"]
  http = true
  insecure = true
  ca = ["/etc/hoist/certs/ca.pem", "/etc/hoist/certs/other.pem"]
[registry."registry.example.com:8443"]
  insecure = true
)");
  HostConfig hub = config.ForHost("docker.io");
  EXPECT_EQ(hub.mirrors,
            (std::vector<std::string>{"127.0.0.1:5000", "harbor.example.com/proxy.docker.io",
                                      "[fd00::1]:5000"}));
  EXPECT_FALSE(hub.plain_http);

  HostConfig local = config.ForHost("127.0.0.1:5000");
  EXPECT_TRUE(local.plain_http);
  EXPECT_TRUE(local.insecure);
  EXPECT_EQ(local.ca_files,
            (std::vector<std::string>{"/etc/hoist/certs/ca.pem", "/etc/hoist/certs/other.pem"}));

  HostConfig other = config.ForHost("registry.example.com:8443");
  EXPECT_FALSE(other.plain_http);
  EXPECT_TRUE(other.insecure);

  HostConfig unknown = config.ForHost("ghcr.io");
  EXPECT_FALSE(unknown.plain_http);
  EXPECT_FALSE(unknown.insecure);
  EXPECT_TRUE(unknown.mirrors.empty());
}

TEST(HostConfigTest, InlineTablesAndDottedKeysWork) {
  RegistryConfig config = MustParse(R"(
registry = { "ghcr.io" = { mirrors = ["mirror.local"] } }
)");
  EXPECT_EQ(config.ForHost("ghcr.io").mirrors, std::vector<std::string>{"mirror.local"});
  RegistryConfig dotted = MustParse(R"(
[registry]
"quay.io".http = true
)");
  EXPECT_TRUE(dotted.ForHost("quay.io").plain_http);
}

TEST(HostConfigTest, OtherSectionsAreIgnored) {
  RegistryConfig config = MustParse(R"(
debug = true
[worker.oci]
  gc = false
  anything = [1, 2]
[registry."docker.io"]
  mirrors = ["m.local"]
)");
  EXPECT_EQ(config.ForHost("docker.io").mirrors, std::vector<std::string>{"m.local"});
}

TEST(HostConfigTest, LoopbackHostsSpeakPlainHttpByDefault) {
  RegistryConfig config = MustParse("");
  for (const char* host : {"localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000",
                           "127.1.2.3:443", "[::1]", "[::1]:5000"}) {
    EXPECT_TRUE(config.ForHost(host).plain_http) << host;
  }
  for (const char* host : {"docker.io", "10.0.0.1:5000", "localhost.example.com:5000",
                           "[fd00::1]:5000", "registry.local"}) {
    EXPECT_FALSE(config.ForHost(host).plain_http) << host;
  }
}

TEST(HostConfigTest, FileOverridesLoopbackDefault) {
  RegistryConfig config = MustParse(R"(
[registry."localhost:5000"]
  http = false
  ca = ["/certs/local.pem"]
[registry."127.0.0.1:5000"]
  insecure = true
[registry."registry.local"]
  http = true
)");
  EXPECT_FALSE(config.ForHost("localhost:5000").plain_http);
  EXPECT_EQ(config.ForHost("localhost:5000").ca_files,
            std::vector<std::string>{"/certs/local.pem"});
  // Saying nothing of `http` keeps the default.
  EXPECT_TRUE(config.ForHost("127.0.0.1:5000").plain_http);
  EXPECT_TRUE(config.ForHost("127.0.0.1:5000").insecure);
  EXPECT_TRUE(config.ForHost("registry.local").plain_http);
}

TEST(HostConfigTest, DockerHubNamesShareOneTable) {
  RegistryConfig config = MustParse(R"(
[registry."docker.io"]
  mirrors = ["mirror.local:5000"]
)");
  for (const char* host : {"docker.io", "index.docker.io", "registry-1.docker.io"}) {
    EXPECT_EQ(config.ForHost(host).mirrors, std::vector<std::string>{"mirror.local:5000"}) << host;
  }
  // The exact name wins.
  RegistryConfig both = MustParse(R"(
[registry."docker.io"]
  mirrors = ["a.local"]
[registry."registry-1.docker.io"]
  mirrors = ["b.local"]
)");
  EXPECT_EQ(both.ForHost("registry-1.docker.io").mirrors, std::vector<std::string>{"b.local"});
  EXPECT_EQ(both.ForHost("index.docker.io").mirrors, std::vector<std::string>{"a.local"});
}

TEST(HostConfigTest, RelativeCaPathsAreBesideTheFile) {
  const std::string text = R"(
[registry."r.example.com"]
  ca = ["certs/ca.pem", "/abs/ca.pem"]
)";
  EXPECT_EQ(MustParse(text, "/etc/hoist/hoist.toml").ForHost("r.example.com").ca_files,
            (std::vector<std::string>{"/etc/hoist/certs/ca.pem", "/abs/ca.pem"}));
  EXPECT_EQ(MustParse(text, "conf/hoist.toml").ForHost("r.example.com").ca_files,
            (std::vector<std::string>{"conf/certs/ca.pem", "/abs/ca.pem"}));
  EXPECT_EQ(MustParse(text, "hoist.toml").ForHost("r.example.com").ca_files,
            (std::vector<std::string>{"certs/ca.pem", "/abs/ca.pem"}));
}

TEST(HostConfigTest, WrongTypesNameFileLineAndKey) {
  EXPECT_EQ(ParseError("# mirrors\n[registry.\"docker.io\"]\nmirrors = \"127.0.0.1:5000\"\n"),
            "hoist.toml:3: registry.\"docker.io\".mirrors: expected an array of strings");
  EXPECT_EQ(ParseError("[registry.\"docker.io\"]\nmirrors = [\n  \"a.local\",\n  5,\n]\n"),
            "hoist.toml:4: registry.\"docker.io\".mirrors: expected an array of strings");
  EXPECT_EQ(ParseError("[registry.\"r.local\"]\nhttp = \"yes\"\n"),
            "hoist.toml:2: registry.\"r.local\".http: expected true or false");
  EXPECT_EQ(ParseError("[registry.\"r.local\"]\ninsecure = 1\n"),
            "hoist.toml:2: registry.\"r.local\".insecure: expected true or false");
  EXPECT_EQ(ParseError("[registry.\"r.local\"]\nca = \"/ca.pem\"\n"),
            "hoist.toml:2: registry.\"r.local\".ca: expected an array of strings");
  EXPECT_EQ(ParseError("[registry.\"r.local\"]\nca = [\"\"]\n"),
            "hoist.toml:2: registry.\"r.local\".ca: empty path");
  EXPECT_EQ(ParseError("registry = 5\n"),
            "hoist.toml:1: registry: expected a table of hosts ([registry.\"HOST\"])");
  EXPECT_EQ(ParseError("[registry]\n\"r.local\" = true\n"),
            "hoist.toml:2: registry.\"r.local\": expected a table");
}

TEST(HostConfigTest, UnknownKeysAreErrors) {
  EXPECT_EQ(ParseError("\n[registry.\"docker.io\"]\n  mirror = [\"m.local\"]\n"),
            "hoist.toml:3: registry.\"docker.io\".mirror: unknown key (expected mirrors, http, "
            "insecure or ca)");
  // An unquoted host name with dots nests tables; the message says how to write it.
  const std::string nested = ParseError("[registry.docker.io]\nmirrors = [\"m.local\"]\n");
  EXPECT_NE(nested.find("hoist.toml:1: registry.\"docker\".io: unknown key"), std::string::npos)
      << nested;
  EXPECT_NE(nested.find("[registry.\"docker.io\"]"), std::string::npos) << nested;
}

TEST(HostConfigTest, BadHostsAndMirrorsAreErrors) {
  EXPECT_EQ(ParseError("[registry.\"https://r.local\"]\nhttp = true\n"),
            "hoist.toml:1: registry.\"https://r.local\": expected a registry host (HOST or "
            "HOST:PORT, without a scheme or path)");
  EXPECT_NE(ParseError("[registry.\"r.local:99999\"]\n").find("expected a registry host"),
            std::string::npos);
  const std::string scheme =
      ParseError("[registry.\"docker.io\"]\nmirrors = [\"https://mirror.local\"]\n");
  EXPECT_NE(scheme.find("hoist.toml:2: registry.\"docker.io\".mirrors: \"https://mirror.local\" "
                        "is not HOST[:PORT][/PATH] (write the mirror without a scheme"),
            std::string::npos)
      << scheme;
  EXPECT_NE(ParseError("[registry.\"docker.io\"]\nmirrors = [\"\"]\n").find("is not HOST"),
            std::string::npos);
  EXPECT_NE(ParseError("[registry.\"docker.io\"]\nmirrors = [\"m.local/a b\"]\n").find("is not"),
            std::string::npos);
}

TEST(HostConfigTest, SyntaxErrorsNameFileAndLine) {
  const std::string message =
      ParseError("[registry.\"docker.io\"]\nmirrors = [\"a\"\n", "/etc/hoist/hoist.toml");
  EXPECT_EQ(message.rfind("/etc/hoist/hoist.toml:", 0), 0u) << message;
  const std::string dup = ParseError("[registry.\"a.io\"]\nhttp = true\nhttp = false\n");
  EXPECT_EQ(dup.rfind("hoist.toml:3: ", 0), 0u) << dup;
}

TEST(HostConfigTest, IsLoopbackHost) {
  for (const char* host :
       {"localhost", "LocalHost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000",
        "127.255.255.254", "127.1.2.3:1", "[::1]", "[::1]:5000", "::1", "[0:0:0:0:0:0:0:1]:80"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host :
       {"", "docker.io", "128.0.0.1", "10.127.0.1", "127.0.0", "127.0.0.1.2", "127.0.0.256",
        "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:70000", "localhost.example.com", "mylocalhost",
        "localhost:", "[::2]", "[::1", "[::1]x", "::2", "127..0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(HostConfigTest, LoadExplicitFile) {
  auto dir = TempDir::Create("hoist-hostcfg-");
  ASSERT_TRUE(dir);
  const std::string path = dir->path() + "/custom.toml";
  WriteTestFile(path, "[registry.\"r.local\"]\nhttp = true\n");
  auto config = RegistryConfig::Load(path);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->origin(), path);
  EXPECT_TRUE(config->ForHost("r.local").plain_http);

  auto missing = RegistryConfig::Load(dir->path() + "/nope.toml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_EQ(missing.error().message(), dir->path() + "/nope.toml: no such configuration file");

  WriteTestFile(path, "[registry.\"r.local\"]\nhttp = 3\n");
  auto bad = RegistryConfig::Load(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), path + ":2: registry.\"r.local\".http: expected true or false");
}

TEST(HostConfigTest, LoadDefaultFileFromXdgConfigHome) {
  auto dir = TempDir::Create("hoist-hostcfg-");
  ASSERT_TRUE(dir);
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(dir->path() + "/hoist"));
  const std::string path = dir->path() + "/hoist/hoist.toml";
  WriteTestFile(path, "[registry.\"docker.io\"]\nmirrors = [\"m.local\"]\n");
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", dir->path());
    auto config = RegistryConfig::Load("");
    ASSERT_TRUE(config) << config.error().message();
    EXPECT_EQ(config->origin(), path);
    EXPECT_EQ(config->ForHost("docker.io").mirrors, std::vector<std::string>{"m.local"});
  }
  {
    // Without XDG_CONFIG_HOME: ~/.config.
    ScopedEnv xdg("XDG_CONFIG_HOME", std::nullopt);
    ASSERT_TRUE(PosixFileSystem()->MakeDirs(dir->path() + "/home/.config/hoist"));
    WriteTestFile(dir->path() + "/home/.config/hoist/hoist.toml",
                  "[registry.\"q.local\"]\nhttp = true\n");
    ScopedEnv home("HOME", dir->path() + "/home");
    auto config = RegistryConfig::Load("");
    ASSERT_TRUE(config) << config.error().message();
    EXPECT_EQ(config->origin(), dir->path() + "/home/.config/hoist/hoist.toml");
    EXPECT_TRUE(config->ForHost("q.local").plain_http);
  }
  {
    // No user file: the system one if there is one, else nothing at all.
    ScopedEnv xdg("XDG_CONFIG_HOME", dir->path() + "/empty");
    auto config = RegistryConfig::Load("");
    ASSERT_TRUE(config) << config.error().message();
    EXPECT_TRUE(config->origin() == "" || config->origin() == "/etc/hoist/hoist.toml")
        << config->origin();
  }
}

}  // namespace
}  // namespace hoist::registry
