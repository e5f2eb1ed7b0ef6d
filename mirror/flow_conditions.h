// What has gone wrong in one flow, for /status and the log: one-off errors (the newest is
// "last_error") and conditions that persist until their path works again ("current_errors";
// "healthy" while there is none). Shared by every part of a Flow. No librdkafka, no sockets.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"

namespace ferry::mirror {

/// The error record of one flow. Thread-safe.
class FlowConditions {
 public:
  /// The counter of errors, by kind, and its help text.
  static constexpr const char* kErrorsMetric = "ferry_mirror_errors_total";
  static constexpr const char* kErrorsHelp = "Errors met by a flow, by kind (the log says what each was).";

  /// `flow` ("source->target") names the flow in the log; errors are counted in `metrics` as
  /// ferry_mirror_errors_total{source, target, kind}.
  FlowConditions(std::string flow, std::string source, std::string target, metrics::Registry& metrics);

  /// Records a one-off event: logged (warning), counted under `kind`, and kept as last_error
  /// with the wall-clock time. Does not make the flow unhealthy by itself.
  void note_error(const std::string& what, const char* kind = "event");
  /// Records a condition that persists until clear(key): note_error(what, kind) with kind the
  /// part of `key` before ':' (e.g. "refused" for "refused:t-0"), and listed in current_errors.
  /// Setting it again replaces its text.
  void set(const std::string& key, const std::string& what);
  /// The path named `key` works again; logs the recovery once. No-op when it was not set.
  void clear(const std::string& key);
  /// Whether condition `key` is set now.
  bool has(const std::string& key) const;

  /// What /status reports.
  struct View {
    std::optional<std::string> last_error;  ///< nullopt: none since start
    int64_t last_error_ms = 0;              ///< wall ms of last_error, 0: none
    std::vector<std::string> current;       ///< the texts of the conditions set now, by key
  };
  View view() const;

 private:
  const std::string flow_, source_, target_;
  metrics::Registry& metrics_;
  mutable std::mutex mu_;
  std::string last_error_;
  int64_t last_error_ms_ = 0;
  std::map<std::string, std::string> current_;  // by path: "topics", "source", "target", ...
};

}  // namespace ferry::mirror
