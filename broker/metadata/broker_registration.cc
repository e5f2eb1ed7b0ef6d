#include "broker/metadata/broker_registration.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace ferry::broker {

using nlohmann::json;

std::string broker_info_json(const BrokerInfo& info) {
  return json{{"node_id", info.node_id},
              {"rack", info.rack},
              {"endpoints", info.endpoints},
              {"incarnation", info.incarnation}}
      .dump();
}

std::optional<BrokerInfo> parse_broker_info(const std::string& text, std::string* error) {
  const json j = json::parse(text, nullptr, false);
  auto fail = [&](const std::string& why) -> std::optional<BrokerInfo> {
    if (error) *error = why;
    return std::nullopt;
  };
  if (!j.is_object()) return fail("not a JSON object");
  BrokerInfo info;
  if (!j.contains("node_id") || !j["node_id"].is_number_integer()) return fail("node_id is not an integer");
  info.node_id = j["node_id"].get<int32_t>();
  if (j.contains("rack")) {
    if (!j["rack"].is_string()) return fail("rack is not a string");
    info.rack = j["rack"].get<std::string>();
  }
  if (!j.contains("endpoints") || !j["endpoints"].is_array()) return fail("endpoints is not an array");
  for (const auto& e : j["endpoints"]) {
    if (!e.is_string()) return fail("an endpoint is not a string");
    info.endpoints.push_back(e.get<std::string>());
  }
  if (j.contains("incarnation") && j["incarnation"].is_string()) info.incarnation = j["incarnation"].get<std::string>();
  return info;
}

std::string broker_registration_key(const std::string& prefix, int32_t node_id) {
  return prefix + "/brokers/ids/" + std::to_string(node_id);
}

std::vector<BrokerInfo> live_brokers(etcd::Client& client, const std::string& prefix,
                                     std::vector<std::string>* malformed, int64_t* revision) {
  const std::string dir = prefix + "/brokers/ids/";
  std::vector<BrokerInfo> out;
  const auto range = client.range(dir, etcd::prefix_end(dir));
  if (revision) *revision = range.revision;
  for (const auto& kv : range.kvs) {
    std::string why;
    auto info = parse_broker_info(kv.value, &why);
    if (!info || broker_registration_key(prefix, info->node_id) != kv.key) {
      spdlog::error("etcd key {}: not a broker registration ({}); ignored", kv.key,
                    info ? "its node_id does not match the key" : why);
      if (malformed) malformed->push_back(kv.key);
      continue;
    }
    out.push_back(std::move(*info));
  }
  std::sort(out.begin(), out.end(), [](const BrokerInfo& a, const BrokerInfo& b) { return a.node_id < b.node_id; });
  return out;
}

BrokerRegistration::BrokerRegistration(etcd::ClientOptions options, std::string prefix, BrokerInfo info,
                                       std::chrono::milliseconds session_timeout,
                                       std::chrono::milliseconds heartbeat_interval)
    : client_(std::move(options)),
      prefix_(std::move(prefix)),
      key_(broker_registration_key(prefix_, info.node_id)),
      info_(std::move(info)),
      session_timeout_(session_timeout),
      heartbeat_interval_(heartbeat_interval) {}

BrokerRegistration::~BrokerRegistration() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (lease_ != 0) {
    try {
      client_.lease_revoke(lease_);
      spdlog::info("broker {} deregistered from etcd ({} deleted)", info_.node_id, key_);
    } catch (const std::exception& e) {
      spdlog::warn("broker {}: could not revoke its etcd lease; the registration {} expires with it: {}", info_.node_id,
                   key_, e.what());
    }
  }
}

bool BrokerRegistration::try_create() {
  std::vector<etcd::Compare> compares = {etcd::Compare::create_revision_is(key_, 0)};
  const int64_t ttl = (session_timeout_.count() + 999) / 1000;
  auto lease = client_.lease_grant(ttl);
  auto r = client_.txn(compares, {etcd::Op::put(key_, broker_info_json(info_), lease.id)}, {});
  if (!r.succeeded) {
    client_.lease_revoke(lease.id);
    return false;
  }
  std::lock_guard lock(mu_);
  lease_ = lease.id;
  registered_ = true;
  return true;
}

void await_node_id_free(etcd::Client& client, const std::string& prefix, int32_t node_id,
                        std::chrono::milliseconds session_timeout) {
  const std::string key = broker_registration_key(prefix, node_id);
  const auto deadline = std::chrono::steady_clock::now() + session_timeout + std::chrono::seconds(1);
  bool logged = false;
  for (;;) {
    auto existing = client.get(key);
    if (existing.kvs.empty()) return;
    std::string holder = "unknown endpoints";
    if (auto other = parse_broker_info(existing.kvs[0].value)) holder = fmt::format("{}", fmt::join(other->endpoints, ", "));
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error(fmt::format(
          "node.id {} is registered by another live broker ({}: {}); it kept its registration alive for longer than "
          "broker.session.timeout.ms ({} ms). Give each broker of a cluster its own node.id",
          node_id, key, holder, session_timeout.count()));
    }
    if (!logged) {
      spdlog::warn("node.id {} is still registered ({}: {}), by a previous incarnation or another broker; waiting up to "
                   "broker.session.timeout.ms ({} ms) for that registration to expire",
                   node_id, key, holder, session_timeout.count());
      logged = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void BrokerRegistration::register_now() {
  for (int attempt = 0; !try_create(); ++attempt) {
    if (attempt == 3) {
      throw std::runtime_error(fmt::format("node.id {}: registration at {} lost the race to another registration "
                                           "three times after it expired",
                                           info_.node_id, key_));
    }
    await_node_id_free(client_, prefix_, info_.node_id, session_timeout_);
  }
  spdlog::info("broker {} registered in etcd at {} (lease {:x}, session {} ms)", info_.node_id, key_, lease_,
               session_timeout_.count());
  thread_ = std::thread([this] { heartbeat_loop(); });
}

void BrokerRegistration::heartbeat_loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, heartbeat_interval_, [this] { return stop_; })) {
    const int64_t lease = lease_;
    lock.unlock();
    bool alive = false;
    bool answered = false;
    try {
      alive = client_.lease_keepalive(lease) > 0;
      answered = true;
      if (!alive) {
        spdlog::warn("broker {}: its etcd registration expired (no renewal for broker.session.timeout.ms); registering "
                     "again",
                     info_.node_id);
        if (try_create()) {
          alive = true;
          std::lock_guard relock(mu_);
          ++reregistrations_;
        }
      }
    } catch (const std::exception& e) {
      spdlog::warn("broker {}: renewing its etcd registration failed: {}", info_.node_id, e.what());
    }
    lock.lock();
    if (answered) registered_ = alive;
  }
}

bool BrokerRegistration::registered() const {
  std::lock_guard lock(mu_);
  return registered_;
}

int64_t BrokerRegistration::reregistrations() const {
  std::lock_guard lock(mu_);
  return reregistrations_;
}

int64_t BrokerRegistration::lease_id() const {
  std::lock_guard lock(mu_);
  return lease_;
}

}  // namespace ferry::broker
