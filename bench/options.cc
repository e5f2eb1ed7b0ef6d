#include "bench/options.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <memory>
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

// Returns an error message, or empty when `text` is "http://HOST:PORT" (an optional trailing
// slash allowed): the only form the bench's minimal HTTP client speaks.
std::string check_status_url(std::string_view text) {
  constexpr std::string_view scheme = "http://";
  if (text.substr(0, scheme.size()) != scheme) return "must start with http://";
  std::string_view rest = text.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) return "must be http://HOST:PORT, without a path";
  return check_bootstrap(rest);
}

std::string check_executable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "does not exist";
  if (!S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0) return "is not an executable file";
  return {};
}

std::string check_readable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "does not exist";
  if (!S_ISREG(st.st_mode) || ::access(path.c_str(), R_OK) != 0) return "is not a readable file";
  return {};
}

std::function<std::string(Options&, const std::string&)> checked_path(
    std::string Options::*field, std::string (*check)(const std::string&)) {
  return [field, check](Options& o, const std::string& v) {
    std::string err = check == nullptr ? std::string() : check(v);
    if (v.empty()) err = "must not be empty";
    if (err.empty()) o.*field = v;
    return err;
  };
}

std::string or_none(const std::string& value) { return value.empty() ? "none" : value; }

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
      {"records", "N",
       "Records produced at least in each of the four produce cases (mirror and security modes "
       "have their own defaults).",
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
      {"min-seconds", "S",
       "Broker mode: each produce case keeps producing past --records until it has run this "
       "long, so it measures the sustained rate and not the page cache; 0 produces exactly "
       "--records. The caps of the produce cases and the consume phase are this plus --seconds.",
       [](Options& o, const std::string& v) -> std::string {
         if (v == "0") {
           o.min_seconds = 0;
           return {};
         }
         return seconds_setter(&Options::min_seconds, 600)(o, v).empty() ? std::string()
                                                                       : "expects seconds in [0, 600]";
       },
       [](const Options& o) { return fmt::format("{:g}", o.min_seconds); }},
      {"data-dir", "DIR",
       "Where the machine-limit and fsync-rate files are written and fdatasync'ed. Put it on "
       "the filesystem of the broker's log.dirs, or the ratios compare different disks.",
       [](Options& o, const std::string& v) {
         std::string err = check_data_dir(v);
         if (err.empty()) o.data_dir = v;
         return err;
       },
       [](const Options& o) { return o.data_dir; }},
      {"latency-rate", "N",
       "Records per second sent during the latency phase. Without it: in broker mode half the "
       "best acks=all produce rate measured in the same run, in mirror mode 10 MB/s of "
       "--record-size values (the report's rate_rule says which).",
       int_setter(&Options::latency_rate, 1, 1'000'000),
       [](const Options& o) { return std::to_string(o.latency_rate); }},
      {"latency-seconds", "S", "Length of the latency phase.",
       seconds_setter(&Options::latency_seconds, 60),
       [](const Options& o) { return fmt::format("{:g}", o.latency_seconds); }},
      {"latency-linger-ms", "MS",
       "linger.ms of the latency producer. 0 puts each record in its own Produce request; "
       "larger values let librdkafka batch, trading a little latency for fewer requests. "
       "Broker mode without it: 5, the produce cases' linger, since its rate is half their peak.",
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
      {"replication-factor", "N",
       "Replication factor of every topic the broker phases create (a region of several brokers on "
       "etcd; issue 17). Above 1 the topics also get min.insync.replicas = --min-insync-replicas.",
       int_setter(&Options::replication_factor, 1, 32767),
       [](const Options& o) { return std::to_string(o.replication_factor); }},
      {"min-insync-replicas", "N",
       "min.insync.replicas of the created topics when --replication-factor is above 1.",
       int_setter(&Options::min_insync_replicas, 1, 32767),
       [](const Options& o) { return std::to_string(o.min_insync_replicas); }},
      {"mirror-target", "HOST:PORT",
       "Mirror mode: the mirror's target cluster (--bootstrap is its source). Replaces the "
       "broker phases with produce-only and consume-only on the source, the mirror's copy of "
       "those records to the target, and replication latency at a fixed rate (bench/mirror-mode.md). "
       "Needs --mirror-status, --mirror-bin and --mirror-config. In this mode --records "
       "defaults to 200000 and --latency-seconds to 10.",
       [](Options& o, const std::string& v) {
         std::string err = check_bootstrap(v);
         if (err.empty()) o.mirror_target = v;
         return err;
       },
       [](const Options& o) { return or_none(o.mirror_target); }},
      {"mirror-status", "URL",
       "Mirror mode: http://HOST:PORT of the mirror's [mirror] status.listener (/healthz, "
       "/status, /metrics).",
       [](Options& o, const std::string& v) {
         std::string err = check_status_url(v);
         if (err.empty()) o.mirror_status = v.back() == '/' ? v.substr(0, v.size() - 1) : v;
         return err;
       },
       [](const Options& o) { return or_none(o.mirror_status); }},
      {"mirror-bin", "PATH",
       "Mirror mode: the ferry-mirror executable, started by the bench after the produce and "
       "consume phases and stopped (SIGTERM) at the end.",
       checked_path(&Options::mirror_bin, check_executable),
       [](const Options& o) { return or_none(o.mirror_bin); }},
      {"mirror-config", "FILE",
       "Mirror mode: TOML handed to ferry-mirror --config; it must run a flow from "
       "--bootstrap to --mirror-target that replicates the bench's ferry-bench-* topics and "
       "serve --mirror-status.",
       checked_path(&Options::mirror_config, check_readable),
       [](const Options& o) { return or_none(o.mirror_config); }},
      {"mirror-extra-configs", "FILE[,FILE...]",
       "Mirror mode: one more ferry-mirror process of the same flow per TOML file (comma-"
       "separated), started and stopped with the first; the flow's consumer group shares the "
       "partitions among them. The extra configs need no status listener.",
       [](Options& o, const std::string& v) -> std::string {
         std::vector<std::string> files;
         size_t start = 0;
         for (;;) {
           const size_t comma = v.find(',', start);
           files.push_back(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
           if (comma == std::string::npos) break;
           start = comma + 1;
         }
         for (const auto& f : files) {
           if (f.empty()) return "an empty file name in the list";
           if (std::string err = check_readable(f); !err.empty()) return f + " " + err;
         }
         o.mirror_extra_configs = std::move(files);
         return {};
       },
       [](const Options& o) {
         std::string out;
         for (const auto& f : o.mirror_extra_configs) out += (out.empty() ? "" : ",") + f;
         return or_none(out);
       }},
      {"mirror-log", "FILE",
       "Mirror mode: file the mirror's stdout and stderr are appended to.",
       checked_path(&Options::mirror_log, nullptr),
       [](const Options& o) { return o.mirror_log.empty() ? "DATA_DIR/ferry-mirror.log" : o.mirror_log; }},
      {"mirror-pid-file", "FILE",
       "Mirror mode: write the mirror's process id here once started, for a wrapper's cleanup.",
       checked_path(&Options::mirror_pid_file, nullptr),
       [](const Options& o) { return or_none(o.mirror_pid_file); }},
      {"mirror-seconds", "S",
       "Mirror mode: cap on the mirror phase, from starting the mirror until the target holds "
       "every record.",
       seconds_setter(&Options::mirror_seconds, 600),
       [](const Options& o) { return fmt::format("{:g}", o.mirror_seconds); }},
      {"security-ssl", "HOST:PORT",
       "Security mode: the SSL listener of the broker whose PLAINTEXT listener is --bootstrap. "
       "Replaces the broker phases with produce and consume over PLAINTEXT, SSL and SASL_SSL "
       "of that broker and PLAINTEXT of --security-audit-all, and SCRAM/PLAIN logins per "
       "second. Needs --security-sasl-ssl, --security-sasl-plaintext, --security-audit-all "
       "and -X ssl.ca.location, sasl.username and a password source. In this mode --records "
       "defaults to 1000000 and --seconds to 60.",
       [](Options& o, const std::string& v) {
         std::string err = check_bootstrap(v);
         if (err.empty()) o.security_ssl = v;
         return err;
       },
       [](const Options& o) { return or_none(o.security_ssl); }},
      {"security-sasl-ssl", "HOST:PORT", "Security mode: the same broker's SASL_SSL listener.",
       [](Options& o, const std::string& v) {
         std::string err = check_bootstrap(v);
         if (err.empty()) o.security_sasl_ssl = v;
         return err;
       },
       [](const Options& o) { return or_none(o.security_sasl_ssl); }},
      {"security-sasl-plaintext", "HOST:PORT",
       "Security mode: the same broker's SASL_PLAINTEXT listener (login-rate phase).",
       [](Options& o, const std::string& v) {
         std::string err = check_bootstrap(v);
         if (err.empty()) o.security_sasl_plaintext = v;
         return err;
       },
       [](const Options& o) { return or_none(o.security_sasl_plaintext); }},
      {"security-audit-all", "HOST:PORT",
       "Security mode: PLAINTEXT listener of a second broker like the first but with "
       "audit.log.events set to every category.",
       [](Options& o, const std::string& v) {
         std::string err = check_bootstrap(v);
         if (err.empty()) o.security_audit_all = v;
         return err;
       },
       [](const Options& o) { return or_none(o.security_audit_all); }},
      {"broker-pid", "PID",
       "Broker and security modes: process id of the broker behind --bootstrap, so each produce "
       "and consume case reports the broker's CPU (cores, CPU-ms per MB) next to the client's.",
       int_setter(&Options::broker_pid, 1, 4'194'304),
       [](const Options& o) { return o.broker_pid > 0 ? std::to_string(o.broker_pid) : "none"; }},
      {"security-audit-all-pid", "PID", "Security mode: process id of the audit-all broker, as --broker-pid.",
       int_setter(&Options::security_audit_all_pid, 1, 4'194'304),
       [](const Options& o) {
         return o.security_audit_all_pid > 0 ? std::to_string(o.security_audit_all_pid) : "none";
       }},
      {"security-rounds", "N",
       "Security mode: times every throughput case runs (odd rounds in reverse case order); "
       "each case reports its fastest round.",
       int_setter(&Options::security_rounds, 1, 10),
       [](const Options& o) { return std::to_string(o.security_rounds); }},
      {"login-clients", "N", "Security mode: clients logging in in parallel.",
       int_setter(&Options::login_clients, 1, 256),
       [](const Options& o) { return std::to_string(o.login_clients); }},
      {"login-seconds", "S", "Security mode: length of each login-rate run (SCRAM, PLAIN).",
       seconds_setter(&Options::login_seconds, 600),
       [](const Options& o) { return fmt::format("{:g}", o.login_seconds); }},
      {"mirror-partitions", "P",
       "Mirror mode: partitions of the topic produced, consumed and mirrored.",
       int_setter(&Options::mirror_partitions, 1, 1000),
       [](const Options& o) { return std::to_string(o.mirror_partitions); }},
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

constexpr const char* kDescription =
    "Measures a Kafka-protocol broker with librdkafka: produce throughput (acks=1 and all,\n"
    "1 and 8 partitions), consume throughput, end-to-end latency at a fixed rate, consumer\n"
    "group rebalance times, offset commit rates, and this machine's own loopback-TCP-to-disk\n"
    "and fsync limits. Prints one JSON document on stdout; progress goes to stderr.\n"
    "With --mirror-target it measures ferry-mirror instead: produce-only and consume-only on\n"
    "the source, the mirror's copy of the same records to the target, and replication\n"
    "latency at a fixed rate.\n"
    "With --security-ssl it measures produce/consume over PLAINTEXT, SSL and SASL_SSL of one\n"
    "broker and with every audit event category, and SCRAM and PLAIN logins per second.\n"
    "Exit status: 0 ok, 1 the run failed, 2 bad arguments.";

// --help in the bench's own layout: every option on its line with its metavar, then its help
// wrapped at 80 columns ending in "Default: X." (the option's CLI11 default string).
class BenchHelp : public CLI::FormatterBase {
 public:
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const override {
    std::string out = fmt::format(
        "Usage: ferry-bench --bootstrap HOST:PORT [options]\n\n{}\n\nOptions:\n",
        app->get_description());
    const CLI::Option* help = app->get_help_ptr();
    for (const CLI::Option* o : app->get_options()) {
      if (o == help) continue;
      out += fmt::format("  {} {}\n", o->get_name(false, true), o->get_type_name());
      out += wrap(fmt::format("{} Default: {}.", o->get_description(), o->get_default_str()),
                  "      ", 80);
    }
    if (help != nullptr) {
      out += fmt::format("  {}\n      {}\n", help->get_name(false, true), help->get_description());
    }
    return out;
  }
};

// The CLI11 app for the option table: one string option per row, the last of a repeated flag
// winning. Values are checked by the rows' `apply` after parsing, so --help wins over a bad value
// (CLI11 2.1.2 runs validators before it looks at the help flag).
std::unique_ptr<CLI::App> make_app() {
  auto app = std::make_unique<CLI::App>(kDescription, "ferry-bench");
  app->formatter(std::make_shared<BenchHelp>());
  app->set_help_flag("-h,--help", "Print this text and exit.");
  // Unknown arguments are collected and named by parse_options() in Ferry's words.
  app->allow_extras();
  app->add_option("-X,--client-property", CLI::callback_t{},
                  "librdkafka property KEY=VALUE for every client (repeatable), e.g. "
                  "security.protocol=SASL_SSL, ssl.ca.location=FILE, sasl.mechanism=SCRAM-SHA-512, "
                  "sasl.username=NAME. The password only as sasl.password.file=PATH or "
                  "sasl.password.env=NAME, never on the command line.")
      ->type_name("KEY=VALUE")
      ->default_str("none")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  const Options defaults;
  for (const auto& spec : option_table()) {
    app->add_option(std::string("--") + spec.name, CLI::callback_t{}, spec.help)
        ->type_name(spec.metavar)
        ->default_str(spec.current(defaults))
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  return app;
}

}  // namespace

std::string usage_text() { return make_app()->help(); }

ParsedArgs parse_options(int argc, char** argv) {
  ParsedArgs result;
  auto fail = [&result](std::string message) {
    result.kind = ParsedArgs::Kind::usage_error;
    result.error = std::move(message);
    return result;
  };
  std::unique_ptr<CLI::App> app = make_app();
  try {
    app->parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    result.kind = ParsedArgs::Kind::help;
    return result;
  } catch (const CLI::ParseError& e) {
    return fail(e.what());  // names the option: "--records: 1 required N missing"
  }
  if (const auto extra = app->remaining(); !extra.empty()) {
    const std::string& first = extra.front();
    if (first.rfind("--", 0) == 0) {
      const std::string name = first.substr(0, first.find('='));
      return fail(fmt::format("unknown option '{}' (see --help)", name));
    }
    return fail(fmt::format("unexpected argument '{}'", first));
  }
  for (const auto& spec : option_table()) {
    const CLI::Option* o = app->get_option(std::string("--") + spec.name);
    if (o->count() == 0) continue;
    const std::string& value = o->results().back();
    if (std::string err = spec.apply(result.options, value); !err.empty()) {
      return fail(fmt::format("--{} '{}': {}", spec.name, value, err));
    }
  }
  for (const std::string& arg : app->get_option("--client-property")->results()) {
    std::pair<std::string, std::string> kv;
    if (std::string err = parse_client_property(arg, kv); !err.empty()) {
      return fail(fmt::format("-X '{}': {}", arg.substr(0, arg.find('=')) + "=…", err));
    }
    result.options.client_properties.push_back(std::move(kv));
  }
  if (std::string err = resolve_password(result.options.client_properties); !err.empty()) {
    return fail("-X " + err);
  }
  result.options.seconds_given = app->get_option("--seconds")->count() > 0;
  result.options.min_seconds_given = app->get_option("--min-seconds")->count() > 0;
  result.options.records_given = app->get_option("--records")->count() > 0;
  result.options.latency_seconds_given = app->get_option("--latency-seconds")->count() > 0;
  result.options.latency_rate_given = app->get_option("--latency-rate")->count() > 0;
  result.options.latency_linger_given = app->get_option("--latency-linger-ms")->count() > 0;
  if (result.options.bootstrap.empty()) return fail("--bootstrap HOST:PORT is required");
  Options& o = result.options;
  const bool any_mirror_flag = !o.mirror_status.empty() || !o.mirror_bin.empty() ||
                               !o.mirror_config.empty() || !o.mirror_log.empty() ||
                               !o.mirror_pid_file.empty();
  if (o.mirror_mode() && !o.client_properties.empty()) {
    return fail("-X is not supported in mirror mode (its clusters are PLAINTEXT)");
  }
  if (o.mirror_mode()) {
    if (o.mirror_status.empty()) return fail("--mirror-target needs --mirror-status URL");
    if (o.mirror_bin.empty()) return fail("--mirror-target needs --mirror-bin PATH");
    if (o.mirror_config.empty()) return fail("--mirror-target needs --mirror-config FILE");
    if (!o.records_given) o.records = kMirrorDefaultRecords;
    if (!o.latency_seconds_given) o.latency_seconds = kMirrorDefaultLatencySeconds;
    if (!o.min_seconds_given) o.min_seconds = 0;
  } else if (any_mirror_flag) {
    return fail("--mirror-status, --mirror-bin, --mirror-config, --mirror-log and "
                "--mirror-pid-file need --mirror-target HOST:PORT");
  }
  const bool any_security_flag = !o.security_sasl_ssl.empty() ||
                                 !o.security_sasl_plaintext.empty() ||
                                 !o.security_audit_all.empty();
  if (o.security_mode()) {
    if (o.mirror_mode()) return fail("--security-ssl and --mirror-target exclude each other");
    if (o.security_sasl_ssl.empty()) return fail("--security-ssl needs --security-sasl-ssl HOST:PORT");
    if (o.security_sasl_plaintext.empty()) {
      return fail("--security-ssl needs --security-sasl-plaintext HOST:PORT");
    }
    if (o.security_audit_all.empty()) return fail("--security-ssl needs --security-audit-all HOST:PORT");
    bool user = false;
    bool password = false;
    for (const auto& [k, v] : o.client_properties) {
      user |= k == "sasl.username";
      password |= k == "sasl.password";
    }
    if (!user || !password) {
      return fail("--security-ssl needs -X sasl.username=NAME and -X sasl.password.file=PATH "
                  "(or sasl.password.env=NAME)");
    }
    if (!o.records_given) o.records = kSecurityDefaultRecords;
    if (!o.seconds_given) o.seconds = kSecurityDefaultSeconds;
    if (!o.min_seconds_given) o.min_seconds = 0;
  } else if (any_security_flag) {
    return fail("--security-sasl-ssl, --security-sasl-plaintext and --security-audit-all need "
                "--security-ssl HOST:PORT");
  }
  if (result.options.data_dir == Options{}.data_dir) {
    if (std::string err = check_data_dir(result.options.data_dir); !err.empty()) {
      return fail(fmt::format("default --data-dir '{}' {}", result.options.data_dir, err));
    }
  }
  return result;
}

LatencyPlan latency_plan(const Options& options, const std::vector<double>& acks_all_records_per_s) {
  LatencyPlan plan;
  plan.linger_ms = options.latency_linger_given ? options.latency_linger_ms
                   : options.mirror_mode()      ? 0
                                                : kBrokerLatencyLingerMs;
  if (options.latency_rate_given) {
    plan.per_s = options.latency_rate;
    plan.rule = "--latency-rate";
  } else if (options.mirror_mode()) {
    plan.per_s = std::max<int64_t>(1, kMirrorLatencyBytesPerS / std::max<int64_t>(1, options.record_size));
    plan.rule = fmt::format("{} MB/s of {}-byte values (issue 16's replication latency goal)",
                            kMirrorLatencyBytesPerS / 1'000'000, options.record_size);
  } else {
    double peak = 0;
    for (double r : acks_all_records_per_s) peak = std::max(peak, r);
    if (peak < 2) {
      plan.per_s = options.latency_rate;
      plan.rule = "default (no acks=all produce rate measured)";
    } else {
      plan.per_s = static_cast<int64_t>(peak / 2);
      plan.rule = fmt::format("half the best acks=all produce rate of this run ({:.0f} records/s)", peak);
    }
  }
  return plan;
}

}  // namespace ferry::bench
