// An etcd v3 client over etcd's JSON gateway (POST http://host:port/v3/...), on libcurl. It is
// the broker's way to the cluster metadata of a region of several brokers (issue 17): key-value
// reads and writes, transactions that compare revisions, leases, and watches.
//
// Why the gateway and not gRPC: docs/etcd.md. In short, libcurl and nlohmann/json are already
// Ferry dependencies, while gRPC needs three Debian packages of Go sources for the .proto files
// plus code generation at build time; a single-key call costs a few hundred microseconds more
// than etcd's own handling and a 100-key range about 1.7 ms more (scripts/bench-etcd.sh), and
// metadata is not on the record path.
//
// Wire facts (etcd 3.4.23, Documentation/dev-guide/api_grpc_gateway.md, etcdserverpb/rpc.proto):
// bytes fields travel as standard base64, int64 as decimal strings, zero values are omitted from
// replies, errors come back as {"error","message","code"} with the gRPC status code, and streams
// (watch) send one {"result":{...}} JSON object per line.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ferry::etcd {

/// A failed etcd call. `code` is the gRPC status code etcd answered with (grpc/codes: 5 NOT_FOUND,
/// 9 FAILED_PRECONDITION, 11 OUT_OF_RANGE for a compacted revision, 14 UNAVAILABLE for "no
/// leader" or a timed-out request), or kTransport when no endpoint could be reached or the reply
/// was not etcd's. The message names the endpoint and the call.
class EtcdError : public std::runtime_error {
 public:
  static constexpr int kTransport = -1;
  static constexpr int kCanceled = 1;
  static constexpr int kNotFound = 5;
  static constexpr int kFailedPrecondition = 9;
  static constexpr int kOutOfRange = 11;
  static constexpr int kUnavailable = 14;
  EtcdError(int code, const std::string& what) : std::runtime_error(what), code(code) {}
  /// True when another endpoint, or the same one a moment later, may succeed. A write that failed
  /// this way may or may not have been applied (etcd api_guarantees.md): re-read before retrying
  /// a compare-and-set.
  bool retriable() const { return code == kTransport || code == kUnavailable; }
  const int code;
};

/// One key as etcd stores it (mvccpb.KeyValue). Revisions are etcd's cluster-wide write counter:
/// `create_revision` of the key's (re)creation, `mod_revision` of its last change; `version` is 1
/// at creation and +1 per put; `lease` is the id of the lease the key is attached to, 0 for none.
struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

/// A Range reply: `revision` is the store's revision when it was read (the header's), `kvs` in
/// key order, `more` true when `limit` cut the answer short.
struct RangeResult {
  int64_t revision = 0;
  std::vector<KeyValue> kvs;
  bool more = false;
};

/// The first key after every key that starts with `prefix` (rpc.proto RangeRequest.range_end):
/// the prefix with its last byte incremented after dropping trailing 0xff bytes; "\0" (every key)
/// for an empty prefix or one of only 0xff bytes.
std::string prefix_end(std::string_view prefix);

/// One condition of a transaction (etcdserverpb.Compare). A missing key compares as version,
/// create_revision and mod_revision 0, so `create_revision_is(k, 0)` means "k does not exist".
struct Compare {
  enum class Target { kVersion, kCreate, kMod, kValue };
  enum class Result { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = Target::kVersion;
  Result result = Result::kEqual;
  int64_t number = 0;  // for kVersion, kCreate, kMod
  std::string value;   // for kValue
  /// Non-empty: the compare must hold for every key in [key, range_end); an empty range compares
  /// as one missing key (so create_revision 0 holds: "no key in the range").
  std::string range_end;
  static Compare create_revision_is(std::string key, int64_t revision);
  static Compare mod_revision_is(std::string key, int64_t revision);
  static Compare value_is(std::string key, std::string value);
  /// No key exists in [key, range_end).
  static Compare range_is_empty(std::string key, std::string range_end);
  /// No key in [key, range_end) was created or changed after `revision` (every mod_revision is
  /// at most `revision`): the range is as a read at `revision` saw it, apart from deletions.
  static Compare range_unchanged_since(std::string key, std::string range_end, int64_t revision);
};

/// One operation of a transaction (etcdserverpb.RequestOp). A range_end of "" means the one key.
struct Op {
  enum class Kind { kPut, kDelete, kRange };
  Kind kind = Kind::kRange;
  std::string key;
  std::string value;      // kPut
  std::string range_end;  // kDelete, kRange
  int64_t lease = 0;      // kPut
  static Op put(std::string key, std::string value, int64_t lease = 0);
  static Op remove(std::string key, std::string range_end = {});
  static Op get(std::string key, std::string range_end = {});
};

/// A Txn reply: whether every compare held, the revision after it (unchanged when it wrote
/// nothing), and the results of the branch's kRange ops in order.
struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<RangeResult> ranges;
};

/// Where and how to reach etcd.
struct ClientOptions {
  /// "host:port" or "http://host:port" of every member the client may use; tried in order from
  /// the last one that answered. Must not be empty. TLS to etcd is not supported yet.
  std::vector<std::string> endpoints;
  /// Bound on one request to one endpoint, connection included.
  std::chrono::milliseconds request_timeout{5000};
  /// Bound on connecting to one endpoint.
  std::chrono::milliseconds connect_timeout{1000};
};

/// Parses a comma-separated `etcd.endpoints` value into endpoints ("host:port" or
/// "http://host:port", spaces ignored). Throws std::invalid_argument naming the bad entry.
std::vector<std::string> parse_endpoints(std::string_view text);

/// Unary calls to etcd (KV, Lease). Thread-safe: calls are serialised on one connection. Every
/// call tries each endpoint once, moving on when one is unreachable or answers UNAVAILABLE, and
/// throws EtcdError when none answered or etcd refused the call.
class Client {
 public:
  /// Throws std::invalid_argument when `options.endpoints` is empty or an endpoint is malformed.
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// The key, or an empty `kvs` when it does not exist. Linearizable read.
  RangeResult get(std::string_view key);
  /// Keys in [key, range_end), at most `limit` (0: all). Linearizable read.
  RangeResult range(std::string_view key, std::string_view range_end, int64_t limit = 0);
  /// Writes one key; returns the revision of the write.
  int64_t put(std::string_view key, std::string_view value, int64_t lease = 0);
  /// Deletes [key, range_end) ("" = the one key); returns the number deleted.
  int64_t remove(std::string_view key, std::string_view range_end = {});
  /// One atomic transaction: `success` when every compare holds, else `failure`. At most 128
  /// operations per branch and no key written twice (etcd's --max-txn-ops and its duplicate-key
  /// rule): more fails with code 3, INVALID_ARGUMENT.
  TxnResult txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                const std::vector<Op>& failure = {});

  /// A lease of `ttl_seconds` (etcd raises a TTL below 1.5 × its election timeout, 2 s by
  /// default). Returns the id and the granted TTL in seconds.
  struct Lease {
    int64_t id = 0;
    int64_t ttl_seconds = 0;
  };
  Lease lease_grant(int64_t ttl_seconds);
  /// Renews a lease once; returns its TTL in seconds, 0 when it has expired or never existed.
  int64_t lease_keepalive(int64_t id);
  /// Revokes a lease, deleting every key attached to it. An unknown lease is not an error.
  void lease_revoke(int64_t id);

  /// Compacts the key-value history up to `revision` (etcd Compact): watches and reads at older
  /// revisions then fail with kOutOfRange.
  void compact(int64_t revision);

  /// The endpoint ("http://host:port") the last successful call went to.
  std::string endpoint() const;

 private:
  std::string call(const std::string& path, const std::string& body);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One change seen by a watch (mvccpb.Event). A delete's `kv` has only the key and the
/// deletion's mod_revision.
struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;
};

/// A watch of [key, range_end) from `start_revision` on (inclusive), on a thread of its own.
/// Events reach `on_events` in revision order, every event of one revision in one call. When a
/// member goes away the watch resumes on the next endpoint from the revision after the last one
/// delivered, so nothing is missed or repeated. When the start revision has been compacted (or a
/// resumption falls behind a compaction) `on_error` gets an EtcdError with kOutOfRange and the
/// watch stops: read the range again and watch from its revision + 1. It also stops, with
/// kCanceled, when etcd cancels it for another reason or `on_events` throws. Every other code
/// `on_error` gets is passing: the watch keeps trying (every 500 ms) and resumes on its own.
/// Callbacks run on the watch's thread. One `on_events` call may carry several revisions (etcd
/// batches a catch-up), each revision whole; `revision` is the reply header's, which in a
/// catch-up can be beyond events still to come, so use the events' own mod_revisions to know
/// how far the watch has delivered.
/// Give a `start_revision` > 0 (a read's revision + 1): with 0 ("from now") a resumption before
/// the first event could not know where it left off.
class Watch {
 public:
  struct Impl;  // implementation detail, public for the transfer callbacks
  using EventsFn = std::function<void(int64_t revision, const std::vector<WatchEvent>& events)>;
  using ErrorFn = std::function<void(const EtcdError& error)>;
  Watch(ClientOptions options, std::string key, std::string range_end, int64_t start_revision, EventsFn on_events,
        ErrorFn on_error);
  /// Stops the thread; no callback runs after it returns.
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

 private:
  void run();
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace ferry::etcd
