#include "bench/http_get.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>
#include <string_view>

#include "bench/bench_error.h"

namespace ferry::bench {
namespace {

// libcurl's process-wide setup, done once before the first handle (libcurl-easy(3)).
void init_curl_once() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) throw BenchError(fmt::format("curl_global_init: {}", curl_easy_strerror(rc)));
}

size_t append_body(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

}  // namespace

HttpResponse http_get(const std::string& base_url, const std::string& path,
                      std::chrono::milliseconds timeout) {
  if (std::string_view(base_url).substr(0, 7) != "http://") {
    throw BenchError(fmt::format("{}: not an http:// URL", base_url));
  }
  init_curl_once();
  std::string url = base_url;
  if (!url.empty() && url.back() == '/') url.pop_back();
  url += path;

  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw BenchError(fmt::format("GET {}: curl_easy_init failed", url));
  HttpResponse response;
  char error[CURL_ERROR_SIZE] = {};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_0));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    throw BenchError(fmt::format("GET {}: {}", url, error[0] != '\0' ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

bool http_ok(const std::string& base_url, const std::string& path,
             std::chrono::milliseconds timeout) {
  try {
    return http_get(base_url, path, timeout).status == 200;
  } catch (const BenchError&) {
    return false;
  }
}

}  // namespace ferry::bench
