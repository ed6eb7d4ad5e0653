#include "source/http_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "base/unique_fd.h"
#include "registry/curl.h"

namespace hoist::source {
namespace {

struct Transfer {
  int fd = -1;
  oci::Digester digester;
  int64_t size = 0;
  int64_t max_size = 0;
  Status error;
  CancelContext* cancel = nullptr;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  t->size += static_cast<int64_t>(len);
  if (t->size > t->max_size) {
    t->error = MakeError(Code::kResourceExhausted,
                         fmt::format("download larger than {} bytes", t->max_size));
    return 0;
  }
  t->digester.Update(std::string_view(data, len));
  for (size_t done = 0; done < len;) {
    ssize_t w = ::write(t->fd, data + done, len - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      t->error = Unexpected(ErrnoError(errno, "write download"));
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  return len;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->cancel != nullptr && t->cancel->cancelled() ? 1 : 0;
}

}  // namespace

Result<HttpFetchResult> HttpFetch(const std::string& url, const std::string& dest,
                                  const HttpFetchOptions& options) {
  HOIST_ASSIGN_OR_RETURN(const registry::CurlApi* api, registry::Curl());
  UniqueFd fd(::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return Unexpected(ErrnoError(errno, "create download file"));
  auto fail = [&](Error e) -> Result<HttpFetchResult> {
    fd.Reset();
    ::unlink(dest.c_str());
    return Unexpected(std::move(e));
  };
  Transfer t;
  t.fd = fd.get();
  t.max_size = options.max_size;
  t.cancel = options.cancel;
  CURL* curl = api->easy_init();
  if (curl == nullptr) return fail(Error(Code::kInternal, "curl_easy_init failed"));
  char errbuf[CURL_ERROR_SIZE] = {0};
  api->easy_setopt(curl, CURLOPT_URL, url.c_str());
  api->easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  api->easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  api->easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  api->easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  api->easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  api->easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  api->easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  api->easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  api->easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  api->easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  api->easy_setopt(curl, CURLOPT_FILETIME, 1L);
  api->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  api->easy_setopt(curl, CURLOPT_USERAGENT, "hoist/0.1");
  const CURLcode rc = api->easy_perform(curl);
  long status = 0;
  api->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_off_t filetime = -1;
  api->easy_getinfo(curl, CURLINFO_FILETIME_T, &filetime);
  api->easy_cleanup(curl);
  if (!t.error) return fail(std::move(t.error).error());
  if (rc == CURLE_ABORTED_BY_CALLBACK) return fail(Error(Code::kCancelled, "context canceled"));
  if (rc != CURLE_OK) {
    return fail(Error(Code::kUnavailable,
                      fmt::format("{}: {}", url, errbuf[0] ? errbuf : api->easy_strerror(rc))));
  }
  if (status >= 400) {
    return fail(Error(Code::kNotFound, fmt::format("invalid response status {}", status)));
  }
  HttpFetchResult r;
  r.digest = t.digester.Finish();
  r.size = t.size;
  if (filetime >= 0) r.last_modified = static_cast<int64_t>(filetime);
  if (options.checksum && *options.checksum != r.digest) {
    return fail(Error(Code::kDataLoss, fmt::format("digest mismatch {}: {}",
                                                   options.checksum->str(), r.digest.str())));
  }
  if (::fsync(fd.get()) != 0) return fail(ErrnoError(errno, "write download"));
  return r;
}

}  // namespace hoist::source
