#include "registry/curl.h"

#include <dlfcn.h>

#include <string>

#include <fmt/format.h>

namespace hoist::registry {
namespace {

constexpr const char* kLibrary = "libcurl.so.4";

struct Loaded {
  CurlApi api{};
  std::string error;  // empty when api is usable
};

template <typename F>
bool Bind(void* lib, const char* name, F& out, std::string& error) {
  void* sym = ::dlsym(lib, name);
  if (sym == nullptr) {
    error = fmt::format("{} has no {}", kLibrary, name);
    return false;
  }
  out = reinterpret_cast<F>(sym);
  return true;
}

Loaded Load() {
  Loaded l;
  // RTLD_LOCAL: its TLS and compression libraries stay out of the global symbol scope.
  void* lib = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    l.error = fmt::format("{} cannot be loaded ({}); install libcurl4", kLibrary,
                          why != nullptr ? why : "unknown reason");
    return l;
  }
  CurlApi& a = l.api;
  const bool ok = Bind(lib, "curl_easy_init", a.easy_init, l.error) &&
                  Bind(lib, "curl_easy_setopt", a.easy_setopt, l.error) &&
                  Bind(lib, "curl_easy_getinfo", a.easy_getinfo, l.error) &&
                  Bind(lib, "curl_easy_perform", a.easy_perform, l.error) &&
                  Bind(lib, "curl_easy_reset", a.easy_reset, l.error) &&
                  Bind(lib, "curl_easy_cleanup", a.easy_cleanup, l.error) &&
                  Bind(lib, "curl_easy_strerror", a.easy_strerror, l.error) &&
                  Bind(lib, "curl_share_init", a.share_init, l.error) &&
                  Bind(lib, "curl_share_setopt", a.share_setopt, l.error) &&
                  Bind(lib, "curl_share_cleanup", a.share_cleanup, l.error) &&
                  Bind(lib, "curl_slist_append", a.slist_append, l.error) &&
                  Bind(lib, "curl_slist_free_all", a.slist_free_all, l.error);
  if (!ok) return l;  // the library stays loaded; the process does not retry
  decltype(&curl_global_init) global_init = nullptr;
  if (!Bind(lib, "curl_global_init", global_init, l.error)) return l;
  if (const CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    l.error = fmt::format("{}: curl_global_init failed ({})", kLibrary, a.easy_strerror(rc));
  }
  return l;
}

}  // namespace

Result<const CurlApi*> Curl() {
  static const Loaded loaded = Load();  // the library is never unloaded
  if (!loaded.error.empty()) return MakeError(Code::kUnavailable, loaded.error);
  return &loaded.api;
}

}  // namespace hoist::registry
