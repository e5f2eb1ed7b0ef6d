#include "bench/mirror_endpoints.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <string_view>

#include "bench/bench_error.h"
#include "bench/http_get.h"

namespace ferry::bench {
namespace {

bool is_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

// The text format spells infinities and NaN as Go's ParseFloat does ("+Inf", "-Inf", "NaN"),
// which from_chars does not accept.
std::optional<double> parse_prom_value(std::string_view text) {
  if (text == "+Inf" || text == "Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<PromSample> parse_line(std::string_view line) {
  PromSample s;
  size_t i = 0;
  while (i < line.size() && is_name_char(line[i], i == 0)) ++i;
  if (i == 0) return std::nullopt;
  s.name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      const size_t key_start = i;
      while (i < line.size() && is_name_char(line[i], i == key_start)) ++i;
      if (i == key_start || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
        return std::nullopt;
      }
      std::string key(line.substr(key_start, i - key_start));
      i += 2;
      std::string value;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\' && i + 1 < line.size()) {
          const char next = line[i + 1];
          value += next == 'n' ? '\n' : next;
          i += 2;
        } else {
          value += line[i++];
        }
      }
      if (i >= line.size()) return std::nullopt;
      ++i;  // closing quote
      s.labels.emplace_back(std::move(key), std::move(value));
    }
  }
  while (i < line.size() && line[i] == ' ') ++i;
  const size_t value_end = line.find(' ', i);
  auto value = parse_prom_value(line.substr(i, value_end == std::string_view::npos
                                                   ? std::string_view::npos
                                                   : value_end - i));
  if (!value) return std::nullopt;
  s.value = *value;
  return s;
}

}  // namespace

const MirrorRoute* MirrorStatus::route_of(const std::string& source_topic) const {
  for (const auto& r : routes)
    if (r.source_topic == source_topic) return &r;
  return nullptr;
}

MirrorStatus fetch_mirror_status(const std::string& status_url) {
  const HttpResponse r = http_get(status_url, "/status", std::chrono::seconds(2));
  if (r.status != 200) {
    throw BenchError(fmt::format("GET {}/status answered {}", status_url, r.status));
  }
  MirrorStatus out;
  try {
    const auto j = nlohmann::json::parse(r.body);
    int64_t newest_error_ms = -1;
    for (const auto& flow : j.at("flows")) {
      ++out.flows;
      out.records_replicated += flow.value("records_replicated", int64_t{0});
      for (const auto& t : flow.at("topics")) {
        out.routes.push_back({t.at("source").get<std::string>(), t.at("remote").get<std::string>(),
                              t.value("partitions", 0)});
      }
      for (const auto& p : flow.at("partitions")) {
        ++out.assigned_partitions;
        out.lag_records += p.value("lag_records", int64_t{0});
      }
      const auto& err = flow.at("last_error");
      const int64_t err_ms = flow.value("last_error_ms", int64_t{0});
      if (err.is_string() && err_ms > newest_error_ms) {
        out.last_error = err.get<std::string>();
        newest_error_ms = err_ms;
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw BenchError(fmt::format("GET {}/status: unexpected JSON: {}", status_url, e.what()));
  }
  return out;
}

const std::string* PromSample::label(const std::string& key) const {
  for (const auto& [k, v] : labels)
    if (k == key) return &v;
  return nullptr;
}

std::vector<PromSample> parse_prometheus_text(const std::string& text) {
  std::vector<PromSample> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() != '#') {
      if (auto s = parse_line(line)) out.push_back(std::move(*s));
    }
    start = end + 1;
  }
  return out;
}

std::vector<HistogramBucket> histogram_buckets(
    const std::vector<PromSample>& samples, const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& match) {
  const std::string bucket_name = name + "_bucket";
  std::map<double, double> by_bound;
  for (const auto& s : samples) {
    if (s.name != bucket_name) continue;
    const std::string* le = s.label("le");
    if (le == nullptr) continue;
    const bool matches = std::all_of(match.begin(), match.end(), [&s](const auto& kv) {
      const std::string* v = s.label(kv.first);
      return v != nullptr && *v == kv.second;
    });
    if (!matches) continue;
    if (auto bound = parse_prom_value(*le)) by_bound[*bound] += s.value;
  }
  std::vector<HistogramBucket> out;
  for (const auto& [le, cumulative] : by_bound) out.push_back({le, cumulative});
  return out;
}

std::optional<QuantileEstimate> estimate_quantile(const std::vector<HistogramBucket>& buckets,
                                                  double q) {
  if (buckets.empty() || !std::isinf(buckets.back().le)) return std::nullopt;
  const double count = buckets.back().cumulative;
  if (!(count > 0)) return std::nullopt;
  const double rank = q * count;
  double low = 0;
  double below = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const auto& b = buckets[i];
    if (b.cumulative >= rank) {
      if (std::isinf(b.le)) {
        return QuantileEstimate{low, low, b.le};
      }
      const double in_bucket = b.cumulative - below;
      const double fraction = in_bucket > 0 ? (rank - below) / in_bucket : 1.0;
      return QuantileEstimate{low + (b.le - low) * fraction, low, b.le};
    }
    low = b.le;
    below = b.cumulative;
  }
  return std::nullopt;
}

}  // namespace ferry::bench
