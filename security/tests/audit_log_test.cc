// security/audit_log: what an operator reading the security audit log relies on — the CloudEvents
// fields, repeats folded into counts, the event filter, no secrets, a chain that verifies.
#include "security/audit_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "common/hash_chain.h"
#include "common/testing/temp_dir.h"

namespace ferry::security {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class SecurityAuditLogTest : public ::testing::Test {
 protected:
  AuditLogOptions options(std::vector<std::string> events = default_audit_categories()) {
    AuditLogOptions o;
    o.file = tmp_.path / "audit" / "security-audit.log";
    o.anchor = tmp_.path / "security-audit-anchor.json";
    o.categories = parse_audit_categories(events);
    o.cluster_id = "c1";
    o.now_ms = [this] { return clock_.load(); };
    return o;
  }
  std::vector<json> lines() {
    std::ifstream in(tmp_.path / "audit" / "security-audit.log");
    std::vector<json> out;
    for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
    return out;
  }
  static RequestIdentity who(std::string method) {
    RequestIdentity w;
    w.principal = {"User", "alice"};
    w.client_host = "10.0.0.7";
    w.listener = "PLAINTEXT";
    w.method = std::move(method);
    w.client_id = "admin-1";
    return w;
  }
  ferry::testing::TempDir tmp_{"security_audit"};
  std::atomic<int64_t> clock_{1'700'000'000'000};
};

TEST_F(SecurityAuditLogTest, DenialIsACloudEventWithConfluentFields) {
  {
    SecurityAuditLog log(options());
    log.on_decision(who("kafka.DeleteTopics"), Operation::Delete, {ResourceType::Topic, "orders"},
                    {false, "no ACL allows it"});
  }
  const auto ls = lines();
  ASSERT_EQ(ls.size(), 1u);
  const auto& l = ls[0];
  EXPECT_EQ(l["specversion"], "1.0");
  EXPECT_EQ(l["type"], "io.confluent.kafka.server/authorization");
  EXPECT_EQ(l["source"], "crn:///kafka=c1");
  EXPECT_EQ(l["subject"], "crn:///kafka=c1/topic=orders");
  EXPECT_EQ(l["datacontenttype"], "application/json");
  EXPECT_EQ(l["time"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(l["id"].get<std::string>().size(), 36u);
  const auto& d = l["data"];
  EXPECT_EQ(d["methodName"], "kafka.DeleteTopics");
  EXPECT_EQ(d["resourceName"], "crn:///kafka=c1/topic=orders");
  EXPECT_EQ(d["authenticationInfo"]["principal"], "User:alice");
  EXPECT_EQ(d["authorizationInfo"],
            (json{{"granted", false}, {"operation", "Delete"}, {"resourceType", "Topic"}, {"resourceName", "orders"},
                  {"patternType", "LITERAL"}, {"reason", "no ACL allows it"}}));
  EXPECT_EQ(d["requestMetadata"], (json{{"clientAddress", "10.0.0.7"}, {"clientId", "admin-1"}, {"listener", "PLAINTEXT"}}));
  EXPECT_EQ(l["prev"], hash_chain::kGenesis);
  const auto r = hash_chain::verify({tmp_.path / "audit" / "security-audit.log"},
                                    {tmp_.path / "security-audit-anchor.json", hash_chain::kSecurityAuditFormat.checker()});
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.anchored);
}

TEST_F(SecurityAuditLogTest, DefaultsRecordManagementAndDenialsButNotProduceFetchOrDescribe) {
  {
    SecurityAuditLog log(options());
    const Decision allow{true, "allow-all authorizer"};
    log.on_decision(who("kafka.Produce"), Operation::Write, {ResourceType::Topic, "t"}, allow);
    log.on_decision(who("kafka.Fetch"), Operation::Read, {ResourceType::Topic, "t"}, allow);
    log.on_decision(who("kafka.Metadata"), Operation::Describe, {ResourceType::Topic, "t"}, allow);
    log.on_decision(who("kafka.CreateTopics"), Operation::Create, {ResourceType::Cluster, kClusterResourceName}, allow);
    log.on_decision(who("kafka.IncrementalAlterConfigs"), Operation::AlterConfigs,
                    {ResourceType::Cluster, kClusterResourceName}, allow);
    log.on_decision(who("kafka.Fetch"), Operation::Read, {ResourceType::Topic, "secret"}, {false, "denied"});
  }
  const auto ls = lines();
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(ls[0]["data"]["methodName"], "kafka.CreateTopics");
  EXPECT_EQ(ls[0]["subject"], "crn:///kafka=c1");
  EXPECT_EQ(ls[1]["data"]["methodName"], "kafka.IncrementalAlterConfigs");
  EXPECT_EQ(ls[2]["data"]["methodName"], "kafka.Fetch");
  EXPECT_EQ(ls[2]["data"]["authorizationInfo"]["granted"], false);
}

TEST_F(SecurityAuditLogTest, EventsFilterSelectsCategories) {
  {
    SecurityAuditLog log(options({"produce", "fetch"}));
    const Decision allow{true, "allow-all authorizer"};
    log.on_decision(who("kafka.Produce"), Operation::Write, {ResourceType::Topic, "t"}, allow);
    log.on_decision(who("kafka.Fetch"), Operation::Read, {ResourceType::Topic, "t"}, allow);
    log.on_decision(who("kafka.CreateTopics"), Operation::Create, {ResourceType::Cluster, kClusterResourceName}, allow);
    log.on_decision(who("kafka.Produce"), Operation::Write, {ResourceType::Topic, "x"}, {false, "denied"});
    log.authentication({false, {"User", "bob"}, "PLAIN", "SASL", "10.0.0.8", "bad password"});
  }
  const auto ls = lines();
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0]["data"]["methodName"], "kafka.Produce");
  EXPECT_EQ(ls[1]["data"]["methodName"], "kafka.Fetch");
  EXPECT_THROW(parse_audit_categories({"authorization"}), std::invalid_argument);
  EXPECT_EQ(parse_audit_categories({}), 0u);
}

TEST_F(SecurityAuditLogTest, TenThousandIdenticalDenialsWriteTwoLinesWithTheCount) {
  {
    SecurityAuditLog log(options());
    for (int i = 0; i < 10'000; ++i) {
      clock_ += (i % 10 == 0) ? 1 : 0;  // 1000 ms in all: one window
      log.on_decision(who("kafka.DeleteTopics"), Operation::Delete, {ResourceType::Topic, "orders"}, {false, "denied"});
    }
    log.flush();
    EXPECT_EQ(log.stats().folded, 9'999u);
    EXPECT_EQ(log.stats().lines, 2u);
  }
  auto ls = lines();
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_FALSE(ls[0]["data"].contains("repeats"));
  EXPECT_EQ(ls[1]["data"]["repeats"]["count"], 9'999);
  EXPECT_EQ(ls[1]["data"]["methodName"], "kafka.DeleteTopics");
  EXPECT_NE(ls[0]["id"], ls[1]["id"]);
  // A different client host is a different event, and a new window after the first one closed
  // starts with a line of its own again.
  {
    SecurityAuditLog log(options());
    auto other = who("kafka.DeleteTopics");
    other.client_host = "10.0.0.9";
    log.on_decision(other, Operation::Delete, {ResourceType::Topic, "orders"}, {false, "denied"});
    log.on_decision(who("kafka.DeleteTopics"), Operation::Delete, {ResourceType::Topic, "orders"}, {false, "denied"});
    clock_ += 5000;
    log.on_decision(who("kafka.DeleteTopics"), Operation::Delete, {ResourceType::Topic, "orders"}, {false, "denied"});
  }
  ls = lines();
  ASSERT_EQ(ls.size(), 5u);
  EXPECT_EQ(ls[2]["data"]["requestMetadata"]["clientAddress"], "10.0.0.9");
  for (size_t i = 2; i < 5; ++i) EXPECT_FALSE(ls[i]["data"].contains("repeats")) << i;
  EXPECT_TRUE(hash_chain::verify({tmp_.path / "audit" / "security-audit.log"}, {}).ok);
}

TEST_F(SecurityAuditLogTest, RepeatsFromManyThreadsStayBounded) {
  {
    SecurityAuditLog log(options());  // the test clock stands still: one window
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&] {
        for (int i = 0; i < 2'500; ++i)
          log.authentication({false, {"User", "mallory"}, "PLAIN", "SASL_PLAINTEXT", "10.0.0.66", "bad password"});
      });
    for (auto& t : ts) t.join();
    log.flush();
    EXPECT_EQ(log.stats().dropped, 0u);
  }
  const auto ls = lines();
  uint64_t total = 0;
  for (const auto& l : ls) total += l["data"].contains("repeats") ? l["data"]["repeats"]["count"].get<uint64_t>() : 1;
  EXPECT_EQ(total, 10'000u);  // every event counted once, whichever thread won the race
  EXPECT_EQ(ls.size(), 2u);
}

TEST_F(SecurityAuditLogTest, FailedPlainLoginCarriesNoPassword) {
  // The connection code builds the event from a PLAIN token "\0mallory\0hunter2-secret": the event
  // type has no field for the password, so only what is copied into it can be written.
  const std::string token = std::string("\0mallory\0hunter2-secret", 23);
  const std::string user = token.substr(1, token.find('\0', 1) - 1);
  {
    SecurityAuditLog log(options());
    log.authentication({false, {"User", user}, "PLAIN", "SASL_PLAINTEXT", "10.0.0.66", "invalid credentials"});
    log.authentication({true, {"User", "alice"}, "SCRAM-SHA-256", "SASL_PLAINTEXT", "10.0.0.7", ""});
  }
  std::ifstream in(tmp_.path / "audit" / "security-audit.log");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  const auto ls = lines();
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0]["type"], "io.confluent.kafka.server/authentication");
  EXPECT_EQ(ls[0]["data"]["authenticationInfo"]["principal"], "User:mallory");
  EXPECT_EQ(ls[0]["data"]["authenticationInfo"]["metadata"]["mechanism"], "PLAIN");
  EXPECT_EQ(ls[0]["data"]["result"], (json{{"status", "FAILURE"}, {"message", "invalid credentials"}}));
  EXPECT_EQ(ls[0]["data"]["requestMetadata"]["clientAddress"], "10.0.0.66");
  EXPECT_EQ(ls[1]["data"]["result"]["status"], "SUCCESS");
}

TEST_F(SecurityAuditLogTest, RotatesAndTheChainRunsAcrossFilesAndRestarts) {
  AuditLogOptions o = options();
  o.max_bytes = 4096;
  o.max_files = 3;
  for (int round = 0; round < 3; ++round) {
    SecurityAuditLog log(o);
    for (int i = 0; i < 20; ++i) {
      log.on_decision(who("kafka.CreateTopics"), Operation::Create, {ResourceType::Topic, "t" + std::to_string(i)},
                      {true, "allow-all authorizer"});
      log.flush();
    }
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(tmp_.path / "audit")) files.push_back(e.path());
  ASSERT_EQ(files.size(), 3u);
  const auto r = hash_chain::verify(hash_chain::chain_order(files),
                                    {o.anchor, hash_chain::kSecurityAuditFormat.checker(), true});
  EXPECT_TRUE(r.ok) << r.file << ":" << r.first_bad << " " << r.reason;
  EXPECT_TRUE(r.anchored);
}

TEST_F(SecurityAuditLogTest, QueueOverflowIsCountedAndRecorded) {
  AuditLogOptions o = options();
  o.queue_capacity = 0;  // every event overflows
  {
    SecurityAuditLog log(o);
    log.on_decision(who("kafka.DeleteTopics"), Operation::Delete, {ResourceType::Topic, "a"}, {false, "denied"});
    log.on_decision(who("kafka.DeleteTopics"), Operation::Delete, {ResourceType::Topic, "b"}, {false, "denied"});
    log.flush();
    EXPECT_EQ(log.stats().dropped, 2u);
  }
  const auto ls = lines();
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_EQ(ls[0]["type"], "ferry.audit/dropped");
  EXPECT_EQ(ls[0]["data"]["dropped"], 2);
}

}  // namespace
}  // namespace ferry::security
