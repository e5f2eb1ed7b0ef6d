// GroupMetadataManager over a real ReplicaManager in a temp dir: what is written to
// __consumer_offsets comes back after a restart, tombstones delete, expiry follows KIP-211, records
// it cannot read are skipped, and groups are placed where Kafka places them.
#include <gtest/gtest.h>

#include <filesystem>

#include "broker/config/broker_config.h"
#include "broker/core/group_metadata.h"
#include "broker/core/replica_manager.h"
#include "broker/metadata/metadata_store.h"
#include "broker/storage/batch_writer.h"
#include "common/metrics.h"
#include "common/testing/temp_dir.h"

using namespace ferry;
using namespace ferry::broker;

namespace {

constexpr int64_t kNow = 1'700'000'000'000;

using ferry::testing::TempDir;

// One broker's storage, opened and closed like a broker restart.
struct Node {
  explicit Node(const std::filesystem::path& dir, int partitions = 5)
      : config(config::load_toml(broker_schema(),
                                 "node.id = 1\nlisteners = \"PLAINTEXT://127.0.0.1:0\"\nlog.dirs = \"" + dir.string() +
                                     "\"\noffsets.topic.num.partitions = " + std::to_string(partitions) +
                                     "\noffsets.retention.minutes = 10\n",
                                 "test")),
        store(dir / "ferry-metadata.toml"),
        replicas(config, store, metrics),
        groups(replicas, config) {
    replicas.startup();
    report = groups.load(kNow);
  }
  ~Node() { replicas.shutdown(); }

  BrokerConfig config;
  metrics::Registry metrics;
  FileMetadataStore store;
  ReplicaManager replicas;
  GroupMetadataManager groups;
  GroupLoadReport report;
};

groups::OffsetValue offset_value(int64_t offset, std::string metadata = "", int64_t commit_ts = kNow) {
  groups::OffsetValue v;
  v.offset = offset;
  v.leader_epoch = 0;
  v.metadata = std::move(metadata);
  v.commit_timestamp = commit_ts;
  return v;
}

groups::GroupSnapshot stable_group(const std::string& id) {
  groups::GroupSnapshot s;
  s.group_id = id;
  s.protocol_type = "consumer";
  s.generation_id = 3;
  s.protocol_name = "range";
  s.leader_id = "m-1";
  s.state_timestamp_ms = kNow - 5;
  s.members.push_back({"m-1", std::nullopt, "client", "/127.0.0.1", 30000, 10000, {1, 2}, {3, 4}});
  return s;
}

}  // namespace

TEST(GroupPlacement, MatchesKafkasHashOfTheGroupId) {
  EXPECT_EQ(offsets_partition_for("", 50), 0);
  EXPECT_EQ(offsets_partition_for("g1", 50), 3242 % 50);  // 'g' * 31 + '1'
  // Java's "polygenelubricants".hashCode() is Integer.MIN_VALUE, which Kafka's Utils.abs maps to 0.
  EXPECT_EQ(offsets_partition_for("polygenelubricants", 50), 0);
  EXPECT_EQ(offsets_partition_for("\xC3\xA9", 50), 233 % 50) << "U+00E9 is one UTF-16 unit, 233";
  // U+1F600 is the surrogate pair D83D DE00: 0xD83D * 31 + 0xDE00.
  EXPECT_EQ(offsets_partition_for("\xF0\x9F\x98\x80", 50), (0xD83D * 31 + 0xDE00) % 50);
  for (int p : {1, 7, 50, 1000}) {
    int32_t got = offsets_partition_for("any-group-\xFF-bytes", p);
    EXPECT_GE(got, 0);
    EXPECT_LT(got, p);
  }
}

TEST(GroupMetadata, CommittedOffsetsAndGroupsSurviveARestart) {
  TempDir dir;
  {
    Node n(dir.path);
    EXPECT_TRUE(n.report.groups.empty());
    auto t = n.replicas.create_topic("orders", 3, 1, {}, false);
    ASSERT_TRUE(t.ok()) << t.message;
    auto w = n.groups.commit("g1", {{"orders", 0, offset_value(10, "m0")}, {"orders", 2, offset_value(7)}});
    ASSERT_EQ(w.error, protocol::ErrorCode::NONE);
    ASSERT_TRUE(w.partition);
    EXPECT_EQ(w.partition->index(), offsets_partition_for("g1", 5));
    EXPECT_EQ(w.end_offset, w.partition->high_watermark());
    n.groups.commit("g1", {{"orders", 0, offset_value(12, "later")}});  // the newer commit wins
    n.groups.commit("solo", {{"orders", 1, offset_value(4)}});
    n.groups.persist(stable_group("g1"));
  }
  Node n(dir.path);
  auto g1 = n.groups.offsets("g1");
  ASSERT_EQ(g1.size(), 2u);
  EXPECT_EQ(g1.at({"orders", 0}), offset_value(12, "later"));
  EXPECT_EQ(g1.at({"orders", 2}), offset_value(7));
  EXPECT_EQ(n.groups.offsets("solo").at({"orders", 1}).offset, 4);
  EXPECT_EQ(n.report.offsets, 3u);
  EXPECT_EQ(n.report.skipped, 0u);
  ASSERT_EQ(n.report.groups.size(), 2u);
  EXPECT_EQ(n.report.groups[0], stable_group("g1"));
  // A group known only by its offsets comes back as an Empty group without a protocol type.
  EXPECT_EQ(n.report.groups[1].group_id, "solo");
  EXPECT_TRUE(n.report.groups[1].members.empty());
  EXPECT_EQ(n.report.groups[1].protocol_type, "");
}

TEST(GroupMetadata, DeletedGroupsAndOffsetsStayDeleted) {
  TempDir dir;
  {
    Node n(dir.path);
    ASSERT_TRUE(n.replicas.create_topic("t", 2, 1, {}, false).ok());
    n.groups.persist(stable_group("gone"));
    n.groups.commit("gone", {{"t", 0, offset_value(5)}, {"t", 1, offset_value(6)}});
    n.groups.commit("kept", {{"t", 0, offset_value(1)}, {"t", 1, offset_value(2)}});
    n.groups.remove("gone");
    auto w = n.groups.delete_offsets("kept", {{"t", 1}, {"t", 9}});  // t-9 has nothing: ignored
    EXPECT_EQ(w.error, protocol::ErrorCode::NONE);
    EXPECT_TRUE(n.groups.offsets("gone").empty());
  }
  Node n(dir.path);
  EXPECT_TRUE(n.groups.offsets("gone").empty());
  EXPECT_FALSE(n.groups.has_offsets("gone"));
  auto kept = n.groups.offsets("kept");
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept.at({"t", 0}).offset, 1);
  ASSERT_EQ(n.report.groups.size(), 1u);
  EXPECT_EQ(n.report.groups[0].group_id, "kept");
}

TEST(GroupMetadata, ExpiryFollowsKip211) {
  TempDir dir;
  Node n(dir.path);  // offsets.retention.minutes = 10
  ASSERT_TRUE(n.replicas.create_topic("t", 1, 1, {}, false).ok());
  constexpr int64_t kRetention = 10 * 60'000;
  n.groups.persist(stable_group("consumers"));  // has a protocol type: expiry counts from Empty
  n.groups.commit("consumers", {{"t", 0, offset_value(3, "", kNow - 2 * kRetention)}});
  n.groups.commit("standalone", {{"t", 0, offset_value(4, "", kNow - kRetention)}});
  n.groups.commit("fresh", {{"t", 0, offset_value(5, "", kNow)}});
  auto explicit_expiry = offset_value(6, "", kNow);
  explicit_expiry.expire_timestamp = kNow + 1000;  // OffsetCommit v2-v4 retention_time_ms
  n.groups.commit("explicit", {{"t", 0, explicit_expiry}});

  std::map<std::string, std::optional<int64_t>> empty_since = {
      {"consumers", std::nullopt}, {"standalone", kNow}, {"fresh", kNow}, {"explicit", kNow}};
  auto ask = [&](const std::string& g) { return empty_since.at(g); };

  // A group with members keeps even ancient offsets; a standalone commit older than the retention
  // expires; a fresh one and an explicit future expiry stay.
  auto emptied = n.groups.expire_offsets(kNow, ask);
  EXPECT_EQ(emptied, std::vector<std::string>{"standalone"});
  EXPECT_TRUE(n.groups.has_offsets("consumers"));
  EXPECT_FALSE(n.groups.has_offsets("standalone"));
  EXPECT_TRUE(n.groups.has_offsets("fresh"));
  EXPECT_TRUE(n.groups.has_offsets("explicit"));

  // The consumer group became Empty just now: its clock starts then, not at its commits.
  empty_since["consumers"] = kNow;
  EXPECT_TRUE(n.groups.expire_offsets(kNow + 1000, ask) == std::vector<std::string>{"explicit"});
  EXPECT_TRUE(n.groups.has_offsets("consumers"));
  emptied = n.groups.expire_offsets(kNow + kRetention, ask);
  EXPECT_EQ(emptied, (std::vector<std::string>{"consumers", "fresh"}));
}

TEST(GroupMetadata, RecordsItCannotReadAreSkippedNotFatal) {
  TempDir dir;
  {
    Node n(dir.path, 1);
    ASSERT_TRUE(n.replicas.create_topic("t", 1, 1, {}, false).ok());
    n.groups.commit("g", {{"t", 0, offset_value(8)}});
    // A KIP-848 record (key version 3) and a value that is not an OffsetCommitValue.
    auto part = n.replicas.partition(std::string(kConsumerOffsetsTopic), 0);
    ASSERT_TRUE(part);
    const std::string unknown_key("\x00\x03garbage", 9);
    auto good_key = groups::encode_key(groups::OffsetKey{"g", "t", 0});
    const std::string bad_value("\x00\x03\x01", 3);
    std::vector<storage::NewRecord> records = {
        {unknown_key, std::string("v")},
        {std::string_view(reinterpret_cast<const char*>(good_key.data()), good_key.size()), bad_value}};
    auto blob = storage::build_batch(records, kNow);
    auto v = storage::validate_produce_records(blob.data(), blob.size(), 1 << 20);
    ASSERT_EQ(v.error, storage::errc::ok);
    ASSERT_EQ(part->append(blob, v.batches, kNow).error, protocol::ErrorCode::NONE);
  }
  Node n(dir.path, 1);
  EXPECT_EQ(n.report.skipped, 2u);
  EXPECT_EQ(n.groups.offsets("g").at({"t", 0}).offset, 8) << "an unreadable record changes nothing";
}
