// The flow's fetch waker: a thread that wakes the source consumer's broker threads when the data
// thread asks (RefillTrigger, fetch_refill.h), so librdkafka 2.0.2 fetches again as soon as its
// queue has room instead of up to 1 s later (docs/mirror.md, "Keeping the source consumer
// fetching"). Private to ferry-mirror's Flow.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
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

/// The RefillTrigger for consumer `consumer`: its queued.min.messages and
/// queued.max.messages.kbytes as the handle has them (librdkafka's defaults or the cluster's client
/// properties).
RefillTrigger refill_trigger_for(rd_kafka_t* consumer);

}  // namespace ferry::mirror
