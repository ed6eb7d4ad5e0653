// The registry test infrastructure itself, proven with peers (skopeo, curl) and no hoist code:
// a real registry without auth, with basic auth, with token auth (our issuer), over TLS from
// the test CA, and behind the fault proxy; and nothing left running afterwards.
#include "registry_harness.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "harness.h"

namespace hoist::itest {
namespace {

using nlohmann::json;
using Auth = RegistryOptions::Auth;

// True while `pid` runs (a zombie does not count: it has finished).
bool Running(pid_t pid) {
  std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

bool AllGoneWithin(const std::vector<pid_t>& pids, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    bool any = false;
    for (pid_t p : pids) any = any || Running(p);
    if (!any) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

class RegistryHarness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!TestRegistry::Unavailable().empty() || !HaveTool("skopeo")) return;
    scratch_ = new Scratch();
    digest_ = MakeBaseImage(*scratch_ / "bb", "busybox:1.36");
    // The manifest's blobs, for the byte-level proxy tests.
    json index = json::parse(ReadFileOrEmpty(*scratch_ / "bb/index.json"), nullptr, false);
    if (!index.is_object()) return;
    json manifest = json::parse(
        ReadFileOrEmpty(*scratch_ / ("bb/blobs/sha256/" + digest_.substr(7))), nullptr, false);
    if (!manifest.is_object()) return;
    config_ = manifest["config"]["digest"];
    layer_ = manifest["layers"][0]["digest"];
    layer_size_ = manifest["layers"][0]["size"];
  }
  static void TearDownTestSuite() {
    delete scratch_;
    scratch_ = nullptr;
  }

  void SetUp() override {
    if (std::string why = TestRegistry::Unavailable(); !why.empty()) GTEST_SKIP() << why;
    if (!HaveTool("skopeo")) GTEST_SKIP() << "skopeo not found";
    ASSERT_NE(scratch_, nullptr);
    ASSERT_EQ(digest_.rfind("sha256:", 0), 0u) << "no base image: " << digest_;
  }

  static std::string Layout() { return "oci:" + Quote(*scratch_ / "bb") + ":1.36"; }

  // skopeo without the machine's signature policy and with no stored credentials.
  static RunResult Skopeo(const std::string& args) {
    return Sh("skopeo --insecure-policy " + args);
  }
  static RunResult Push(const std::string& host, const std::string& flags) {
    return Skopeo("copy --retry-times 0 " + flags + " " + Layout() + " docker://" + host +
                  "/itest/busybox:1.36");
  }
  static RunResult Inspect(const std::string& host, const std::string& flags) {
    return Skopeo("inspect --retry-times 0 " + flags + " docker://" + host + "/itest/busybox:1.36");
  }
  static std::string DigestOf(const RunResult& inspect) {
    json j = json::parse(inspect.out, nullptr, false);
    return j.is_object() ? j.value("Digest", "") : "";
  }
  static std::string Creds(const TestRegistry& reg) {
    return Quote(reg.username() + ":" + reg.password());
  }

  static Scratch* scratch_;
  static std::string digest_, config_, layer_;
  static int64_t layer_size_;
};

Scratch* RegistryHarness::scratch_ = nullptr;
std::string RegistryHarness::digest_, RegistryHarness::config_, RegistryHarness::layer_;
int64_t RegistryHarness::layer_size_ = 0;

TEST_F(RegistryHarness, PlainHttpPushAndInspect) {
  auto reg = TestRegistry::Start({});
  ASSERT_NE(reg, nullptr);
  EXPECT_EQ(reg->scheme(), "http");
  EXPECT_EQ(reg->host().rfind("127.0.0.1:", 0), 0u);
  EXPECT_TRUE(reg->username().empty());
  EXPECT_TRUE(reg->ca_file().empty());
  RunResult push = Push(reg->host(), "--dest-tls-verify=false --dest-no-creds");
  ASSERT_EQ(push.exit_code, 0) << push.err;
  RunResult inspect = Inspect(reg->host(), "--tls-verify=false --no-creds");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(DigestOf(inspect), digest_);
  // Deletes are enabled.
  RunResult del = Sh("curl -sS -o /dev/null -w '%{http_code}' -X DELETE http://" + reg->host() +
                     "/v2/itest/busybox/manifests/" + digest_);
  EXPECT_EQ(del.out, "202") << del.err;
}

TEST_F(RegistryHarness, BasicAuthRefusesAnonymousAndAcceptsTheUser) {
  auto reg = TestRegistry::Start({.auth = Auth::kBasic});
  ASSERT_NE(reg, nullptr);
  ASSERT_FALSE(reg->username().empty());
  ASSERT_FALSE(reg->password().empty());
  RunResult anon = Push(reg->host(), "--dest-tls-verify=false --dest-no-creds");
  EXPECT_NE(anon.exit_code, 0);
  EXPECT_NE(anon.err.find("unauthorized"), std::string::npos) << anon.err;
  RunResult wrong =
      Push(reg->host(), "--dest-tls-verify=false --dest-creds " + Quote(reg->username() + ":nope"));
  EXPECT_NE(wrong.exit_code, 0);
  RunResult push = Push(reg->host(), "--dest-tls-verify=false --dest-creds " + Creds(*reg));
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_NE(Inspect(reg->host(), "--tls-verify=false --no-creds").exit_code, 0);

  // The docker config it writes carries the same credentials.
  Scratch s;
  std::string docker_config = reg->WriteDockerConfig(s / "docker");
  json config = json::parse(ReadFileOrEmpty(docker_config + "/config.json"), nullptr, false);
  ASSERT_TRUE(config.is_object());
  EXPECT_TRUE(config["auths"].contains(reg->host()));
  RunResult inspect = Inspect(
      reg->host(), "--tls-verify=false --authfile " + Quote(docker_config + "/config.json"));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(DigestOf(inspect), digest_);
  RunResult challenge = Sh("curl -sS -i http://" + reg->host() + "/v2/");
  EXPECT_NE(challenge.out.find("Basic realm="), std::string::npos) << challenge.out;
}

TEST_F(RegistryHarness, TokenAuthIssuesScopedTokens) {
  auto reg = TestRegistry::Start({.auth = Auth::kToken});
  ASSERT_NE(reg, nullptr);
  ASSERT_FALSE(reg->token_host().empty());
  RunResult challenge = Sh("curl -sS -i http://" + reg->host() + "/v2/");
  EXPECT_NE(challenge.out.find("Bearer realm=\"http://" + reg->token_host() + "/token\""),
            std::string::npos)
      << challenge.out;

  RunResult anon = Push(reg->host(), "--dest-tls-verify=false --dest-no-creds");
  EXPECT_NE(anon.exit_code, 0);
  RunResult push = Push(reg->host(), "--dest-tls-verify=false --dest-creds " + Creds(*reg));
  ASSERT_EQ(push.exit_code, 0) << push.err;
  RunResult anon_pull = Inspect(reg->host(), "--tls-verify=false --no-creds");
  EXPECT_NE(anon_pull.exit_code, 0) << "anonymous pull must need auth";
  RunResult inspect = Inspect(reg->host(), "--tls-verify=false --creds " + Creds(*reg));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(DigestOf(inspect), digest_);

  json log = json::parse(reg->TokenLog(), nullptr, false);
  ASSERT_TRUE(log.is_array());
  bool anonymous_seen = false, push_scope = false, pull_scope = false;
  for (const auto& e : log) {
    EXPECT_EQ(e["service"], "hoist-test-registry");
    if (!e["credentials"].get<bool>()) {
      anonymous_seen = true;
      EXPECT_TRUE(e["granted"].empty()) << e.dump();
      continue;
    }
    for (const auto& s : e["scopes"]) {
      if (s == "repository:itest/busybox:pull,push") push_scope = true;
      if (s == "repository:itest/busybox:pull") pull_scope = true;
    }
    EXPECT_EQ(e["user"], reg->username()) << e.dump();
  }
  EXPECT_TRUE(anonymous_seen) << log.dump();
  EXPECT_TRUE(push_scope) << log.dump();
  EXPECT_TRUE(pull_scope) << log.dump();
  reg->ClearTokenLog();
  EXPECT_EQ(Trim(reg->TokenLog()), "[]");

  // The OAuth2 form: a password grant with an offline refresh token, then a refresh grant
  // whose access token reads the manifest.
  const std::string token_url = "http://" + reg->token_host() + "/token";
  RunResult grant = Sh("curl -sS --fail-with-body " + Quote(token_url) +
                       " --data-urlencode grant_type=password --data-urlencode client_id=itest"
                       " --data-urlencode service=hoist-test-registry --data-urlencode"
                       " access_type=offline --data-urlencode " +
                       Quote("username=" + reg->username()) + " --data-urlencode " +
                       Quote("password=" + reg->password()) + " --data-urlencode " +
                       Quote("scope=repository:itest/busybox:pull"));
  ASSERT_EQ(grant.exit_code, 0) << grant.err << grant.out;
  json granted = json::parse(grant.out, nullptr, false);
  ASSERT_TRUE(granted.contains("refresh_token")) << grant.out;
  RunResult refresh = Sh("curl -sS --fail-with-body " + Quote(token_url) +
                         " --data-urlencode grant_type=refresh_token --data-urlencode"
                         " client_id=itest --data-urlencode service=hoist-test-registry"
                         " --data-urlencode " +
                         Quote("refresh_token=" + granted["refresh_token"].get<std::string>()) +
                         " --data-urlencode " + Quote("scope=repository:itest/busybox:pull"));
  ASSERT_EQ(refresh.exit_code, 0) << refresh.err << refresh.out;
  const std::string token = json::parse(refresh.out)["access_token"];
  RunResult manifest =
      Sh("curl -sS -o /dev/null -w '%{http_code}' -H 'Accept: "
         "application/vnd.oci.image.manifest.v1+json'"
         " -H " +
         Quote("Authorization: Bearer " + token) + " http://" + reg->host() +
         "/v2/itest/busybox/manifests/1.36");
  EXPECT_EQ(manifest.out, "200") << manifest.err;
  RunResult no_client = Sh("curl -sS -o /dev/null -w '%{http_code}' " + Quote(token_url) +
                           " --data-urlencode grant_type=password");
  EXPECT_EQ(no_client.out, "400");
  json posts = json::parse(reg->TokenLog(), nullptr, false);
  ASSERT_EQ(posts.size(), 3u) << posts.dump();
  EXPECT_EQ(posts[0]["kind"], "password");
  EXPECT_EQ(posts[1]["kind"], "refresh_token");
  EXPECT_TRUE(posts[1]["credentials"].get<bool>());
  EXPECT_EQ(posts[2]["status"], 400);
  EXPECT_EQ(reg->TokenLog().find(reg->password()), std::string::npos) << "secrets are not logged";

  // A public repository: anonymous pulls get pull access, anonymous pushes still nothing.
  reg->SetTokenConfig(R"({"anonymous_pull": true})");
  RunResult public_pull = Inspect(reg->host(), "--tls-verify=false --no-creds");
  ASSERT_EQ(public_pull.exit_code, 0) << public_pull.err;
  EXPECT_EQ(DigestOf(public_pull), digest_);
  EXPECT_NE(Push(reg->host(), "--dest-tls-verify=false --dest-no-creds").exit_code, 0);
}

TEST_F(RegistryHarness, TlsServesWithTheTestCa) {
  auto reg = TestRegistry::Start({.auth = Auth::kBasic, .tls = true});
  ASSERT_NE(reg, nullptr);
  EXPECT_EQ(reg->scheme(), "https");
  ASSERT_FALSE(reg->ca_file().empty());
  ASSERT_TRUE(std::filesystem::exists(reg->cert_dir() + "/ca.crt"));
  RunResult untrusted = Push(reg->host(), "--dest-creds " + Creds(*reg));
  EXPECT_NE(untrusted.exit_code, 0);
  EXPECT_NE(untrusted.err.find("certificate"), std::string::npos) << untrusted.err;
  RunResult push = Push(
      reg->host(), "--dest-cert-dir " + Quote(reg->cert_dir()) + " --dest-creds " + Creds(*reg));
  ASSERT_EQ(push.exit_code, 0) << push.err;
  RunResult inspect =
      Inspect(reg->host(), "--cert-dir " + Quote(reg->cert_dir()) + " --creds " + Creds(*reg));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(DigestOf(inspect), digest_);
  RunResult curl =
      Sh("curl -sS -o /dev/null -w '%{http_code}' --cacert " + Quote(reg->ca_file()) +
         " https://localhost:" + reg->host().substr(reg->host().find(':') + 1) + "/v2/");
  EXPECT_EQ(curl.out, "401") << curl.err;  // trusted for localhost too; auth still applies

  Scratch s;
  std::string toml = ReadFileOrEmpty(reg->WriteHoistConfig(s / "hoist/hoist.toml"));
  EXPECT_NE(toml.find("[registry.\"" + reg->host() + "\"]"), std::string::npos) << toml;
  EXPECT_NE(toml.find("http = false"), std::string::npos) << toml;
  EXPECT_NE(toml.find("ca = [\"" + reg->ca_file() + "\"]"), std::string::npos) << toml;
}

class RegistryProxy : public RegistryHarness {
 protected:
  void SetUp() override {
    RegistryHarness::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    reg_ = TestRegistry::Start({.proxy = true});
    ASSERT_NE(reg_, nullptr);
    ASSERT_FALSE(reg_->proxy_host().empty());
    // Pushing through the proxy exercises uploads and the Location rewrite.
    RunResult push = Push(reg_->proxy_host(), "--dest-tls-verify=false --dest-no-creds");
    ASSERT_EQ(push.exit_code, 0) << push.err;
  }

  std::string Url(const std::string& path) const { return "http://" + reg_->proxy_host() + path; }
  std::string BlobPath(const std::string& digest) const {
    return "/v2/itest/busybox/blobs/" + digest;
  }
  // curl through the proxy: the body to `out`, prints the status code.
  RunResult Get(const std::string& path, const std::string& out, const std::string& flags = "") {
    return Sh("curl -sS -o " + Quote(out) + " -w '%{http_code}' " + flags + " " + Quote(Url(path)));
  }
  json Log() { return json::parse(reg_->ProxyLog(), nullptr, false); }

  std::unique_ptr<TestRegistry> reg_;
};

TEST_F(RegistryProxy, ForwardsUploadsAndRewritesLocations) {
  json log = Log();
  ASSERT_TRUE(log.is_array());
  bool post = false, put_blob = false, put_manifest = false;
  for (const auto& e : log) {
    EXPECT_TRUE(e["fault"].is_null());
    const std::string path = e["path"];
    if (e["method"] == "POST" && path.find("/blobs/uploads/") != std::string::npos) post = true;
    if (e["method"] == "PUT" && path.find("/blobs/uploads/") != std::string::npos) put_blob = true;
    if (e["method"] == "PUT" && path.find("/manifests/1.36") != std::string::npos) {
      put_manifest = true;
    }
  }
  EXPECT_TRUE(post && put_blob && put_manifest) << log.dump(1);
  RunResult headers = Sh("curl -sS -i -X POST " + Quote(Url("/v2/itest/other/blobs/uploads/")));
  EXPECT_NE(
      headers.out.find("Location: http://" + reg_->proxy_host() + "/v2/itest/other/blobs/uploads/"),
      std::string::npos)
      << headers.out;
  RunResult inspect = Inspect(reg_->proxy_host(), "--tls-verify=false --no-creds");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(DigestOf(inspect), digest_);
}

TEST_F(RegistryProxy, StatusFaultsCountDownAndAreLogged) {
  Scratch s;
  reg_->ClearProxyLog();
  reg_->SetFaults(
      R"([{"method":"GET","path":"/manifests/","action":"status","status":503,"times":1},
                      {"method":"HEAD","action":"status","status":429,"retry_after":1,"times":1}])");
  const std::string manifest = "/v2/itest/busybox/manifests/1.36";
  const std::string accept = "-H 'Accept: application/vnd.oci.image.manifest.v1+json'";
  EXPECT_EQ(Get(manifest, s / "m", accept).out, "503");
  EXPECT_EQ(Get(manifest, s / "m", accept).out, "200");
  RunResult head = Sh("curl -sS -I " + accept + " " + Quote(Url(manifest)));
  EXPECT_NE(head.out.find(" 429"), std::string::npos) << head.out;
  EXPECT_NE(head.out.find("Retry-After: 1"), std::string::npos) << head.out;
  EXPECT_NE(Sh("curl -sS -I " + accept + " " + Quote(Url(manifest))).out.find(" 200"),
            std::string::npos);

  json log = Log();
  ASSERT_EQ(log.size(), 4u) << log.dump(1);
  EXPECT_EQ(log[0]["status"], 503);
  EXPECT_EQ(log[0]["fault"], "status");
  EXPECT_EQ(log[0]["rule"], 0);
  EXPECT_EQ(log[1]["status"], 200);
  EXPECT_TRUE(log[1]["fault"].is_null());
  EXPECT_EQ(log[2]["status"], 429);
  EXPECT_EQ(log[3]["status"], 200);
  json rules = json::parse(Sh("curl -sS " + Quote(Url("/__proxy/rules"))).out, nullptr, false);
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0]["times"], 0);  // spent

  // A malformed rule list is refused, and the rules in force stay.
  RunResult bad =
      Sh("curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary "
         "'[{\"action\":\"explode\"}]' " +
         Quote(Url("/__proxy/rules")));
  EXPECT_EQ(bad.out, "400");
  reg_->ClearFaults();
  EXPECT_EQ(Trim(Sh("curl -sS " + Quote(Url("/__proxy/rules"))).out), "[]");
}

TEST_F(RegistryProxy, BodyFaultsDropCorruptSwapAndDelay) {
  Scratch s;
  ASSERT_GT(layer_size_, 4096);
  reg_->ClearProxyLog();
  reg_->SetFaults("[{\"path\":\"" + layer_.substr(7) +
                  "$\",\"action\":\"drop\",\"after_bytes\":1000,"
                  "\"times\":1}]");
  RunResult dropped = Get(BlobPath(layer_), s / "dropped");
  EXPECT_EQ(dropped.exit_code, 18) << dropped.err;  // curl: partial file
  EXPECT_EQ(std::filesystem::file_size(s / "dropped"), 1000u);
  RunResult whole = Get(BlobPath(layer_), s / "whole");
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(std::filesystem::file_size(s / "whole"), static_cast<uintmax_t>(layer_size_));
  EXPECT_EQ(Trim(Sh("sha256sum < " + Quote(s / "whole") + " | cut -d' ' -f1").out),
            layer_.substr(7));

  reg_->SetFaults("[{\"action\":\"corrupt\",\"offset\":1000,\"times\":1}]");
  ASSERT_EQ(Get(BlobPath(layer_), s / "corrupt").exit_code, 0);
  std::string a = ReadFileOrEmpty(s / "whole"), b = ReadFileOrEmpty(s / "corrupt");
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(static_cast<uint8_t>(a[1000] ^ b[1000]), 0xFF);
  EXPECT_EQ(a.substr(0, 1000), b.substr(0, 1000));
  EXPECT_EQ(a.substr(1001), b.substr(1001));

  reg_->SetFaults("[{\"path\":\"" + config_.substr(7) +
                  "$\",\"action\":\"swap_body\",\"with_path\":\"" + BlobPath(layer_) + "\"}]");
  RunResult swapped = Sh("curl -sS -D " + Quote(s / "h") + " -o " + Quote(s / "swapped") + " " +
                         Quote(Url(BlobPath(config_))));
  ASSERT_EQ(swapped.exit_code, 0) << swapped.err;
  EXPECT_EQ(ReadFileOrEmpty(s / "swapped"), a);
  EXPECT_NE(ReadFileOrEmpty(s / "h").find("Docker-Content-Digest: " + config_), std::string::npos);

  reg_->SetFaults("[{\"action\":\"delay\",\"seconds\":0.5,\"times\":1}]");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Get("/v2/", s / "v2").out, "200");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(450));

  reg_->SetFaults(R"([{"path":"^/v2/$","action":"close","times":1}])");
  EXPECT_NE(Get("/v2/", s / "v2").exit_code, 0);
  EXPECT_EQ(Get("/v2/", s / "v2").out, "200");

  // Ranges pass through untouched.
  reg_->ClearFaults();
  RunResult range = Get(BlobPath(layer_), s / "range", "-r 100-199");
  EXPECT_EQ(range.out, "206");
  EXPECT_EQ(ReadFileOrEmpty(s / "range"), a.substr(100, 100));

  json log = Log();
  std::vector<std::string> faults;
  for (const auto& e : log)
    faults.push_back(e["fault"].is_null() ? "-" : e["fault"].get<std::string>());
  EXPECT_EQ(faults, (std::vector<std::string>{"drop", "-", "corrupt", "swap_body", "delay", "close",
                                              "-", "-"}))
      << log.dump(1);
  EXPECT_EQ(log[0]["bytes"], 1000);
  EXPECT_EQ(log.back()["range"], "bytes=100-199");
  EXPECT_EQ(log.back()["status"], 206);
}

TEST_F(RegistryHarness, TlsTokenAndProxyTogether) {
  auto reg = TestRegistry::Start({.auth = Auth::kToken, .tls = true, .proxy = true});
  ASSERT_NE(reg, nullptr);
  // Through the proxy: plain HTTP to a TLS registry; token requests go to the issuer directly.
  RunResult push = Push(reg->proxy_host(), "--dest-tls-verify=false --dest-creds " + Creds(*reg));
  ASSERT_EQ(push.exit_code, 0) << push.err;
  RunResult inspect =
      Inspect(reg->host(), "--cert-dir " + Quote(reg->cert_dir()) + " --creds " + Creds(*reg));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(DigestOf(inspect), digest_);
  json log = json::parse(reg->ProxyLog(), nullptr, false);
  bool bearer = false;
  for (const auto& e : log) bearer = bearer || e["authorization"].get<bool>();
  EXPECT_TRUE(bearer) << log.dump(1);
  EXPECT_NE(reg->TokenLog().find("repository:itest/busybox:pull,push"), std::string::npos);

  Scratch s;
  std::string docker = ReadFileOrEmpty(reg->WriteDockerConfig(s / "d") + "/config.json");
  EXPECT_NE(docker.find(reg->proxy_host()), std::string::npos);
  std::string toml = ReadFileOrEmpty(reg->WriteHoistConfig(s / "hoist.toml"));
  EXPECT_NE(toml.find("[registry.\"" + reg->proxy_host() + "\"]\n  http = true"), std::string::npos)
      << toml;
}

TEST_F(RegistryHarness, DestructionLeavesNothingRunning) {
  auto reg = TestRegistry::Start({.auth = Auth::kToken, .tls = true, .proxy = true});
  ASSERT_NE(reg, nullptr);
  std::vector<pid_t> pids = reg->pids();
  ASSERT_EQ(pids.size(), 4u);  // supervisor, issuer, registry, proxy
  for (pid_t p : pids) EXPECT_TRUE(Running(p)) << p;
  const std::string dir = reg->dir();
  reg.reset();
  EXPECT_TRUE(AllGoneWithin(pids, std::chrono::seconds(5)));
  EXPECT_FALSE(std::filesystem::exists(dir));
}

// The command line on its own: `start` daemonises and `stop` ends it; and a daemon watching a
// process stops when that process is gone.
TEST_F(RegistryHarness, CommandLineStartStopAndWatch) {
  Scratch s;
  const std::string script = std::string(HOIST_SOURCE_DIR) + "/tests/registry/registry.py";
  RunResult start = Sh("python3 " + Quote(script) + " start --dir " + Quote(s / "a") + " --proxy");
  ASSERT_EQ(start.exit_code, 0) << start.err;
  json info = json::parse(start.out, nullptr, false);
  ASSERT_TRUE(info.is_object()) << start.out;
  std::vector<pid_t> pids = info["pids"].get<std::vector<pid_t>>();
  EXPECT_EQ(Sh("curl -sS -f http://" + info["host"].get<std::string>() + "/v2/").exit_code, 0);
  ASSERT_EQ(Sh("python3 " + Quote(script) + " stop --dir " + Quote(s / "a")).exit_code, 0);
  EXPECT_TRUE(AllGoneWithin(pids, std::chrono::seconds(5)));

  RunResult watched = Sh("sleep 2 & python3 " + Quote(script) + " start --dir " + Quote(s / "b") +
                         " --watch-pid $!");
  ASSERT_EQ(watched.exit_code, 0) << watched.err;
  info = json::parse(watched.out, nullptr, false);
  ASSERT_TRUE(info.is_object()) << watched.out;
  pids = info["pids"].get<std::vector<pid_t>>();
  for (pid_t p : pids) EXPECT_TRUE(Running(p)) << p;
  EXPECT_TRUE(AllGoneWithin(pids, std::chrono::seconds(8)));
}

}  // namespace
}  // namespace hoist::itest
