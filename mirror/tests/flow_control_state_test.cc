// mirror.state.dir: the control API's pause and resume survive a restart, and a damaged file stops
// the mirror rather than letting it guess.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <system_error>

#include "common/testing/temp_dir.h"
#include "mirror/flow_control_state.h"

namespace ferry::mirror {
namespace {

namespace fs = std::filesystem;

class FlowControlStateTest : public ::testing::Test {
 protected:
  testing::TempDir tmp_{"mirror_state"};
  const fs::path& dir_ = tmp_.path;
};

TEST_F(FlowControlStateTest, AFreshDirectoryRecordsNothing) {
  auto s = FlowControlState::open(dir_ / "new" / "sub");
  EXPECT_TRUE(fs::is_directory(dir_ / "new" / "sub"));
  EXPECT_EQ(s.get("east->west"), std::nullopt);
  EXPECT_FALSE(fs::exists(s.file()));
}

TEST_F(FlowControlStateTest, DecisionsSurviveReopening) {
  {
    auto s = FlowControlState::open(dir_);
    s.set("east->west", true, 1000);
    s.set("west->east", true, 1001);
    s.set("west->east", false, 1002);
  }
  auto s = FlowControlState::open(dir_);
  ASSERT_TRUE(s.get("east->west"));
  EXPECT_TRUE(s.get("east->west")->paused);
  EXPECT_EQ(s.get("east->west")->updated_ms, 1000);
  ASSERT_TRUE(s.get("west->east"));
  EXPECT_FALSE(s.get("west->east")->paused);
  EXPECT_EQ(s.get("west->east")->updated_ms, 1002);
  EXPECT_FALSE(fs::exists(dir_ / "flow-control.json.tmp"));
}

TEST_F(FlowControlStateTest, ADamagedFileIsRefusedNamingTheFile) {
  for (const char* text : {"{\"flows\": {\"east->west\": {\"paused\": \"yes\", \"updated_ms\": 1}}}", "{\"flows\": ",
                           "[]", ""}) {
    std::ofstream(dir_ / "flow-control.json", std::ios::trunc) << text;
    try {
      FlowControlState::open(dir_);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find((dir_ / "flow-control.json").string()), std::string::npos) << e.what();
    }
  }
}

TEST_F(FlowControlStateTest, AFailedWriteLeavesTheRecordedStateAsItWas) {
  auto s = FlowControlState::open(dir_);
  s.set("east->west", false, 1);
  // A directory where the temp file goes: the write fails even for root.
  fs::create_directory(dir_ / "flow-control.json.tmp");
  EXPECT_THROW(s.set("east->west", true, 2), std::system_error);
  EXPECT_FALSE(s.get("east->west")->paused);
  fs::remove(dir_ / "flow-control.json.tmp");
  EXPECT_FALSE(FlowControlState::open(dir_).get("east->west")->paused);
}

}  // namespace
}  // namespace ferry::mirror
