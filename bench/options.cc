#include "bench/options.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace ferry::bench {
namespace {

std::optional<int64_t> parse_int(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// Returns an error message, or empty when `text` is a valid HOST:PORT list.
std::string check_bootstrap(std::string_view text) {
  if (text.empty()) return "must not be empty";
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    size_t colon = item.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return fmt::format("'{}' is not HOST:PORT", item);
    }
    auto port = parse_int(item.substr(colon + 1));
    if (!port || *port < 1 || *port > 65535) {
      return fmt::format("'{}' has no port in 1..65535", item);
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return {};
}

std::string check_data_dir(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "does not exist";
  if (!S_ISDIR(st.st_mode)) return "is not a directory";
  if (::access(path.c_str(), W_OK | X_OK) != 0) return "is not writable";
  return {};
}

// One row per flag: the only place a flag is declared. `apply` validates and stores the
// value, returning an error message or empty; `current` renders the default for --help.
struct OptionSpec {
  const char* name;
  const char* metavar;
  const char* help;
  std::function<std::string(Options&, const std::string&)> apply;
  std::function<std::string(const Options&)> current;
};

std::function<std::string(Options&, const std::string&)> int_setter(int64_t Options::*field,
                                                                     int64_t lo, int64_t hi) {
  return [field, lo, hi](Options& o, const std::string& v) -> std::string {
    auto n = parse_int(v);
    if (!n || *n < lo || *n > hi) return fmt::format("expects an integer in {}..{}", lo, hi);
    o.*field = *n;
    return {};
  };
}

std::function<std::string(Options&, const std::string&)> seconds_setter(double Options::*field,
                                                                        double hi) {
  return [field, hi](Options& o, const std::string& v) -> std::string {
    auto d = parse_double(v);
    if (!d || *d <= 0 || *d > hi) return fmt::format("expects seconds in (0, {}]", hi);
    o.*field = *d;
    return {};
  };
}

const std::vector<OptionSpec>& option_table() {
  static const std::vector<OptionSpec> table = {
      {"bootstrap", "HOST:PORT",
       "Broker to measure (required). A comma-separated list is passed to librdkafka as is.",
       [](Options& o, const std::string& v) {
         std::string err = check_bootstrap(v);
         if (err.empty()) o.bootstrap = v;
         return err;
       },
       [](const Options& o) { return o.bootstrap.empty() ? std::string("none") : o.bootstrap; }},
      {"records", "N", "Records produced in each of the four produce cases.",
       int_setter(&Options::records, 1, 100'000'000),
       [](const Options& o) { return std::to_string(o.records); }},
      {"record-size", "BYTES",
       "Record value size. At least 16 (latency records carry send time + sequence); at most "
       "900000 so one record fits librdkafka's default 1 MB request limit.",
       int_setter(&Options::record_size, 16, 900'000),
       [](const Options& o) { return std::to_string(o.record_size); }},
      {"seconds", "S",
       "Cap on each produce case and on the consume phase, and the length of each of the two "
       "offset-commit runs; a capped phase reports what was acknowledged/read until then and "
       "says \"capped\": true.",
       seconds_setter(&Options::seconds, 600),
       [](const Options& o) { return fmt::format("{:g}", o.seconds); }},
      {"data-dir", "DIR",
       "Where the machine-limit and fsync-rate files are written and fdatasync'ed. Put it on "
       "the filesystem of the broker's log.dirs, or the ratios compare different disks.",
       [](Options& o, const std::string& v) {
         std::string err = check_data_dir(v);
         if (err.empty()) o.data_dir = v;
         return err;
       },
       [](const Options& o) { return o.data_dir; }},
      {"latency-rate", "N", "Records per second sent during the latency phase.",
       int_setter(&Options::latency_rate, 1, 100'000),
       [](const Options& o) { return std::to_string(o.latency_rate); }},
      {"latency-seconds", "S", "Length of the latency phase.",
       seconds_setter(&Options::latency_seconds, 60),
       [](const Options& o) { return fmt::format("{:g}", o.latency_seconds); }},
      {"latency-linger-ms", "MS",
       "linger.ms of the latency producer. 0 puts each record in its own Produce request; "
       "larger values let librdkafka batch, trading a little latency for fewer requests.",
       int_setter(&Options::latency_linger_ms, 0, 1000),
       [](const Options& o) { return std::to_string(o.latency_linger_ms); }},
      {"rebalance-members", "N",
       "Consumers that form one group in the rebalance phase (one thread each); one more "
       "joins and then leaves, so N+1 clients run at the peak.",
       int_setter(&Options::rebalance_members, 1, 64),
       [](const Options& o) { return std::to_string(o.rebalance_members); }},
      {"rebalance-partitions", "M",
       "Partitions of the topic the rebalance group subscribes to and splits among its members.",
       int_setter(&Options::rebalance_partitions, 1, 10'000),
       [](const Options& o) { return std::to_string(o.rebalance_partitions); }},
      {"commit-partitions", "P",
       "Partitions the offset-commit consumer owns; every OffsetCommit carries one offset for "
       "each. The sync and async commit runs each last --seconds.",
       int_setter(&Options::commit_partitions, 1, 10'000),
       [](const Options& o) { return std::to_string(o.commit_partitions); }},
  };
  return table;
}

// Greedy word wrap of `text` to `width` columns, each line prefixed by `indent`.
std::string wrap(const std::string& text, const std::string& indent, size_t width) {
  std::string out;
  std::string line;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    if (!line.empty() && indent.size() + line.size() + 1 + word.size() > width) {
      out += indent + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    start = end + 1;
  }
  if (!line.empty()) out += indent + line + "\n";
  return out;
}

}  // namespace

std::string usage_text() {
  std::string out =
      "Usage: ferry-bench --bootstrap HOST:PORT [options]\n"
      "\n"
      "Measures a Kafka-protocol broker with librdkafka: produce throughput (acks=1 and all,\n"
      "1 and 8 partitions), consume throughput, end-to-end latency at a fixed rate, consumer\n"
      "group rebalance times, offset commit rates, and this machine's own loopback-TCP-to-disk\n"
      "and fsync limits. Prints one JSON document on stdout; progress goes to stderr.\n"
      "Exit status: 0 ok, 1 the run failed, 2 bad arguments.\n"
      "\n"
      "Options:\n";
  const Options defaults;
  for (const auto& spec : option_table()) {
    out += fmt::format("  --{} {}\n", spec.name, spec.metavar);
    out += wrap(fmt::format("{} Default: {}.", spec.help, spec.current(defaults)), "      ", 80);
  }
  out += "  --help\n      Print this text and exit.\n";
  return out;
}

ParsedArgs parse_options(int argc, char** argv) {
  ParsedArgs result;
  auto fail = [&result](std::string message) {
    result.kind = ParsedArgs::Kind::usage_error;
    result.error = std::move(message);
    return result;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      result.kind = ParsedArgs::Kind::help;
      return result;
    }
    if (arg.substr(0, 2) != "--") return fail(fmt::format("unexpected argument '{}'", arg));
    std::string_view name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      value = std::string(name.substr(eq + 1));
      name = name.substr(0, eq);
    }
    const OptionSpec* spec = nullptr;
    for (const auto& candidate : option_table()) {
      if (name == candidate.name) spec = &candidate;
    }
    if (spec == nullptr) return fail(fmt::format("unknown option '--{}' (see --help)", name));
    if (!value) {
      if (i + 1 >= argc) return fail(fmt::format("--{} needs a value {}", name, spec->metavar));
      value = argv[++i];
    }
    if (std::string err = spec->apply(result.options, *value); !err.empty()) {
      return fail(fmt::format("--{} '{}': {}", name, *value, err));
    }
  }
  if (result.options.bootstrap.empty()) return fail("--bootstrap HOST:PORT is required");
  if (result.options.data_dir == Options{}.data_dir) {
    if (std::string err = check_data_dir(result.options.data_dir); !err.empty()) {
      return fail(fmt::format("default --data-dir '{}' {}", result.options.data_dir, err));
    }
  }
  return result;
}

}  // namespace ferry::bench
