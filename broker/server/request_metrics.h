// Kafka's split of a request's time (kafka.network:type=RequestMetrics; Kafka documentation,
// "Monitoring": RequestQueueTimeMs, LocalTimeMs, RemoteTimeMs, ResponseQueueTimeMs,
// ResponseSendTimeMs, TotalTimeMs), as Prometheus histograms in milliseconds labelled by request,
// so a slow round trip can be placed: waiting for the network thread, handling, waiting on others,
// waiting behind earlier responses, or the socket.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace ferry::metrics {
class Histogram;
class Registry;
}  // namespace ferry::metrics

namespace ferry::broker {

/// The moments of one request on its connection (steady clock).
struct RequestTimeline {
  using Clock = std::chrono::steady_clock;
  Clock::time_point received;      ///< its frame's last byte was read
  Clock::time_point started;       ///< its handler began (the network thread took it up)
  Clock::time_point handled;       ///< its response was made (acks=0: handling ended)
  Clock::duration remote{};        ///< of [started, handled): waiting on others (acks=all, Fetch long poll)
  Clock::time_point send_started;  ///< the writer began it, after every earlier response
  Clock::time_point sent;          ///< its last byte went to the kernel (TLS: was encrypted; the
                                   ///< tail of a TLS record may leave with the writer's next flush)
};

/// The six histograms per request name, made on first use. Thread-safe.
class RequestMetrics {
 public:
  explicit RequestMetrics(metrics::Registry& registry) : registry_(registry) {}

  /// Records one request of API `request` (Kafka's name, e.g. "Produce"). Each part is the time
  /// between two moments of `t`; LocalTimeMs is handling minus `remote`. A request without a
  /// response (acks=0 Produce) has send_started == sent == handled.
  void observe(std::string_view request, const RequestTimeline& t);

 private:
  struct Series {
    metrics::Histogram* queue;
    metrics::Histogram* local;
    metrics::Histogram* remote;
    metrics::Histogram* response_queue;
    metrics::Histogram* send;
    metrics::Histogram* total;
  };
  const Series& series(std::string_view request);

  metrics::Registry& registry_;
  std::mutex mu_;
  std::map<std::string, Series, std::less<>> series_;
};

}  // namespace ferry::broker
