#include "common/metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace ferry::metrics {

void Counter::inc(double v) {
  if (!(v > 0)) return;  // also rejects NaN
  value_.fetch_add(v, std::memory_order_relaxed);
}

double Counter::value() const { return value_.load(std::memory_order_relaxed); }

void Gauge::set(double v) { value_.store(v, std::memory_order_relaxed); }
void Gauge::inc(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
void Gauge::dec(double v) { value_.fetch_sub(v, std::memory_order_relaxed); }
double Gauge::value() const { return value_.load(std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  if (!bounds_.empty() && bounds_.back() == std::numeric_limits<double>::infinity()) bounds_.pop_back();
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (std::isnan(bounds_[i]))
      throw std::invalid_argument("histogram bucket bound " + std::to_string(i) + " is NaN");
    if (i > 0 && !(bounds_[i - 1] < bounds_[i]))
      throw std::invalid_argument("histogram bucket bounds must be strictly increasing, but bound " +
                                  std::to_string(i) + " does not exceed bound " +
                                  std::to_string(i - 1));
  }
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  // First bound >= v: buckets are "less than or equal" (le) upper bounds.
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::cumulative_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

double Histogram::sum() const { return sum_.load(std::memory_order_relaxed); }

uint64_t Histogram::count() const { return cumulative_counts().back(); }

std::vector<double> exponential_buckets(double start, double factor, int count) {
  if (!(start > 0)) throw std::invalid_argument("exponential_buckets: start must be > 0");
  if (!(factor > 1)) throw std::invalid_argument("exponential_buckets: factor must be > 1");
  if (count < 1) throw std::invalid_argument("exponential_buckets: count must be >= 1");
  std::vector<double> out;
  out.reserve(static_cast<size_t>(count));
  double b = start;
  for (int i = 0; i < count; ++i, b *= factor) out.push_back(b);
  return out;
}

namespace {

bool valid_metric_name(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 §4: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 if the bytes there are not one.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

// Returns `s` with every byte that does not start a well-formed UTF-8 sequence replaced by
// U+FFFD, so one bad client id cannot make the whole scrape unparseable.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

// The series' labels in registration order, as prometheus-cpp's serializer writes them.
std::vector<prometheus::ClientMetric::Label> client_labels(const Labels& labels) {
  std::vector<prometheus::ClientMetric::Label> out;
  out.reserve(labels.size());
  for (const auto& [k, v] : labels) out.push_back({k, valid_utf8(v)});
  return out;
}

constexpr std::string_view kHistogramSuffixes[] = {"_bucket", "_sum", "_count"};

// The Registry whose serialize() is running on this thread, to turn re-entry from a callback
// into an exception instead of a self-deadlock on the non-recursive mutex.
thread_local const Registry* tl_serializing = nullptr;

}  // namespace

enum class Registry::Kind { kCounter, kGauge, kHistogram };

namespace {

// Indexed by Registry::Kind; these are the type names of the "# TYPE" line.
const char* kind_name(int k) {
  static const char* const names[] = {"counter", "gauge", "histogram"};
  return names[k];
}

}  // namespace

struct Registry::Series {
  Labels labels;                // as registered: output order
  std::shared_ptr<void> metric;  // Counter, Gauge or Histogram per the family's kind
  std::function<double()> fn;    // set only for callback gauges
};

struct Registry::Family {
  Kind kind;
  std::string help;
  std::vector<double> bounds;  // histograms only, normalized by Histogram's constructor
  std::map<Labels, Series> series;  // key: labels sorted by name
};

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::check_not_in_callback() const {
  if (tl_serializing == this)
    throw std::logic_error("metrics: gauge callback called back into the Registry it is serialized from");
}

namespace {

// Validates labels and returns them sorted by name (the series identity).
Labels series_key(const std::string& metric, const Labels& labels, bool histogram) {
  Labels key = labels;
  for (const auto& [k, v] : key) {
    if (!valid_label_name(k))
      throw std::invalid_argument("metric '" + metric + "': invalid label name '" + k + "'");
    if (k.size() >= 2 && k[0] == '_' && k[1] == '_')
      throw std::invalid_argument("metric '" + metric + "': label name '" + k +
                                  "' is reserved (leading \"__\")");
    if (histogram && k == "le")
      throw std::invalid_argument("histogram '" + metric + "': label name 'le' is reserved");
  }
  std::sort(key.begin(), key.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < key.size(); ++i)
    if (key[i].first == key[i - 1].first)
      throw std::invalid_argument("metric '" + metric + "': label name '" + key[i].first +
                                  "' given twice");
  return key;
}

}  // namespace

Registry::Family& Registry::family_for(const std::string& name, const std::string& help,
                                       Kind kind, const std::vector<double>* bounds) {
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name '" + name + "'");
  if (auto it = families_.find(name); it != families_.end()) {
    Family& f = *it->second;
    if (f.kind != kind)
      throw std::invalid_argument("metric '" + name + "' already registered as " +
                                  kind_name(static_cast<int>(f.kind)) + ", not " +
                                  kind_name(static_cast<int>(kind)));
    if (f.help != help)
      throw std::invalid_argument("metric '" + name + "' already registered with help text '" +
                                  f.help + "'");
    if (bounds != nullptr && f.bounds != *bounds)
      throw std::invalid_argument("histogram '" + name +
                                  "' already registered with different bucket bounds");
    return f;
  }
  // A histogram exports name_bucket/_sum/_count; a separate family by one of those names would
  // produce duplicate series in the scrape.
  for (std::string_view suffix : kHistogramSuffixes) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      auto base = families_.find(name.substr(0, name.size() - suffix.size()));
      if (base != families_.end() && base->second->kind == Kind::kHistogram)
        throw std::invalid_argument("metric '" + name + "' collides with histogram '" +
                                    base->first + "'");
    }
    if (kind == Kind::kHistogram && families_.count(name + std::string(suffix)))
      throw std::invalid_argument("histogram '" + name + "' collides with metric '" + name +
                                  std::string(suffix) + "'");
  }
  auto f = std::make_unique<Family>();
  f->kind = kind;
  f->help = help;
  if (bounds != nullptr) f->bounds = *bounds;
  return *families_.emplace(name, std::move(f)).first->second;
}

Counter& Registry::counter(const std::string& name, const std::string& help,
                           const Labels& labels) {
  check_not_in_callback();
  Labels key = series_key(name, labels, false);
  std::lock_guard lock(mu_);
  Family& f = family_for(name, help, Kind::kCounter, nullptr);
  auto [it, inserted] = f.series.try_emplace(std::move(key));
  if (inserted) it->second = Series{labels, std::make_shared<Counter>(), {}};
  return *static_cast<Counter*>(it->second.metric.get());
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  check_not_in_callback();
  Labels key = series_key(name, labels, false);
  std::lock_guard lock(mu_);
  Family& f = family_for(name, help, Kind::kGauge, nullptr);
  auto [it, inserted] = f.series.try_emplace(std::move(key));
  if (inserted) it->second = Series{labels, std::make_shared<Gauge>(), {}};
  if (it->second.fn)
    throw std::invalid_argument("gauge '" + name + "': this label set is a callback gauge");
  return *static_cast<Gauge*>(it->second.metric.get());
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const std::vector<double>& buckets, const Labels& labels) {
  check_not_in_callback();
  Labels key = series_key(name, labels, true);
  // Validates and normalizes the bounds before any family exists, so a bad call leaves no trace.
  auto fresh = std::make_shared<Histogram>(buckets);
  std::lock_guard lock(mu_);
  Family& f = family_for(name, help, Kind::kHistogram, &fresh->bounds());
  auto [it, inserted] = f.series.try_emplace(std::move(key));
  if (inserted) it->second = Series{labels, std::move(fresh), {}};
  return *static_cast<Histogram*>(it->second.metric.get());
}

void Registry::gauge_callback(const std::string& name, const std::string& help,
                              const Labels& labels, std::function<double()> fn) {
  check_not_in_callback();
  if (!fn) throw std::invalid_argument("gauge '" + name + "': empty callback");
  Labels key = series_key(name, labels, false);
  std::function<double()> old;  // destroyed after unlocking: its captures may be arbitrary
  std::lock_guard lock(mu_);
  Family& f = family_for(name, help, Kind::kGauge, nullptr);
  auto [it, inserted] = f.series.try_emplace(std::move(key));
  if (inserted) {
    it->second.labels = labels;
  } else if (!it->second.fn) {
    throw std::invalid_argument("gauge '" + name + "': this label set is a plain gauge");
  }
  old = std::exchange(it->second.fn, std::move(fn));
}

void Registry::remove(const std::string& name, const Labels& labels) {
  check_not_in_callback();
  Labels key = labels;
  std::sort(key.begin(), key.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::function<double()> old_fn;  // destroyed after unlocking
  std::lock_guard lock(mu_);
  auto fit = families_.find(name);
  if (fit == families_.end()) return;
  auto& series = fit->second->series;
  auto sit = series.find(key);
  if (sit == series.end()) return;
  if (sit->second.metric) retired_.push_back(std::move(sit->second.metric));
  old_fn = std::move(sit->second.fn);
  series.erase(sit);
  if (series.empty()) families_.erase(fit);
}

std::vector<prometheus::MetricFamily> Registry::Collect() const {
  check_not_in_callback();
  std::vector<prometheus::MetricFamily> families;
  {
    std::lock_guard lock(mu_);
    struct Guard {
      const Registry* prev;
      explicit Guard(const Registry* r) : prev(std::exchange(tl_serializing, r)) {}
      ~Guard() { tl_serializing = prev; }
    } guard(this);
    families.reserve(families_.size());
    for (const auto& [name, fam] : families_) {
      prometheus::MetricFamily& out = families.emplace_back();
      out.name = name;
      // prometheus-cpp 1.0.1 writes HELP text as given; the format wants \\ and \n escaped.
      for (char c : valid_utf8(fam->help)) {
        if (c == '\\') out.help += "\\\\";
        else if (c == '\n') out.help += "\\n";
        else out.help += c;
      }
      out.type = fam->kind == Kind::kCounter ? prometheus::MetricType::Counter
                 : fam->kind == Kind::kGauge ? prometheus::MetricType::Gauge
                                             : prometheus::MetricType::Histogram;
      out.metric.reserve(fam->series.size());
      for (const auto& [key, s] : fam->series) {
        prometheus::ClientMetric m;
        switch (fam->kind) {
          case Kind::kCounter:
            m.counter.value = static_cast<Counter*>(s.metric.get())->value();
            break;
          case Kind::kGauge:
            if (!s.fn) {
              m.gauge.value = static_cast<Gauge*>(s.metric.get())->value();
              break;
            }
            try {
              m.gauge.value = s.fn();
            } catch (const std::exception& e) {
              spdlog::warn("metrics: callback for gauge '{}' threw, sample skipped: {}", name,
                           e.what());
              continue;
            }
            break;
          case Kind::kHistogram: {
            const auto* h = static_cast<Histogram*>(s.metric.get());
            // _count is derived from the same bucket snapshot, so "+Inf" == _count always holds;
            // _sum may still miss an observe() that is in flight on another thread.
            m.histogram.sample_sum = h->sum();
            std::vector<uint64_t> cum = h->cumulative_counts();
            for (size_t i = 0; i < cum.size(); ++i) {
              const double le = i < h->bounds().size() ? h->bounds()[i]
                                                       : std::numeric_limits<double>::infinity();
              m.histogram.bucket.push_back({cum[i], le});
            }
            m.histogram.sample_count = cum.back();
            break;
          }
        }
        m.label = client_labels(s.labels);
        out.metric.push_back(std::move(m));
      }
    }
  }
  return families;
}

std::string Registry::serialize() const {
  // Text format 0.0.4 is prometheus-cpp's job; families_ and each family's series are maps, so
  // Collect() is already sorted by name and by label set.
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, Collect());
  return std::move(text).str();
}

}  // namespace ferry::metrics
