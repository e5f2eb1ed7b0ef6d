// The redirect hook runs in a child with its own environment (posix_spawn), not by changing
// ferry-dr's: the old setenv + popen + unsetenv raced with the watch's threads and erased a
// variable of the same name the process already had. It is bounded by a timeout, past which its
// whole process group is killed.
#include <gtest/gtest.h>

#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include "dr-orchestrator/redirect_hook.h"

namespace ferry::dr {
namespace {

// Long enough for any of these hooks on a loaded machine; the timeout test uses its own.
constexpr std::chrono::milliseconds kLong{60'000};

TEST(RedirectHook, SeesTheExtraVariablesAndTheInheritedOnes) {
  ::setenv("FERRY_TEST_INHERITED", "kept", 1);
  HookResult r = run_hook("echo \"$FERRY_DR_PRIMARY $FERRY_DR_OP_ID $FERRY_TEST_INHERITED\"",
                          {{"FERRY_DR_PRIMARY", "west"}, {"FERRY_DR_OP_ID", "1-a"}}, kLong);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "west 1-a kept\n");
  ::unsetenv("FERRY_TEST_INHERITED");
}

// Pins a redirect-hook bug: the old setenv + popen + unsetenv erased a variable ferry-dr itself
// had (and raced with the watch threads); ferry-dr's own environment is never touched.
TEST(RedirectHook, LeavesThisProcesssEnvironmentAlone) {
  ::setenv("FERRY_DR_PRIMARY", "outer", 1);
  HookResult r = run_hook("echo \"$FERRY_DR_PRIMARY\"", {{"FERRY_DR_PRIMARY", "west"}}, kLong);
  EXPECT_EQ(r.output, "west\n") << "the hook's value wins in the hook";
  const char* after = std::getenv("FERRY_DR_PRIMARY");
  ASSERT_NE(after, nullptr) << "the process's own variable was erased";
  EXPECT_STREQ(after, "outer");
  ::unsetenv("FERRY_DR_PRIMARY");
  run_hook("true", {{"FERRY_DR_BOOTSTRAP", "w:1"}}, kLong);
  EXPECT_EQ(std::getenv("FERRY_DR_BOOTSTRAP"), nullptr) << "the hook's variables leaked into this process";
}

TEST(RedirectHook, ExitCodeSignalAndBothOutputStreams) {
  HookResult r = run_hook("echo out; echo err >&2; exit 7", {}, kLong);
  EXPECT_EQ(r.status, 7);
  EXPECT_EQ(r.output, "out\nerr\n");
  EXPECT_EQ(run_hook("kill -TERM $$", {}, kLong).status, 128 + 15);
  EXPECT_EQ(run_hook("exit 127", {}, kLong).status, 127);
}

TEST(RedirectHook, KeepsTheLast400BytesOfOutput) {
  HookResult r = run_hook("head -c 1000 /dev/zero | tr '\\0' a; printf END", {}, kLong);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output.size(), 403u);
  EXPECT_EQ(r.output.substr(0, 3), "...");
  EXPECT_EQ(r.output.substr(r.output.size() - 3), "END");
}


// True while `pid` is a live process (a zombie waiting for init to reap it counts as gone).
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// Pins a redirect-hook bug (found for issue 14): the hook had no timeout. Past it, the shell and
// what it started (which holds the output pipe) are killed, and the result says so.
TEST(RedirectHook, PastItsTimeoutTheHookAndItsChildrenAreKilled) {
  char tmpl[] = "/tmp/dr_hook_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string pidfile = std::string(tmpl) + "/child.pid";
  HookResult r = run_hook("echo started; sleep 600 & echo $! > '" + pidfile + "'; wait", {}, std::chrono::milliseconds(500));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.status, 128 + SIGKILL);
  EXPECT_EQ(r.output, "started\n");
  std::ifstream in(pidfile);
  pid_t child = 0;
  ASSERT_TRUE(in >> child) << "the hook did not start its child";
  for (int i = 0; i < 100 && alive(child); ++i) ::usleep(10'000);  // init reaps it
  EXPECT_FALSE(alive(child)) << "the hook's child " << child << " survived the timeout";
  std::remove(pidfile.c_str());
  ::rmdir(tmpl);
  EXPECT_FALSE(run_hook("exit 0", {}, std::chrono::milliseconds(5000)).timed_out);
}

// Pins a defect found for issue 14: a hook that closes its own output and keeps running (its
// output sent elsewhere, e.g. to a log file) held the step past the timeout, because the wait for
// its exit had no deadline once the pipe closed.
TEST(RedirectHook, AHookThatClosesItsOutputIsStillBoundedByTheTimeout) {
  HookResult r = run_hook("echo before; exec >/dev/null 2>&1; sleep 20", {}, std::chrono::milliseconds(500));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.status, 128 + SIGKILL);
  EXPECT_EQ(r.output, "before\n");
}

}  // namespace
}  // namespace ferry::dr
