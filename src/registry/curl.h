// libcurl, loaded when HTTP is first used rather than at every start. The library and the ~25
// it brings (TLS, Kerberos, LDAP, IDN, SSH...) cost about 9 ms of binding at each start of a
// hoist process, more than a cached build's own work, and most commands never speak HTTP.
// Callers use the table's entries as they would the functions of <curl/curl.h>; nothing in
// hoist links libcurl directly.
//
// Thread-safety: Curl() is thread-safe; it loads the library and runs curl_global_init once.
#pragma once

#include <curl/curl.h>

#include "base/error.h"

namespace hoist::registry {

struct CurlApi {
  decltype(&curl_easy_init) easy_init;
  decltype(&curl_easy_setopt) easy_setopt;
  decltype(&curl_easy_getinfo) easy_getinfo;
  decltype(&curl_easy_perform) easy_perform;
  decltype(&curl_easy_reset) easy_reset;
  decltype(&curl_easy_cleanup) easy_cleanup;
  decltype(&curl_easy_strerror) easy_strerror;
  decltype(&curl_share_init) share_init;
  decltype(&curl_share_setopt) share_setopt;
  decltype(&curl_share_cleanup) share_cleanup;
  decltype(&curl_slist_append) slist_append;
  decltype(&curl_slist_free_all) slist_free_all;
};

// The library's entry points, or kUnavailable naming libcurl.so.4 and why it could not be
// loaded (the same answer on every call).
Result<const CurlApi*> Curl();

}  // namespace hoist::registry
