#include "mirror/replication_policy.h"

#include <fmt/format.h>

#include "mirror/mm2_formats.h"

namespace ferry::mirror {

ReplicationPolicy::ReplicationPolicy(Kind kind, std::string separator) : kind_(kind), separator_(std::move(separator)) {
  if (separator_.empty()) throw std::invalid_argument("replication policy separator must not be empty");
}

bool ReplicationPolicy::looks_like_heartbeats(std::string_view topic) const {
  if (topic == kHeartbeatsTopic) return true;
  return topic.size() > separator_.size() + kHeartbeatsTopic.size() && topic.ends_with(kHeartbeatsTopic) &&
         topic.substr(0, topic.size() - kHeartbeatsTopic.size()).ends_with(separator_);
}

std::optional<std::string> ReplicationPolicy::default_topic_source(std::string_view topic) const {
  size_t at = topic.find(separator_);
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  // Java's String.split drops trailing empty strings, so "east." or "east.." is not remote in MM2.
  std::string_view rest = topic.substr(at + separator_.size());
  while (rest.starts_with(separator_)) rest.remove_prefix(separator_.size());
  if (rest.empty()) return std::nullopt;
  return std::string(topic.substr(0, at));
}

std::optional<std::string> ReplicationPolicy::default_upstream_topic(std::string_view topic) const {
  auto source = default_topic_source(topic);
  if (!source) return std::nullopt;
  return std::string(topic.substr(source->size() + separator_.size()));
}

std::string ReplicationPolicy::remote_topic(std::string_view source_alias, std::string_view topic) const {
  if (kind_ == Kind::kIdentity && !looks_like_heartbeats(topic)) return std::string(topic);
  return fmt::format("{}{}{}", source_alias, separator_, topic);
}

std::optional<std::string> ReplicationPolicy::topic_source(std::string_view topic) const {
  if (kind_ == Kind::kIdentity && !looks_like_heartbeats(topic)) return std::nullopt;
  return default_topic_source(topic);
}

std::optional<std::string> ReplicationPolicy::upstream_topic(std::string_view topic) const {
  if (kind_ == Kind::kIdentity && !looks_like_heartbeats(topic)) return std::nullopt;
  return default_upstream_topic(topic);
}

std::string ReplicationPolicy::original_topic(std::string_view topic) const {
  std::string current(topic);
  // Each step strips a non-empty prefix, so this ends.
  while (auto up = upstream_topic(current)) {
    if (*up == current) break;
    current = std::move(*up);
  }
  return current;
}

bool ReplicationPolicy::is_heartbeats_topic(std::string_view topic) const {
  return original_topic(topic) == kHeartbeatsTopic;
}

bool ReplicationPolicy::is_internal_topic(std::string_view topic) const {
  bool kafka_internal = topic.starts_with("__") || topic.starts_with(".");
  bool connect_internal = topic.ends_with(".internal") || topic.ends_with("-internal");
  bool mm2_internal = topic.ends_with(separator_ + "internal");
  return kafka_internal || connect_internal || mm2_internal;
}

bool ReplicationPolicy::would_cycle(std::string_view topic, std::string_view target_alias) const {
  std::string current(topic);
  while (auto source = topic_source(current)) {
    if (*source == target_alias) return true;
    auto up = upstream_topic(current);
    if (!up || *up == current) return false;
    current = std::move(*up);
  }
  return false;
}

std::string ReplicationPolicy::heartbeats_topic() const { return std::string(kHeartbeatsTopic); }
std::string ReplicationPolicy::checkpoints_topic(std::string_view source_alias) const {
  return mirror::checkpoints_topic(source_alias, separator_);
}
std::string ReplicationPolicy::offset_syncs_topic(std::string_view target_alias) const {
  return mirror::offset_syncs_topic(target_alias, separator_);
}

InvalidRegex::InvalidRegex(std::string p, std::string r)
    : std::invalid_argument(fmt::format("invalid regular expression '{}': {}", p, r)),
      pattern(std::move(p)),
      reason(std::move(r)) {}

RegexList::RegexList(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  compiled_.reserve(patterns_.size());
  for (const auto& p : patterns_) {
    try {
      compiled_.emplace_back(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw InvalidRegex(p, e.what());
    }
  }
}

bool RegexList::matches_any(std::string_view name) const {
  for (const auto& re : compiled_)
    if (std::regex_match(name.begin(), name.end(), re)) return true;
  return false;
}

std::vector<std::string> default_topics_include() { return {".*"}; }
std::vector<std::string> default_topics_exclude() { return {".*[\\-\\.]internal", ".*\\.replica", "__.*"}; }
std::vector<std::string> default_groups_include() { return {".*"}; }
std::vector<std::string> default_groups_exclude() { return {"console-consumer-.*", "connect-.*", "__.*"}; }

TopicFilter::TopicFilter(std::vector<std::string> include, std::vector<std::string> exclude, ReplicationPolicy policy,
                         std::string target_alias)
    : include_(std::move(include)),
      exclude_(std::move(exclude)),
      policy_(std::move(policy)),
      target_alias_(std::move(target_alias)) {}

bool TopicFilter::should_replicate(std::string_view topic) const {
  bool selected = (include_.matches_any(topic) && !exclude_.matches_any(topic)) || policy_.is_heartbeats_topic(topic);
  return selected && !policy_.is_internal_topic(topic) && !policy_.would_cycle(topic, target_alias_);
}

GroupFilter::GroupFilter(std::vector<std::string> include, std::vector<std::string> exclude)
    : include_(std::move(include)), exclude_(std::move(exclude)) {}

bool GroupFilter::should_replicate(std::string_view group) const {
  return include_.matches_any(group) && !exclude_.matches_any(group);
}

}  // namespace ferry::mirror
