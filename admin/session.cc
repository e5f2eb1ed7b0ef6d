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
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    throw UsageError(command, fmt::format("{}: {}", where, errstr));
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
  if (rk_) rd_kafka_destroy(rk_);
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
  if (rk_) return rk_;
  char errstr[512];
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf_, errstr, sizeof errstr);
  if (!rk_) throw OpError("_INVALID_ARG", fmt::format("cannot create client: {}", errstr));
  conf_ = nullptr;  // owned by rk_ now
  return rk_;
}

AdminOptionsPtr Session::admin_options(rd_kafka_admin_op_t op, int timeout_ms) {
  if (timeout_ms < 0) timeout_ms = timeout_ms_;
  AdminOptionsPtr o(rd_kafka_AdminOptions_new(handle(), op));
  char errstr[256];
  rd_kafka_AdminOptions_set_request_timeout(o.get(), timeout_ms, errstr, sizeof errstr);
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS) {
    rd_kafka_AdminOptions_set_operation_timeout(o.get(), timeout_ms, errstr, sizeof errstr);
  }
  return o;
}

std::string Session::connection_note() {
  if (rk_) rd_kafka_poll(rk_, 0);
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

EventPtr Session::run_admin(const std::function<void(rd_kafka_queue_t*)>& start,
                           int timeout_ms) {
  if (timeout_ms < 0) timeout_ms = timeout_ms_;
  rd_kafka_t* rk = handle();
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> q(rd_kafka_queue_new(rk),
                                                                   &rd_kafka_queue_destroy);
  start(q.get());
  // librdkafka enforces the request timeout itself; the grace period only guards against an
  // event that never arrives, so the CLI cannot hang.
  EventPtr ev(rd_kafka_queue_poll(q.get(), timeout_ms + 5000));
  if (!ev) {
    check(RD_KAFKA_RESP_ERR__TIMED_OUT, "no reply from the cluster");
  }
  rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* s = rd_kafka_event_error_string(ev.get());
    std::string msg = s ? s : rd_kafka_err2str(err);
    if (is_connectivity(err)) msg += connection_note();
    throw OpError(err, msg);
  }
  return ev;
}

std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)>
Session::metadata() {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(handle(), 1, nullptr, &md, timeout_ms_);
  check(err, "metadata request failed");
  return {md, &rd_kafka_metadata_destroy};
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
