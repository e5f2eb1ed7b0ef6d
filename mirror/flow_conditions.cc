#include "mirror/flow_conditions.h"

#include <spdlog/spdlog.h>

#include "common/clock.h"

namespace ferry::mirror {

FlowConditions::FlowConditions(std::string flow, std::string source, std::string target, metrics::Registry& metrics)
    : flow_(std::move(flow)), source_(std::move(source)), target_(std::move(target)), metrics_(metrics) {}

void FlowConditions::note_error(const std::string& what, const char* kind) {
  spdlog::warn("flow {}: {}", flow_, what);
  metrics_
      .counter(kErrorsMetric, kErrorsHelp, {{"source", source_}, {"target", target_}, {"kind", kind}})
      .inc();
  std::lock_guard lk(mu_);
  last_error_ = what;
  last_error_ms_ = wall_clock_ms();
}

void FlowConditions::set(const std::string& key, const std::string& what) {
  const auto kind = key.substr(0, key.find(':'));
  note_error(what, kind.c_str());
  std::lock_guard lk(mu_);
  current_[key] = what;
}

void FlowConditions::clear(const std::string& key) {
  std::lock_guard lk(mu_);
  if (current_.erase(key)) spdlog::info("flow {}: {} works again", flow_, key);
}

bool FlowConditions::has(const std::string& key) const {
  std::lock_guard lk(mu_);
  return current_.contains(key);
}

FlowConditions::View FlowConditions::view() const {
  std::lock_guard lk(mu_);
  View v;
  if (!last_error_.empty()) v.last_error = last_error_;
  v.last_error_ms = last_error_ms_;
  for (const auto& [_, what] : current_) v.current.push_back(what);
  return v;
}

}  // namespace ferry::mirror
