#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ferry::bench {

/// A source topic a mirror flow replicates and the remote topic it writes to.
struct MirrorRoute {
  std::string source_topic;
  std::string remote_topic;
  int partitions = 0;
};

/// What GET /status of ferry-mirror says (docs/mirror.md, "Metrics and status"), summed over
/// its flows; the bench's mirror configuration has exactly one.
struct MirrorStatus {
  int flows = 0;
  std::vector<MirrorRoute> routes;
  int64_t records_replicated = 0;
  /// Partitions this process owns and their total lag (source end offset minus next offset
  /// to replicate).
  int64_t assigned_partitions = 0;
  int64_t lag_records = 0;
  /// The newest error of any flow, as the mirror words it; nullopt when none.
  std::optional<std::string> last_error;

  /// The route of `source_topic`, or nullptr while the mirror has not set it up.
  const MirrorRoute* route_of(const std::string& source_topic) const;
};

/// GETs and parses `status_url` + "/status". Throws BenchError when the mirror does not
/// answer 200 with the expected JSON within 2 s.
MirrorStatus fetch_mirror_status(const std::string& status_url);

/// One series sample of Prometheus' text exposition format 0.0.4
/// (prometheus.io/docs/instrumenting/exposition_formats, "Text format details").
struct PromSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;

  /// The value of label `key`, or nullptr.
  const std::string* label(const std::string& key) const;
};

/// Parses every sample line of `text` (comments and blank lines skipped). Lines that do not
/// parse are skipped too, so one odd line cannot hide the rest.
std::vector<PromSample> parse_prometheus_text(const std::string& text);

/// One cumulative histogram bucket: observations <= `le` (ms for the mirror's latency).
struct HistogramBucket {
  double le = 0;
  double cumulative = 0;
};

/// The buckets of histogram `name` (the `<name>_bucket` series) over every series whose
/// labels include all of `match`, added up per bound, ascending, ending with +Inf.
std::vector<HistogramBucket> histogram_buckets(
    const std::vector<PromSample>& samples, const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& match);

/// A quantile read off a histogram the way Prometheus' histogram_quantile() does: linear
/// interpolation inside the bucket holding rank q × count, the lowest bucket starting at 0.
/// `low`/`high` are that bucket's bounds, i.e. what the histogram actually knows.
struct QuantileEstimate {
  double value = 0;
  double low = 0;
  double high = 0;
};

/// nullopt when the histogram holds no observation. A quantile in the +Inf bucket is reported
/// as the highest finite bound (as histogram_quantile() does), with `high` = +Inf.
std::optional<QuantileEstimate> estimate_quantile(const std::vector<HistogramBucket>& buckets,
                                                  double q);

}  // namespace ferry::bench
