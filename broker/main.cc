// ferry-broker: a Kafka-protocol broker. Usage and exit codes are in print_usage().
#include <malloc.h>

#include <pthread.h>
#include <sys/resource.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string_view>
#include <vector>
#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "broker/metadata/metadata_store.h"
#include "security/scram.h"
#include "broker/protocol/apis.h"
#include "common/daemon.h"
#include "common/logging.h"

namespace {

void print_usage(std::ostream& out) {
  out << "ferry-broker: a Kafka-protocol broker that unmodified Kafka clients use.\n\n"
         "Usage:\n"
         "  ferry-broker --config FILE     run with the TOML configuration FILE\n"
         "  ferry-broker --help            this text and every configuration key\n"
         "  ferry-broker --config-reference  the configuration reference as Markdown (docs/)\n"
         "  ferry-broker --config FILE --add-scram 'SCRAM-SHA-512=[name=admin,password=secret]'\n"
         "                                 store a SCRAM credential (salted keys only) in the metadata store\n"
         "                                 and exit, as kafka-storage format --add-scram does; repeatable;\n"
         "                                 also iterations=N, salt=<base64>, saltedpassword=<base64>\n\n"
         "Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT), 1 when starting fails\n"
         "(port taken, unusable log dir), 2 for a bad command line or configuration.\n\n"
         "Minimal configuration:\n"
         "  node.id = 0\n"
         "  listeners = \"PLAINTEXT://127.0.0.1:19092\"\n"
         "  log.dirs = \"/tmp/ferry-data\"\n\n"
         "Kafka APIs served:\n";
  for (const auto& a : ferry::protocol::supported_api_ranges())
    out << "  " << a.name << " (key " << a.api_key << ") v" << a.min_version << "-v" << a.max_version << "\n";
  out << "\nConfiguration keys (Kafka's names where Kafka has the setting):\n"
      << ferry::broker::broker_schema().help_text();
}

// Stores each --add-scram credential and exits: 0 when all are stored, 2 for a bad value (the
// message never repeats a password), 1 when the metadata store cannot be written.
int add_scram_credentials(const ferry::broker::BrokerConfig& config, const std::vector<std::string>& specs) {
  std::vector<std::pair<std::string, ferry::security::ScramCredential>> upserts;
  for (const auto& spec : specs) {
    try {
      auto parsed = ferry::security::parse_add_scram(spec);
      upserts.emplace_back(parsed.user, parsed.credential);
    } catch (const std::invalid_argument& e) {
      std::cerr << "ferry-broker: invalid --add-scram value: " << e.what() << "\n";
      return 2;
    }
  }
  try {
    auto store = ferry::broker::Broker::open_metadata_store(config);
    store->alter_scram_credentials(upserts, {});
    const std::string where = config.values.get_string("metadata.store") == "etcd"
                                  ? "etcd under " + config.values.get_string("etcd.prefix")
                                  : ferry::broker::Broker::metadata_path(config).string();
    for (const auto& [user, c] : upserts)
      std::cout << "stored the " << ferry::security::scram_mechanism_name(c.mechanism) << " credential of user '"
                << user << "' (" << c.iterations << " iterations) in " << where << "\n";
  } catch (const std::exception& e) {
    std::cerr << "ferry-broker: cannot store the credentials: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// Raises the soft open-files limit to the hard one. Every partition keeps its active segment's
// log file open (older segments only while read), and systemd starts services with a soft limit
// of 1024 under a hard limit of 524288: left alone, the broker would fail its 1,000th partition
// with KAFKA_STORAGE_ERROR.
void raise_open_files_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t before = lim.rlim_cur;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) lim.rlim_cur = before;
  }
  if (lim.rlim_cur != before)
    spdlog::info("open files limit raised from {} to {} (the hard limit); each partition holds about one "
                 "file open (its active segment)", before, lim.rlim_cur);
  else
    spdlog::info("open files limit {}; each partition holds about one file open (its active segment)", lim.rlim_cur);
}

}  // namespace

int main(int argc, char** argv) {
  // Request frames and fetch responses are up to a few MiB each and short-lived. glibc's default
  // (dynamic) thresholds hand such blocks back to the kernel on free, so every request pays page
  // faults on fresh memory again; fixed thresholds keep them in the heap for reuse.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  // --add-scram is the broker's own option (Kafka's kafka-storage format --add-scram); it is taken
  // out before the daemon arguments common to every Ferry binary are parsed.
  std::vector<std::string> add_scram;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--add-scram") {
      if (i + 1 >= argc) {
        std::cerr << "ferry-broker: --add-scram needs a value; see ferry-broker --help\n";
        return 2;
      }
      add_scram.emplace_back(argv[++i]);
    } else if (a.rfind("--add-scram=", 0) == 0) {
      add_scram.emplace_back(a.substr(12));
    } else {
      rest.push_back(argv[i]);
    }
  }
  argc = static_cast<int>(rest.size());
  argv = rest.data();
  auto args = ferry::parse_daemon_args("ferry-broker", argc, argv);
  if (!args) return 2;
  if (args->action == ferry::DaemonArgs::Action::help) {
    print_usage(std::cout);
    return 0;
  }
  if (args->action == ferry::DaemonArgs::Action::config_reference) {
    std::cout << "# ferry-broker configuration reference\n\n"
             "Generated by `ferry-broker --config-reference` from the key table in "
             "broker/config/broker_config.cc; do not edit by hand.\n\n"
            << ferry::broker::broker_schema().markdown_reference();
    std::cout << "\n## Dynamic broker configs\n\n"
             "These keys can also be changed at run time with IncrementalAlterConfigs or AlterConfigs "
             "(KIP-226), for this broker (resource name = its node.id) or for the whole cluster "
             "(resource name \"\"), and are persisted in the metadata file. Precedence: topic "
             "override, dynamic broker value, dynamic cluster default, this file, built-in default. "
             "Every other key needs a restart.\n\n";
    for (const auto& tk : ferry::broker::topic_keys())
      std::cout << "- `" << tk.broker_key << "` (default of the topic key `" << tk.topic_key << "`)\n";
    std::cout << "- `ssl.keystore.location`, `ssl.key.password`, `ssl.truststore.location`, also as "
                 "`listener.name.<listener>.<key>`: per broker only (KIP-226); the new files are loaded and "
                 "checked before the change is stored, and serve new connections\n";
    std::cout << "\n## Topic configs\n\n"
                 "Set per topic with CreateTopics, AlterConfigs or IncrementalAlterConfigs and shown by "
                 "DescribeConfigs: every topic config Kafka 3.x documents. Keys marked \"Applied\" take their "
                 "default from the broker key named; keys marked \"Accepted, no effect here\" are checked "
                 "as Kafka checks them (a bad value is INVALID_CONFIG) and stored, but Ferry has no "
                 "mechanism they would steer. Defaults below are those of a broker with default settings.\n\n"
              << ferry::broker::topic_config_reference(ferry::config::Values(ferry::broker::broker_schema()));
    return 0;
  }
  std::optional<ferry::broker::BrokerConfig> config;
  try {
    config.emplace(ferry::broker::BrokerConfig::load_file(args->config_path));
    ferry::logging::init("broker", config->values.get_string("log.level"));
  } catch (const ferry::config::ConfigError& e) {
    std::cerr << "ferry-broker: invalid configuration: " << e.what() << "\n";
    return 2;
  }

  if (!add_scram.empty()) return add_scram_credentials(*config, add_scram);

  // Block the stop signals (and SIGHUP, the certificate reload) before any thread starts so only
  // sigwait below receives them.
  sigset_t signals = ferry::block_stop_signals();
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  raise_open_files_limit();
  ferry::broker::Broker broker(std::move(*config));
  try {
    broker.start();
  } catch (const ferry::config::ConfigError& e) {
    // Found only when the config is used (a keystore that cannot be read, a key that does not fit).
    spdlog::critical("invalid configuration: {}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("startup failed: {}", e.what());
    return 1;
  }
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig != SIGHUP) {
      spdlog::info("received {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    // SIGHUP: reload TLS certificates from their files (rotation in place), as the docs promise.
    try {
      spdlog::info("SIGHUP: reloaded the certificates of {} TLS listener(s)", broker.reload_tls());
    } catch (const std::exception& e) {
      spdlog::error("SIGHUP: certificates not reloaded, the current ones stay: {}", e.what());
    }
  }
  broker.stop();
  return 0;
}
