// The http(s) source: a file downloaded for `ADD https://...` (BuildKit's source/http). The
// body streams to a file while its sha256 is computed; a checksum given by the build
// (`ADD --checksum=sha256:...`) must match, else the download fails naming both digests.
//
// Thread-safety: Fetch may run concurrently for different destinations.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/cancel.h"
#include "base/error.h"
#include "oci/digest.h"

namespace hoist::source {

struct HttpFetchResult {
  oci::Digest digest;  // sha256 of the body
  int64_t size = 0;
  // Last-Modified, as Unix seconds, when the server sent a valid one.
  std::optional<int64_t> last_modified;
};

struct HttpFetchOptions {
  // When set, the body must have this digest (kDataLoss `digest mismatch <want>: <got>`).
  std::optional<oci::Digest> checksum;
  CancelContext* cancel = nullptr;
  // Larger bodies are refused (kResourceExhausted).
  int64_t max_size = int64_t{8} << 30;
};

// GETs `url` (http or https, following redirects) into a new file `dest`. Errors:
// `invalid response status 404` for HTTP errors, the transfer's own message for network
// failures; `dest` is removed on any failure.
Result<HttpFetchResult> HttpFetch(const std::string& url, const std::string& dest,
                                  const HttpFetchOptions& options = {});

}  // namespace hoist::source
