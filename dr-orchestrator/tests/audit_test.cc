#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/testing/temp_dir.h"
#include "dr-orchestrator/audit.h"

namespace ferry::dr {
namespace {

namespace fs = std::filesystem;

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_ / "sub" / "audit.jsonl";
  }
  std::vector<std::string> lines() {
    std::ifstream in(path_);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  void rewrite(const std::vector<std::string>& ls) {
    std::ofstream out(path_, std::ios::trunc);
    for (const auto& l : ls) out << l << "\n";
  }
  void write_three() {
    AuditLog log(path_, "ferry-dr failover --to west");
    log.record("command", "started", "", {}, "op-1");
    log.record("step fence", "ok", "", {{"region", "east"}}, "op-1");
    log.record("command", "refused", "target unreachable", {}, "op-1");
  }
  ferry::testing::TempDir tmp_{"dr_audit"};
  const fs::path& dir_ = tmp_.path;
  fs::path path_;
};

TEST_F(AuditTest, EntriesCarryWhoWhatWhenAndChain) {
  write_three();
  auto ls = lines();
  ASSERT_EQ(ls.size(), 3u);
  auto first = nlohmann::json::parse(ls[0]);
  EXPECT_EQ(first["prev"], std::string(64, '0'));
  EXPECT_EQ(first["command"], "ferry-dr failover --to west");
  EXPECT_EQ(first["who"]["pid"], ::getpid());
  EXPECT_EQ(first["result"], "started");
  EXPECT_EQ(first["ts"].get<std::string>().size(), std::string("2024-01-01T00:00:00.000Z").size());
  auto second = nlohmann::json::parse(ls[1]);
  EXPECT_EQ(second["prev"], sha256_hex(ls[0]));
  EXPECT_EQ(nlohmann::json::parse(ls[2])["reason"], "target unreachable");
  auto r = verify_audit_log(path_);
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.lines, 3);
}

TEST_F(AuditTest, AppendsContinueTheChainAcrossInstances) {
  write_three();
  AuditLog again(path_, "ferry-dr status");
  again.record("status", "ok");
  EXPECT_TRUE(verify_audit_log(path_).ok);
  EXPECT_EQ(verify_audit_log(path_).lines, 4);
}

TEST_F(AuditTest, EditedLineIsDetected) {
  write_three();
  auto ls = lines();
  const auto pos = ls[1].find("\"ok\"");
  ASSERT_NE(pos, std::string::npos);
  ls[1].replace(pos, 4, "\"failed\"");
  rewrite(ls);
  auto r = verify_audit_log(path_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 2);
  EXPECT_NE(r.reason.find("edited"), std::string::npos) << r.reason;
}

TEST_F(AuditTest, EditWithRecomputedHashBreaksTheNextLink) {
  write_three();
  auto ls = lines();
  auto j = nlohmann::json::parse(ls[1]);
  j["result"] = "failed";
  j.erase("sha256");
  j["sha256"] = sha256_hex(nlohmann::json(j).dump());
  {
    auto k = j;
    k.erase("sha256");
    j["sha256"] = sha256_hex(k.dump());
  }
  ls[1] = j.dump();
  rewrite(ls);
  auto r = verify_audit_log(path_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 3);
}

TEST_F(AuditTest, RemovedLineIsDetected) {
  write_three();
  auto ls = lines();
  ls.erase(ls.begin());
  rewrite(ls);
  auto r = verify_audit_log(path_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 1);
}

TEST_F(AuditTest, TornAppendStaysItsOwnLineAndIsReported) {
  write_three();
  { std::ofstream(path_, std::ios::app) << R"({"ts": "2024-)"; }
  AuditLog log(path_, "ferry-dr status");
  log.record("status", "started");
  auto ls = lines();
  ASSERT_EQ(ls.size(), 5u);
  EXPECT_NO_THROW(nlohmann::json::parse(ls[4]));  // the new entry did not merge with the tear
  auto r = verify_audit_log(path_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 4);
}

TEST_F(AuditTest, MissingFileIsAnError) {
  EXPECT_FALSE(verify_audit_log(dir_ / "nope.jsonl").ok);
}

// Pins issue 13 defect 6: a chain cut after any line is still a valid chain, so the head is anchored
// outside the log.
class AnchoredAuditTest : public AuditTest {
 protected:
  void write_anchored(int n) {
    AuditLog log(path_, "ferry-dr failover --to west", anchor());
    for (int i = 0; i < n; ++i) log.record("step", "ok", "", {{"i", i}}, "op-1");
  }
  fs::path anchor() const { return dir_ / "state" / "audit-anchor.json"; }
  std::string bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

TEST_F(AnchoredAuditTest, EveryAppendMovesTheAnchorToTheHead) {
  fs::create_directories(anchor().parent_path());
  write_anchored(4);
  auto a = read_audit_anchor(anchor());
  ASSERT_TRUE(a);
  EXPECT_EQ(a->entries, 4);
  EXPECT_EQ(a->head, sha256_hex(lines().back()));
  auto r = verify_audit_log(path_, anchor());
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.anchored);
  EXPECT_EQ(r.anchor_entries, 4);
}

TEST_F(AnchoredAuditTest, TruncatedLastLineIsDetected) {
  fs::create_directories(anchor().parent_path());
  write_anchored(4);
  auto ls = lines();
  ls.pop_back();
  rewrite(ls);
  EXPECT_TRUE(verify_audit_log(path_).ok) << "the chain alone cannot see it";
  auto r = verify_audit_log(path_, anchor());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 4);
  EXPECT_NE(r.reason.find("truncated or deleted"), std::string::npos) << r.reason;
}

TEST_F(AnchoredAuditTest, DeletedTailAndEmptiedLogAreDetected) {
  fs::create_directories(anchor().parent_path());
  write_anchored(5);
  auto ls = lines();
  rewrite({ls.begin(), ls.begin() + 2});
  auto r = verify_audit_log(path_, anchor());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("last 3 line(s)"), std::string::npos) << r.reason;
  rewrite({});
  EXPECT_FALSE(verify_audit_log(path_, anchor()).ok);
}

TEST_F(AnchoredAuditTest, ACutLogThatGrowsAgainStaysReported) {
  // Cut the tail, then ferry-dr appends again: the new entries chain onto the cut log, but the
  // anchor is not moved past the damage, so the line count or the head still disagrees.
  fs::create_directories(anchor().parent_path());
  write_anchored(5);
  auto ls = lines();
  rewrite({ls.begin(), ls.begin() + 3});
  write_anchored(3);  // 6 lines again, a valid chain
  EXPECT_TRUE(verify_audit_log(path_).ok);
  auto r = verify_audit_log(path_, anchor());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad, 5);
  EXPECT_NE(r.reason.find("cut and rewritten"), std::string::npos) << r.reason;
}

TEST_F(AnchoredAuditTest, AnAnchorBehindByACrashIsCaughtUp) {
  // A crash between the log's fsync and the anchor's rename leaves the anchor one entry behind:
  // still verified, and the next append counts the lines and moves the anchor to the head.
  fs::create_directories(anchor().parent_path());
  write_anchored(2);
  { AuditLog(path_, "no anchor").record("step", "ok"); }
  auto r = verify_audit_log(path_, anchor());
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.anchor_entries, 2);
  write_anchored(1);
  EXPECT_EQ(read_audit_anchor(anchor())->entries, 4);
  EXPECT_TRUE(verify_audit_log(path_, anchor()).ok);
}

TEST_F(AnchoredAuditTest, VerifyReadsOnly) {
  fs::create_directories(anchor().parent_path());
  write_anchored(3);
  const std::string log_before = bytes(path_), anchor_before = bytes(anchor());
  auto ls = lines();
  ls.pop_back();
  rewrite(ls);
  const std::string cut = bytes(path_);
  EXPECT_FALSE(verify_audit_log(path_, anchor()).ok);
  EXPECT_EQ(bytes(path_), cut);
  EXPECT_EQ(bytes(anchor()), anchor_before);
  EXPECT_NE(log_before, cut);
}

TEST_F(AnchoredAuditTest, MissingAnchorIsReportedAsUnanchored) {
  write_three();
  auto r = verify_audit_log(path_, anchor());
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.anchored);
}

TEST(Audit, Rfc3339AndSha256) {
  EXPECT_EQ(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339_ms(1700000000123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
}

// A log and anchor written by ferry-dr before the chain moved to common/hash_chain (4 entries of
// `ferry-dr audit verify --config`, main at 3340301): they still verify, anchored, and new appends
// continue their chain and move their anchor.
TEST_F(AnchoredAuditTest, ALogWrittenBeforeTheSharedChainStillVerifiesAndContinues) {
  const fs::path data = fs::path(FERRY_SOURCE_DIR) / "dr-orchestrator" / "tests" / "data";
  fs::create_directories(path_.parent_path());
  fs::create_directories(anchor().parent_path());
  fs::copy_file(data / "audit-written-before-hash-chain.jsonl", path_);
  fs::copy_file(data / "audit-anchor-written-before-hash-chain.json", anchor());
  auto r = verify_audit_log(path_, anchor());
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.anchored);
  EXPECT_EQ(r.lines, 4);
  const auto old_lines = lines();
  write_anchored(2);
  EXPECT_EQ(nlohmann::json::parse(lines()[4])["prev"], sha256_hex(old_lines[3]));
  r = verify_audit_log(path_, anchor());
  EXPECT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.anchor_entries, 6);
}

}  // namespace
}  // namespace ferry::dr
