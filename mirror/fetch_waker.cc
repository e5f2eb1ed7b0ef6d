#include "mirror/fetch_waker.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace ferry::mirror {

FetchWaker::FetchWaker(std::string name) : name_(std::move(name)), thread_([this] { run(); }) {}

FetchWaker::~FetchWaker() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FetchWaker::attach(rd_kafka_t* consumer) {
  std::lock_guard lk(mu_);
  consumer_ = consumer;
  pending_.clear();
}

void FetchWaker::detach() {
  std::unique_lock lk(mu_);
  consumer_ = nullptr;
  pending_.clear();
  cv_.wait(lk, [&] { return !busy_; });
}

void FetchWaker::wake(std::vector<client::TopicPartitionKey> partitions) {
  if (partitions.empty()) return;
  {
    std::lock_guard lk(mu_);
    if (!consumer_) return;
    pending_ = std::move(partitions);
  }
  cv_.notify_all();
}

void FetchWaker::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || (consumer_ && !pending_.empty()); });
    if (stop_) return;
    auto partitions = std::move(pending_);
    pending_.clear();
    rd_kafka_t* consumer = consumer_;
    busy_ = true;
    lk.unlock();
    try {
      client::wake_leaders(consumer, partitions, kWakeTimeout);
    } catch (const std::exception& e) {
      // The request still reached the broker threads of the leaders it found; a source that does
      // not answer is reported by the data path and the ends thread, not here.
      spdlog::debug("flow {}: waking the source consumer: {}", name_, e.what());
    }
    lk.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

void FetchKeeper::attach(rd_kafka_t* consumer) {
  const rd_kafka_conf_t* conf = rd_kafka_conf(consumer);
  auto conf_int = [&](const char* key) -> int64_t {
    char value[64];
    size_t size = sizeof value;
    return rd_kafka_conf_get(conf, key, value, &size) == RD_KAFKA_CONF_OK ? std::strtoll(value, nullptr, 10) : 0;
  };
  refill_.emplace(conf_int("queued.min.messages"), conf_int("queued.max.messages.kbytes") * 1024);
  queue_.reset(rd_kafka_queue_get_consumer(consumer));
  reads_since_look_ = 0;
  waker_.attach(consumer);
}

void FetchKeeper::detach() {
  waker_.detach();
  queue_.reset();
}

bool FetchKeeper::due(const rd_kafka_message_t* m) {
  if (m) {
    record_bytes_avg_ += (static_cast<double>(m->len + m->key_len) - record_bytes_avg_) / 64;
    if (++reads_since_look_ < 64 && !(refill_ && refill_->armed())) return false;
  }
  reads_since_look_ = 0;
  return queue_ && refill_ &&
         refill_->observe(static_cast<int64_t>(rd_kafka_queue_length(queue_.get())), record_bytes_avg_);
}

}  // namespace ferry::mirror
