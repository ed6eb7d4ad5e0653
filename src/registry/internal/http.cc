#include "registry/internal/http.h"

#include <cctype>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "registry/curl.h"

namespace hoist::registry::internal {
namespace {

constexpr const char* kSystemBundle = "/etc/ssl/certs/ca-certificates.crt";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' ||
                        s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

struct Exchange {
  const HttpRequest* req = nullptr;
  HttpResponse* resp = nullptr;
  const CurlApi* api = nullptr;
  CURL* curl = nullptr;
  Status sink_error;
  size_t body_offset = 0;  // into req->body
  Status read_error;
  bool too_large = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    x->resp->headers.clear();  // a new response (after a redirect or 100-continue)
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  x->resp->headers.emplace_back(Lower(Trim(line.substr(0, colon))),
                                std::string(Trim(line.substr(colon + 1))));
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t len = size * n;
  long status = 0;
  x->api->easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
  if (x->req->body_sink && status >= 200 && status < 300) {
    Status st = x->req->body_sink(status, std::string_view(data, len));
    if (!st) {
      x->sink_error = std::move(st);
      return 0;
    }
    return len;
  }
  // Error bodies are kept (bounded) for the message; they never reach a sink.
  const int64_t limit = x->req->body_sink ? 64 * 1024 : x->req->max_body;
  if (static_cast<int64_t>(x->resp->body.size() + len) > limit) {
    if (x->req->body_sink) return len;  // the rest of an error body is not needed
    x->too_large = true;
    return 0;
  }
  x->resp->body.append(data, len);
  return len;
}

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t want = size * n;
  if (x->req->body_reader) {
    auto got = x->req->body_reader(buf, want);
    if (!got) {
      x->read_error = Unexpected(std::move(got).error());
      return CURL_READFUNC_ABORT;
    }
    return *got;
  }
  const size_t left = x->req->body.size() - x->body_offset;
  const size_t k = std::min(left, want);
  std::copy_n(x->req->body.data() + x->body_offset, k, buf);
  x->body_offset += k;
  return k;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* x = static_cast<Exchange*>(user);
  return x->req->cancel != nullptr && x->req->cancel->cancelled() ? 1 : 0;
}

}  // namespace

struct HttpPool::Shared {
  std::mutex mu;
  std::vector<CURL*> idle;
  CURLSH* share = nullptr;  // made at the first request, when libcurl is loaded
  std::mutex locks[CURL_LOCK_DATA_LAST];
  // CA bundles by the list of extra files, so each is read once.
  std::map<std::string, std::string> ca_blobs;

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Shared*>(user)->locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Shared*>(user)->locks[data].unlock();
  }

  Result<const std::string*> CaBlob(const std::vector<std::string>& files) {
    std::string key;
    for (const auto& f : files) key += f + "\n";
    std::lock_guard lock(mu);
    auto it = ca_blobs.find(key);
    if (it != ca_blobs.end()) return &it->second;
    std::string blob;
    for (const std::string& f : std::vector<std::string>{kSystemBundle}) {
      std::ifstream in(f);
      if (in) {
        std::stringstream ss;
        ss << in.rdbuf();
        blob += ss.str() + "\n";
      }
    }
    for (const std::string& f : files) {
      std::ifstream in(f);
      if (!in) {
        return MakeError(Code::kNotFound, fmt::format("CA certificate file {}: cannot be read", f));
      }
      std::stringstream ss;
      ss << in.rdbuf();
      blob += ss.str() + "\n";
    }
    return &ca_blobs.emplace(key, std::move(blob)).first->second;
  }
};

HttpPool::HttpPool() : shared_(std::make_unique<Shared>()) {}

HttpPool::~HttpPool() {
  if (shared_->share == nullptr) return;  // never used, libcurl perhaps never loaded
  const CurlApi* api = *Curl();             // loaded when the share was made
  for (CURL* c : shared_->idle) api->easy_cleanup(c);
  api->share_cleanup(shared_->share);
}

Result<HttpResponse> HttpPool::Do(const HttpRequest& req, const std::string& user_agent) {
  const std::string* ca_blob = nullptr;
  if (!req.tls.ca_files.empty()) {
    HOIST_ASSIGN_OR_RETURN(ca_blob, shared_->CaBlob(req.tls.ca_files));
  }
  HOIST_ASSIGN_OR_RETURN(const CurlApi* api, Curl());
  CURL* curl = nullptr;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->share == nullptr) {
      CURLSH* share = api->share_init();
      if (share == nullptr) return MakeError(Code::kInternal, "curl_share_init failed");
      api->share_setopt(share, CURLSHOPT_LOCKFUNC, &Shared::Lock);
      api->share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Shared::Unlock);
      api->share_setopt(share, CURLSHOPT_USERDATA, shared_.get());
      api->share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
      api->share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
      api->share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
      shared_->share = share;
    }
    if (!shared_->idle.empty()) {
      curl = shared_->idle.back();
      shared_->idle.pop_back();
    }
  }
  if (curl == nullptr) {
    curl = api->easy_init();
    if (curl == nullptr) return MakeError(Code::kInternal, "curl_easy_init failed");
  } else {
    api->easy_reset(curl);  // keeps the connection, DNS and TLS session caches
  }
  HttpResponse resp;
  Exchange x{.req = &req, .resp = &resp, .api = api, .curl = curl};
  char errbuf[CURL_ERROR_SIZE] = {0};
  api->easy_setopt(curl, CURLOPT_SHARE, shared_->share);
  api->easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  api->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  api->easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  api->easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  api->easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  api->easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  api->easy_setopt(curl, CURLOPT_USERAGENT, user_agent.c_str());
  api->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  // A transfer that moves nothing for a minute is dead.
  api->easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  api->easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  api->easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  api->easy_setopt(curl, CURLOPT_BUFFERSIZE, 1024L * 1024);
  api->easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  api->easy_setopt(curl, CURLOPT_HEADERDATA, &x);
  api->easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  api->easy_setopt(curl, CURLOPT_WRITEDATA, &x);
  api->easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  api->easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  api->easy_setopt(curl, CURLOPT_XFERINFODATA, &x);
  if (req.tls.insecure) {
    api->easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    api->easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (ca_blob != nullptr) {
    curl_blob blob{.data = const_cast<char*>(ca_blob->data()), .len = ca_blob->size(),
                   .flags = CURL_BLOB_NOCOPY};
    api->easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
  }
  const bool has_body = req.body_reader || !req.body.empty();
  if (req.method == "HEAD") {
    api->easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (req.method != "GET") {
    api->easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    api->easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    api->easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
    api->easy_setopt(curl, CURLOPT_READDATA, &x);
    const int64_t size = req.body_reader ? req.body_size : static_cast<int64_t>(req.body.size());
    api->easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(has_body ? size : 0));
  }
  // Registries often serve blobs from storage elsewhere: reads follow redirects (custom
  // headers such as Authorization are not sent to another host).
  if (req.method == "GET" || req.method == "HEAD") {
    api->easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    api->easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  }
  curl_slist* headers = nullptr;
  for (const std::string& h : req.headers) headers = api->slist_append(headers, h.c_str());
  headers = api->slist_append(headers, "Expect:");  // no 100-continue round trip
  api->easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = api->easy_perform(curl);
  api->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
  api->slist_free_all(headers);
  {
    std::lock_guard lock(shared_->mu);
    shared_->idle.push_back(curl);
  }
  if (!x.sink_error) return Unexpected(std::move(x.sink_error).error());
  if (!x.read_error) return Unexpected(std::move(x.read_error).error());
  if (rc == CURLE_ABORTED_BY_CALLBACK && req.cancel != nullptr && req.cancel->cancelled()) {
    return Unexpected(req.cancel->Check().error());
  }
  if (x.too_large) {
    return MakeError(Code::kResourceExhausted,
                     fmt::format("response larger than {} bytes", req.max_body));
  }
  if (rc != CURLE_OK) {
    std::string msg = errbuf[0] != '\0' ? errbuf : api->easy_strerror(rc);
    return MakeError(Code::kUnavailable, msg);
  }
  return resp;
}

std::string HttpResponse::Header(std::string_view name) const {
  std::string out;
  for (const auto& [k, v] : headers) {
    if (k == name) out = v;
  }
  return out;
}

std::vector<std::string> HttpResponse::Headers(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (k == name) out.push_back(v);
  }
  return out;
}

std::string UrlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace hoist::registry::internal
