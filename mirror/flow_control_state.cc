#include "mirror/flow_control_state.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/durable_file.h"

namespace ferry::mirror {

FlowControlState::FlowControlState(FlowControlState&& other) noexcept
    : file_(std::move(other.file_)), flows_(std::move(other.flows_)) {}

FlowControlState FlowControlState::open(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  FlowControlState s;
  s.file_ = dir / "flow-control.json";
  if (!std::filesystem::exists(s.file_)) return s;
  std::ifstream in(s.file_);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", s.file_.string()));
  std::stringstream text;
  text << in.rdbuf();
  try {
    const auto j = nlohmann::json::parse(text.str());
    for (const auto& [flow, e] : j.at("flows").items())
      s.flows_[flow] = {e.at("paused").get<bool>(), e.at("updated_ms").get<int64_t>()};
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{} is not a flow-control state file ({}); expected "
                                         "{{\"flows\": {{\"<source>-><target>\": {{\"paused\": bool, "
                                         "\"updated_ms\": int}}}}}}. Fix or remove it: removing it "
                                         "starts every flow as its `paused` key says",
                                         s.file_.string(), e.what()));
  }
  return s;
}

std::optional<FlowControlEntry> FlowControlState::get(const std::string& flow) const {
  std::lock_guard lk(mu_);
  auto it = flows_.find(flow);
  if (it == flows_.end()) return std::nullopt;
  return it->second;
}

void FlowControlState::set(const std::string& flow, bool paused, int64_t now_ms) {
  std::lock_guard lk(mu_);
  auto next = flows_;
  next[flow] = {paused, now_ms};
  nlohmann::json j;
  j["flows"] = nlohmann::json::object();
  for (const auto& [name, e] : next) j["flows"][name] = {{"paused", e.paused}, {"updated_ms", e.updated_ms}};
  ferry::atomic_write_file(file_, j.dump(2) + "\n");
  flows_ = std::move(next);
}

}  // namespace ferry::mirror
