#include "security/audit_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <random>
#include <stdexcept>

#include "common/clock.h"
#include "common/hash_chain.h"

namespace ferry::security {

namespace {

using nlohmann::json;

constexpr std::array<const char*, 6> kCategoryNames = {"authentication", "authorization-denied", "management",
                                                       "produce", "fetch", "other"};
constexpr const char* kAuthorizationType = "io.confluent.kafka.server/authorization";
constexpr const char* kAuthenticationType = "io.confluent.kafka.server/authentication";
constexpr const char* kDroppedType = "ferry.audit/dropped";

uint32_t bit(AuditCategory c) { return 1u << static_cast<unsigned>(c); }

// Kafka's AclOperation / ResourceType names as Confluent's audit lines spell them.
const char* operation_name(Operation op) {
  switch (op) {
    case Operation::All: return "All";
    case Operation::Read: return "Read";
    case Operation::Write: return "Write";
    case Operation::Create: return "Create";
    case Operation::Delete: return "Delete";
    case Operation::Alter: return "Alter";
    case Operation::Describe: return "Describe";
    case Operation::ClusterAction: return "ClusterAction";
    case Operation::DescribeConfigs: return "DescribeConfigs";
    case Operation::AlterConfigs: return "AlterConfigs";
    case Operation::IdempotentWrite: return "IdempotentWrite";
  }
  return "Unknown";
}

const char* resource_type_name(ResourceType t) {
  switch (t) {
    case ResourceType::Topic: return "Topic";
    case ResourceType::Group: return "Group";
    case ResourceType::Cluster: return "Cluster";
    case ResourceType::TransactionalId: return "TransactionalId";
    case ResourceType::User: return "User";
  }
  return "Unknown";
}

// A random (version 4) UUID: the CloudEvents id, unique per source.
std::string uuid4() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  const uint64_t hi = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  const uint64_t lo = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
                     lo & 0xffffffffffffULL);
}

}  // namespace

const char* to_string(AuditCategory c) { return kCategoryNames[static_cast<size_t>(c)]; }

uint32_t parse_audit_categories(const std::vector<std::string>& names) {
  uint32_t out = 0;
  for (const auto& n : names) {
    size_t i = 0;
    while (i < kCategoryNames.size() && n != kCategoryNames[i]) ++i;
    if (i == kCategoryNames.size())
      throw std::invalid_argument(fmt::format("unknown audit event category \"{}\"; expected any of {}", n,
                                              fmt::join(kCategoryNames, ", ")));
    out |= 1u << i;
  }
  return out;
}

std::vector<std::string> default_audit_categories() { return {"authentication", "authorization-denied", "management"}; }

bool is_management_method(const std::string& m) {
  static const std::array<const char*, 15> kMethods = {
      "kafka.CreateTopics",      "kafka.DeleteTopics",        "kafka.CreatePartitions",
      "kafka.DeleteRecords",     "kafka.AlterConfigs",        "kafka.IncrementalAlterConfigs",
      "kafka.CreateAcls",        "kafka.DeleteAcls",          "kafka.AlterUserScramCredentials",
      "kafka.DeleteGroups",      "kafka.OffsetDelete",        "kafka.AlterPartitionReassignments",
      "kafka.ElectLeaders",      "kafka.AlterClientQuotas",   "kafka.AlterReplicaLogDirs"};
  for (const char* k : kMethods)
    if (m == k) return true;
  return false;
}

SecurityAuditLog::SecurityAuditLog(AuditLogOptions options) : opt_(std::move(options)) {
  writer_ = std::make_unique<hash_chain::ChainWriter>(
      hash_chain::WriterOptions{opt_.file, opt_.anchor, opt_.max_bytes, opt_.max_files});
  thread_ = std::thread([this] { run(); });
}

SecurityAuditLog::~SecurityAuditLog() { stop(); }

int64_t SecurityAuditLog::now() const { return opt_.now_ms ? opt_.now_ms() : wall_clock_ms(); }

std::string SecurityAuditLog::resource_crn(ResourceType type, const std::string& name) const {
  const std::string cluster = "crn:///kafka=" + opt_.cluster_id;
  switch (type) {
    case ResourceType::Cluster: return cluster;
    case ResourceType::Topic: return cluster + "/topic=" + name;
    case ResourceType::Group: return cluster + "/group=" + name;
    case ResourceType::TransactionalId: return cluster + "/transactional-id=" + name;
    case ResourceType::User: return cluster + "/user=" + name;
  }
  return cluster;
}

void SecurityAuditLog::on_decision(const RequestIdentity& who, Operation op, const Resource& resource,
                                   const Decision& decision) {
  AuditCategory cat = AuditCategory::AuthorizationDenied;
  if (decision.allowed) {
    if (who.method == "kafka.Produce") cat = AuditCategory::Produce;
    else if (who.method == "kafka.Fetch") cat = AuditCategory::Fetch;
    else if (is_management_method(who.method)) cat = AuditCategory::Management;
    else cat = AuditCategory::Other;
  }
  if (!(opt_.categories & bit(cat))) return;
  const int64_t t = now();
  const std::string reason = decision.reason(who, op, resource);
  const std::string key = fmt::format("z\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", who.method,
                                      who.principal.to_string(), who.client_host, who.listener, who.client_id,
                                      static_cast<int>(op), static_cast<int>(resource.type), resource.name,
                                      decision.allowed, reason);
  record(key, [&] {
    const std::string crn = resource_crn(resource.type, resource.name);
    return json{{"type", kAuthorizationType},
                {"subject", crn},
                {"data",
                 {{"methodName", who.method},
                  {"resourceName", crn},
                  {"authenticationInfo", {{"principal", who.principal.to_string()}}},
                  {"authorizationInfo",
                   {{"granted", decision.allowed},
                    {"operation", operation_name(op)},
                    {"resourceType", resource_type_name(resource.type)},
                    {"resourceName", resource.name},
                    {"patternType", "LITERAL"},
                    {"reason", reason}}},
                  {"requestMetadata",
                   {{"clientAddress", who.client_host}, {"clientId", who.client_id}, {"listener", who.listener}}}}}};
  }, t);
}

void SecurityAuditLog::authentication(const AuthenticationEvent& e) {
  if (!(opt_.categories & bit(AuditCategory::Authentication))) return;
  const int64_t t = now();
  const std::string key = fmt::format("n\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", e.success, e.principal.to_string(),
                                      e.mechanism, e.listener, e.client_host, e.reason);
  record(key, [&] {
    const std::string crn = resource_crn(ResourceType::Cluster, "");
    return json{{"type", kAuthenticationType},
                {"subject", crn},
                {"data",
                 {{"methodName", "kafka.Authentication"},
                  {"resourceName", crn},
                  {"authenticationInfo", {{"principal", e.principal.to_string()}, {"metadata", {{"mechanism", e.mechanism}}}}},
                  {"result", {{"status", e.success ? "SUCCESS" : "FAILURE"}, {"message", e.reason}}},
                  {"requestMetadata", {{"clientAddress", e.client_host}, {"listener", e.listener}}}}}};
  }, t);
}

void SecurityAuditLog::record(const std::string& key, const std::function<json()>& make, int64_t t) {
  std::lock_guard lk(mu_);
  if (stopping_) return;
  auto it = windows_.find(key);
  if (it != windows_.end()) {
    if (t < it->second.opened_ms + opt_.repeat_window_ms) {
      Window& w = it->second;
      if (w.count++ == 0) w.first_repeat_ms = t;
      w.last_repeat_ms = t;
      ++stats_.folded;
      return;
    }
    // Its window is over but the writer has not closed it yet: close it here, in order.
    if (it->second.count > 0 && queue_.size() < opt_.queue_capacity) queue_.push_back(repeats_line(it->second));
    windows_.erase(it);
  }
  if (queue_.size() >= opt_.queue_capacity) {
    ++stats_.dropped;
    ++unreported_drops_;
    return;
  }
  json line = make();
  line["id"] = uuid4();
  line["source"] = resource_crn(ResourceType::Cluster, "");
  line["specversion"] = "1.0";
  line["time"] = rfc3339_ms(t);
  line["datacontenttype"] = "application/json";
  if (windows_.size() < opt_.max_tracked) windows_.emplace(key, Window{line, t, 0, 0, 0});
  queue_.push_back(std::move(line));
  cv_.notify_one();
}

json SecurityAuditLog::repeats_line(const Window& w) {
  json line = w.sample;
  line["id"] = uuid4();
  line["time"] = rfc3339_ms(w.last_repeat_ms);
  line["data"]["repeats"] = {{"count", w.count},
                             {"firstTime", rfc3339_ms(w.first_repeat_ms)},
                             {"lastTime", rfc3339_ms(w.last_repeat_ms)}};
  return line;
}

void SecurityAuditLog::take_due(int64_t t, bool all, std::vector<json>& out) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (all || t >= it->second.opened_ms + opt_.repeat_window_ms) {
      if (it->second.count > 0) out.push_back(repeats_line(it->second));
      it = windows_.erase(it);
    } else {
      ++it;
    }
  }
}

void SecurityAuditLog::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    // Wake for new events, a flush or stop, and at least every 100 ms to close repeat windows.
    cv_.wait_for(lk, std::chrono::milliseconds(100),
                 [&] { return !queue_.empty() || flush_requests_ > flushed_ || stopping_; });
    const uint64_t ticket = flush_requests_;
    const bool stop = stopping_;
    std::vector<json> batch(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    take_due(now(), ticket > flushed_ || stop, batch);
    if (unreported_drops_ > 0) {
      const int64_t t = now();
      batch.push_back(json{{"id", uuid4()},
                           {"source", resource_crn(ResourceType::Cluster, "")},
                           {"specversion", "1.0"},
                           {"type", kDroppedType},
                           {"time", rfc3339_ms(t)},
                           {"subject", resource_crn(ResourceType::Cluster, "")},
                           {"datacontenttype", "application/json"},
                           {"data", {{"dropped", unreported_drops_}, {"reason", "audit queue full"}}}});
      unreported_drops_ = 0;
    }
    lk.unlock();
    const size_t n = batch.size();
    bool ok = true;
    if (n > 0) {
      try {
        writer_->append(std::move(batch));
      } catch (const std::exception& e) {
        ok = false;
        spdlog::error("security audit log: {} event(s) lost: {}", n, e.what());
      }
    }
    lk.lock();
    if (ok) stats_.lines += n;
    else stats_.dropped += n;
    flushed_ = ticket;
    done_cv_.notify_all();
    if (stop && queue_.empty()) break;
  }
}

void SecurityAuditLog::flush() {
  std::unique_lock lk(mu_);
  if (stopping_) return;
  const uint64_t want = ++flush_requests_;
  cv_.notify_one();
  done_cv_.wait(lk, [&] { return flushed_ >= want; });
}

void SecurityAuditLog::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    stopping_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lk(mu_);
  stopped_ = true;
}

SecurityAuditLog::Stats SecurityAuditLog::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

}  // namespace ferry::security
