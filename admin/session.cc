#include "admin/session.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "client/kafka.h"

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
  conf_ = rd_kafka_conf_new();
  const std::string& cmd = args.command();
  set_or_throw(conf_, cmd, "client.id", "client.id", "ferry-admin");
  bool have_bootstrap = false;
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
      v = trim(v);
      set_or_throw(conf_, cmd, fmt::format("--command-config {}:{}", *path, lineno), k, v);
      if (k == "bootstrap.servers" || k == "metadata.broker.list") have_bootstrap = true;
      if (k == "debug") debug_ = true;
    }
  }
  if (auto b = args.get("--bootstrap-server")) {
    if (b->empty()) throw UsageError(cmd, "--bootstrap-server: empty value");
    set_or_throw(conf_, cmd, "--bootstrap-server", "bootstrap.servers", *b);
    have_bootstrap = true;
  }
  if (!have_bootstrap) {
    throw UsageError(cmd, "missing required option --bootstrap-server (or bootstrap.servers in "
                          "--command-config)");
  }
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

void Session::print(const Json& doc, const std::string& human) const {
  if (json_) {
    std::cout << doc.dump() << '\n';
  } else {
    std::cout << human;
  }
  std::cout.flush();
}

}  // namespace ferry::admin
