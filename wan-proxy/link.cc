#include "wan-proxy/link.h"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace ferry::wanproxy {

std::string_view cut_name(Cut cut) {
  switch (cut) {
    case Cut::none: return "none";
    case Cut::blackhole: return "blackhole";
    case Cut::reset: return "reset";
  }
  return "none";
}

Cut parse_cut(std::string_view text) {
  if (text == "none") return Cut::none;
  if (text == "blackhole") return Cut::blackhole;
  if (text == "reset") return Cut::reset;
  throw std::invalid_argument(
      fmt::format("cut \"{}\" is not one of none, blackhole, reset", text));
}

Clock::time_point DirectionSchedule::deliver_at(Clock::time_point now, uint64_t bytes,
                                                const DirectionSettings& settings) {
  Clock::time_point sent = now;
  if (settings.rate_bytes_per_s > 0) {
    const Clock::time_point start = free_at_ > now ? free_at_ : now;
    const auto serialise = std::chrono::nanoseconds(static_cast<int64_t>(
        static_cast<long double>(bytes) * 1e9L / static_cast<long double>(settings.rate_bytes_per_s)));
    sent = start + std::chrono::duration_cast<Clock::duration>(serialise);
    free_at_ = sent;
  }
  return sent + settings.delay;
}

void parse_host_port(std::string_view text, std::string_view what, bool allow_port_zero,
                     std::string& host, uint16_t& port) {
  const auto bad = [&](std::string_view why) {
    return std::invalid_argument(fmt::format("{} \"{}\": {}; expected HOST:PORT such as 127.0.0.1:{}",
                                             what, text, why, allow_port_zero ? "0" : "9092"));
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) throw bad("no port");
  std::string_view h = text.substr(0, colon);
  const std::string_view p = text.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) throw bad("no host");
  if (h.find(':') != std::string_view::npos && text.front() != '[') throw bad("an IPv6 host needs brackets");
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string_view::npos)
    throw bad("the port is not a number");
  const unsigned long value = std::stoul(std::string(p));
  if (value > 65535) throw bad("the port is above 65535");
  if (value == 0 && !allow_port_zero) throw bad("port 0 is not a destination");
  host = std::string(h);
  port = static_cast<uint16_t>(value);
}

Route parse_route(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || text.find('=', eq + 1) != std::string_view::npos)
    throw std::invalid_argument(fmt::format(
        "--route \"{}\": expected LISTEN_HOST:PORT=UPSTREAM_HOST:PORT such as "
        "127.0.0.1:0=127.0.0.1:9092",
        text));
  Route route;
  parse_host_port(text.substr(0, eq), "--route listen address", true, route.listen_host, route.listen_port);
  parse_host_port(text.substr(eq + 1), "--route upstream address", false, route.upstream_host,
                  route.upstream_port);
  return route;
}

uint64_t mbit_to_bytes_per_s(double mbit, std::string_view what) {
  if (!std::isfinite(mbit) || mbit < 0 || mbit > 1e6)
    throw std::invalid_argument(
        fmt::format("{} {}: expected megabits per second from 0 (unlimited) to 1000000", what, mbit));
  if (mbit == 0) return 0;
  const auto bytes = static_cast<uint64_t>(std::llround(mbit * 1e6 / 8));
  return bytes == 0 ? 1 : bytes;
}

std::chrono::microseconds delay_from_ms(double ms, std::string_view what) {
  if (!std::isfinite(ms) || ms < 0 || ms > 3'600'000)
    throw std::invalid_argument(
        fmt::format("{} {}: expected milliseconds from 0 to 3600000", what, ms));
  return std::chrono::microseconds(std::llround(ms * 1000));
}

namespace {

double number_field(const nlohmann::json& body, const char* name) {
  const nlohmann::json& v = body.at(name);
  if (!v.is_number())
    throw std::invalid_argument(fmt::format("field \"{}\" is {}; expected a number", name, v.dump()));
  return v.get<double>();
}

}  // namespace

LinkSettings apply_link_update(const LinkSettings& current, std::string_view json_body) {
  const nlohmann::json body = nlohmann::json::parse(json_body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object())
    throw std::invalid_argument(
        fmt::format("body \"{}\" is not a JSON object such as {{\"delay_ms\": 25}}",
                    json_body.substr(0, 200)));
  static constexpr const char* kFields[] = {"delay_ms",  "delay_up_ms",    "delay_down_ms", "rate_mbit",
                                            "rate_up_mbit", "rate_down_mbit", "cut"};
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (const char* f : kFields) known = known || key == f;
    if (!known)
      throw std::invalid_argument(fmt::format(
          "field \"{}\" is not one of delay_ms, delay_up_ms, delay_down_ms, rate_mbit, "
          "rate_up_mbit, rate_down_mbit, cut",
          key));
  }
  LinkSettings next = current;
  if (body.contains("delay_ms")) next.up.delay = next.down.delay = delay_from_ms(number_field(body, "delay_ms"), "delay_ms");
  if (body.contains("delay_up_ms")) next.up.delay = delay_from_ms(number_field(body, "delay_up_ms"), "delay_up_ms");
  if (body.contains("delay_down_ms"))
    next.down.delay = delay_from_ms(number_field(body, "delay_down_ms"), "delay_down_ms");
  if (body.contains("rate_mbit"))
    next.up.rate_bytes_per_s = next.down.rate_bytes_per_s =
        mbit_to_bytes_per_s(number_field(body, "rate_mbit"), "rate_mbit");
  if (body.contains("rate_up_mbit"))
    next.up.rate_bytes_per_s = mbit_to_bytes_per_s(number_field(body, "rate_up_mbit"), "rate_up_mbit");
  if (body.contains("rate_down_mbit"))
    next.down.rate_bytes_per_s = mbit_to_bytes_per_s(number_field(body, "rate_down_mbit"), "rate_down_mbit");
  if (body.contains("cut")) {
    const nlohmann::json& v = body.at("cut");
    if (!v.is_string())
      throw std::invalid_argument(
          fmt::format("field \"cut\" is {}; expected \"none\", \"blackhole\" or \"reset\"", v.dump()));
    next.cut = parse_cut(v.get<std::string>());
  }
  return next;
}

nlohmann::json link_json(const LinkSettings& link) {
  const auto ms = [](std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; };
  const auto mbit = [](uint64_t bytes_per_s) { return static_cast<double>(bytes_per_s) * 8 / 1e6; };
  return {{"delay_up_ms", ms(link.up.delay)},
          {"delay_down_ms", ms(link.down.delay)},
          {"rate_up_mbit", mbit(link.up.rate_bytes_per_s)},
          {"rate_down_mbit", mbit(link.down.rate_bytes_per_s)},
          {"cut", std::string(cut_name(link.cut))}};
}

}  // namespace ferry::wanproxy
