// One HTTP exchange over libcurl, for the registry client. Handles are pooled and share one
// connection cache, DNS cache and TLS session cache, so requests to a registry reuse their
// connections (HTTP/1.1 keep-alive, HTTP/2 over TLS where the server offers it).
//
// Thread-safety: HttpPool is thread-safe; a request is performed on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"

namespace hoist::registry::internal {

struct TlsOptions {
  bool insecure = false;                // no certificate verification
  std::vector<std::string> ca_files;    // in addition to the system's
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // A request body held in memory...
  std::string_view body;
  // ...or read in pieces (returns bytes read, 0 at the end); body_size must then be set.
  std::function<Result<size_t>(char* buf, size_t n)> body_reader;
  int64_t body_size = -1;
  // Where the response body goes; without a sink it is collected (up to max_body bytes).
  // A sink error stops the transfer and is returned as the request's error.
  std::function<Status(long status, std::string_view chunk)> body_sink;
  int64_t max_body = 4 << 20;
  TlsOptions tls;
  CancelContext* cancel = nullptr;
};

struct HttpResponse {
  long status = 0;
  // Header names lower-cased, in order received (repeated headers kept). For a redirected
  // request, only the final response's headers.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // when no sink was given

  // The last value of a header (name lower-case), or "".
  std::string Header(std::string_view name) const;
  std::vector<std::string> Headers(std::string_view name) const;
};

// A transfer that failed without an HTTP status (connection refused or dropped, TLS, timeout)
// is kUnavailable with curl's message; a sink error or cancellation comes back as it was.
class HttpPool {
 public:
  HttpPool();
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  Result<HttpResponse> Do(const HttpRequest& request, const std::string& user_agent);

 private:
  struct Shared;
  std::unique_ptr<Shared> shared_;
};

// Percent-encodes a query parameter value.
std::string UrlEncode(std::string_view s);

}  // namespace hoist::registry::internal
