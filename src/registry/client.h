// The OCI distribution client (registry HTTP API v2) over libcurl. One Client serves a whole
// engine: it keeps connections alive and reuses them (HTTP/2 where a TLS server offers it),
// and caches bearer tokens per host and scope until they expire.
//
// Endpoints follow docker: a reference's domain is its host, `docker.io` is reached at
// `registry-1.docker.io`; hosts on loopback speak plain HTTP unless configured otherwise
// (host_config.h). Pulls try the host's configured mirrors first, then the host; pushes go to
// the host only.
//
// Auth: a request goes out anonymously (or, to a host that challenged before, with what answers
// that challenge: a token already cached for its scope, or Basic credentials); a 401 with
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…` gets a token from the realm
// (credentials as Basic auth, or a refresh token through the OAuth2 POST), a `Basic` challenge
// gets the credentials directly, and the request is sent again once. Credentials and tokens
// never appear in errors, logs or progress.
//
// Whose credentials: each Client asks its own CredentialStore, once per host for its lifetime.
// An engine keeps one Client without credentials and makes one per build with
// WithCredentials (the build's session: the client's own docker config); those share
// connections and the token cache. Tokens are cached under the identity of the credentials
// that earned them (a salted digest of host, username and secrets, or anonymous) besides host
// and scope, so a build never sends a token fetched with another user's credentials, and an
// anonymous one never one fetched with any.
//
// Failures: 5xx, 429 (honouring `Retry-After`) and dropped connections are retried with
// exponential backoff (`max_attempts` in all); other 4xx never are. A blob download that breaks
// part-way resumes with `Range` from the bytes already written. Every byte is verified against
// its digest while it streams; a mismatch discards the download (nothing is committed), is
// retried once from the start, and then fails naming the digest (kDataLoss).
//
// Error texts name the reference or repository and the digest, e.g.
//   `docker.io/library/alpine:3.18: not found`,
//   `127.0.0.1:5000/app: blob sha256:…: unexpected status 500 Internal Server Error`,
//   `127.0.0.1:5000/app: unauthorized: authentication required`.
//
// Thread-safety: thread-safe; calls may run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "content/content_store.h"
#include "oci/descriptor.h"
#include "oci/digest.h"
#include "oci/reference.h"
#include "registry/credentials.h"
#include "registry/host_config.h"

namespace hoist::registry {

// Remembers which repositories of a host hold a blob, so that a push can mount it across
// repositories instead of uploading it (containerd's distribution-source labels).
class BlobSourceIndex {
 public:
  virtual ~BlobSourceIndex() = default;
  virtual void Record(const oci::Digest& digest, std::string_view host,
                      std::string_view repository) = 0;
  // Repositories of `host` known to hold `digest`, most recent first.
  virtual std::vector<std::string> Lookup(const oci::Digest& digest, std::string_view host) = 0;
};

// A BlobSourceIndex kept in a directory: one small file per digest (`<dir>/<alg>/<hex>`, lines
// `host/repository`, newest last, at most 16). Written atomically; an unreadable file is as
// good as absent. Thread-safe.
std::unique_ptr<BlobSourceIndex> NewDirBlobSourceIndex(std::string dir);

struct ClientOptions {
  RegistryConfig config;
  // Null: anonymous only.
  std::shared_ptr<CredentialStore> credentials;
  // Null: no cross-repository mounts.
  std::shared_ptr<BlobSourceIndex> sources;
  int max_attempts = 5;
  std::chrono::milliseconds initial_backoff{200};
  // Blobs up to this size are pushed with one PUT; larger ones in PATCH chunks of this size.
  int64_t chunk_size = int64_t{32} << 20;
  std::string user_agent = "hoist/0.1";
};

// The largest manifest or index hoist reads from a registry or pushes to one.
inline constexpr int64_t kMaxManifestBytes = 4 << 20;

// Byte counts as a transfer goes; called from the transferring thread.
using TransferProgress = std::function<void(int64_t done, int64_t total)>;

// The host that serves a reference's domain (`docker.io` → `registry-1.docker.io`).
std::string RegistryHost(std::string_view domain);

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();

  // A client that asks `credentials` (null: none, anonymous) instead of this one's store and
  // otherwise has the same options. It shares this client's connections, the challenges
  // hosts sent and the token cache (keyed by credential identity, see above); either may be
  // destroyed first.
  std::unique_ptr<Client> WithCredentials(std::shared_ptr<CredentialStore> credentials) const;

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The descriptor of what `ref` names (a manifest or an index), by tag or digest: media
  // type, digest and size. For a digest reference the digest is the reference's. kNotFound
  // `<ref>: not found`. Docker schema 1 manifests are refused (kUnimplemented) with a message
  // that says so.
  Result<oci::Descriptor> Resolve(const oci::Reference& ref, CancelContext* cancel = nullptr);

  // A manifest or index of `repo` by digest: its exact bytes, verified against `desc`.
  // At most kMaxManifestBytes (kResourceExhausted beyond).
  Result<std::string> FetchManifest(const oci::Reference& repo, const oci::Descriptor& desc,
                                    CancelContext* cancel = nullptr);

  // Downloads blob `desc` of `repo` into `into` (nothing to do if `into` has it), verified,
  // resuming and retrying as described above.
  Status FetchBlob(const oci::Reference& repo, const oci::Descriptor& desc,
                   content::ContentStore& into, const TransferProgress& progress = nullptr,
                   CancelContext* cancel = nullptr);

  // Whether `repo` has the blob (HEAD).
  Result<bool> HasBlob(const oci::Reference& repo, const oci::Digest& digest,
                       CancelContext* cancel = nullptr);

  // Uploads blob `desc` from `from` into `repo`: nothing if the registry has it; a
  // cross-repository mount when the source index knows another repository of the host that
  // holds it; else one PUT (small blobs) or PATCH chunks then PUT.
  enum class PushOutcome { kExisted, kMounted, kUploaded };
  Result<PushOutcome> PushBlob(const oci::Reference& repo, const oci::Descriptor& desc,
                               content::ContentStore& from,
                               const TransferProgress& progress = nullptr,
                               CancelContext* cancel = nullptr);

  // PUTs a manifest or index under `tag_or_digest` with its exact bytes and media type.
  Status PushManifest(const oci::Reference& repo, std::string_view tag_or_digest,
                      std::string_view media_type, std::string_view bytes,
                      CancelContext* cancel = nullptr);

  // For `hoist login`: pings `host`'s /v2/ with `auth` and succeeds when the registry accepts
  // it (or needs no auth). kUnauthenticated `login to <host> failed: unauthorized: …` else.
  // A token server asked with a username and password is asked for an offline token too, as
  // docker login does; the refresh token it gives (if any) is returned, to be stored instead of
  // the password.
  struct LoginResult {
    std::string identity_token;
  };
  Result<LoginResult> CheckLogin(std::string_view host, const AuthConfig& auth,
                                 CancelContext* cancel = nullptr);

 private:
  Client() = default;
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hoist::registry
