#include "admin/session.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "client/kafka.h"
#include "common/client_properties.h"

namespace ferry::admin {

OpError::OpError(rd_kafka_resp_err_t err, const std::string& detail)
    : std::runtime_error(detail.empty() ? rd_kafka_err2str(err) : detail),
      code_(rd_kafka_err2name(err)) {}

std::string describe_error(const rd_kafka_error_t* e) {
  return fmt::format("{}: {}", rd_kafka_error_name(e), rd_kafka_error_string(e));
}

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

void set_or_throw(rd_kafka_conf_t* conf, const std::string& command, const std::string& where,
                  const std::string& key, const std::string& value) {
  try {
    client::set_property(conf, key, value);
  } catch (const std::invalid_argument& e) {
    throw UsageError(command, fmt::format("{}: {}", where, e.what()));
  }
}

}  // namespace

Session::Session(const ParsedArgs& args) {
  json_ = args.has("--json");
  if (auto t = args.get_int("--timeout-ms", 1, 3'600'000)) timeout_ms_ = static_cast<int>(*t);
  const std::string& cmd = args.command();
  // Every property is gathered first: the password indirections (sasl.password.file / .env) are
  // resolved over the whole set, then librdkafka checks each one.
  std::map<std::string, std::string> props{{"client.id", "ferry-admin"}};
  std::map<std::string, std::string> where;
  if (auto path = args.get("--command-config")) {
    std::ifstream in(*path);
    if (!in) throw UsageError(cmd, fmt::format("--command-config: cannot read '{}'", *path));
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      line = trim(line);
      if (line.empty() || line[0] == '#') continue;
      auto [k, v] = split_key_value(cmd, "--command-config", line);
      k = trim(k);
      props[k] = trim(v);
      where[k] = fmt::format("--command-config {}:{}", *path, lineno);
    }
  }
  for (const std::string& kv : args.all("-X")) {
    auto [k, v] = split_key_value(cmd, "-X", kv);
    // A password on the command line is visible to every user of the machine (ps, /proc).
    if (k == "sasl.password" || config::is_secret_property(k))
      throw UsageError(cmd, fmt::format("-X {}: a password on the command line is visible in the process list; use "
                                        "-X sasl.password.file=FILE or -X sasl.password.env=VARIABLE (or put it in "
                                        "--command-config)",
                                        k));
    props[k] = v;
    where[k] = "-X " + k;
  }
  if (auto b = args.get("--bootstrap-server")) {
    if (b->empty()) throw UsageError(cmd, "--bootstrap-server: empty value");
    props["bootstrap.servers"] = *b;
    where["bootstrap.servers"] = "--bootstrap-server";
  }
  if (props.count("metadata.broker.list") && !props.count("bootstrap.servers"))
    props["bootstrap.servers"] = props["metadata.broker.list"];
  if (!props.count("bootstrap.servers")) {
    throw UsageError(cmd, "missing required option --bootstrap-server (or bootstrap.servers in "
                          "--command-config)");
  }
  try {
    config::resolve_client_secrets(props, "client properties");
  } catch (const config::ConfigError& e) {
    throw UsageError(cmd, e.what());
  }
  debug_ = props.count("debug") > 0;
  conf_ = rd_kafka_conf_new();
  for (const auto& [k, v] : props) {
    if (k == "metadata.broker.list") continue;
    auto w = where.find(k);
    set_or_throw(conf_, cmd, w == where.end() ? k : w->second, k, v);
  }
  properties_ = std::move(props);
  rd_kafka_conf_set_opaque(conf_, this);
  rd_kafka_conf_set_error_cb(conf_, &Session::on_error);
  rd_kafka_conf_set_log_cb(conf_, &Session::on_log);
}

Session::~Session() {
  // Pins issue 14 defect (ferry-admin aborting with "double free" against an unreachable
  // cluster): the handle goes first, while the state its error callback writes is alive.
  rk_.reset();
  if (conf_) rd_kafka_conf_destroy(conf_);
}

void Session::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Session*>(opaque);
  // _ALL_BROKERS_DOWN only summarises; the transport error before it says why.
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !self->last_error_.empty()) return;
  self->last_error_ =
      fmt::format("{}: {}", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
}

void Session::on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  auto* self = static_cast<Session*>(rd_kafka_opaque(rk));
  if (self && self->debug_) std::fprintf(stderr, "librdkafka %d %s: %s\n", level, fac, buf);
}

rd_kafka_t* Session::handle() {
  if (rk_) return rk_.get();
  try {
    rk_ = client::make_handle(RD_KAFKA_PRODUCER, std::exchange(conf_, nullptr));
  } catch (const client::KafkaError& e) {
    throw OpError(e.err(), e.what());
  }
  return rk_.get();
}

AdminOptionsPtr Session::admin_options(rd_kafka_admin_op_t op, int timeout_ms) {
  return client::admin_options(handle(), op, std::chrono::milliseconds(timeout_ms < 0 ? timeout_ms_ : timeout_ms));
}

std::string Session::connection_note() {
  if (rk_) rd_kafka_poll(rk_.get(), 0);
  return last_error_.empty() ? "" : fmt::format(" (last connection error: {})", last_error_);
}

namespace {

// Errors that mean "could not talk to the cluster", where the connection error explains more.
bool is_connectivity(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
         err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
}

}  // namespace

void Session::check(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  std::string msg = fmt::format("{}: {}", what, rd_kafka_err2str(err));
  if (is_connectivity(err)) msg += connection_note();
  throw OpError(err, msg);
}

void Session::rethrow(const client::KafkaError& e) {
  std::string msg = e.what();
  if (is_connectivity(e.err())) msg += connection_note();
  throw OpError(e.err(), msg);
}

EventPtr Session::run_admin(const std::function<void(rd_kafka_queue_t*)>& start, int timeout_ms) {
  try {
    return client::await_admin_result(handle(), std::chrono::milliseconds(timeout_ms < 0 ? timeout_ms_ : timeout_ms),
                                      "", start);
  } catch (const client::KafkaError& e) {
    rethrow(e);
  }
}

client::MetadataPtr Session::metadata() {
  try {
    return client::metadata(handle(), true, nullptr, std::chrono::milliseconds(timeout_ms_));
  } catch (const client::KafkaError& e) {
    check(e.err(), "metadata request failed");  // the message ferry-admin always gave
    throw;
  }
}

std::pair<int64_t, int64_t> Session::watermarks(const std::string& topic, int32_t partition) {
  // client::watermarks is bounded by the timeout even when the leader is down, which
  // rd_kafka_query_watermark_offsets in librdkafka 2.0.2 is not (client/kafka.h).
  client::Watermarks w;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  try {
    w = client::watermarks(handle(), topic, partition, std::chrono::milliseconds(timeout_ms_));
  } catch (const client::KafkaError& e) {
    err = e.err();
  }
  check(err, fmt::format("watermarks of {}:{}", topic, partition));
  return {w.low, w.high};
}

void on_cluster(Session& s, const std::function<void(client::WireConnection&)>& fn, const std::string& servers) {
  try {
    if (servers.empty()) {
      client::with_cluster(s.properties(), "ferry-admin", std::chrono::milliseconds(s.timeout_ms()), fn);
    } else {
      auto props = s.properties();
      props["bootstrap.servers"] = servers;
      client::with_cluster(props, "ferry-admin", std::chrono::milliseconds(s.timeout_ms()), fn);
    }
  } catch (const client::WireError& e) {
    throw OpError(e.code(), e.what());
  } catch (const std::invalid_argument& e) {
    throw OpError("_INVALID_ARG", e.what());
  }
}

void Session::print(const Json& doc, const std::string& human) const {
  if (json_) {
    std::cout << doc.dump() << '\n';
  } else {
    std::cout << human;
  }
  std::cout.flush();
}

}  // namespace ferry::admin
