// Durable ACLs in the file metadata store: they survive a reopen with every field intact, a
// duplicate is stored once, and a malformed ACL entry is refused naming the file.
#include <gtest/gtest.h>

#include <fstream>

#include "broker/metadata/metadata_store.h"
#include "common/testing/temp_dir.h"

using namespace ferry;
using namespace ferry::broker;

TEST(MetadataStoreAcls, SurviveReopenAndDeletesAreDurable) {
  ferry::testing::TempDir dir;
  auto file = dir.path / "meta.toml";
  const security::AclBinding write{2, "orders", 3, "User:alice", "10.0.0.1", 4, 3};
  const security::AclBinding deny{2, "fin-", 4, "User:*", "*", 2, 2};
  const security::AclBinding cluster{4, "kafka-cluster", 3, "User:ops", "*", 7, 3};
  {
    FileMetadataStore s(file);
    s.put_topic({"orders", random_kafka_uuid(), 1, 1, {}, {}, {}, 0});
    s.add_acls({write, deny, write});
    s.add_acls({cluster});
    EXPECT_EQ(s.acls().size(), 3u);
  }
  {
    FileMetadataStore s(file);
    EXPECT_EQ(s.acls(), (std::vector<security::AclBinding>{deny, write, cluster}));  // binding order
    EXPECT_EQ(s.topics().size(), 1u);  // ACLs live beside the topics, not instead of them
    s.delete_acls({deny, {2, "absent", 3, "User:x", "*", 3, 3}});
  }
  FileMetadataStore s(file);
  EXPECT_EQ(s.acls(), (std::vector<security::AclBinding>{write, cluster}));
}

TEST(MetadataStoreAcls, MalformedEntryIsRefusedWithTheFileName) {
  ferry::testing::TempDir dir;
  auto file = dir.path / "meta.toml";
  std::ofstream(file) << "[[acls]]\nresource_type = 2\nresource_name = \"t\"\n";
  try {
    FileMetadataStore s(file);
    FAIL() << "an ACL entry without pattern_type was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pattern_type"), std::string::npos) << e.what();
  }
}
