// A real registry for end-to-end tests: Debian's docker-registry (distribution 2.8) on
// 127.0.0.1, with optional basic or token auth, TLS from a test CA, and a fault-injecting proxy
// in front. The processes are started by tests/registry/registry.py (see its header for the
// JSON it prints, and faultproxy.py / tokenserver.py for the proxy's fault rules and the token
// issuer's log).
//
//   auto reg = TestRegistry::Start({.auth = RegistryOptions::Auth::kToken, .proxy = true});
//   ASSERT_NE(reg, nullptr);
//   reg->SetFaults(R"([{"method":"GET","path":"/blobs/","action":"status","status":503,"times":1}])");
//   ... push to reg->host(), pull through reg->proxy_host() ...
//
// Things to know:
//  - host() is the registry itself: HTTPS with ca_file() when tls, else plain HTTP.
//    proxy_host() always speaks plain HTTP to its clients, also in front of a TLS registry
//    (it verifies the registry with the test CA), and rewrites Location headers to itself.
//  - The token issuer (token_host()) always speaks plain HTTP; the registry's challenge names
//    its realm, http://token_host()/token. Anonymous token requests get a token with no access,
//    so anonymous pulls are refused with 401.
//  - Basic and token auth share one generated user (username(), password()).
//  - Everything runs in one process group under a supervisor child of this process; the
//    destructor ends the group, reaps the supervisor and removes dir(). Should this process
//    die without running it, the supervisor stops everything and removes dir() by itself.
//
// Thread-safety: none; use one TestRegistry from one test thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace hoist::itest {

struct RegistryOptions {
  enum class Auth { kNone, kBasic, kToken };
  Auth auth = Auth::kNone;
  bool tls = false;
  bool proxy = false;
};

class TestRegistry {
 public:
  // Why a registry cannot run on this machine (missing docker-registry, python3 or
  // python3-cryptography), or "" when it can. Tests GTEST_SKIP with this reason.
  static std::string Unavailable();
  // Starts a registry in a fresh directory and waits (up to ~20 s) until it answers. On failure
  // records a test failure with the start-up log and returns nullptr.
  static std::unique_ptr<TestRegistry> Start(const RegistryOptions& options);
  // Stops every process it started and removes dir().
  ~TestRegistry();
  TestRegistry(const TestRegistry&) = delete;
  TestRegistry& operator=(const TestRegistry&) = delete;

  const std::string& host() const { return host_; }              // "127.0.0.1:PORT"
  const std::string& scheme() const { return scheme_; }          // "http" or "https"
  const std::string& proxy_host() const { return proxy_host_; }  // "" without a proxy
  const std::string& token_host() const { return token_host_; }  // "" without token auth
  const std::string& ca_file() const { return ca_file_; }        // PEM; "" without TLS
  // A directory holding ca.crt, as skopeo's --cert-dir wants it; "" without TLS.
  const std::string& cert_dir() const { return cert_dir_; }
  const std::string& username() const { return username_; }  // "" without auth
  const std::string& password() const { return password_; }
  const std::string& dir() const { return dir_; }  // config, storage, keys and logs
  // The pids of the supervisor, the registry, the token issuer and the proxy.
  const std::vector<pid_t>& pids() const { return pids_; }

  // Replaces the proxy's fault rules with `rules_json` (a JSON list; see faultproxy.py).
  // REQUIRES: started with proxy. A rejected rule list is a test failure.
  void SetFaults(const std::string& rules_json);
  void ClearFaults();
  // The proxy's request log, a JSON list of {seq, method, path, range, authorization, status,
  // fault, rule, bytes}.
  std::string ProxyLog();
  void ClearProxyLog();
  // The token issuer's request log, a JSON list of {seq, method, service, scopes, granted,
  // credentials, kind, user, client_id, offline, status}. REQUIRES: token auth.
  std::string TokenLog();
  void ClearTokenLog();
  // Merges settings into the token issuer's (expires_in, anonymous_pull, allow_post,
  // require_client_id; see tokenserver.py).
  void SetTokenConfig(const std::string& settings_json);

  // Writes `dir`/config.json in docker's format with this registry's credentials (for host()
  // and, with a proxy, proxy_host()) and returns `dir` (for DOCKER_CONFIG).
  std::string WriteDockerConfig(const std::string& dir) const;
  // Writes a hoist registry config (src/registry/host_config.h) that reaches host() (with
  // ca_file() when TLS) and proxy_host() (plain HTTP), and returns `path`.
  std::string WriteHoistConfig(const std::string& path) const;

 private:
  TestRegistry() = default;
  // Runs curl against one of the control endpoints; returns the body, records a failure on
  // error.
  std::string Control(const std::string& method, const std::string& url,
                      const std::string& body = "");
  void Stop();

  pid_t supervisor_ = -1;  // the group leader, our child
  std::string dir_, host_, scheme_, proxy_host_, token_host_, ca_file_, cert_dir_, username_,
      password_;
  std::vector<pid_t> pids_;
};

}  // namespace hoist::itest
