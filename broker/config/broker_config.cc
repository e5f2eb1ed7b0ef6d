#include "broker/config/broker_config.h"

#include "security/audit_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <stdexcept>

#include "common/etcd_client.h"
#include "security/acl.h"

namespace ferry::broker {

using config::ConfigError;

const config::Schema& broker_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    s.add_int("node.id", 0, 0, INT32_MAX, "The id of this broker (Kafka's node.id / broker.id).")
        .add_list("listeners", {"PLAINTEXT://127.0.0.1:9092"},
                  "Comma-separated NAME://host:port listeners; the name's security protocol comes from "
                  "listener.security.protocol.map (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL).")
        .add_list("advertised.listeners", {},
                  "Listeners published to clients in Metadata, by name; empty = same as listeners.")
        .add_list("listener.security.protocol.map",
                  {"PLAINTEXT:PLAINTEXT", "SSL:SSL", "SASL_PLAINTEXT:SASL_PLAINTEXT", "SASL_SSL:SASL_SSL"},
                  "Listener name to security protocol.")
        .add_enum("metadata.store", "file", {"file", "etcd"},
                  "Ferry-only. Where cluster metadata lives (topics, configs, producer-id blocks, ACLs, SCRAM "
                  "credentials). file: ferry-metadata.toml in the first log dir, for a one-broker region. etcd: "
                  "under etcd.prefix on the etcd cluster of etcd.endpoints, shared by the region's brokers, which "
                  "also register there under a lease (docs/etcd.md).")
        .add_list("etcd.endpoints", {},
                  "Ferry-only. host:port (or http://host:port) of the etcd members, comma-separated; required "
                  "when metadata.store = etcd. Tried in order; an unreachable member is skipped.")
        .add_string("etcd.prefix", "/ferry",
                    "Ferry-only. Key prefix of this cluster's metadata in etcd (like ZooKeeper's chroot in Kafka's "
                    "zookeeper.connect): starts with '/', does not end with '/'.")
        .add_int("broker.session.timeout.ms", 3000, 2000, 3600000,
                 "How long the broker's registration outlives its last heartbeat (KRaft's key; here the TTL of "
                 "its etcd lease, rounded up to whole seconds). A broker silent this long is dead to the cluster "
                 "and its partitions get new leaders. Below KRaft's 9000: a Ferry broker has no garbage-collection "
                 "pauses, and a leader lost must be replaced within seconds (etcd's minimum lease is 2 s).")
        .add_int("broker.heartbeat.interval.ms", 1000, 100, 3600000,
                 "How often the broker renews its registration (KRaft's key; an etcd lease keepalive); must be "
                 "below broker.session.timeout.ms.")
        .add_string("broker.rack", "",
                    "Rack of this broker, published in Metadata (empty = none). With metadata.store = etcd, "
                    "replicas of a partition go to distinct racks while racks remain (Kafka's rack-aware "
                    "assignment); racks must be set on every broker of the region or on none.")
        .add_string("inter.broker.listener.name", "",
                    "Listener (a name from listeners) that followers fetch from; empty = the first listener. On an "
                    "SSL or SASL_SSL listener the follower trusts ssl.truststore.location (empty = the system's "
                    "CAs) and checks the leader's certificate against its registered host; with ssl.client.auth "
                    "= required or requested it presents ssl.keystore.location. On a SASL listener it logs in with "
                    "sasl.mechanism.inter.broker.protocol as inter.broker.sasl.username.")
        .add_enum("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512", {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"},
                  "SASL mechanism followers log in to their leaders with (Kafka's key; Kafka's default GSSAPI is "
                  "not supported).")
        .add_string("inter.broker.sasl.username", "",
                    "Ferry-only (Kafka reads it from the listener's JAAS config). User followers log in as on a SASL "
                    "inter-broker listener; it needs CLUSTER_ACTION on the cluster (a super user, or an ACL).")
        .add_string("inter.broker.sasl.password", "",
                    "Ferry-only. Password of inter.broker.sasl.username (keep the config file mode 0600).")
        .add_bool("auto.leader.rebalance.enable", true,
                  "A region on etcd: the controller moves leadership back to each partition's preferred replica "
                  "(the first in its replica list) when it is live and in sync, once a broker leads too few of "
                  "the partitions it prefers (leader.imbalance.per.broker.percentage), checked every "
                  "leader.imbalance.check.interval.seconds.")
        .add_int("leader.imbalance.check.interval.seconds", 300, 1, 86400,
                 "How often the controller checks the preferred-leader imbalance (auto.leader.rebalance.enable).")
        .add_int("leader.imbalance.per.broker.percentage", 10, 0, 100,
                 "The share, in percent, of a broker's preferred partitions that may be led elsewhere before "
                 "the controller moves them back.")
        .add_bool("controlled.shutdown.enable", true,
                  "On SIGTERM a broker of a region on etcd first deregisters and waits (up to the shutdown "
                  "grace) until the controller has moved its leaderships to other in-sync replicas.")
        .add_int("replica.lag.time.max.ms", 30000, 100, INT32_MAX,
                 "A follower that has not caught up with its leader for this long leaves the ISR (Kafka's key "
                 "and default; checked every half of it).")
        .add_int("replica.fetch.max.bytes", 1048576, 1, INT32_MAX,
                 "Bytes a follower asks per partition in one fetch (soft: a larger first batch still comes).")
        .add_int("replica.fetch.response.max.bytes", 10485760, 1, INT32_MAX,
                 "Bytes a follower asks for in one fetch over all its partitions.")
        .add_int("replica.fetch.wait.max.ms", 500, 0, INT32_MAX,
                 "How long the leader holds a follower's fetch when it has nothing new (keep it below "
                 "replica.lag.time.max.ms).")
        .add_int("replica.fetch.backoff.ms", 1000, 0, INT32_MAX,
                 "How long a follower waits after a failed fetch (leader unreachable, not the leader yet).")
        .add_int("replica.socket.timeout.ms", 30000, 1000, INT32_MAX,
                 "Bound of one follower request to its leader, beyond replica.fetch.wait.max.ms.")
        .add_list("log.dirs", {"/tmp/ferry-logs"},
                  "Directories holding partition logs; new partitions go to the directory with the fewest.")
        .add_int("num.network.threads", 3, 1, 256, "Threads (one Asio io_context each) serving connections.")
        .add_int("num.recovery.threads.per.data.dir", 8, 1, 256,
                 "Threads per log dir that open (and after a crash recover) logs at startup and flush them at "
                 "shutdown; they mostly wait for the disk, so more than the cores helps (Kafka's default: 2).")
        .add_int("num.partitions", 1, 1, 1000000, "Partitions of an auto-created topic or a CreateTopics with -1.")
        .add_int("default.replication.factor", 1, 1, 32767, "Replication factor of auto-created topics.")
        .add_bool("auto.create.topics.enable", true, "Create a topic on a Metadata request that names it.")
        .add_bool("delete.topic.enable", true, "Allow DeleteTopics.")
        .add_int("message.max.bytes", 1048588, 0, INT32_MAX,
                 "Largest record batch accepted (default for the topic key max.message.bytes).")
        .add_int("socket.request.max.bytes", 104857600, 1, INT32_MAX,
                 "Largest request frame; a larger size prefix closes the connection before any allocation.")
        .add_int("connections.max.idle.ms", 600000, 1, INT64_MAX, "Idle connections are closed after this long.")
        .add_int("log.segment.bytes", 1073741824, 14, INT32_MAX, "Roll a segment at this size (topic key segment.bytes).")
        .add_int("log.roll.ms", 604800000, 1, INT64_MAX, "Roll a segment at this age (topic key segment.ms).")
        .add_int("log.retention.ms", 604800000, -1, INT64_MAX,
                 "Delete segments older than this; -1 keeps forever (topic key retention.ms).")
        .add_int("log.retention.bytes", -1, -1, INT64_MAX,
                 "Delete oldest segments beyond this partition size; -1 = no limit (topic key retention.bytes).")
        .add_int("log.retention.check.interval.ms", 300000, 1, INT64_MAX, "How often retention is applied.")
        .add_int("log.index.interval.bytes", 4096, 0, INT32_MAX, "Bytes between sparse index entries.")
        .add_int("log.index.size.max.bytes", 10485760, 4, INT32_MAX, "Roll a segment when its index reaches this size.")
        .add_int("log.flush.interval.messages", INT64_MAX, 1, INT64_MAX,
                 "fsync a partition after this many unflushed messages (topic key flush.messages).")
        .add_int("log.flush.interval.ms", INT64_MAX, 0, INT64_MAX,
                 "fsync a partition when its oldest unflushed message is this old (topic key flush.ms).")
        .add_int("log.flush.offset.checkpoint.interval.ms", 60000, 1, INT64_MAX,
                 "How often recovery points are checkpointed; recovery re-validates everything after them.")
        .add_bool("log.flush.acks.all", true,
                  "Ferry-only. Answer acks=all produce only after its records are fsynced (group commit), so "
                  "an acknowledged acks=all record survives power loss on a single node; acks=1 is answered "
                  "after the write to the page cache (survives a process crash).")
        .add_enum("log.message.timestamp.type", "CreateTime", {"CreateTime", "LogAppendTime"},
                  "Timestamp kept in records (topic key message.timestamp.type).")
        .add_list("log.cleanup.policy", {"delete"}, "delete and/or compact (topic key cleanup.policy).")
        .add_int("log.cleaner.delete.retention.ms", 86400000, 0, INT64_MAX,
                 "How long tombstones are kept on compacted topics (topic key delete.retention.ms).")
        .add_int("log.cleaner.min.compaction.lag.ms", 0, 0, INT64_MAX,
                 "A record stays uncompacted at least this long (topic key min.compaction.lag.ms).")
        .add_int("log.cleaner.backoff.ms", 15000, 1, INT64_MAX,
                 "How often compacted partitions are checked for cleaning.")
        .add_int("min.insync.replicas", 1, 1, INT32_MAX, "Default min.insync.replicas of topics.")
        .add_int("producer.id.expiration.ms", 86400000, 1, INT64_MAX,
                 "An idempotent producer's sequence state is forgotten after this long without a write.")
        .add_int("offsets.topic.replication.factor", 3, 1, 32767,
                 "Replication factor of __consumer_offsets in a region on etcd; the controller creates the "
                 "topic once this many brokers are registered (Kafka refuses to create it with fewer). A "
                 "one-broker region keeps its single replica.")
        .add_int("offsets.topic.num.partitions", 50, 1, 1000,
                 "Partitions of the internal __consumer_offsets topic, fixed when it is first created; "
                 "a group lives in partition abs(hash(group.id)) % this.")
        .add_int("offsets.topic.segment.bytes", 104857600, 14, INT32_MAX,
                 "segment.bytes of __consumer_offsets (small segments let the cleaner compact sooner).")
        .add_int("offsets.retention.minutes", 10080, 1, INT32_MAX,
                 "A group's committed offsets are deleted this long after it became Empty (KIP-211); a "
                 "standalone commit expires this long after it was made.")
        .add_int("offsets.retention.check.interval.ms", 600000, 1, INT64_MAX,
                 "How often expired committed offsets are looked for.")
        .add_int("offset.metadata.max.bytes", 4096, 0, INT32_MAX,
                 "Largest commit metadata string; longer ones get OFFSET_METADATA_TOO_LARGE.")
        .add_int("group.min.session.timeout.ms", 6000, 1, INT32_MAX,
                 "Smallest session.timeout.ms a consumer may ask for (else INVALID_SESSION_TIMEOUT).")
        .add_int("group.max.session.timeout.ms", 1800000, 1, INT32_MAX,
                 "Largest session.timeout.ms a consumer may ask for (else INVALID_SESSION_TIMEOUT).")
        .add_int("group.initial.rebalance.delay.ms", 3000, 0, INT32_MAX,
                 "How long the first rebalance of an empty group waits for more members (KIP-134).")
        .add_enum("ferry.cluster.role", "primary", {"primary", "standby"},
                  "Ferry-only, dynamic. primary: Produce is served as by Kafka. standby: the cluster is a "
                  "disaster-recovery standby (ferry-dr fences and promotes through this key): Produce fails with "
                  "POLICY_VIOLATION unless the client.id starts with one of "
                  "ferry.standby.allowed.client.id.prefixes. Fetch, groups and admin requests are served.")
        .add_list("ferry.standby.allowed.client.id.prefixes", {"ferry-mirror"},
                  "Ferry-only, dynamic. client.id prefixes whose Produce a standby still accepts (the mirror's "
                  "clients). Fencing against misdirected applications: anyone may choose a client.id, so with SASL "
                  "or mTLS also set ferry.standby.allowed.principals.")
        .add_list("ferry.standby.allowed.principals", {},
                  "Ferry-only, dynamic. When not empty, a standby accepts Produce only from these principals "
                  "(Type:name, e.g. User:mirror), and from them only with an allowed client.id prefix: fencing then "
                  "rests on who logged in. Empty: the client.id prefix alone decides.")
        // Security audit log (security/audit_log.h; docs/security.md "Audit log").
        .add_bool("audit.log.enable", true,
                  "Write the security audit log: authentication results, authorization denials and allowed "
                  "management operations as hash-chained CloudEvents JSON lines.")
        .add_string("audit.log.dir", "",
                    "Directory of the security audit log (security-audit.log, rotated to .1, .2, ...); empty = the "
                    "first log.dirs entry's ferry-audit/. Its anchor file is security-audit-anchor.json in that log dir.")
        .add_list("audit.log.events", {"authentication", "authorization-denied", "management"},
                  "Event categories written: authentication, authorization-denied, management, produce, fetch, "
                  "other (every other allowed request: Metadata, group and offset requests, describes).")
        .add_int("audit.log.max.bytes", 104857600, 4096, INT64_MAX,
                 "Rotate the audit log before it would exceed this size.")
        .add_int("audit.log.max.files", 10, 1, 1000,
                 "Audit log files kept, the active one included; the oldest is removed at rotation.")
        .add_int("audit.log.repeat.window.ms", 1000, 0, 3600000,
                 "Identical events within this window after the first are written as one line with a repeat "
                 "count (0 = every event its own line).")
        .add_string("metrics.listener", "",
                    "Ferry-only. host:port of the Prometheus /metrics endpoint; empty = disabled.")
        // TLS (Kafka's ssl.* broker keys; PEM stores only, KIP-651). Each may be overridden for one
        // listener as listener.name.<listener>.<key>.
        .add_enum("ssl.keystore.type", "PEM", {"PEM"},
                  "Format of ssl.keystore.location. PEM only (KIP-651): JKS and PKCS12 stores are not read.")
        .add_string("ssl.keystore.location", "",
                    "PEM file with this broker's certificate chain (leaf first) and its private key; required "
                    "on SSL and SASL_SSL listeners. Dynamic per broker (KIP-226): an AlterConfigs naming the "
                    "same or a new file, or SIGHUP, loads it for new connections; open ones keep theirs.")
        .add_string("ssl.key.password", "",
                    "Password of an encrypted private key in ssl.keystore.location (empty = not encrypted). "
                    "Sensitive: DescribeConfigs never shows it.")
        .add_enum("ssl.truststore.type", "PEM", {"PEM"}, "Format of ssl.truststore.location. PEM only.")
        .add_string("ssl.truststore.location", "",
                    "PEM bundle of the CA certificates client certificates must chain to (mTLS); required when "
                    "ssl.client.auth is requested or required. Followers also trust it when they connect to their "
                    "leaders over an SSL or SASL_SSL inter.broker.listener.name.")
        .add_enum("ssl.client.auth", "none", {"none", "requested", "required"},
                  "Client certificates: none (not asked), requested (verified if sent), required (the TLS "
                  "handshake fails without a valid one). A verified certificate names the principal through "
                  "ssl.principal.mapping.rules on SSL listeners; on SASL_SSL the SASL login does.")
        .add_list("ssl.enabled.protocols", {"TLSv1.2", "TLSv1.3"}, "TLS versions served: TLSv1.2 and/or TLSv1.3.")
        .add_list("ssl.cipher.suites", {},
                  "Cipher suites, by IANA name (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256) "
                  "or OpenSSL name; empty = OpenSSL's defaults.")
        .add_string("ssl.principal.mapping.rules", "DEFAULT",
                    "KIP-371: comma-separated RULE:pattern/replacement/[LU] entries and DEFAULT, tried in order on "
                    "the client certificate's subject (RFC 2253 form, e.g. CN=alice,OU=eng,O=acme); the first "
                    "whose pattern matches the whole subject gives User:<replacement>; DEFAULT gives the whole "
                    "subject. Patterns are ECMAScript regular expressions (Kafka: Java's).")
        // SASL (KIP-43, KIP-84, KIP-152, KIP-368).
        .add_list("sasl.enabled.mechanisms", {"SCRAM-SHA-512", "SCRAM-SHA-256"},
                  "Mechanisms offered on SASL_PLAINTEXT and SASL_SSL listeners: PLAIN, SCRAM-SHA-256, "
                  "SCRAM-SHA-512 (served by Cyrus SASL; PLAIN checks the stored SCRAM credential). Kafka's "
                  "default is GSSAPI, which Ferry does not serve.")
        .add_int("connections.max.reauth.ms", 0, 0, INT64_MAX,
                 "KIP-368: a SASL session lives this long; the client must re-authenticate on the same "
                 "connection before it ends, or the connection is closed at its next request. 0 = forever.")
        .add_int("connection.failed.authentication.delay.ms", 100, 0, INT32_MAX,
                 "A failed authentication's response (and the close) is delayed this long, slowing password "
                 "guessing (KIP-306).")
        .add_int("sasl.server.max.receive.size", 524288, 1, INT32_MAX,
                 "Largest frame accepted before a connection has authenticated; a larger size prefix closes it.")
        .add_enum("log.level", "info", {"trace", "debug", "info", "warn", "error", "critical", "off"},
                  "Ferry-only. Log level of the broker's own log (stderr).")
        // Authorization (Kafka ACLs, KIP-11 / KIP-290)
        .add_string("authorizer", "",
                    "Ferry-only (Kafka: authorizer.class.name). acl: Kafka ACL semantics (CreateAcls/DescribeAcls/"
                    "DeleteAcls manage them; they are stored with the cluster metadata). allow-all: every request is "
                    "allowed and the ACL APIs answer SECURITY_DISABLED, as Kafka without an authorizer. Unset: "
                    "allow-all when every listener's security protocol is PLAINTEXT, else acl.")
        .add_string("super.users", "",
                    "Principals allowed everything without ACLs, separated by ';' (e.g. User:admin;User:ops). "
                    "Used with authorizer = acl.")
        .add_bool("allow.everyone.if.no.acl.found", false,
                  "With authorizer = acl: a resource no ACL applies to is open to everyone (true) or to super users "
                  "only (false, Kafka's default).");
    s.allow_per_listener({"ssl.keystore.type", "ssl.keystore.location", "ssl.key.password", "ssl.truststore.type",
                          "ssl.truststore.location", "ssl.client.auth", "ssl.enabled.protocols", "ssl.cipher.suites",
                          "ssl.principal.mapping.rules", "sasl.enabled.mechanisms", "connections.max.reauth.ms",
                          "sasl.server.max.receive.size"});
    return s;
  }();
  return schema;
}

Listener parse_listener(const std::string& key, const std::string& text,
                        const std::vector<std::string>& protocol_map) {
  auto fail = [&](const std::string& why) -> Listener {
    throw ConfigError(fmt::format("key '{}' has value \"{}\"; expected NAME://host:port ({})", key, text, why));
  };
  auto sep = text.find("://");
  if (sep == std::string::npos || sep == 0) return fail("missing NAME://");
  Listener l;
  l.name = text.substr(0, sep);
  std::string hostport = text.substr(sep + 3);
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos) return fail("missing :port");
  l.host = hostport.substr(0, colon);
  if (l.host.size() >= 2 && l.host.front() == '[' && l.host.back() == ']') l.host = l.host.substr(1, l.host.size() - 2);
  std::string port = hostport.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535)
    return fail("port must be 0-65535");
  l.port = static_cast<uint16_t>(std::stoi(port));
  for (const auto& entry : protocol_map) {
    auto c = entry.find(':');
    if (c != std::string::npos && entry.substr(0, c) == l.name) l.security_protocol = entry.substr(c + 1);
  }
  if (l.security_protocol.empty()) return fail("listener name '" + l.name + "' is not in listener.security.protocol.map");
  static const std::vector<std::string> kProtocols{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};
  if (std::find(kProtocols.begin(), kProtocols.end(), l.security_protocol) == kProtocols.end())
    return fail("security protocol " + l.security_protocol +
                " in listener.security.protocol.map is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL");
  return l;
}

BrokerConfig::BrokerConfig(const config::Values& v) : values(v) {
  node_id = static_cast<int32_t>(v.get_int("node.id"));
  const auto& map = v.get_list("listener.security.protocol.map");
  for (const auto& s : v.get_list("listeners")) listeners.push_back(parse_listener("listeners", s, map));
  if (listeners.empty()) throw ConfigError("key 'listeners' has value []; expected at least one NAME://host:port");
  for (const auto& s : v.get_list("advertised.listeners"))
    advertised_listeners.push_back(parse_listener("advertised.listeners", s, map));
  for (const auto& a : advertised_listeners) {
    bool known = false;
    for (const auto& l : listeners) known |= l.name == a.name;
    if (!known)
      throw ConfigError(fmt::format("key 'advertised.listeners' names listener '{}', which is not in 'listeners'", a.name));
  }
  for (size_t i = 0; i < listeners.size(); ++i)
    for (size_t j = i + 1; j < listeners.size(); ++j)
      if (listeners[i].name == listeners[j].name)
        throw ConfigError(fmt::format("key 'listeners' names listener '{}' twice", listeners[i].name));
  for (const auto& [name, value] : v.explicitly_set()) {
    auto parts = config::split_listener_override(name);
    if (!parts) continue;
    bool known = false;
    for (const auto& l : listeners) known |= config::listener_prefix_name(l.name) == parts->first;
    if (!known)
      throw ConfigError(fmt::format("key '{}' names listener '{}', which is not in 'listeners' (the name is written in "
                                    "lower case in the prefix)",
                                    name, parts->first));
  }
  for (const auto& l : listeners) {
    if (!l.sasl()) continue;
    const auto& mechanisms = std::get<std::vector<std::string>>(config::listener_value(v, l.name, "sasl.enabled.mechanisms"));
    if (mechanisms.empty())
      throw ConfigError(fmt::format("key 'sasl.enabled.mechanisms' is empty for SASL listener {}; expected at least "
                                    "one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
                                    l.name));
    for (const auto& m : mechanisms)
      if (m != "PLAIN" && m != "SCRAM-SHA-256" && m != "SCRAM-SHA-512")
        throw ConfigError(fmt::format("key 'sasl.enabled.mechanisms' of listener {} has value \"{}\"; expected PLAIN, "
                                      "SCRAM-SHA-256 or SCRAM-SHA-512 (GSSAPI and OAUTHBEARER are not served)",
                                      l.name, m));
  }
  try {
    (void)security::parse_audit_categories(v.get_list("audit.log.events"));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("key 'audit.log.events': {}", e.what()));
  }
  log_dirs = v.get_list("log.dirs");
  if (log_dirs.empty()) throw ConfigError("key 'log.dirs' has value []; expected at least one directory");
  if (!v.get_string("metrics.listener").empty()) {
    const auto& m = v.get_string("metrics.listener");
    auto c = m.rfind(':');
    bool ok = c != std::string::npos && c + 1 < m.size() && m.size() - c - 1 <= 5 &&
              m.find_first_not_of("0123456789", c + 1) == std::string::npos && std::stoi(m.substr(c + 1)) <= 65535;
    if (!ok) throw ConfigError(fmt::format("key 'metrics.listener' has value \"{}\"; expected host:port", m));
  }
  check_authorizer_keys(*this);
  if (const auto& ib = v.get_string("inter.broker.listener.name"); !ib.empty()) {
    auto it = std::find_if(listeners.begin(), listeners.end(), [&](const Listener& l) { return l.name == ib; });
    if (it == listeners.end())
      throw ConfigError(fmt::format("key 'inter.broker.listener.name' has value \"{}\"; expected the name of one of "
                                    "the listeners",
                                    ib));
  }
  if (v.get_string("metadata.store") == "etcd") {
    const Listener& ib = inter_broker_listener();
    if (ib.sasl() && (v.get_string("inter.broker.sasl.username").empty() ||
                      v.get_string("inter.broker.sasl.password").empty()))
      throw ConfigError(fmt::format("key 'inter.broker.sasl.username' (and inter.broker.sasl.password) is empty; "
                                    "expected the user followers log in as, since the inter-broker listener {} is {}",
                                    ib.name, ib.security_protocol));
    if (v.get_int("replica.fetch.wait.max.ms") >= v.get_int("replica.lag.time.max.ms"))
      throw ConfigError(fmt::format("key 'replica.fetch.wait.max.ms' has value {}; expected less than "
                                    "replica.lag.time.max.ms ({}), or caught-up followers leave the ISR",
                                    v.get_int("replica.fetch.wait.max.ms"), v.get_int("replica.lag.time.max.ms")));
    if (v.get_list("etcd.endpoints").empty())
      throw ConfigError("key 'etcd.endpoints' has value []; expected at least one host:port when metadata.store = etcd");
    std::string joined;
    for (const auto& e : v.get_list("etcd.endpoints")) joined += (joined.empty() ? "" : ",") + e;
    try {
      (void)etcd::parse_endpoints(joined);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(fmt::format("key 'etcd.endpoints' has value \"{}\": {}", joined, e.what()));
    }
    const auto& prefix = v.get_string("etcd.prefix");
    if (prefix.size() < 2 || prefix.front() != '/' || prefix.back() == '/')
      throw ConfigError(fmt::format("key 'etcd.prefix' has value \"{}\"; expected a key prefix that starts with '/' "
                                    "and does not end with '/', such as /ferry/east",
                                    prefix));
    if (v.get_int("broker.heartbeat.interval.ms") >= v.get_int("broker.session.timeout.ms"))
      throw ConfigError(fmt::format("key 'broker.heartbeat.interval.ms' has value {}; expected less than "
                                    "broker.session.timeout.ms ({})",
                                    v.get_int("broker.heartbeat.interval.ms"), v.get_int("broker.session.timeout.ms")));
  }
}

BrokerConfig BrokerConfig::load_file(const std::string& path) {
  return BrokerConfig(config::load_toml_file(broker_schema(), path));
}

const std::vector<TopicKey>& topic_keys() {
  static const std::vector<TopicKey> keys = {
      {"cleanup.policy", "log.cleanup.policy"},
      {"retention.ms", "log.retention.ms"},
      {"retention.bytes", "log.retention.bytes"},
      {"segment.bytes", "log.segment.bytes"},
      {"segment.ms", "log.roll.ms"},
      {"max.message.bytes", "message.max.bytes"},
      {"message.timestamp.type", "log.message.timestamp.type"},
      {"min.insync.replicas", "min.insync.replicas"},
      {"flush.messages", "log.flush.interval.messages"},
      {"flush.ms", "log.flush.interval.ms"},
      {"index.interval.bytes", "log.index.interval.bytes"},
      {"segment.index.bytes", "log.index.size.max.bytes"},
      {"delete.retention.ms", "log.cleaner.delete.retention.ms"},
      {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms"},
  };
  return keys;
}

std::string topic_key_for(const std::string& broker_key) {
  for (const auto& tk : topic_keys())
    if (tk.broker_key == broker_key) return tk.topic_key;
  return "";
}

const std::vector<std::string>& role_keys() {
  static const std::vector<std::string> keys{"ferry.cluster.role", "ferry.standby.allowed.client.id.prefixes",
                                             "ferry.standby.allowed.principals"};
  return keys;
}

bool is_dynamic_ssl_key(const std::string& broker_key) {
  static const std::vector<std::string> kKeys{"ssl.keystore.location", "ssl.key.password", "ssl.truststore.location"};
  auto parts = config::split_listener_override(broker_key);
  const std::string& key = parts ? parts->second : broker_key;
  return std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end();
}

bool is_dynamic_broker_key(const std::string& broker_key) {
  return !topic_key_for(broker_key).empty() || is_dynamic_ssl_key(broker_key) ||
         std::find(role_keys().begin(), role_keys().end(), broker_key) != role_keys().end();
}

config::Schema make_topic_schema(const config::Values& b) {
  // Each topic key has its broker key's type, range and doc, and the broker's current value as
  // its default (Kafka's LogConfig defaults work the same way).
  config::Schema s;
  for (const auto& [topic_key, broker_key] : topic_keys()) {
    const config::KeySpec* spec = broker_schema().find(broker_key);
    const auto& v = b.get(broker_key);
    const std::string doc = fmt::format("Applied; defaults to broker key `{}`. {}", broker_key, spec->doc);
    switch (spec->type) {
      case config::Type::Int:
        s.add_int(topic_key, std::get<int64_t>(v), spec->min, spec->max, doc);
        break;
      case config::Type::Enum:
        s.add_enum(topic_key, std::get<std::string>(v), spec->allowed, doc);
        break;
      case config::Type::List:
        s.add_list(topic_key, std::get<std::vector<std::string>>(v), doc);
        break;
      case config::Type::Bool:
        s.add_bool(topic_key, std::get<bool>(v), doc);
        break;
      case config::Type::String:
        s.add_string(topic_key, std::get<std::string>(v), doc);
        break;
    }
  }
  add_accepted_topic_keys(s);
  return s;
}

storage::LogConfig to_log_config(const config::Values& t) {
  storage::LogConfig c;
  c.segment_bytes = t.get_int("segment.bytes");
  c.segment_ms = t.get_int("segment.ms");
  c.retention_ms = t.get_int("retention.ms");
  c.retention_bytes = t.get_int("retention.bytes");
  c.max_message_bytes = static_cast<int32_t>(t.get_int("max.message.bytes"));
  c.index_interval_bytes = static_cast<int32_t>(t.get_int("index.interval.bytes"));
  c.segment_index_bytes = t.get_int("segment.index.bytes");
  c.log_append_time = t.get_string("message.timestamp.type") == "LogAppendTime";
  c.flush_messages = t.get_int("flush.messages");
  c.flush_ms = t.get_int("flush.ms");
  const auto& policy = t.get_list("cleanup.policy");
  c.compact = std::find(policy.begin(), policy.end(), "compact") != policy.end();
  c.delete_retention = std::find(policy.begin(), policy.end(), "delete") != policy.end();
  c.delete_retention_ms = t.get_int("delete.retention.ms");
  c.min_compaction_lag_ms = t.get_int("min.compaction.lag.ms");
  return c;
}

// Authorization

std::string effective_authorizer(const BrokerConfig& c) {
  const auto& set = c.values.get_string("authorizer");
  if (!set.empty()) return set;
  for (const auto& l : c.listeners)
    if (l.security_protocol != "PLAINTEXT") return "acl";
  return "allow-all";
}

std::set<std::string> super_users(const BrokerConfig& c) {
  return security::parse_super_users(c.values.get_string("super.users"));
}

void check_principal_list(const std::string& key, const std::vector<std::string>& principals) {
  for (const auto& p : principals) {
    const auto colon = p.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == p.size())
      throw ConfigError(fmt::format("key '{}' has entry \"{}\"; expected a principal Type:name, e.g. User:mirror", key, p));
  }
}

void check_authorizer_keys(const BrokerConfig& c) {
  check_principal_list("ferry.standby.allowed.principals", c.values.get_list("ferry.standby.allowed.principals"));
  const auto& a = c.values.get_string("authorizer");
  if (!a.empty() && a != "acl" && a != "allow-all")
    throw ConfigError(fmt::format("key 'authorizer' has value \"{}\"; expected acl or allow-all (or unset: allow-all "
                                  "when every listener is PLAINTEXT, else acl)",
                                  a));
  try {
    super_users(c);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("key 'super.users' has value \"{}\"; expected principals Type:name separated by "
                                  "';' ({})",
                                  c.values.get_string("super.users"), e.what()));
  }
}

}  // namespace ferry::broker
