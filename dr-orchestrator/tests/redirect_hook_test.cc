// The redirect hook runs in a child with its own environment (posix_spawn), not by changing
// ferry-dr's: the old setenv + popen + unsetenv raced with the watch's threads and erased a
// variable of the same name the process already had.
#include <gtest/gtest.h>

#include <cstdlib>

#include "dr-orchestrator/redirect_hook.h"

namespace ferry::dr {
namespace {

TEST(RedirectHook, SeesTheExtraVariablesAndTheInheritedOnes) {
  ::setenv("FERRY_TEST_INHERITED", "kept", 1);
  HookResult r = run_hook("echo \"$FERRY_DR_PRIMARY $FERRY_DR_OP_ID $FERRY_TEST_INHERITED\"",
                          {{"FERRY_DR_PRIMARY", "west"}, {"FERRY_DR_OP_ID", "1-a"}});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "west 1-a kept\n");
  ::unsetenv("FERRY_TEST_INHERITED");
}

// Pins the setenv/unsetenv defect: ferry-dr's own environment is never touched.
TEST(RedirectHook, LeavesThisProcesssEnvironmentAlone) {
  ::setenv("FERRY_DR_PRIMARY", "outer", 1);
  HookResult r = run_hook("echo \"$FERRY_DR_PRIMARY\"", {{"FERRY_DR_PRIMARY", "west"}});
  EXPECT_EQ(r.output, "west\n") << "the hook's value wins in the hook";
  const char* after = std::getenv("FERRY_DR_PRIMARY");
  ASSERT_NE(after, nullptr) << "the process's own variable was erased";
  EXPECT_STREQ(after, "outer");
  ::unsetenv("FERRY_DR_PRIMARY");
  run_hook("true", {{"FERRY_DR_BOOTSTRAP", "w:1"}});
  EXPECT_EQ(std::getenv("FERRY_DR_BOOTSTRAP"), nullptr) << "the hook's variables leaked into this process";
}

TEST(RedirectHook, ExitCodeSignalAndBothOutputStreams) {
  HookResult r = run_hook("echo out; echo err >&2; exit 7", {});
  EXPECT_EQ(r.status, 7);
  EXPECT_EQ(r.output, "out\nerr\n");
  EXPECT_EQ(run_hook("kill -TERM $$", {}).status, 128 + 15);
  EXPECT_EQ(run_hook("exit 127", {}).status, 127);
}

TEST(RedirectHook, KeepsTheLast400BytesOfOutput) {
  HookResult r = run_hook("head -c 1000 /dev/zero | tr '\\0' a; printf END", {});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output.size(), 403u);
  EXPECT_EQ(r.output.substr(0, 3), "...");
  EXPECT_EQ(r.output.substr(r.output.size() - 3), "END");
}

}  // namespace
}  // namespace ferry::dr
