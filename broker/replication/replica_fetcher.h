// Followers' side of in-region replication: one fetcher thread per leader broker (Kafka's
// num.replica.fetchers = 1, AbstractFetcherThread / ReplicaFetcherThread) that first truncates each
// newly followed partition to where it agrees with the leader (OffsetForLeaderEpoch, KIP-101 and
// KIP-279), then fetches with Fetch (replica id = this broker) from its log end offset and appends
// the leader's batches unchanged. ../shared/REPLICATION-SEMANTICS.md §1 and §3.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "broker/config/broker_config.h"
#include "broker/metadata/broker_registration.h"
#include "common/metrics.h"

namespace ferry::broker {
class Partition;
class ReplicaManager;
}  // namespace ferry::broker

namespace ferry::broker::replication {

/// A partition this broker follows, and whom.
struct FollowTarget {
  std::shared_ptr<Partition> partition;
  int32_t leader = -1;
  int32_t leader_epoch = -1;
  BrokerInfo leader_info;  ///< its registration: endpoints to connect to
};

/// Where a follower whose latest local epoch is `local_epoch` (with `local_end` its log end
/// offset, `local_end_for` its own end offset of an epoch, as storage::Log::end_offset_for_epoch)
/// must cut its log, given the leader's answer (`leader_epoch`, `leader_end`) to
/// OffsetForLeaderEpoch(local_epoch): KIP-279 (AbstractFetcherThread.getOffsetTruncationState).
/// Returns {offset, done}: `done` false means "truncate there and ask again for the epoch below".
/// `high_watermark` is the fallback when the leader knows nothing (leader_end = -1).
struct TruncationDecision {
  int64_t offset;
  bool done;
};
TruncationDecision truncation_offset(int32_t local_epoch, int64_t local_end, int32_t leader_epoch, int64_t leader_end,
                                     int64_t high_watermark,
                                     const std::function<std::pair<int32_t, int64_t>(int32_t)>& local_end_for);

}  // namespace ferry::broker::replication
namespace ferry::client {
struct WireSecurity;
}
namespace ferry::broker::replication {

/// How a follower connects to its leader: the inter-broker listener's security protocol, with the
/// broker's own truststore (and keystore when ssl.client.auth asks for client certificates) and
/// the SASL user of inter.broker.sasl.username / sasl.mechanism.inter.broker.protocol.
client::WireSecurity inter_broker_security(const BrokerConfig& config);

/// The fetcher threads of one broker. assign() is called by the replication thread only.
class ReplicaFetchers {
 public:
  explicit ReplicaFetchers(const BrokerConfig& config);
  /// Stops and joins every fetcher thread.
  ~ReplicaFetchers();
  ReplicaFetchers(const ReplicaFetchers&) = delete;
  ReplicaFetchers& operator=(const ReplicaFetchers&) = delete;

  /// Makes the set of followed partitions exactly `targets`: a partition whose leader or epoch
  /// changed is truncated against its leader again before it fetches; fetchers of leaders that no
  /// longer lead anything here stop.
  void assign(const std::vector<FollowTarget>& targets);
  /// The largest lag (leader's high watermark minus this replica's log end offset, records) seen
  /// in each fetcher's last round, over all fetchers; 0 when following nothing.
  int64_t max_lag() const;

 private:
  class Fetcher;
  const BrokerConfig& config_;
  /// Joins retired fetchers off the caller's thread: a fetcher blocked on a frozen leader returns
  /// only when its request times out (replica.socket.timeout.ms), and the replication thread,
  /// which also runs the controller's elections, must not wait for that.
  void reap_loop();

  mutable std::mutex mu_;  // guards fetchers_, retiring_, stopping_
  std::condition_variable reap_cv_;
  std::map<int32_t, std::unique_ptr<Fetcher>> fetchers_;  // by leader id
  std::vector<std::unique_ptr<Fetcher>> retiring_;        // told to stop, to be joined by reaper_
  bool stopping_ = false;
  std::thread reaper_;
};

}  // namespace ferry::broker::replication
