#pragma once
// libcurl, loaded on first use. Linking it would load libcurl, OpenSSL, GnuTLS, Kerberos, LDAP
// and a dozen more libraries into every am2z process at start (about 7 MB of RSS and several
// milliseconds), though most runs never make an HTTP request.
#include <curl/curl.h>

#include <string>

namespace am2z {

/// The libcurl functions the http processor uses.
struct CurlApi {
  CURLcode (*global_init)(long flags);
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL* handle);
  CURLcode (*easy_setopt)(CURL* handle, CURLoption option, ...);
  CURLcode (*easy_perform)(CURL* handle);
  CURLcode (*easy_getinfo)(CURL* handle, CURLINFO info, ...);
  const char* (*easy_strerror)(CURLcode code);
  curl_slist* (*slist_append)(curl_slist* list, const char* text);
  void (*slist_free_all)(curl_slist* list);
};

/// libcurl (libcurl.so.4), loaded and initialised once; null when it cannot be loaded, with the
/// reason in `why`.
const CurlApi* curl_api(std::string& why);

}  // namespace am2z
