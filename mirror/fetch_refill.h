// When the source consumer's local queue has drained enough that librdkafka would fetch again,
// but is not told so (docs/mirror.md, "Keeping the source consumer fetching").
//
// librdkafka 2.0.2 (Debian 12) stops fetching every partition of a consumer once its queue holds
// `queued.min.messages` messages or `queued.max.messages.kbytes` (both count the whole queue a
// subscribing consumer forwards its partitions to: rd_kafka_toppar_fetch_decide). Its broker thread
// then decides again only when an operation or a response reaches it, or after 1 s
// (rd_kafka_max_block_ms); librdkafka 2.3 added `fetch.queue.backoff.ms` for this wait. A mirror that
// is behind fills the queue every cycle and so copied nothing for about half of every second
// (measured with scripts/bench-mirror.sh: 0.5-0.6 s of empty polls per second). The flow therefore
// sends the broker threads an operation itself once the queue has drained to half (FetchWaker).
#pragma once

#include <cstdint>

namespace ferry::mirror {

/// The decision when to wake the consumer's broker threads, from what the data thread sees of its
/// queue. Pure; one per consumer, used by the data thread only.
class RefillTrigger {
 public:
  /// `max_messages`: the consumer's queued.min.messages (messages); `max_bytes`: its
  /// queued.max.messages.kbytes × 1024 (bytes of record keys and values, as librdkafka counts
  /// them). Values below 1 are treated as 1.
  RefillTrigger(int64_t max_messages, int64_t max_bytes);

  /// One look at the queue: `messages` queued now (rd_kafka_queue_length) and `bytes_per_message`,
  /// a recent average of key + value sizes (the queue's bytes are not public, so they are
  /// estimated as messages × that average). Returns true when the broker threads should be woken:
  /// since the last wake the queue reached 3/4 of either limit (so librdkafka stopped fetching, or
  /// is about to), and it is now below half of both. Then false again until the queue refills.
  bool observe(int64_t messages, double bytes_per_message);

  /// True between a fill and the wake it earns: the caller should then look at every record, so
  /// the wake comes the moment the queue is low enough (a queue of a few records drains between two
  /// looks 64 records apart, and the next look would come only after an empty poll's wait).
  bool armed() const { return armed_; }
  /// Wakes returned so far.
  uint64_t wakes() const { return wakes_; }

 private:
  int64_t max_messages_;
  int64_t max_bytes_;
  bool armed_ = false;
  uint64_t wakes_ = 0;
};

}  // namespace ferry::mirror
