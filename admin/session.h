// One connection to a Kafka-compatible cluster through librdkafka, shared by every subcommand:
// client configuration, the Admin API request/response loop, and the error vocabulary.
#pragma once

#include <librdkafka/rdkafka.h>

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "admin/cli.h"
#include "admin/output.h"
#include "client/kafka.h"
#include "client/wire_client.h"

namespace ferry::admin {

/// An operation failed at the cluster or in the client. `code` is the librdkafka error name
/// (rd_kafka_err2name: broker codes like "TOPIC_ALREADY_EXISTS", client-side ones with a leading
/// underscore like "_TIMED_OUT" or "_UNSUPPORTED_FEATURE"); printed as "CODE: message" on stderr
/// with exit status 1.
class OpError : public std::runtime_error {
 public:
  OpError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  /// From a librdkafka error code plus an optional detail string (falls back to rd_kafka_err2str).
  OpError(rd_kafka_resp_err_t err, const std::string& detail);
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

using client::AdminOptionsPtr;
using client::EventPtr;

/// Global settings of one invocation plus the lazily created librdkafka handle.
///
/// The handle is a producer-type client: it can issue every Admin API request, Metadata, and
/// ListOffsets (watermarks, offsets for times) without joining any group. librdkafka's own log
/// lines are suppressed; the last connection error it reported is appended to timeouts so that
/// "unreachable bootstrap" reads as such instead of a bare _TIMED_OUT.
class Session {
 public:
  /// Builds the configuration from parsed global options; throws UsageError for a bad
  /// --timeout-ms, an unreadable --command-config, a password given with -X (sasl.password or any
  /// *password key: use sasl.password.file / sasl.password.env), an unreadable password file or
  /// unset password variable, a property librdkafka rejects, or no
  /// bootstrap servers at all. Does not connect yet.
  explicit Session(const ParsedArgs& args);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// --json was given.
  bool json() const { return json_; }
  /// --timeout-ms (default 30000): bounds every request and metadata call.
  int timeout_ms() const { return timeout_ms_; }

  /// Every client property of this invocation (--command-config, -X, --bootstrap-server as
  /// bootstrap.servers), with sasl.password.file / sasl.password.env already resolved into
  /// sasl.password: what client/wire_client takes for the APIs librdkafka lacks.
  const std::map<std::string, std::string>& properties() const { return properties_; }

  /// The client handle, created on first use. Throws OpError if librdkafka refuses the config.
  rd_kafka_t* handle();

  /// Admin options for `op` with the request timeout (and operation timeout where the API has
  /// one) set to `timeout_ms`, or timeout_ms() when negative.
  AdminOptionsPtr admin_options(rd_kafka_admin_op_t op, int timeout_ms = -1);

  /// Waits on the result queue of an Admin API call started by `start(queue)`, for at most
  /// `timeout_ms` (timeout_ms() when negative) plus a grace period. Throws OpError on a request-level error (with the last
  /// connection error attached to timeouts). Per-item errors remain for the caller to inspect.
  EventPtr run_admin(const std::function<void(rd_kafka_queue_t*)>& start, int timeout_ms = -1);

  /// Cluster metadata (brokers and every topic). Throws OpError on failure.
  client::MetadataPtr metadata();

  /// Low and high watermark of one partition (ListOffsets earliest/latest).
  std::pair<int64_t, int64_t> watermarks(const std::string& topic, int32_t partition);

  /// Prints a JSON document or a table (or plain text) on stdout according to --json.
  void print(const Json& doc, const std::string& human) const;

  /// Throws OpError for `err` unless it is NO_ERROR; attaches the last connection error to
  /// client-side timeouts and transport failures.
  void check(rd_kafka_resp_err_t err, const std::string& what);
  /// The OpError for a failed client/ call: its code and message, with the last connection error
  /// attached to client-side timeouts and transport failures.
  [[noreturn]] void rethrow(const client::KafkaError& e);

  /// " (last connection error: ...)" when librdkafka reported one, else empty. Serves the
  /// client's main queue first: librdkafka delivers error callbacks only from rd_kafka_poll.
  std::string connection_note();

 private:
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf);

  bool json_ = false;
  std::map<std::string, std::string> properties_;
  int timeout_ms_ = 30000;
  rd_kafka_conf_t* conf_ = nullptr;  // owned until handle() hands it to rd_kafka_new
  // What on_error / on_log touch is declared before the handle, so it is destroyed after it: the
  // handle's destruction (rd_kafka_flush) still serves error callbacks.
  bool debug_ = false;  // --command-config set `debug`: pass librdkafka's log through
  std::string last_error_;
  client::Handle rk_;
};

/// "NAME: message" of a librdkafka error object, for messages.
std::string describe_error(const rd_kafka_error_t* e);

/// Runs `fn` on an authenticated client/wire_client connection (for the APIs librdkafka 2.0.2
/// lacks) to the first server of `servers` that answers — "host:port[,host:port]"; empty means
/// the invocation's bootstrap.servers — with the invocation's client properties, each server
/// bounded by --timeout-ms. Maps client::WireError to OpError with its code (NETWORK,
/// SSL_HANDSHAKE, SASL_AUTHENTICATION_FAILED, ...) and bad properties to OpError "_INVALID_ARG".
void on_cluster(Session& s, const std::function<void(client::WireConnection&)>& fn,
                const std::string& servers = "");

/// The version of `Req` to send on `c`: the highest both sides support. Throws OpError
/// "_UNSUPPORTED_FEATURE" ("<server>: the broker does not support <API> (API key N, <source>)")
/// when the broker does not advertise it; `source` names where the API is defined ("KIP-455").
template <class Req>
int16_t version_or_throw(client::WireConnection& c, std::string_view source) {
  const int16_t v = c.version_for(Req::api_key, Req::max_version);
  if (v < 0)
    throw OpError("_UNSUPPORTED_FEATURE", fmt::format("{}: the broker does not support {} (API key {}, {})", c.server(),
                                                      Req::name, Req::api_key, source));
  return v;
}

}  // namespace ferry::admin
