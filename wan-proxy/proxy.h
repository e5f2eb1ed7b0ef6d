// ferry-wan-proxy's engine: TCP forwarding through a simulated WAN link (link.h) on one Asio
// io_context thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "wan-proxy/link.h"

namespace ferry::wanproxy {

/// Forwards every connection accepted on a route's listening address to its upstream, each
/// direction through the shared link: a chunk read at time t is written to the other side at
/// DirectionSchedule::deliver_at(t, …). End of stream is forwarded as a half-close (shutdown of
/// the write side) after the data before it; a reset or error on either side aborts both sides
/// with a TCP RST. TCP_NODELAY is set on both sockets, so the proxy adds no Nagle delay of its
/// own. Each direction of each connection reads at most `window_bytes` ahead of the
/// acknowledgements (a delivered chunk is acknowledged one reverse delay later), then stops
/// reading its source until they arrive: TCP flow control pushes back on the sender, a connection
/// moves at most one window per round trip, and memory is bounded by about the window per
/// direction.
class WanProxy {
 public:
  struct Options {
    /// At least one. A listen port of 0 is replaced by the port actually bound.
    std::vector<Route> routes;
    LinkSettings link;
    /// Bytes one direction of one connection may have unacknowledged, as a TCP receive window:
    /// a connection moves at most window_bytes per round trip. The default, 6 MiB, is Linux's
    /// default tcp_rmem maximum (the largest receive window autotuning grows to).
    uint64_t window_bytes = 6ull << 20;
  };

  /// Binds and listens on every route (SO_REUSEADDR). Throws std::system_error naming the
  /// address when a listen host does not resolve or cannot be bound.
  explicit WanProxy(Options options);
  ~WanProxy();
  WanProxy(const WanProxy&) = delete;
  WanProxy& operator=(const WanProxy&) = delete;

  /// The routes with their bound listen ports.
  const std::vector<Route>& routes() const;

  /// Serves on the calling thread until stop(); then aborts every connection and returns.
  void run();
  /// Makes run() return. Thread-safe.
  void stop();

  /// The link settings last set. Thread-safe.
  LinkSettings link() const;
  /// Replaces the link settings; takes effect for bytes read from now on (bytes already on the
  /// link keep their arrival time), except the cut: entering `reset` aborts every open
  /// connection, leaving `blackhole` releases everything held. Thread-safe.
  void set_link(const LinkSettings& link);

  /// {"link": link_json(…), "window_bytes", "bytes_up", "bytes_down" (delivered, since start),
  ///  "connections_reset" (by a reset cut), "upstream_connect_failures",
  ///  "routes": [{"listen", "upstream", "connections_accepted", "connections_open"}]}.
  /// Thread-safe.
  nlohmann::json status() const;
  /// Bytes delivered to the far side since start: `up` client to upstream, else upstream to
  /// client. Thread-safe; one atomic read (what /metrics asks for on every scrape).
  uint64_t bytes_delivered(bool up) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::wanproxy
