// A broker's registration in etcd: `<prefix>/brokers/ids/<node.id>` attached to a lease the broker
// renews, so a broker that dies, hangs or loses etcd disappears from the cluster when its lease
// expires (the role of ZooKeeper's ephemeral /brokers/ids/<id> znode in Kafka, and of KRaft's
// broker heartbeats with broker.session.timeout.ms, KIP-631).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/etcd_client.h"

namespace ferry::broker {

/// What a registration says about its broker (JSON in etcd; docs/etcd.md). `endpoints` are the
/// advertised listeners as "NAME://host:port".
struct BrokerInfo {
  int32_t node_id = 0;
  std::string rack;  // "" = none
  std::vector<std::string> endpoints;
  std::string incarnation;  // random per start: tells a restart from the registration it replaces
  bool operator==(const BrokerInfo&) const = default;
};

/// The JSON text of a registration, and back. parse_broker_info returns nullopt (and `error` says
/// why) for anything that is not a registration of this shape.
std::string broker_info_json(const BrokerInfo& info);
std::optional<BrokerInfo> parse_broker_info(const std::string& text, std::string* error = nullptr);

/// The registration key of `node_id` under `prefix` ("/ferry" → "/ferry/brokers/ids/7").
std::string broker_registration_key(const std::string& prefix, int32_t node_id);

/// Every live registration under `prefix`, by node id. Malformed values are skipped, logged and
/// named in `malformed` (their keys); `revision` gets the revision of the read. Throws EtcdError
/// when etcd cannot be read.
std::vector<BrokerInfo> live_brokers(etcd::Client& client, const std::string& prefix,
                                     std::vector<std::string>* malformed = nullptr, int64_t* revision = nullptr);

/// Returns once no registration of `node_id` exists under `prefix`, waiting up to one session
/// timeout plus a second for a predecessor's lease to expire (a warning is logged once); after
/// that throws std::runtime_error naming the node id, the key and the holder's endpoints: a live
/// broker with the same id. EtcdError when etcd cannot be read.
void await_node_id_free(etcd::Client& client, const std::string& prefix, int32_t node_id,
                        std::chrono::milliseconds session_timeout);

/// Registers a broker and keeps it registered until destroyed.
///
/// - register_now(): grants a lease of ceil(session_timeout) seconds and creates the key only if it
///   does not exist (a transaction comparing create_revision with 0). If another registration of
///   the node id exists, it waits up to one session timeout plus a second for it to expire: a
///   SIGKILLed predecessor's lease runs out in that time, a live broker with the same node.id keeps
///   renewing. Then it throws std::runtime_error naming the node id, the key and the other
///   registration's endpoints (Kafka refuses a second broker with one id the same way).
/// - A thread renews the lease every heartbeat interval. A lease found expired (the broker was
///   stopped or cut off from etcd for longer than the session timeout) is replaced by a new
///   registration, logged as a warning; etcd errors are logged and retried.
/// - The destructor revokes the lease, so a clean shutdown leaves the cluster at once.
class BrokerRegistration {
 public:
  BrokerRegistration(etcd::ClientOptions options, std::string prefix, BrokerInfo info,
                     std::chrono::milliseconds session_timeout, std::chrono::milliseconds heartbeat_interval);
  ~BrokerRegistration();
  BrokerRegistration(const BrokerRegistration&) = delete;
  BrokerRegistration& operator=(const BrokerRegistration&) = delete;

  /// Registers (see above) and starts the heartbeat thread. Throws std::runtime_error or EtcdError.
  void register_now();
  /// True while the last heartbeat found the lease alive.
  bool registered() const;
  /// Times the registration was lost and made again since start.
  int64_t reregistrations() const;
  /// The etcd lease id of the current registration (0 before register_now()).
  int64_t lease_id() const;

 private:
  bool try_create();
  void heartbeat_loop();

  etcd::Client client_;
  const std::string prefix_;
  const std::string key_;
  const BrokerInfo info_;
  const std::chrono::milliseconds session_timeout_;
  const std::chrono::milliseconds heartbeat_interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool registered_ = false;
  int64_t lease_ = 0;
  int64_t reregistrations_ = 0;
  std::thread thread_;
};

}  // namespace ferry::broker
