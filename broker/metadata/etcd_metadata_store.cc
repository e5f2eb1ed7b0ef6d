#include "broker/metadata/etcd_metadata_store.h"

#include "broker/metadata/etcd_retry.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <set>
#include <stdexcept>

namespace ferry::broker {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using etcd_layout::kDefaultEntity;

std::string validate_prefix(std::string prefix) {
  if (prefix.empty() || prefix.front() != '/' || prefix.back() == '/') {
    throw std::invalid_argument(fmt::format(
        "etcd.prefix \"{}\": expected a key prefix that starts with \"/\" and does not end with \"/\", e.g. \"/ferry\"",
        prefix));
  }
  return prefix;
}

}  // namespace

EtcdMetadataStore::EtcdMetadataStore(etcd::ClientOptions options, std::string prefix,
                                     EtcdMetadataStoreTimeouts timeouts)
    : options_(std::move(options)),
      prefix_(validate_prefix(std::move(prefix))),
      dir_(prefix_ + "/"),
      timeouts_(timeouts),
      client_(std::make_unique<etcd::Client>(options_)),
      state_(std::make_unique<EtcdMetadataCopy>()) {
  const etcd::RangeResult range = client_->range(dir_, etcd::prefix_end(dir_));
  load(range, nullptr);
  start_watch(range.revision + 1);
  resync_thread_ = std::thread([this] { resync_loop(); });
}

EtcdMetadataStore::~EtcdMetadataStore() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  resync_cv_.notify_all();
  if (resync_thread_.joinable()) resync_thread_.join();
  watch_.reset();
}

void EtcdMetadataStore::load(const etcd::RangeResult& range, std::vector<Change>* changed) {
  auto fresh = std::make_unique<EtcdMetadataCopy>();
  for (const auto& kv : range.kvs) fresh->apply(dir_, kv, true);
  {
    std::lock_guard lk(mu_);
    if (changed) {
      if (fresh->topics != state_->topics) changed->push_back(Change::kTopics);
      if (fresh->configs != state_->configs) changed->push_back(Change::kBrokerConfigs);
      if (fresh->scram != state_->scram) changed->push_back(Change::kScram);
      if (fresh->acls != state_->acls) changed->push_back(Change::kAcls);
      if (fresh->brokers != state_->brokers) changed->push_back(Change::kBrokers);
      if (fresh->partitions != state_->partitions) changed->push_back(Change::kPartitions);
      if (fresh->controller_id != state_->controller_id || fresh->controller_epoch != state_->controller_epoch)
        changed->push_back(Change::kController);
    }
    state_ = std::move(fresh);
    applied_revision_ = std::max(applied_revision_, range.revision);
  }
  applied_cv_.notify_all();
}

void EtcdMetadataStore::start_watch(int64_t from_revision) {
  watch_ = std::make_unique<etcd::Watch>(
      options_, dir_, etcd::prefix_end(dir_), from_revision,
      [this](int64_t, const std::vector<etcd::WatchEvent>& events) { on_watch_events(events); },
      [this](const etcd::EtcdError& error) { on_watch_error(error); });
}

void EtcdMetadataStore::on_watch_events(const std::vector<etcd::WatchEvent>& events) {
  // Runs on the watch's thread: an exception here would end the watch, so none escapes.
  std::vector<Change> changed;
  try {
    std::set<Change> kinds;
    {
      std::lock_guard lk(mu_);
      int64_t last = 0;
      for (const auto& e : events) {
        if (auto c = state_->apply(dir_, e.kv, e.type == etcd::WatchEvent::Type::kPut)) kinds.insert(*c);
        last = std::max(last, e.kv.mod_revision);
      }
      // The events' own revisions, not the reply header's: a catch-up reply can carry a header
      // revision beyond events still to come.
      applied_revision_ = std::max(applied_revision_, last);
      if (watch_failing_) {
        watch_failing_ = false;
        spdlog::info("etcd metadata store {}: the watch is receiving changes again", prefix_);
      }
    }
    applied_cv_.notify_all();
    changed.assign(kinds.begin(), kinds.end());
  } catch (const std::exception& e) {
    spdlog::error("etcd metadata store {}: applying watched changes failed: {}", prefix_, e.what());
  }
  notify(changed);
}

void EtcdMetadataStore::on_watch_error(const etcd::EtcdError& error) {
  std::lock_guard lk(mu_);
  if (error.code == etcd::EtcdError::kOutOfRange || error.code == etcd::EtcdError::kCanceled) {  // the watch ended
    spdlog::warn("etcd metadata store {}: {}; reading everything again", prefix_, error.what());
    resync_ = true;
    resync_cv_.notify_all();
  } else if (!watch_failing_) {
    watch_failing_ = true;
    spdlog::warn("etcd metadata store {}: {} (changes by other brokers arrive when the watch resumes)", prefix_,
                 error.what());
  } else {
    spdlog::debug("etcd metadata store {}: {}", prefix_, error.what());
  }
}

void EtcdMetadataStore::resync_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    resync_cv_.wait(lk, [&] { return stopping_ || resync_; });
    if (stopping_) return;
    const uint64_t serving = refresh_asked_;  // this read starts after those refresh() calls
    lk.unlock();
    watch_.reset();  // stopped already after a compaction; otherwise stops here
    std::vector<Change> changed;
    bool ok = false;
    try {
      const etcd::RangeResult range = client_->range(dir_, etcd::prefix_end(dir_));
      load(range, &changed);
      start_watch(range.revision + 1);
      spdlog::info("etcd metadata store {}: read {} keys again at revision {}", prefix_, range.kvs.size(),
                   range.revision);
      ok = true;
    } catch (const std::exception& e) {
      spdlog::warn("etcd metadata store {}: reading everything again failed: {}; retrying", prefix_, e.what());
    }
    notify(changed);
    lk.lock();
    if (ok) {
      if (refresh_asked_ == serving) resync_ = false;  // else a refresh() came during the read: again
      refresh_done_ = std::max(refresh_done_, serving);
      applied_cv_.notify_all();
    } else {
      resync_cv_.wait_for(lk, 500ms, [&] { return stopping_; });
    }
  }
}

void EtcdMetadataStore::refresh(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  const uint64_t mine = ++refresh_asked_;
  resync_ = true;
  resync_cv_.notify_all();
  if (!applied_cv_.wait_for(lk, timeout, [&] { return refresh_done_ >= mine || stopping_; }))
    throw std::runtime_error(fmt::format("etcd metadata store {}: reading everything again took longer than {} ms",
                                         prefix_, timeout.count()));
}

void EtcdMetadataStore::notify(const std::vector<Change>& changed) {
  if (changed.empty()) return;
  // Called under listener_mu_, so set_change_listener() returns only after a running call ends.
  std::lock_guard lk(listener_mu_);
  if (!listener_) return;
  for (Change c : changed) {
    try {
      (*listener_)(c);
    } catch (const std::exception& e) {
      spdlog::error("etcd metadata store {}: the change listener failed: {}", prefix_, e.what());
    }
  }
}

void EtcdMetadataStore::set_change_listener(std::function<void(Change)> listener) {
  std::lock_guard lk(listener_mu_);
  listener_ = listener ? std::make_shared<std::function<void(Change)>>(std::move(listener)) : nullptr;
}

void EtcdMetadataStore::wait_applied(int64_t revision, const std::vector<std::string>* absent_keys) {
  std::unique_lock lk(mu_);
  auto done = [&] {
    if (applied_revision_ >= revision) return true;
    if (!absent_keys) return false;
    // Nothing was deleted, so `revision` may be another prefix's: done once the copy no longer
    // holds a version of these keys from before it.
    for (const auto& k : *absent_keys) {
      auto it = state_->create_revisions.find(k);
      if (it != state_->create_revisions.end() && it->second <= revision) return false;
    }
    return true;
  };
  if (applied_cv_.wait_for(lk, timeouts_.watch_wait, done)) return;
  const int64_t applied = applied_revision_;
  resync_ = true;  // whatever holds the watch up, a fresh read brings the copy up to date
  resync_cv_.notify_all();
  throw std::runtime_error(fmt::format(
      "etcd metadata store {}: the write at revision {} did not reach this broker's copy through the etcd watch "
      "within {} ms (the copy is at revision {}); the write is in etcd, the copy is being read again",
      prefix_, revision, timeouts_.watch_wait.count(), applied));
}

void EtcdMetadataStore::delete_keys(const std::vector<std::string>& keys) {
  // "Delete if any exists": the compares hold when every key is absent, then nothing is written;
  // else the failure branch deletes them all. Knowing whether anything was deleted tells whether
  // the reply's revision is one the watch will deliver.
  std::vector<etcd::Compare> all_absent;
  std::vector<etcd::Op> deletes;
  for (const auto& k : keys) {
    all_absent.push_back(etcd::Compare::create_revision_is(k, 0));
    deletes.push_back(etcd::Op::remove(k));
  }
  const auto r = with_retries(timeouts_.retry_window, "deleting " + keys.front(),
                              [&] { return client_->txn(all_absent, {}, deletes); });
  if (r.succeeded)
    wait_applied(r.revision, &keys);
  else
    wait_applied(r.revision);
}

std::string EtcdMetadataStore::broker_config_key(const std::string& entity) const {
  return dir_ + "configs/brokers/" + (entity.empty() ? std::string(kDefaultEntity) : entity);
}

std::string EtcdMetadataStore::scram_key(const std::string& user, security::ScramMechanism mechanism) const {
  return dir_ + "scram/" + user + "/" + security::scram_mechanism_name(mechanism);
}

std::string EtcdMetadataStore::acl_key(const security::AclBinding& binding) const {
  return dir_ + "acls/" + etcd_layout::acl_hash(binding);
}

std::string EtcdMetadataStore::cluster_id() {
  {
    std::lock_guard lk(mu_);
    if (!state_->cluster_id.empty()) return state_->cluster_id;
  }
  const std::string key = cluster_id_key();
  const std::string mine = random_kafka_uuid();
  const auto r = with_retries(timeouts_.retry_window, "creating " + key, [&] {
    return client_->txn({etcd::Compare::create_revision_is(key, 0)}, {etcd::Op::put(key, mine)}, {etcd::Op::get(key)});
  });
  if (r.succeeded) {
    wait_applied(r.revision);
    return mine;
  }
  if (r.ranges.empty() || r.ranges[0].kvs.empty())
    throw std::runtime_error(fmt::format("etcd metadata store: {} vanished while it was read", key));
  const std::string& id = r.ranges[0].kvs[0].value;
  if (!parse_kafka_uuid(id))
    throw std::runtime_error(fmt::format("etcd metadata store: {} holds \"{}\", not a Kafka UUID (22 chars of "
                                         "base64url); fix or delete the key",
                                         key, id));
  return id;
}

std::vector<TopicMetadata> EtcdMetadataStore::topics() {
  std::lock_guard lk(mu_);
  std::vector<TopicMetadata> out;
  for (const auto& [name, t] : state_->topics) out.push_back(t);
  return out;
}

std::optional<TopicMetadata> EtcdMetadataStore::topic(const std::string& name) {
  std::lock_guard lk(mu_);
  auto it = state_->topics.find(name);
  if (it == state_->topics.end()) return std::nullopt;
  return it->second;
}

void EtcdMetadataStore::put_topic(const TopicMetadata& t) {
  if (t.name.empty()) throw std::invalid_argument("etcd metadata store: a topic needs a name");
  if (t.partitions < 1 || t.replication_factor < 1)
    throw std::invalid_argument(fmt::format("etcd metadata store: topic {} has {} partitions and replication factor "
                                            "{}; both must be at least 1",
                                            t.name, t.partitions, t.replication_factor));
  const std::string key = topic_key(t.name);
  const std::string value = etcd_layout::encode_topic(t);
  wait_applied(with_retries(timeouts_.retry_window, "writing " + key, [&] { return client_->put(key, value); }));
}

void EtcdMetadataStore::delete_topic(const std::string& name) {
  if (name.empty()) return;
  delete_keys({topic_key(name)});
  // Then the leadership of its partitions: a broker that sees the topic gone stops serving it, and
  // a topic created again under the name starts from fresh states.
  const std::string states = dir_ + "partitions/" + name + "/";
  const auto r = with_retries(timeouts_.retry_window, "deleting " + states,
                              [&] { return client_->remove(states, etcd::prefix_end(states)); });
  if (r > 0) {
    std::unique_lock lk(mu_);
    applied_cv_.wait_for(lk, timeouts_.watch_wait, [&] {
      auto it = state_->partitions.lower_bound({name, 0});
      return it == state_->partitions.end() || it->first.first != name;
    });
  }
}

int64_t EtcdMetadataStore::reserve_producer_ids(int64_t count) {
  if (count < 1)
    throw std::invalid_argument(fmt::format("etcd metadata store: cannot reserve {} producer ids", count));
  const std::string key = producer_ids_key();
  const auto deadline = Clock::now() + timeouts_.retry_window;
  std::optional<etcd::KeyValue> current;  // what the last read or lost CAS saw; nullopt: read again
  bool read = false;
  std::optional<etcd::EtcdError> last_error;
  int lost = 0;
  auto backoff = std::chrono::milliseconds(50);
  for (;;) {
    try {
      if (!read) {
        auto g = client_->get(key);
        current = g.kvs.empty() ? std::nullopt : std::optional(g.kvs[0]);
        read = true;
      }
      int64_t next = 0;
      auto compare = etcd::Compare::create_revision_is(key, 0);
      if (current) {
        const auto parsed = etcd_layout::parse_decimal(current->value);
        if (!parsed)
          throw std::runtime_error(fmt::format("etcd metadata store: {} holds \"{}\", not a non-negative decimal; "
                                               "refusing to hand out producer ids that may have been used",
                                               key, current->value));
        next = *parsed;
        compare = etcd::Compare::mod_revision_is(key, current->mod_revision);
      }
      if (count > INT64_MAX - next)
        throw std::runtime_error(fmt::format("etcd metadata store: producer ids exhausted ({} is at {})", key, next));
      const auto r = client_->txn({compare}, {etcd::Op::put(key, std::to_string(next + count))}, {etcd::Op::get(key)});
      if (r.succeeded) return next;
      ++lost;  // another store won: its value comes back in the failure branch's read
      current = (r.ranges.empty() || r.ranges[0].kvs.empty()) ? std::nullopt : std::optional(r.ranges[0].kvs[0]);
      if (Clock::now() < deadline) continue;
    } catch (const etcd::EtcdError& e) {
      if (!e.retriable()) throw;
      last_error.emplace(e);
      read = false;  // a timed-out CAS may have applied: read again before the next one
      if (Clock::now() + backoff < deadline) {
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
        continue;
      }
    }
    if (last_error)
      throw etcd::EtcdError(last_error->code,
                            fmt::format("{} (etcd metadata store: gave up reserving producer ids after {} ms)",
                                        last_error->what(), timeouts_.retry_window.count()));
    throw std::runtime_error(fmt::format("etcd metadata store: reserving producer ids at {} lost the compare-and-set "
                                         "{} times in {} ms",
                                         key, lost, timeouts_.retry_window.count()));
  }
}

std::map<std::string, std::map<std::string, std::string>> EtcdMetadataStore::broker_configs() {
  std::lock_guard lk(mu_);
  return state_->configs;
}

void EtcdMetadataStore::put_broker_configs(const std::string& entity,
                                           const std::map<std::string, std::string>& configs) {
  if (entity == kDefaultEntity)
    throw std::invalid_argument(fmt::format("etcd metadata store: the config entity \"{}\" is reserved for the "
                                            "cluster-wide default; use \"\"",
                                            entity));
  const std::string key = broker_config_key(entity);
  if (configs.empty()) return delete_keys({key});
  const std::string value = etcd_layout::encode_broker_configs(configs);
  wait_applied(with_retries(timeouts_.retry_window, "writing " + key, [&] { return client_->put(key, value); }));
}

std::map<std::string, std::vector<security::ScramCredential>> EtcdMetadataStore::scram_credentials() {
  std::lock_guard lk(mu_);
  std::map<std::string, std::vector<security::ScramCredential>> out;
  for (const auto& [user, by_mechanism] : state_->scram)
    for (const auto& [mechanism, c] : by_mechanism) out[user].push_back(c);
  return out;
}

std::optional<security::ScramCredential> EtcdMetadataStore::scram_credential(const std::string& user,
                                                                             security::ScramMechanism mechanism) {
  std::lock_guard lk(mu_);
  auto u = state_->scram.find(user);
  if (u == state_->scram.end()) return std::nullopt;
  auto c = u->second.find(mechanism);
  if (c == u->second.end()) return std::nullopt;
  return c->second;
}

void EtcdMetadataStore::alter_scram_credentials(
    const std::vector<std::pair<std::string, security::ScramCredential>>& upsertions,
    const std::vector<std::pair<std::string, security::ScramMechanism>>& deletions) {
  auto check = [](const std::string& user, security::ScramMechanism m) {
    if (user.empty()) throw std::invalid_argument("etcd metadata store: a SCRAM credential needs a user name");
    if (m != security::ScramMechanism::Sha256 && m != security::ScramMechanism::Sha512)
      throw std::invalid_argument(fmt::format("etcd metadata store: unknown SCRAM mechanism code {} for user {}",
                                              static_cast<int>(m), user));
  };
  std::map<std::string, std::optional<std::string>> writes;  // key → value, nullopt to delete
  for (const auto& [user, mechanism] : deletions) {
    check(user, mechanism);
    writes[scram_key(user, mechanism)] = std::nullopt;
  }
  for (const auto& [user, c] : upsertions) {
    check(user, c.mechanism);
    if (c.iterations < 1)
      throw std::invalid_argument(fmt::format("etcd metadata store: SCRAM credential of {} has {} iterations", user,
                                              c.iterations));
    writes[scram_key(user, c.mechanism)] = etcd_layout::encode_scram(c);
  }
  if (writes.size() > kMaxTxnOps)
    throw std::invalid_argument(fmt::format("etcd metadata store: {} SCRAM credentials in one alteration; etcd allows at "
                                            "most {} operations per transaction (--max-txn-ops)",
                                            writes.size(), kMaxTxnOps));
  if (writes.empty()) return;
  std::vector<etcd::Op> ops;
  std::vector<std::string> deleted;
  bool any_put = false;
  for (const auto& [key, value] : writes) {
    ops.push_back(value ? etcd::Op::put(key, *value) : etcd::Op::remove(key));
    if (!value) deleted.push_back(key);
    any_put = any_put || value.has_value();
  }
  if (!any_put) return delete_keys(deleted);
  const auto r = with_retries(timeouts_.retry_window, "altering SCRAM credentials",
                              [&] { return client_->txn({}, ops); });
  wait_applied(r.revision);
}

std::vector<security::AclBinding> EtcdMetadataStore::acls() {
  std::set<security::AclBinding> sorted;
  {
    std::lock_guard lk(mu_);
    for (const auto& [hash, b] : state_->acls) sorted.insert(b);
  }
  return {sorted.begin(), sorted.end()};
}

void EtcdMetadataStore::add_acls(const std::vector<security::AclBinding>& acls) {
  const std::set<security::AclBinding> distinct(acls.begin(), acls.end());
  if (distinct.size() > kMaxTxnOps)
    throw std::invalid_argument(fmt::format("etcd metadata store: {} ACL bindings in one creation; etcd allows at most "
                                            "{} operations per transaction (--max-txn-ops)",
                                            distinct.size(), kMaxTxnOps));
  if (distinct.empty()) return;
  std::vector<etcd::Op> ops;
  for (const auto& b : distinct) ops.push_back(etcd::Op::put(acl_key(b), etcd_layout::encode_acl(b)));
  const auto r = with_retries(timeouts_.retry_window, "adding ACLs", [&] { return client_->txn({}, ops); });
  wait_applied(r.revision);
}

void EtcdMetadataStore::delete_acls(const std::vector<security::AclBinding>& acls) {
  const std::set<security::AclBinding> distinct(acls.begin(), acls.end());
  if (distinct.size() > kMaxTxnOps)
    throw std::invalid_argument(fmt::format("etcd metadata store: {} ACL bindings in one deletion; etcd allows at most "
                                            "{} operations per transaction (--max-txn-ops)",
                                            distinct.size(), kMaxTxnOps));
  if (distinct.empty()) return;
  std::vector<std::string> keys;
  for (const auto& b : distinct) keys.push_back(acl_key(b));
  delete_keys(keys);
}

std::vector<std::string> EtcdMetadataStore::malformed_keys() {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  for (const auto& [key, why] : state_->malformed) out.push_back(key);
  return out;
}

}  // namespace ferry::broker
