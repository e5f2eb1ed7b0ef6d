// ferry-wan-proxy's command line: flags → WanProxy::Options, with errors that name the flag.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "wan-proxy/proxy.h"

namespace ferry::wanproxy {

/// A parsed command line.
struct ProxyArgs {
  WanProxy::Options proxy;
  /// --control HOST:PORT: the HTTP control endpoint (GET /status, POST /link, GET /metrics,
  /// GET /healthz). Empty host and port 0: no control endpoint.
  std::string control_host;
  uint16_t control_port = 0;
  bool control = false;
  std::string log_level = "info";
};

/// Parses argv (CLI11 tokenising). Returns nullopt for --help/-h. Throws std::invalid_argument
/// naming the flag, the value and what was expected: no --route, a malformed route, a negative
/// or non-numeric delay or rate, a window outside 64 KiB … 1 GiB, an unknown flag or level.
std::optional<ProxyArgs> parse_proxy_args(int argc, char** argv);

/// The --help text.
std::string proxy_usage();

}  // namespace ferry::wanproxy
