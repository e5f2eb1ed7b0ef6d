// Remote-topic naming, internal-topic and cycle rules, and the topic/group filters of one flow,
// following MirrorMaker 2 (KIP-382): DefaultReplicationPolicy, IdentityReplicationPolicy,
// ReplicationPolicy.isInternalTopic, MirrorSourceConnector.shouldReplicateTopic / isCycle,
// DefaultTopicFilter and DefaultGroupFilter of Apache Kafka 3.x.
#pragma once

#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::mirror {

/// How remote topics are named on the target. A small value type (no virtual dispatch): the two
/// policies differ in a few rules only.
///
/// - kDefault (MM2 DefaultReplicationPolicy): remote topic = "<source alias><separator><topic>";
///   the name records the path, so cycles are detected from it.
/// - kIdentity (MM2 IdentityReplicationPolicy): names are kept. As in MM2 3.x, heartbeat topics are
///   the exception and are still prefixed ("heartbeats" from east becomes "east.heartbeats"), so
///   each cluster's heartbeats stay distinguishable. MM2 recognises heartbeats by
///   topic.endsWith("heartbeats"); Ferry requires the name to be "heartbeats" or to end in
///   "<separator>heartbeats" so that a topic such as "myheartbeats" keeps its name. Cycle safety
///   for data comes from the kOriginHeader provenance header (provenance.h), not from the name.
class ReplicationPolicy {
 public:
  enum class Kind { kDefault, kIdentity };

  /// `separator` must be non-empty; throws std::invalid_argument otherwise.
  explicit ReplicationPolicy(Kind kind = Kind::kDefault, std::string separator = ".");

  Kind kind() const { return kind_; }
  const std::string& separator() const { return separator_; }

  /// Name on the target of `topic` replicated from `source_alias` (MM2 formatRemoteTopic).
  std::string remote_topic(std::string_view source_alias, std::string_view topic) const;

  /// The cluster a remote topic was replicated from, by name (MM2 topicSource): the text before
  /// the first separator. nullopt when the name says nothing: no separator, an empty prefix, or
  /// nothing but separators after it; and, under kIdentity, any non-heartbeat topic.
  std::optional<std::string> topic_source(std::string_view topic) const;

  /// The topic's name on the cluster it was replicated from (MM2 upstreamTopic): the text after
  /// the source alias and separator; it may itself be remote after several hops. nullopt when
  /// topic_source() is nullopt.
  std::optional<std::string> upstream_topic(std::string_view topic) const;

  /// The name at the first hop, following upstream_topic() until it ends (MM2 originalTopic).
  std::string original_topic(std::string_view topic) const;

  /// True for "heartbeats" and remote copies of it ("east.heartbeats", "west.east.heartbeats")
  /// (MM2 isHeartbeatsTopic). Heartbeat topics are replicated whatever the topic filter says.
  bool is_heartbeats_topic(std::string_view topic) const;

  /// True for topics never replicated (MM2 ReplicationPolicy.isInternalTopic, 3.x): names starting
  /// with "__" or ".", ending in ".internal" or "-internal" (Kafka Connect's own topics), or ending
  /// in "<separator>internal" (MM2's checkpoints and offset-syncs topics, KIP-690). Heartbeat
  /// topics are not internal: MM2 replicates them to prove end-to-end flow.
  bool is_internal_topic(std::string_view topic) const;

  /// True when replicating `topic` to `target_alias` would bring it back to a cluster it came
  /// from (MM2 MirrorSourceConnector.isCycle): some source alias along the topic's chain of
  /// prefixes is the target. Under kIdentity only heartbeat topics have such a chain, so this is
  /// false for data topics; use originated_in() (provenance.h) per record instead.
  bool would_cycle(std::string_view topic, std::string_view target_alias) const;

  /// MM2's internal topic names under this policy's separator (KIP-690); see mm2_formats.h.
  std::string heartbeats_topic() const;
  std::string checkpoints_topic(std::string_view source_alias) const;
  std::string offset_syncs_topic(std::string_view target_alias) const;

 private:
  bool looks_like_heartbeats(std::string_view topic) const;
  std::optional<std::string> default_topic_source(std::string_view topic) const;
  std::optional<std::string> default_upstream_topic(std::string_view topic) const;

  Kind kind_;
  std::string separator_;
};

/// A regular expression in a filter list that std::regex (ECMAScript grammar, which covers the
/// Java regex features MM2 configurations use: classes, alternation, quantifiers, escapes) rejects.
struct InvalidRegex : std::invalid_argument {
  InvalidRegex(std::string pattern, std::string reason);
  std::string pattern;
  std::string reason;  // std::regex_error::what()
};

/// A list of regular expressions matched as a whole against a name: MM2 joins its comma-separated
/// list into one alternation and calls Matcher.matches(), which is a full match.
class RegexList {
 public:
  /// Compiles every pattern; throws InvalidRegex naming the first bad one.
  explicit RegexList(std::vector<std::string> patterns);

  /// True when some pattern matches all of `name`. An empty list matches nothing.
  bool matches_any(std::string_view name) const;
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  std::vector<std::string> patterns_;
  std::vector<std::regex> compiled_;
};

/// MM2's DefaultTopicFilter defaults: TOPICS_INCLUDE_DEFAULT and TOPICS_EXCLUDE_DEFAULT.
std::vector<std::string> default_topics_include();
std::vector<std::string> default_topics_exclude();
/// MM2's DefaultGroupFilter defaults: GROUPS_INCLUDE_DEFAULT and GROUPS_EXCLUDE_DEFAULT.
std::vector<std::string> default_groups_include();
std::vector<std::string> default_groups_exclude();

/// Which source topics one flow replicates (MM2 MirrorSourceConnector.shouldReplicateTopic):
/// (included and not excluded, or a heartbeats topic) and not internal and not a cycle.
class TopicFilter {
 public:
  /// Throws InvalidRegex for a bad pattern.
  TopicFilter(std::vector<std::string> include, std::vector<std::string> exclude, ReplicationPolicy policy,
              std::string target_alias);

  bool should_replicate(std::string_view topic) const;

 private:
  RegexList include_;
  RegexList exclude_;
  ReplicationPolicy policy_;
  std::string target_alias_;
};

/// Which consumer groups one flow checkpoints (MM2 DefaultGroupFilter): included and not excluded.
class GroupFilter {
 public:
  /// Throws InvalidRegex for a bad pattern.
  GroupFilter(std::vector<std::string> include, std::vector<std::string> exclude);

  bool should_replicate(std::string_view group) const;

 private:
  RegexList include_;
  RegexList exclude_;
};

}  // namespace ferry::mirror
