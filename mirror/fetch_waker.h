// The flow's fetch waker: a thread that wakes the source consumer's broker threads when the data
// thread asks (RefillTrigger, fetch_refill.h), so librdkafka 2.0.2 fetches again as soon as its
// queue has room instead of up to 1 s later (docs/mirror.md, "Keeping the source consumer
// fetching"). Private to ferry-mirror's Flow.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/kafka.h"
#include "mirror/fetch_refill.h"

namespace ferry::mirror {

/// Wakes a consumer's broker threads by sending, through the consumer's own handle, one
/// ListOffsets (latest) per leader of the partitions given: the request is an operation on each
/// leader's broker thread, which then re-decides which partitions to fetch. The answer is not
/// used. Thread-safe; one per flow.
class FetchWaker {
 public:
  /// `name` (the flow's) goes into its log lines.
  explicit FetchWaker(std::string name);
  /// Stops the thread, after a wake in progress ends (at most kWakeTimeout).
  ~FetchWaker();
  FetchWaker(const FetchWaker&) = delete;
  FetchWaker& operator=(const FetchWaker&) = delete;

  /// The longest one wake may take: a source that is gone holds a wake this long, never a caller.
  static constexpr std::chrono::milliseconds kWakeTimeout{500};

  /// From now on wakes go through `consumer` (not owned), until detach().
  void attach(rd_kafka_t* consumer);
  /// No wake uses the consumer after this returns: a wake in progress is waited for (at most
  /// kWakeTimeout), a requested one is dropped. Call before the consumer is closed or destroyed.
  void detach();
  /// Asks for one wake of the leaders of `partitions` (source topic, partition; empty: nothing to
  /// do). Never blocks: while a wake is pending or in progress the newer request replaces it.
  void wake(std::vector<client::TopicPartitionKey> partitions);

 private:
  void run();

  const std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  rd_kafka_t* consumer_ = nullptr;                   // under mu_
  std::vector<client::TopicPartitionKey> pending_;  // under mu_; empty: none
  bool busy_ = false;                                // a wake is using consumer_ (mu_ released)
  bool stop_ = false;
  std::thread thread_;
};

/// Keeps one consumer fetching: its queue, the RefillTrigger deciding when (its own
/// queued.min.messages and queued.max.messages.kbytes) and a FetchWaker doing it. The flow's data
/// path and every probe read (read_ranges) use one each. Call due() from the polling thread only;
/// wake() and detach() are as FetchWaker's.
class FetchKeeper {
 public:
  /// `name` goes into the waker's log lines.
  explicit FetchKeeper(std::string name) : waker_(std::move(name)) {}
  /// From now on looks at `consumer`'s queue (not owned) and wakes through it, until detach().
  void attach(rd_kafka_t* consumer);
  /// No look or wake uses the consumer after this returns (FetchWaker::detach). Before the
  /// consumer is closed or destroyed.
  void detach();
  /// After each poll of the consumer: `m` a record (null: an empty poll or an event). Looks at the
  /// queue (a lock) every 64 records, at every record while a wake is due, and at every empty
  /// poll; true when the caller should wake() now.
  bool due(const rd_kafka_message_t* m);
  /// One wake of the leaders of `partitions` (FetchWaker::wake).
  void wake(std::vector<client::TopicPartitionKey> partitions) { waker_.wake(std::move(partitions)); }

 private:
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> queue_{nullptr, &rd_kafka_queue_destroy};
  std::optional<RefillTrigger> refill_;
  double record_bytes_avg_ = 0;  // recent key + value size, bytes
  uint32_t reads_since_look_ = 0;
  FetchWaker waker_;
};

}  // namespace ferry::mirror
