// The simulated WAN link of ferry-wan-proxy: per-direction one-way delay and bandwidth cap, the
// cut states, and the parsing of routes and of POST /link bodies. Pure code, no sockets.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ferry::wanproxy {

using Clock = std::chrono::steady_clock;

/// What a cut does to the link (docs/wan-proxy.md, "Cuts").
///   none      — bytes flow.
///   blackhole — nothing moves in either direction and new connections are accepted but never
///               connected upstream, as when a route drops every packet: the peers see silence,
///               not an error, and everything held flows on once the cut heals (TCP would have
///               retransmitted it).
///   reset     — every open connection is aborted with a TCP RST on both sides, and new ones
///               are reset on accept, as a firewall rejecting with tcp-reset does.
enum class Cut { none, blackhole, reset };

/// "none", "blackhole" or "reset".
std::string_view cut_name(Cut cut);

/// Parses a cut name; throws std::invalid_argument naming the value and the accepted names.
Cut parse_cut(std::string_view text);

/// One direction of the link. "up" is client → upstream, "down" is upstream → client.
struct DirectionSettings {
  /// One-way propagation delay added to every byte; a round trip costs up.delay + down.delay.
  std::chrono::microseconds delay{0};
  /// Bandwidth cap in bytes per second; 0 = unlimited. Shared by every connection of the
  /// proxy, as one physical link is.
  uint64_t rate_bytes_per_s = 0;

  bool operator==(const DirectionSettings&) const = default;
};

/// The whole link: both directions and the cut state.
struct LinkSettings {
  DirectionSettings up;
  DirectionSettings down;
  Cut cut = Cut::none;

  bool operator==(const LinkSettings&) const = default;
};

/// When bytes handed to one direction of the link arrive at its far end: the link serialises
/// them after whatever it is still sending (at `rate_bytes_per_s`), then they travel `delay`.
/// This is the store-and-forward model of a leased line (serialisation + propagation delay);
/// queueing beyond the caller's window is not modelled. Not thread-safe.
class DirectionSchedule {
 public:
  /// Returns the arrival time of `bytes` offered at `now` under `settings`, and books the link
  /// for their serialisation time.
  Clock::time_point deliver_at(Clock::time_point now, uint64_t bytes, const DirectionSettings& settings);

 private:
  Clock::time_point free_at_{};  // when the link finishes serialising what it was given
};

/// A listening address and the upstream it forwards to.
struct Route {
  std::string listen_host;
  uint16_t listen_port = 0;  ///< 0: a free port is picked at bind time
  std::string upstream_host;
  uint16_t upstream_port = 0;
};

/// Parses "HOST:PORT" ("[v6]:PORT" allowed). `what` names the argument in errors. Port 0 is
/// accepted only when `allow_port_zero`. Throws std::invalid_argument naming `what`, the text
/// and what was expected.
void parse_host_port(std::string_view text, std::string_view what, bool allow_port_zero,
                     std::string& host, uint16_t& port);

/// Parses a --route value "LISTEN_HOST:LISTEN_PORT=UPSTREAM_HOST:UPSTREAM_PORT" (listen port 0
/// allowed, upstream port not). Throws std::invalid_argument naming the value.
Route parse_route(std::string_view text);

/// Megabits per second (10^6 bit/s, as `tc … rate 100mbit`) → bytes per second; 0 stays 0
/// (unlimited). Throws std::invalid_argument naming `what` when negative, not finite, or above
/// 10^6 Mbit/s.
uint64_t mbit_to_bytes_per_s(double mbit, std::string_view what);

/// Milliseconds → microseconds. Throws std::invalid_argument naming `what` when negative, not
/// finite, or above one hour.
std::chrono::microseconds delay_from_ms(double ms, std::string_view what);

/// Applies the JSON object of a POST /link body to `current` and returns the result. Every
/// field is optional: "delay_ms" (both directions), "delay_up_ms", "delay_down_ms", "rate_mbit"
/// (both), "rate_up_mbit", "rate_down_mbit" (numbers; 0 = unlimited), "cut" ("none",
/// "blackhole", "reset"). A direction-specific field wins over the shared one. Throws
/// std::invalid_argument naming the field and the value for malformed JSON, a field that is
/// not one of these, or a value of the wrong type or range; `current` is then unchanged.
LinkSettings apply_link_update(const LinkSettings& current, std::string_view json_body);

/// The settings as the JSON object GET /status and POST /link answer: delay_up_ms,
/// delay_down_ms, rate_up_mbit, rate_down_mbit (0 = unlimited), cut.
nlohmann::json link_json(const LinkSettings& link);

}  // namespace ferry::wanproxy
