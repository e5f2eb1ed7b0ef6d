// Controller election through etcd (issue 17 part 2): one broker of a region is the controller,
// elected with an etcd lease, and a new one takes over within the lease's TTL when it dies. The
// role of ZooKeeper's ephemeral /controller and of /controller_epoch in Kafka's ZooKeeper-era
// controller (KafkaController.elect; ../shared/REPLICATION-SEMANTICS.md §4 and §8).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/etcd_client.h"

namespace ferry::broker {

/// `<prefix>/controller`: the key the controller holds ("/ferry" → "/ferry/controller").
std::string controller_key(const std::string& prefix);

/// One broker's candidacy. The controller key holds the elected broker's node id (decimal text)
/// and is attached to a lease of this candidate's own, renewed every heartbeat interval:
///
/// - A candidate creates the key only if it is absent (compare create_revision == 0): the first
///   one wins. The losers watch the key and try again when it is deleted.
/// - The controller epoch is the key's create_revision: it grows with every election, and every
///   write a controller makes must carry `Compare::create_revision_is(controller_key, epoch)`, so
///   a deposed controller (a zombie that missed its lease) can never win a write (the role of
///   Kafka's /controller_epoch znode version).
/// - A controller whose lease expired (stopped or cut off from etcd for longer than the session)
///   or whose key disappeared learns it at its next heartbeat, resigns (on_resign), and becomes a
///   candidate again.
/// - Destroying the election revokes its lease: a clean shutdown hands control over at once.
///
/// Callbacks run on the election's thread, in order (on_elect then on_resign, never two at once),
/// and must not block for long. etcd errors are logged and retried every heartbeat interval.
class ControllerElection {
 public:
  /// `on_elect(epoch)` when this broker becomes controller; `on_resign()` when it stops being one
  /// (not called at destruction).
  ControllerElection(etcd::ClientOptions options, std::string prefix, int32_t node_id,
                     std::chrono::milliseconds session_timeout, std::chrono::milliseconds heartbeat_interval,
                     std::function<void(int64_t epoch)> on_elect, std::function<void()> on_resign);
  ~ControllerElection();
  ControllerElection(const ControllerElection&) = delete;
  ControllerElection& operator=(const ControllerElection&) = delete;

  /// Starts campaigning on the election's thread; returns at once.
  void start();
  /// The controller epoch while this broker is controller, else 0.
  int64_t epoch() const;

 private:
  void run();
  bool campaign();        // true when this broker now holds the key
  bool still_holding();   // renews the lease and checks the key; false when control was lost
  void wait_for_vacancy();

  etcd::ClientOptions options_;
  etcd::Client client_;
  const std::string prefix_;
  const std::string key_;
  const int32_t node_id_;
  const std::chrono::milliseconds session_timeout_;
  const std::chrono::milliseconds heartbeat_interval_;
  std::function<void(int64_t)> on_elect_;
  std::function<void()> on_resign_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  int64_t lease_ = 0;   // the election thread's (and the destructor's, after it)
  int64_t epoch_ = 0;   // under mu_
  std::chrono::steady_clock::time_point last_renewed_;  // the election thread's
  std::thread thread_;
};

}  // namespace ferry::broker
