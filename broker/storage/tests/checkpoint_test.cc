#include "broker/storage/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "broker/storage/tests/batch_builder.h"

namespace ferry::storage {
namespace {

using testing::TempDir;

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::trunc);
  out << s;
}

TEST(Checkpoint, RoundTripsInKafkaFormat) {
  TempDir dir;
  auto file = dir.path() / "recovery-point-offset-checkpoint";
  std::map<TopicPartition, int64_t> offsets = {
      {{"orders", 0}, 42}, {{"orders", 11}, 0}, {{"__consumer_offsets", 3}, 9'000'000'000}, {{"a.b-c_d", 2}, -1}};
  write_offset_checkpoint(file, offsets);
  EXPECT_EQ(read_text(file), "0\n4\n__consumer_offsets 3 9000000000\na.b-c_d 2 -1\norders 0 42\norders 11 0\n");
  EXPECT_EQ(read_offset_checkpoint(file), offsets);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "recovery-point-offset-checkpoint.tmp"));

  write_offset_checkpoint(file, {});
  EXPECT_EQ(read_text(file), "0\n0\n");
  EXPECT_TRUE(read_offset_checkpoint(file).empty());
}

TEST(Checkpoint, MissingFileIsEmpty) {
  TempDir dir;
  EXPECT_TRUE(read_offset_checkpoint(dir.path() / "log-start-offset-checkpoint").empty());
}

TEST(Checkpoint, RejectsGarbageNamingFileAndLine) {
  TempDir dir;
  auto file = dir.path() / "cp";
  struct Case {
    const char* text;
    const char* where;
  };
  for (const auto& c : std::vector<Case>{
           {"", ":1:"},
           {"1\n0\n", ":1:"},
           {"0\nx\n", ":2:"},
           {"0\n-1\n", ":2:"},
           {"0\n2\nt 0 1\n", ":3:"},
           {"0\n1\nt 0 1\nt 1 1\n", ":4:"},
           {"0\n1\nt 0\n", ":3:"},
           {"0\n1\nt zero 1\n", ":3:"},
           {"0\n1\nt 0 1x\n", ":3:"},
           {"0\n1\nt -1 5\n", ":3:"},
           {"0\n2\nt 0 1\nt 0 2\n", ":4:"},
           {"0\n1\nt 0 1\n\n", ":4:"},
       }) {
    write_text(file, c.text);
    try {
      read_offset_checkpoint(file);
      ADD_FAILURE() << "accepted: " << c.text;
    } catch (const std::runtime_error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(file.string() + c.where), std::string::npos) << msg;
    }
  }
}

TEST(Checkpoint, RefusesTopicsThatCannotBeParsedBack) {
  TempDir dir;
  EXPECT_THROW(write_offset_checkpoint(dir.path() / "cp", {{{"bad topic", 0}, 1}}), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "cp"));
}

TEST(AtomicWrite, ReplacesContentWholly) {
  TempDir dir;
  auto file = dir.path() / "meta.properties";
  atomic_write_file(file, "first version, rather long\n");
  atomic_write_file(file, "v2\n");
  EXPECT_EQ(read_text(file), "v2\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "meta.properties.tmp"));
  EXPECT_THROW(atomic_write_file(dir.path() / "no-such-dir" / "f", "x"), std::system_error);
}

}  // namespace
}  // namespace ferry::storage
