#include "broker/server/request_metrics.h"

#include <algorithm>

#include "common/metrics.h"

namespace ferry::broker {

namespace {

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b = metrics::exponential_buckets(0.125, 2, 16);  // 0.125 ms .. ~4 s
  return b;
}

double ms(std::chrono::steady_clock::duration d) {
  return std::max(0.0, std::chrono::duration<double, std::milli>(d).count());
}

}  // namespace

const RequestMetrics::Series& RequestMetrics::series(std::string_view request) {
  std::lock_guard lk(mu_);
  auto it = series_.find(request);
  if (it != series_.end()) return it->second;
  const metrics::Labels labels{{"request", std::string(request)}};
  auto h = [&](const char* name, const char* help) {
    return &registry_.histogram(name, help, latency_buckets(), labels);
  };
  Series s{
      h("kafka_network_requestmetrics_requestqueuetimems",
        "From a request's last byte read until its network thread starts handling it, ms (RequestQueueTimeMs)."),
      h("kafka_network_requestmetrics_localtimems",
        "Handling a request, without waiting on others, ms (LocalTimeMs)."),
      h("kafka_network_requestmetrics_remotetimems",
        "Waiting on others while handling: acks=all durability, a Fetch long poll, ms (RemoteTimeMs)."),
      h("kafka_network_requestmetrics_responsequeuetimems",
        "From a response made until its connection starts writing it, after every earlier response, ms "
        "(ResponseQueueTimeMs)."),
      h("kafka_network_requestmetrics_responsesendtimems",
        "Writing a response until its last byte is with the kernel, ms (ResponseSendTimeMs)."),
      h("kafka_network_requestmetrics_totaltimems",
        "From a request's last byte read until its response's last byte is with the kernel, ms (TotalTimeMs)."),
  };
  return series_.emplace(std::string(request), s).first->second;
}

void RequestMetrics::observe(std::string_view request, const RequestTimeline& t) {
  const Series& s = series(request);
  s.queue->observe(ms(t.started - t.received));
  s.local->observe(ms(t.handled - t.started - t.remote));
  s.remote->observe(ms(t.remote));
  s.response_queue->observe(ms(t.send_started - t.handled));
  s.send->observe(ms(t.sent - t.send_started));
  s.total->observe(ms(t.sent - t.received));
}

}  // namespace ferry::broker
