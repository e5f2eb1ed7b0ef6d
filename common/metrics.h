// In-process Prometheus metrics (counters, gauges, histograms); the text exposition format 0.0.4
// is written by prometheus-cpp's TextSerializer (Debian 12 package prometheus-cpp-dev 1.0.1).
// The metric objects stay this facade's own lock-free atomics rather than prometheus-cpp's
// Counter/Gauge/Histogram: in 1.0.1 Family::Remove frees the metric (a reference held by a
// handler would dangle, which remove() below promises not to happen) and Histogram::Observe
// takes a mutex (the data path must not).
// Format reference: https://prometheus.io/docs/instrumenting/exposition_formats/ ("Text format
// details"); naming rules: https://prometheus.io/docs/concepts/data_model/.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace ferry::metrics {

/// Label name -> label value pairs of one series. The order given at registration is the order
/// written out; identity ignores order, so {a,b} and {b,a} name the same series. Values are
/// arbitrary bytes; invalid UTF-8 is replaced by U+FFFD when serialized so that one bad client id
/// cannot make the whole scrape unparseable.
using Labels = std::vector<std::pair<std::string, std::string>>;

static_assert(std::atomic<double>::is_always_lock_free,
              "metric updates must stay lock-free on the hot path");

/// A monotonically increasing value (Prometheus "counter"), e.g. bytes produced. Updates are a
/// single lock-free atomic add and may come from any thread. A counter only goes up: Prometheus'
/// rate() treats every decrease as a process restart, so a decrement would corrupt rates.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  /// Adds `v` (> 0). Zero, negative and NaN increments are ignored rather than thrown, because
  /// callers sit on the data path and a bad delta must not fail a request.
  void inc(double v = 1);
  /// Current total.
  double value() const;

 private:
  std::atomic<double> value_{0};
};

/// A value that can go up and down (Prometheus "gauge"), e.g. open connections. All operations are
/// single lock-free atomics, callable from any thread.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  /// Replaces the value; NaN and ±Inf are stored and serialized as such.
  void set(double v);
  /// Adds `v` (may be negative).
  void inc(double v = 1);
  /// Subtracts `v` (may be negative).
  void dec(double v = 1);
  /// Current value.
  double value() const;

 private:
  std::atomic<double> value_{0};
};

/// A distribution of observations in fixed buckets (Prometheus "histogram"), e.g. request latency
/// in milliseconds. Serialized as cumulative `_bucket{le="<bound>"}` series ending in le="+Inf",
/// plus `_sum` and `_count`. observe() is lock-free: one bucket increment and one atomic add.
class Histogram {
 public:
  /// `bounds` are the inclusive upper bounds (value <= bound) of the finite buckets; they must be
  /// strictly increasing and not NaN. A trailing +Inf is accepted and dropped because the +Inf
  /// bucket is always implied. Throws std::invalid_argument otherwise.
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  /// Records one observation. NaN is ignored: it would fall in no finite bucket and turn `_sum`
  /// into NaN for the rest of the process lifetime.
  void observe(double v);

  /// Finite upper bounds, ascending (without the implied +Inf).
  const std::vector<double>& bounds() const { return bounds_; }
  /// Cumulative counts, one per finite bound followed by the +Inf bucket; the last element is the
  /// total count. Reads each bucket once, so the result is always non-decreasing even while
  /// other threads observe.
  std::vector<uint64_t> cumulative_counts() const;
  /// Sum of all observations.
  double sum() const;
  /// Number of observations (equals the last element of cumulative_counts()).
  uint64_t count() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (overflow) slots
  std::atomic<double> sum_{0};
};

/// Returns `count` bucket bounds start, start*factor, start*factor^2, ... for Histogram, e.g.
/// exponential_buckets(1, 2, 10) = 1..512 ms. Throws std::invalid_argument unless start > 0,
/// factor > 1 and count >= 1 (the same contract as the Go client's ExponentialBuckets).
std::vector<double> exponential_buckets(double start, double factor, int count);

/// A set of metric families, serialized together for one scrape.
///
/// Families are created on first use; asking again for the same (name, labels) returns the same
/// object, and that reference stays valid for the Registry's lifetime — even after remove(), so a
/// handler still holding a removed series cannot touch freed memory (its updates just stop being
/// exported). All member functions are thread-safe; updating a metric object you hold never takes
/// the Registry's lock.
///
/// Naming rules (data model spec): metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
/// [a-zA-Z_][a-zA-Z0-9_]* and must not start with "__" (reserved for Prometheus), must not repeat
/// within one series, and histograms may not use "le". Violations throw std::invalid_argument
/// naming the offending name. So does re-registering a name with a different type, help text or
/// (for histograms) bucket bounds, or a name that collides with a histogram's `_bucket`, `_sum` or
/// `_count` series.
///
/// The Registry is a prometheus::Collectable: Collect() hands prometheus-cpp every family as its
/// MetricFamily (callback gauges evaluated then), so it can also be registered with
/// prometheus-cpp's own Exposer or Gateway; serialize() is TextSerializer over Collect().
class Registry final : public prometheus::Collectable {
 public:
  Registry();
  ~Registry() override;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Returns the counter series `name{labels}`, creating it (and its family) if needed.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});

  /// Returns the gauge series `name{labels}`, creating it if needed. Throws std::invalid_argument
  /// if that series is already a callback gauge.
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});

  /// Returns the histogram series `name{labels}` with the given finite bucket bounds (see
  /// Histogram), creating it if needed. Every series of one family shares the same bounds.
  Histogram& histogram(const std::string& name, const std::string& help,
                       const std::vector<double>& buckets, const Labels& labels = {});

  /// Registers a gauge series whose value is `fn()` evaluated at each serialize(), for values that
  /// already live elsewhere (e.g. a partition's log end offset). Registering the same series again
  /// replaces `fn`; a series already created by gauge() throws std::invalid_argument.
  /// `fn` runs on the scraping thread with the Registry lock held, which guarantees it is never
  /// running once remove() has returned, so it may capture pointers that remove() protects. It
  /// must not call back into this Registry (that throws std::logic_error instead of deadlocking);
  /// if it throws, that sample is left out of the scrape and a warning is logged.
  void gauge_callback(const std::string& name, const std::string& help, const Labels& labels,
                      std::function<double()> fn);

  /// Stops exporting the series `name{labels}` (e.g. when a topic is deleted); a family left
  /// without series is dropped as well, so its name may later be registered anew. Unknown names
  /// or label sets are ignored. Asking for the same series afterwards creates a fresh one from
  /// zero, which Prometheus handles as a counter reset.
  void remove(const std::string& name, const Labels& labels);

  /// Renders every family in text format 0.0.4 through prometheus::TextSerializer: families
  /// sorted by name, each with one "# HELP" (omitted if the help text is empty; backslash and
  /// newline escaped) and one "# TYPE" line, series sorted by label set, label values escaped
  /// (\\ \" \n). Values as prometheus-cpp writes them (decimal or exponent form), "Nan",
  /// "+Inf", "-Inf" (Prometheus parses these case-insensitively); a histogram series is written
  /// as `_count`, `_sum`, then its `_bucket` lines. The text ends with a newline unless the
  /// registry is empty.
  std::string serialize() const;

  /// prometheus::Collectable: every family with its series' current values, families sorted by
  /// name and series by label set; HELP text escaped and invalid UTF-8 replaced as serialize()
  /// describes. Callback gauges run here, with serialize()'s rules. Thread-safe.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  enum class Kind;
  struct Family;
  struct Series;

  // Returns the family `name`, creating it; validates everything a family-level conflict can
  // violate. Caller holds mu_.
  Family& family_for(const std::string& name, const std::string& help, Kind kind,
                     const std::vector<double>* bounds);
  void check_not_in_callback() const;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
  // Removed metric objects, kept so that references handed out earlier never dangle.
  std::vector<std::shared_ptr<void>> retired_;
};

}  // namespace ferry::metrics
