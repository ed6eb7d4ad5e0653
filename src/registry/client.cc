#include "registry/client.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "oci/media_types.h"
#include "registry/internal/auth_challenge.h"
#include "base/base64.h"
#include "base/hash.h"
#include "registry/internal/http.h"
#include "registry/internal/responses.h"

namespace hoist::registry {
namespace {

using internal::HttpPool;
using internal::HttpRequest;
using internal::HttpResponse;

// Downloads reach the content store in writes of this size.
constexpr size_t kWriteBatch = 2 << 20;
constexpr std::string_view kSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
constexpr std::string_view kSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

const std::string& ManifestAccept() {
  static const std::string accept = fmt::format(
      "Accept: {}, {}, {}, {}, {}, {}", oci::kMediaTypeImageIndex, oci::kMediaTypeImageManifest,
      oci::kMediaTypeDockerManifestList, oci::kMediaTypeDockerManifest, kSchema1Signed, kSchema1);
  return accept;
}

// Where requests for one repository go: a mirror or the registry itself.
struct Endpoint {
  std::string host;       // host[:port] as dialled
  std::string base;       // scheme://host[/prefix]
  std::string cred_host;  // the name credentials are stored under
  internal::TlsOptions tls;
};

std::string MediaTypeOf(std::string_view content_type) {
  std::string_view mt = content_type.substr(0, content_type.find(';'));
  while (!mt.empty() && mt.back() == ' ') mt.remove_suffix(1);
  return std::string(mt);
}

// The registry's own error text: `unauthorized: authentication required`.
std::string RegistryErrorText(const HttpResponse& r) {
  return internal::RegistryErrorText(r.status, r.body);
}

Code CodeOfStatus(long status) {
  if (status == 401) return Code::kUnauthenticated;
  if (status == 403) return Code::kPermissionDenied;
  if (status == 404) return Code::kNotFound;
  if (status == 429) return Code::kResourceExhausted;
  if (status >= 500) return Code::kUnavailable;
  return Code::kFailedPrecondition;
}

Error StatusError(const HttpResponse& r, std::string_view what) {
  return Error(CodeOfStatus(r.status), fmt::format("{}: {}", what, RegistryErrorText(r)));
}

bool Retryable(long status) { return status >= 500 || status == 429; }

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

std::string JoinScopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) {
    if (!out.empty()) out += " ";
    out += s;
  }
  return out;
}

std::string PullScope(const oci::Reference& repo) {
  return "repository:" + repo.path() + ":pull";
}
std::string PushScope(const oci::Reference& repo) {
  return "repository:" + repo.path() + ":pull,push";
}

// `scheme://host[:port]` of the endpoint, without a mirror's path prefix.
std::string_view Origin(const Endpoint& ep) {
  const size_t host_end = ep.base.find('/', ep.base.find("://") + 3);
  return std::string_view(ep.base).substr(0, host_end);
}

// Whether `url` is on the endpoint's scheme and host (where its credentials may go).
bool SameOrigin(std::string_view url, const Endpoint& ep) {
  const std::string_view origin = Origin(ep);
  return url.starts_with(origin) &&
         (url.size() == origin.size() || url[origin.size()] == '/' || url[origin.size()] == '?');
}

// Resolves a Location header against the endpoint it came from.
std::string ResolveLocation(const Endpoint& ep, const std::string& location) {
  if (location.starts_with("http://") || location.starts_with("https://")) return location;
  return std::string(Origin(ep)) + (location.starts_with("/") ? "" : "/") + location;
}

std::string WithQuery(const std::string& url, const std::string& kv) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + kv;
}

struct Token {
  std::string value;
  std::chrono::steady_clock::time_point expires;
  std::string refresh;  // a refresh token, when a login asked for one
};

}  // namespace

std::string RegistryHost(std::string_view domain) {
  if (domain == "docker.io" || domain == "index.docker.io") return "registry-1.docker.io";
  return std::string(domain);
}

namespace {

// What every Client made from one (WithCredentials) shares: connections, what each host
// challenged with, and tokens. Tokens are kept under the identity of the credentials that
// earned them (CredentialIdentity), never under the host and scope alone: a client with other
// credentials, or none, must not send a token it did not earn.
struct ClientShared {
  ClientShared() {
    std::random_device rd;
    for (int i = 0; i < 4; ++i) identity_salt += fmt::format("{:08x}", rd());
  }

  HttpPool pool;
  std::mutex mu;
  std::map<std::string, internal::AuthChallenge> challenges;  // host → its last challenge
  std::map<std::string, Token> tokens;  // host, identity and scopes (TokenKey) → token
  std::map<std::string, std::string> login_refresh;  // host → refresh token a login earned
  // Random per process, so that identities (digests of secrets) are worth nothing elsewhere.
  std::string identity_salt;
};

}  // namespace

class Client::Impl {
 public:
  Impl(ClientOptions options, std::shared_ptr<ClientShared> shared)
      : options_(std::move(options)), shared_(std::move(shared)) {}

  std::shared_ptr<ClientShared> shared() const { return shared_; }

  const ClientOptions& options() const { return options_; }

  // The endpoints to pull from: mirrors first, then the registry.
  std::vector<Endpoint> PullEndpoints(const oci::Reference& repo) const {
    std::vector<Endpoint> out;
    const HostConfig hc = options_.config.ForHost(repo.domain());
    for (const std::string& m : hc.mirrors) {
      std::string host = m;
      std::string prefix;
      if (size_t slash = m.find('/'); slash != std::string::npos) {
        host = m.substr(0, slash);
        prefix = m.substr(slash);
        while (prefix.ends_with("/")) prefix.pop_back();
      }
      out.push_back(MakeEndpoint(host, host, prefix));
    }
    out.push_back(PushEndpoint(repo));
    return out;
  }

  Endpoint PushEndpoint(const oci::Reference& repo) const {
    return MakeEndpoint(RegistryHost(repo.domain()), repo.domain(), "");
  }

  Endpoint HostEndpoint(std::string_view host) const {
    std::string domain(host);
    if (domain == "index.docker.io" || domain == "registry-1.docker.io") domain = "docker.io";
    return MakeEndpoint(RegistryHost(domain), domain, "");
  }

  // One request with auth: anonymous or with what is cached for the scope; after a 401, with
  // the credentials the challenge asks for, once more.
  Result<HttpResponse> Send(const Endpoint& ep, const std::function<HttpRequest()>& make,
                            const std::vector<std::string>& scopes,
                            const std::optional<AuthConfig>& auth_override = std::nullopt) {
    HttpRequest req = make();
    req.tls = ep.tls;
    // Credentials go only to the endpoint they are for, never to another host an upload
    // location (or a hostile registry) points at.
    if (!SameOrigin(req.url, ep)) return shared_->pool.Do(req, options_.user_agent);
    HOIST_ASSIGN_OR_RETURN(std::optional<std::string> header,
                           CachedAuthorization(ep, scopes, auth_override));
    if (header) req.headers.push_back(*header);
    HOIST_ASSIGN_OR_RETURN(HttpResponse r, shared_->pool.Do(req, options_.user_agent));
    if (r.status != 401) return r;
    // Learn the challenge and answer it.
    auto challenges = r.Headers("www-authenticate");
    std::optional<internal::AuthChallenge> chosen;
    for (const std::string& h : challenges) {
      for (auto& c : internal::ParseAuthChallenges(h)) {
        if (c.scheme == "bearer" && (!chosen || chosen->scheme != "bearer")) chosen = c;
        if (c.scheme == "basic" && !chosen) chosen = c;
      }
    }
    if (!chosen) return r;
    {
      std::lock_guard lock(shared_->mu);
      shared_->challenges[ep.host] = *chosen;
    }
    std::vector<std::string> want = scopes;
    if (auto it = chosen->params.find("scope"); it != chosen->params.end() && !it->second.empty()) {
      if (std::find(want.begin(), want.end(), it->second) == want.end()) want.push_back(it->second);
    }
    HOIST_ASSIGN_OR_RETURN(std::optional<std::string> fresh,
                           Authorize(ep, *chosen, scopes, want, auth_override, req.cancel));
    if (!fresh) return r;  // no credentials to offer: the 401 stands
    if (header && *header == *fresh) return r;
    HttpRequest again = make();
    again.tls = ep.tls;
    again.headers.push_back(*fresh);
    return shared_->pool.Do(again, options_.user_agent);
  }

  // Send, retrying dropped connections, 5xx and 429 with backoff.
  Result<HttpResponse> SendRetrying(const Endpoint& ep, const std::function<HttpRequest()>& make,
                                    const std::vector<std::string>& scopes,
                                    CancelContext* cancel) {
    for (int attempt = 1;; ++attempt) {
      auto r = Send(ep, make, scopes);
      const bool last = attempt >= options_.max_attempts;
      if (!r) {
        if (r.error().code() != Code::kUnavailable || last) return r;
        HOIST_TRY(Backoff(attempt, std::nullopt, cancel));
        continue;
      }
      if (!Retryable(r->status) || last) return r;
      HOIST_TRY(Backoff(attempt, RetryAfter(*r), cancel));
    }
  }

  Status Backoff(int attempt, std::optional<std::chrono::milliseconds> hint,
                 CancelContext* cancel) {
    auto wait = options_.initial_backoff * (1 << std::min(attempt - 1, 6));
    if (hint) wait = std::max(wait, *hint);
    wait = std::min(wait, std::chrono::milliseconds(30000));
    // In short naps, so that a cancelled build does not wait out the backoff.
    const auto until = std::chrono::steady_clock::now() + wait;
    for (auto now = std::chrono::steady_clock::now(); now < until;
         now = std::chrono::steady_clock::now()) {
      if (cancel != nullptr) HOIST_TRY(cancel->Check());
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(50), until - now));
    }
    return OkStatus();
  }

  // The refresh token the last login check on `host` was given ("" for none), once.
  std::string TakeLoginRefresh(const std::string& host) {
    std::lock_guard lock(shared_->mu);
    auto it = shared_->login_refresh.find(host);
    if (it == shared_->login_refresh.end()) return "";
    std::string t = std::move(it->second);
    shared_->login_refresh.erase(it);
    return t;
  }

  void RecordSource(const oci::Reference& repo, const oci::Digest& digest) {
    if (options_.sources) options_.sources->Record(digest, repo.domain(), repo.path());
  }

  static std::optional<std::chrono::milliseconds> RetryAfter(const HttpResponse& r) {
    const std::string v = r.Header("retry-after");
    if (v.empty()) return std::nullopt;
    char* end = nullptr;
    long s = std::strtol(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0' || s < 0) return std::nullopt;
    return std::chrono::milliseconds(std::min<long>(s, 60) * 1000);
  }

 private:
  Endpoint MakeEndpoint(const std::string& host, const std::string& cred_host,
                        const std::string& prefix) const {
    const HostConfig hc = options_.config.ForHost(host);
    Endpoint ep;
    ep.host = host;
    ep.cred_host = cred_host;
    ep.base = (hc.plain_http ? "http://" : "https://") + host + prefix;
    ep.tls.insecure = hc.insecure;
    ep.tls.ca_files = hc.ca_files;
    return ep;
  }

  // The credentials for the endpoint: the override (a login check), else what the store
  // gives, asked once per host for the life of this Client (a helper may be slow, or prompt).
  // Failures are not remembered.
  Result<std::optional<AuthConfig>> CredentialsFor(const Endpoint& ep,
                                                   const std::optional<AuthConfig>& override) {
    if (override) return override;
    if (!options_.credentials) return std::optional<AuthConfig>();
    {
      std::lock_guard lock(creds_mu_);
      auto it = creds_.find(ep.cred_host);
      if (it != creds_.end()) return it->second;
    }
    auto c = options_.credentials->Get(ep.cred_host);
    if (!c) return Unexpected(std::move(c).error().Wrap("credentials for " + ep.cred_host));
    if (*c && c->value().empty()) c->reset();
    std::lock_guard lock(creds_mu_);
    creds_.emplace(ep.cred_host, *c);
    return c;
  }

  // Who a token is for: "anonymous", or a salted digest of the host and every part of the
  // credentials (so another user, another password or another host is another identity).
  std::string CredentialIdentity(const Endpoint& ep, const std::optional<AuthConfig>& creds) const {
    if (!creds || creds->empty()) return "anonymous";
    std::string material = shared_->identity_salt;
    for (const std::string* part : {&ep.cred_host, &creds->username, &creds->password,
                                    &creds->identity_token, &creds->registry_token}) {
      material += std::to_string(part->size()) + ":" + *part + ";";
    }
    return "user:" + Sha256Hex(material);
  }

  static std::string TokenKey(const Endpoint& ep, const std::string& identity,
                              const std::vector<std::string>& scopes) {
    return ep.host + " " + identity + " " + JoinScopes(scopes);
  }

  // The Authorization header to send before any challenge: none while the host has not
  // challenged; then the credentials' own (Basic, a registry token) or a token these
  // credentials earned for these scopes.
  Result<std::optional<std::string>> CachedAuthorization(
      const Endpoint& ep, const std::vector<std::string>& scopes,
      const std::optional<AuthConfig>& override) {
    using None = std::optional<std::string>;
    if (override) return None();  // a login check always starts from the challenge
    std::string scheme;
    {
      std::lock_guard lock(shared_->mu);
      auto ch = shared_->challenges.find(ep.host);
      if (ch == shared_->challenges.end()) return None();
      scheme = ch->second.scheme;
    }
    HOIST_ASSIGN_OR_RETURN(std::optional<AuthConfig> creds, CredentialsFor(ep, override));
    if (scheme == "basic") {
      if (!creds || creds->username.empty()) return None();
      return None(BasicAuthorization(*creds));
    }
    if (creds && !creds->registry_token.empty()) {
      return None("Authorization: Bearer " + creds->registry_token);
    }
    const std::string key = TokenKey(ep, CredentialIdentity(ep, creds), scopes);
    std::lock_guard lock(shared_->mu);
    auto t = shared_->tokens.find(key);
    if (t == shared_->tokens.end() || t->second.expires <= std::chrono::steady_clock::now()) {
      return None();
    }
    return None("Authorization: Bearer " + t->second.value);
  }

  static std::string BasicAuthorization(const AuthConfig& creds) {
    return "Authorization: Basic " + Base64Encode(creds.username + ":" + creds.password);
  }

  // The Authorization header answering `ch` for `scopes`; nullopt when there is nothing to
  // offer (no credentials for a Basic challenge).
  // `requested` are the scopes the request was sent for; `scopes` add the challenge's own. The
  // token is cached under both, so the next request for `requested` finds it.
  Result<std::optional<std::string>> Authorize(const Endpoint& ep,
                                               const internal::AuthChallenge& ch,
                                               const std::vector<std::string>& requested,
                                               const std::vector<std::string>& scopes,
                                               const std::optional<AuthConfig>& override,
                                               CancelContext* cancel) {
    HOIST_ASSIGN_OR_RETURN(std::optional<AuthConfig> creds, CredentialsFor(ep, override));
    if (ch.scheme == "basic") {
      if (!creds || creds->username.empty()) return std::optional<std::string>();
      return std::optional<std::string>(BasicAuthorization(*creds));
    }
    if (creds && !creds->registry_token.empty()) {
      return std::optional<std::string>("Authorization: Bearer " + creds->registry_token);
    }
    auto realm = ch.params.find("realm");
    if (realm == ch.params.end() || realm->second.empty()) {
      return MakeError(Code::kUnauthenticated,
                       fmt::format("{}: bearer challenge without a realm", ep.host));
    }
    const std::string service = ch.params.contains("service") ? ch.params.at("service") : "";
    HOIST_ASSIGN_OR_RETURN(Token token, FetchToken(ep, realm->second, service, scopes, creds,
                                                   override.has_value(), cancel));
    if (override && !token.refresh.empty()) {
      std::lock_guard lock(shared_->mu);
      shared_->login_refresh[ep.host] = token.refresh;
    }
    if (!override) {
      const std::string identity = CredentialIdentity(ep, creds);
      std::lock_guard lock(shared_->mu);
      shared_->tokens[TokenKey(ep, identity, scopes)] = token;
      shared_->tokens[TokenKey(ep, identity, requested)] = token;
    }
    return std::optional<std::string>("Authorization: Bearer " + token.value);
  }

  Result<Token> FetchToken(const Endpoint& ep, const std::string& realm, const std::string& service,
                           const std::vector<std::string>& scopes,
                           const std::optional<AuthConfig>& creds, bool login,
                           CancelContext* cancel) {
    HttpRequest req;
    req.cancel = cancel;
    req.tls = ep.tls;  // the realm usually lives with the registry
    std::string query;
    auto add = [&](std::string_view k, std::string_view v) {
      if (!query.empty()) query += "&";
      query += std::string(k) + "=" + internal::UrlEncode(v);
    };
    if (!service.empty()) add("service", service);
    if (creds && !creds->identity_token.empty()) {
      // OAuth2: trade the refresh token for an access token.
      add("grant_type", "refresh_token");
      add("refresh_token", creds->identity_token);
      add("client_id", "hoist");
      if (!scopes.empty()) add("scope", JoinScopes(scopes));
      req.method = "POST";
      req.url = realm;
      req.headers.push_back("Content-Type: application/x-www-form-urlencoded");
      req.body = query;
      HOIST_ASSIGN_OR_RETURN(HttpResponse r, shared_->pool.Do(req, options_.user_agent));
      return ParseToken(ep, r);
    }
    for (const std::string& s : scopes) add("scope", s);
    if (creds && !creds->username.empty()) {
      add("account", creds->username);
      if (login) {
        // As docker login: ask for a refresh token to keep instead of the password.
        add("offline_token", "true");
        add("client_id", "hoist");
      }
      req.headers.push_back("Authorization: Basic " +
                            Base64Encode(creds->username + ":" + creds->password));
    }
    req.url = query.empty() ? realm : WithQuery(realm, query);
    HOIST_ASSIGN_OR_RETURN(HttpResponse r, shared_->pool.Do(req, options_.user_agent));
    return ParseToken(ep, r);
  }

  static Result<Token> ParseToken(const Endpoint& ep, const HttpResponse& r) {
    if (r.status == 401 || r.status == 403) {
      return MakeError(Code::kUnauthenticated,
                       fmt::format("{}: {}", ep.cred_host, RegistryErrorText(r)));
    }
    if (r.status != 200) {
      return MakeError(Code::kUnavailable,
                       fmt::format("{}: token request: unexpected status {}", ep.cred_host, r.status));
    }
    auto parsed = internal::ParseTokenResponse(r.body);
    if (!parsed) {
      return MakeError(parsed.error().code(),
                       fmt::format("{}: {}", ep.cred_host, parsed.error().message()));
    }
    Token t{.value = std::move(parsed->token), .refresh = std::move(parsed->refresh_token)};
    const int64_t expires = parsed->expires_in;
    // Renew a little early, so that a token does not expire on its way.
    t.expires = std::chrono::steady_clock::now() + std::chrono::seconds(expires - 5);
    return t;
  }

  ClientOptions options_;
  std::shared_ptr<ClientShared> shared_;
  std::mutex creds_mu_;
  std::map<std::string, std::optional<AuthConfig>> creds_;  // cred_host → what the store gave
};

Client::Client(ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options), std::make_shared<ClientShared>())) {}
Client::~Client() = default;

std::unique_ptr<Client> Client::WithCredentials(
    std::shared_ptr<CredentialStore> credentials) const {
  ClientOptions o = impl_->options();
  o.credentials = std::move(credentials);
  std::unique_ptr<Client> c(new Client());
  c->impl_ = std::make_unique<Impl>(std::move(o), impl_->shared());
  return c;
}

Result<oci::Descriptor> Client::Resolve(const oci::Reference& ref, CancelContext* cancel) {
  const std::string ident =
      ref.has_digest() ? ref.digest()->str() : (ref.has_tag() ? ref.tag() : "latest");
  const std::string what = ref.String();
  std::optional<Error> last;
  for (const Endpoint& ep : impl_->PullEndpoints(ref)) {
    const std::string url = fmt::format("{}/v2/{}/manifests/{}", ep.base, ref.path(), ident);
    auto head = [&] {
      HttpRequest r;
      r.method = "HEAD";
      r.url = url;
      r.headers = {ManifestAccept()};
      r.cancel = cancel;
      return r;
    };
    auto resp = impl_->SendRetrying(ep, head, {PullScope(ref)}, cancel);
    if (!resp) {
      if (resp.error().code() == Code::kCancelled) return Unexpected(std::move(resp).error());
      last = std::move(resp).error().Wrap(what);
      continue;
    }
    if (resp->status == 404) {
      last = Error(Code::kNotFound, what + ": not found");
      continue;
    }
    oci::Descriptor d;
    std::string mt = MediaTypeOf(resp->Header("content-type"));
    std::string dg = resp->Header("docker-content-digest");
    const std::string len = resp->Header("content-length");
    const bool usable = resp->status == 200 && !dg.empty() && !len.empty() &&
                        (oci::IsIndexType(mt) || oci::IsManifestType(mt) || mt == kSchema1 ||
                         mt == kSchema1Signed);
    if (usable) {
      auto parsed = oci::Digest::Parse(dg);
      if (!parsed) {
        last = Error(Code::kDataLoss, fmt::format("{}: registry sent an invalid digest", what));
        continue;
      }
      d.digest = *parsed;
      d.size = std::strtoll(len.c_str(), nullptr, 10);
    } else if (resp->status == 200 || resp->status == 405 || resp->status == 400) {
      // HEAD was not enough (no digest, an odd content type, or HEAD refused): GET it.
      auto get = [&] {
        HttpRequest r;
        r.url = url;
        r.headers = {ManifestAccept()};
        r.max_body = kMaxManifestBytes;
        r.cancel = cancel;
        return r;
      };
      auto g = impl_->SendRetrying(ep, get, {PullScope(ref)}, cancel);
      if (!g) {
        last = std::move(g).error().Wrap(what);
        continue;
      }
      if (g->status == 404) {
        last = Error(Code::kNotFound, what + ": not found");
        continue;
      }
      if (g->status != 200) {
        last = StatusError(*g, what);
        continue;
      }
      mt = MediaTypeOf(g->Header("content-type"));
      if (!oci::IsIndexType(mt) && !oci::IsManifestType(mt) && mt != kSchema1 &&
          mt != kSchema1Signed) {
        std::string sniffed = oci::SniffMediaType(g->body);
        if (!sniffed.empty()) mt = sniffed;
      }
      // A digest reference is checked against this below.
      d.digest = oci::Digest::Sha256Of(g->body);
      d.size = static_cast<int64_t>(g->body.size());
    } else {
      last = StatusError(*resp, what);
      if (resp->status == 401 || resp->status == 403) break;  // a mirror would not help
      continue;
    }
    if (mt == kSchema1 || mt == kSchema1Signed) {
      return MakeError(Code::kUnimplemented,
                       fmt::format("{}: Docker schema 1 manifests are not supported; push the "
                                   "image again with a current client",
                                   what));
    }
    if (ref.has_digest() && d.digest != *ref.digest()) {
      return MakeError(Code::kDataLoss,
                       fmt::format("{}: registry answered with digest {}", what, d.digest.str()));
    }
    d.media_type = mt;
    return d;
  }
  if (last) return Unexpected(std::move(*last));
  return MakeError(Code::kNotFound, what + ": not found");
}

Result<std::string> Client::FetchManifest(const oci::Reference& repo, const oci::Descriptor& desc,
                                          CancelContext* cancel) {
  if (desc.size > kMaxManifestBytes) {
    return MakeError(Code::kResourceExhausted,
                     fmt::format("{}: manifest {} is larger than {} bytes", repo.Name(),
                                 desc.digest.str(), kMaxManifestBytes));
  }
  std::optional<Error> last;
  for (const Endpoint& ep : impl_->PullEndpoints(repo)) {
    auto get = [&] {
      HttpRequest r;
      r.url = fmt::format("{}/v2/{}/manifests/{}", ep.base, repo.path(), desc.digest.str());
      r.headers = {ManifestAccept()};
      r.max_body = kMaxManifestBytes;
      r.cancel = cancel;
      return r;
    };
    auto g = impl_->SendRetrying(ep, get, {PullScope(repo)}, cancel);
    if (!g) {
      if (g.error().code() == Code::kCancelled) return Unexpected(std::move(g).error());
      last = std::move(g).error().Wrap(repo.Name());
      continue;
    }
    if (g->status != 200) {
      last = StatusError(*g, fmt::format("{}: manifest {}", repo.Name(), desc.digest.str()));
      continue;
    }
    oci::Digester dg(desc.digest);
    dg.Update(g->body);
    if (dg.Finish() != desc.digest ||
        (desc.size > 0 && static_cast<int64_t>(g->body.size()) != desc.size)) {
      last = Error(Code::kDataLoss, fmt::format("{}: content {}: digest mismatch", repo.Name(),
                                                desc.digest.str()));
      continue;
    }
    return std::move(g->body);
  }
  return Unexpected(std::move(*last));
}

Status Client::FetchBlob(const oci::Reference& repo, const oci::Descriptor& desc,
                         content::ContentStore& into, const TransferProgress& progress,
                         CancelContext* cancel) {
  if (into.Info(desc.digest)) {
    if (progress) progress(desc.size, desc.size);
    return OkStatus();
  }
  const std::string what = fmt::format("{}: blob {}", repo.Name(), desc.digest.str());
  std::optional<Error> last;
  for (const Endpoint& ep : impl_->PullEndpoints(repo)) {
    HOIST_ASSIGN_OR_RETURN(auto writer, into.Writer(desc.digest.str() + "-" + RandomSuffix()));
    std::string pending;  // received, not yet written
    pending.reserve(kWriteBatch);
    auto Flush = [&]() -> Status {
      if (pending.empty()) return OkStatus();
      Status st = writer->Write(pending);
      pending.clear();
      return st;
    };
    auto Received = [&] { return writer->Offset() + static_cast<int64_t>(pending.size()); };
    auto Restart = [&]() -> Status {
      pending.clear();
      HOIST_ASSIGN_OR_RETURN(writer, into.Writer(desc.digest.str() + "-" + RandomSuffix()));
      return OkStatus();
    };
    bool restarted = false;  // after a digest mismatch, one fresh try from the start
    for (int attempt = 1; attempt <= impl_->options().max_attempts + 1; ++attempt) {
      HOIST_TRY(Flush());  // what a broken transfer delivered counts for the resume
      const int64_t offset = writer->Offset();
      int64_t skip = 0;  // a server that ignores Range sends the whole blob again
      auto get = [&] {
        HttpRequest r;
        r.url = fmt::format("{}/v2/{}/blobs/{}", ep.base, repo.path(), desc.digest.str());
        if (offset > 0) r.headers.push_back(fmt::format("Range: bytes={}-", offset));
        r.cancel = cancel;
        r.body_sink = [&, first = true](long status, std::string_view chunk) mutable -> Status {
          if (first) {
            first = false;
            if (offset > 0 && status == 200) skip = offset;
          }
          if (skip > 0) {
            const size_t k = static_cast<size_t>(std::min<int64_t>(skip, chunk.size()));
            chunk.remove_prefix(k);
            skip -= static_cast<int64_t>(k);
          }
          if (chunk.empty()) return OkStatus();
          if (desc.size >= 0 && Received() + static_cast<int64_t>(chunk.size()) > desc.size) {
            return MakeError(Code::kDataLoss,
                             fmt::format("content {}: more bytes than the descriptor's size {}",
                                         desc.digest.str(), desc.size));
          }
          // The store gets large writes: a large read goes straight in, small ones gather.
          if (pending.empty() && chunk.size() >= kWriteBatch / 4) {
            HOIST_TRY(writer->Write(chunk));
          } else {
            pending.append(chunk);
            if (pending.size() >= kWriteBatch) HOIST_TRY(Flush());
          }
          if (progress) progress(Received(), desc.size);
          return OkStatus();
        };
        return r;
      };
      auto r = impl_->Send(ep, get, {PullScope(repo)});
      const bool last_try = attempt > impl_->options().max_attempts;
      if (r && (r->status == 200 || r->status == 206)) {
        Status st = Flush();
        if (st) st = writer->Commit(desc.size, desc.digest);
        if (st || st.error().code() == Code::kAlreadyExists) {
          impl_->RecordSource(repo, desc.digest);
          return OkStatus();
        }
        if (st.error().code() != Code::kDataLoss) return Unexpected(std::move(st).error().Wrap(what));
        last = std::move(st).error().Wrap(repo.Name());
        if (restarted) return Unexpected(std::move(*last));
        restarted = true;
        HOIST_TRY(Restart());
        continue;
      }
      if (!r) {
        const Code code = r.error().code();
        if (code == Code::kCancelled) return Unexpected(std::move(r).error());
        if (code == Code::kDataLoss) {
          // More bytes than announced: a corrupt or wrong blob. Start over once.
          last = std::move(r).error().Wrap(repo.Name());
          if (restarted) return Unexpected(std::move(*last));
          restarted = true;
          HOIST_TRY(Restart());
          continue;
        }
        if (code != Code::kUnavailable) return Unexpected(std::move(r).error().Wrap(what));
        last = std::move(r).error().Wrap(what);
        if (last_try) break;
        HOIST_TRY(impl_->Backoff(attempt, std::nullopt, cancel));
        continue;  // resumes from what was written
      }
      if (r->status == 416) {
        // Our offset is past what the server has: start again from zero.
        HOIST_TRY(Restart());
        continue;
      }
      if (r->status == 404) {
        last = Error(Code::kNotFound, what + ": not found");
        break;
      }
      last = StatusError(*r, what);
      if (!Retryable(r->status) || last_try) break;
      HOIST_TRY(impl_->Backoff(attempt, Impl::RetryAfter(*r), cancel));
    }
    if (last && (last->code() == Code::kUnauthenticated ||
                 last->code() == Code::kPermissionDenied)) {
      break;
    }
  }
  if (last) return Unexpected(std::move(*last));
  return MakeError(Code::kNotFound, what + ": not found");
}

Result<bool> Client::HasBlob(const oci::Reference& repo, const oci::Digest& digest,
                             CancelContext* cancel) {
  const Endpoint ep = impl_->PushEndpoint(repo);
  auto head = [&] {
    HttpRequest r;
    r.method = "HEAD";
    r.url = fmt::format("{}/v2/{}/blobs/{}", ep.base, repo.path(), digest.str());
    r.cancel = cancel;
    return r;
  };
  HOIST_ASSIGN_OR_RETURN(HttpResponse r,
                         impl_->SendRetrying(ep, head, {PushScope(repo)}, cancel));
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  return Unexpected(StatusError(r, fmt::format("{}: blob {}", repo.Name(), digest.str())));
}

Result<Client::PushOutcome> Client::PushBlob(const oci::Reference& repo,
                                             const oci::Descriptor& desc,
                                             content::ContentStore& from,
                                             const TransferProgress& progress,
                                             CancelContext* cancel) {
  const std::string what = fmt::format("{}: blob {}", repo.Name(), desc.digest.str());
  HOIST_ASSIGN_OR_RETURN(bool have, HasBlob(repo, desc.digest, cancel));
  if (have) {
    if (progress) progress(desc.size, desc.size);
    impl_->RecordSource(repo, desc.digest);
    return PushOutcome::kExisted;
  }
  const Endpoint ep = impl_->PushEndpoint(repo);
  const std::string uploads = fmt::format("{}/v2/{}/blobs/uploads/", ep.base, repo.path());
  std::vector<std::string> mounts;
  if (impl_->options().sources) {
    for (const std::string& r : impl_->options().sources->Lookup(desc.digest, repo.domain())) {
      if (r != repo.path() && mounts.size() < 3) mounts.push_back(r);
    }
  }
  std::optional<Error> last;
  for (int attempt = 1; attempt <= impl_->options().max_attempts; ++attempt) {
    if (cancel != nullptr) HOIST_TRY(cancel->Check());
    // Start an upload, or mount the blob from a repository known to hold it.
    std::string location;
    for (const std::string& other : mounts) {
      auto post = [&] {
        HttpRequest r;
        r.method = "POST";
        r.url = fmt::format("{}?mount={}&from={}", uploads, internal::UrlEncode(desc.digest.str()),
                            internal::UrlEncode(other));
        r.cancel = cancel;
        return r;
      };
      auto m = impl_->SendRetrying(ep, post, {PushScope(repo), "repository:" + other + ":pull"},
                                   cancel);
      if (!m) break;
      if (m->status == 201) {
        if (progress) progress(desc.size, desc.size);
        impl_->RecordSource(repo, desc.digest);
        return PushOutcome::kMounted;
      }
      if (m->status == 202 && !m->Header("location").empty()) {
        location = ResolveLocation(ep, m->Header("location"));
        break;
      }
    }
    mounts.clear();  // tried once; later attempts upload
    if (location.empty()) {
      auto post = [&] {
        HttpRequest r;
        r.method = "POST";
        r.url = uploads;
        r.cancel = cancel;
        return r;
      };
      HOIST_ASSIGN_OR_RETURN(HttpResponse p,
                             impl_->SendRetrying(ep, post, {PushScope(repo)}, cancel));
      if (p.status != 202 || p.Header("location").empty()) {
        return Unexpected(StatusError(p, what + ": start upload"));
      }
      location = ResolveLocation(ep, p.Header("location"));
    }
    HOIST_ASSIGN_OR_RETURN(auto reader, from.ReaderAt(desc.digest));
    int64_t sent_before = 0;
    // Reads [start, end) of the blob for one request body.
    auto body_of = [&](int64_t start, int64_t end) {
      return [&reader, &progress, &sent_before, &desc, start, end,
              pos = start](char* buf, size_t n) mutable -> Result<size_t> {
        const size_t want = static_cast<size_t>(std::min<int64_t>(n, end - pos));
        if (want == 0) return size_t{0};
        HOIST_ASSIGN_OR_RETURN(size_t got, reader->ReadAt(pos, buf, want));
        if (got == 0) {
          return MakeError(Code::kDataLoss,
                           fmt::format("content {}: shorter than its size", desc.digest.str()));
        }
        pos += static_cast<int64_t>(got);
        if (progress) progress(sent_before + (pos - start), desc.size);
        return got;
      };
    };
    Result<HttpResponse> done = MakeError(Code::kInternal, "no upload");
    const int64_t chunk = std::max<int64_t>(impl_->options().chunk_size, 1 << 20);
    if (desc.size <= chunk) {
      done = impl_->Send(ep, [&] {
        return HttpRequest{
            .method = "PUT",
            .url = WithQuery(location, "digest=" + internal::UrlEncode(desc.digest.str())),
            .headers = {"Content-Type: application/octet-stream"},
            .body_reader = body_of(0, desc.size),
            .body_size = desc.size,
            .cancel = cancel};
      }, {PushScope(repo)});
    } else {
      bool ok = true;
      for (int64_t off = 0; off < desc.size; off += chunk) {
        const int64_t end = std::min(desc.size, off + chunk);
        sent_before = off;
        auto patch = impl_->Send(ep, [&] {
          return HttpRequest{
              .method = "PATCH",
              .url = location,
              .headers = {"Content-Type: application/octet-stream",
                          fmt::format("Content-Range: {}-{}", off, end - 1)},
              .body_reader = body_of(off, end),
              .body_size = end - off,
              .cancel = cancel};
        }, {PushScope(repo)});
        if (!patch || patch->status != 202) {
          done = patch;
          ok = false;
          break;
        }
        if (!patch->Header("location").empty()) {
          location = ResolveLocation(ep, patch->Header("location"));
        }
      }
      if (ok) {
        done = impl_->Send(ep, [&] {
          return HttpRequest{
              .method = "PUT",
              .url = WithQuery(location, "digest=" + internal::UrlEncode(desc.digest.str())),
              .headers = {"Content-Type: application/octet-stream"},
              .cancel = cancel};
        }, {PushScope(repo)});
      }
    }
    if (done && done->status == 201) {
      impl_->RecordSource(repo, desc.digest);
      return PushOutcome::kUploaded;
    }
    if (!done) {
      if (done.error().code() != Code::kUnavailable) {
        return Unexpected(std::move(done).error().Wrap(what));
      }
      last = std::move(done).error().Wrap(what);
      HOIST_TRY(impl_->Backoff(attempt, std::nullopt, cancel));
      continue;
    }
    last = StatusError(*done, what);
    // A registry that rejects the digest got other bytes than we sent: a fault on the way.
    const bool bad_digest = done->status == 400 && done->body.find("DIGEST_INVALID") != std::string::npos;
    if (!Retryable(done->status) && !bad_digest) break;
    HOIST_TRY(impl_->Backoff(attempt, Impl::RetryAfter(*done), cancel));
  }
  return Unexpected(std::move(*last));
}

Status Client::PushManifest(const oci::Reference& repo, std::string_view tag_or_digest,
                            std::string_view media_type, std::string_view bytes,
                            CancelContext* cancel) {
  const Endpoint ep = impl_->PushEndpoint(repo);
  const std::string body(bytes);
  auto put = [&] {
    HttpRequest r;
    r.method = "PUT";
    r.url = fmt::format("{}/v2/{}/manifests/{}", ep.base, repo.path(), tag_or_digest);
    r.headers = {"Content-Type: " + std::string(media_type)};
    r.body = body;
    r.cancel = cancel;
    return r;
  };
  HOIST_ASSIGN_OR_RETURN(HttpResponse r, impl_->SendRetrying(ep, put, {PushScope(repo)}, cancel));
  if (r.status != 201 && r.status != 200) {
    return Unexpected(StatusError(r, fmt::format("{}:{}: push manifest", repo.Name(), tag_or_digest)));
  }
  return OkStatus();
}

Result<Client::LoginResult> Client::CheckLogin(std::string_view host, const AuthConfig& auth,
                                               CancelContext* cancel) {
  const Endpoint ep = impl_->HostEndpoint(host);
  auto ping = [&] {
    HttpRequest r;
    r.url = ep.base + "/v2/";
    r.cancel = cancel;
    return r;
  };
  auto r = impl_->Send(ep, ping, {}, auth);
  if (!r) {
    return Unexpected(std::move(r).error().Wrap(fmt::format("login to {} failed", host)));
  }
  const std::string refresh = impl_->TakeLoginRefresh(ep.host);
  if (r->status == 200) return LoginResult{.identity_token = refresh};
  return MakeError(CodeOfStatus(r->status),
                   fmt::format("login to {} failed: {}", host, RegistryErrorText(*r)));
}


}  // namespace hoist::registry
