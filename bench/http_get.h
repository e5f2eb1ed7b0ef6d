#pragma once

#include <chrono>
#include <string>

namespace ferry::bench {

/// The answer to one GET.
struct HttpResponse {
  /// Status code from the status line (RFC 9112 §4), e.g. 200.
  int status = 0;
  /// The body: Content-Length bytes when the header is present, else everything up to the
  /// server's close.
  std::string body;
};

/// GETs `path` (e.g. "/status") from `base_url` ("http://HOST:PORT", as --mirror-status
/// takes it) through libcurl with an HTTP/1.0 request, so the server closes the connection
/// after the answer (RFC 1945 §7.2.2); no proxy is used (the bench talks to a local mirror).
/// Throws BenchError when nothing accepts the connection, the answer is not HTTP or does not
/// complete within `timeout`. A non-2xx status is returned, not thrown.
HttpResponse http_get(const std::string& base_url, const std::string& path,
                      std::chrono::milliseconds timeout);

/// True when GET `path` answers 200 within `timeout`; false for any failure.
bool http_ok(const std::string& base_url, const std::string& path,
             std::chrono::milliseconds timeout);

}  // namespace ferry::bench
