#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/testing/temp_dir.h"
#include "dr-orchestrator/journal.h"

namespace ferry::dr {
namespace {

namespace fs = std::filesystem;

class JournalTest : public ::testing::Test {
 protected:
  std::string text() {
    std::ifstream in(dir_ / "journal.jsonl");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void write(const std::string& t) { std::ofstream(dir_ / "journal.jsonl", std::ios::trunc) << t; }
  ferry::testing::TempDir tmp_{"dr_journal"};
  const fs::path& dir_ = tmp_.path;
};

OpSpec failover() { return OpSpec{"failover", "east", "west", "planned", {{"max_data_loss", 0}}}; }

TEST_F(JournalTest, RecordsAndReadsBackAnOperation) {
  std::string op;
  {
    Journal j = Journal::open(dir_, "ferry-dr failover --to west");
    op = j.begin_op(failover());
    j.step_begin("fence", {{"region", "east"}});
    j.step_end("fence", {{"role", "standby"}});
    j.step_begin("drain");
    auto p = j.pending_op();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->op_id, op);
    EXPECT_TRUE(p->step("fence")->ended);
    EXPECT_TRUE(p->step("drain")->began);
    EXPECT_FALSE(p->step("drain")->ended);
  }
  // A new process (after a crash) sees the same pending op and can continue it.
  Journal j = Journal::open(dir_, "ferry-dr resume");
  auto p = j.pending_op();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->spec.to, "west");
  EXPECT_EQ(p->spec.extra["max_data_loss"], 0);
  EXPECT_EQ(p->step("fence")->end_data["role"], "standby");
  EXPECT_THROW(j.begin_op(failover()), DrError);  // one operation at a time
  j.resume_op(op);
  j.step_begin("drain");
  j.step_failed("drain", "lag did not reach 0", {{"lag", 3}});
  EXPECT_EQ(j.pending_op()->step("drain")->attempts, 2);
  EXPECT_TRUE(j.pending_op()->step("drain")->failed);
  j.end_op("failed", {{"reason", "drain"}});
  EXPECT_FALSE(j.pending_op());
  ASSERT_EQ(j.history().size(), 1u);
  EXPECT_EQ(*j.history()[0].outcome, "failed");
  EXPECT_EQ(read_journal(dir_ / "journal.jsonl").last_seq, 7);
}

TEST_F(JournalTest, TornFinalLineIsDroppedAndTheStepRunsAgain) {
  {
    Journal j = Journal::open(dir_, "t");
    j.begin_op(failover());
    j.step_begin("fence");
  }
  const std::string good = text();
  write(good + R"({"seq":3,"op_id":"x","ts_ms":1,"eve)");
  auto c = read_journal(dir_ / "journal.jsonl");
  EXPECT_GT(c.torn_tail_bytes, 0u);
  EXPECT_EQ(c.last_seq, 2);
  Journal j = Journal::open(dir_, "t");
  EXPECT_EQ(text(), good);  // truncated back to the last whole line
  j.resume_op(j.pending_op()->op_id);
  j.step_end("fence");  // appends cleanly after the truncation
  EXPECT_EQ(read_journal(dir_ / "journal.jsonl").last_seq, 3);
}

TEST_F(JournalTest, CorruptMiddleLineIsRefusedWithItsLineNumber) {
  {
    Journal j = Journal::open(dir_, "t");
    j.begin_op(failover());
    j.step_begin("fence");
    j.step_end("fence");
  }
  std::string t = text();
  const size_t second = t.find('\n') + 1;
  t.replace(second, 1, "#");
  write(t);
  try {
    Journal::open(dir_, "t");
    FAIL();
  } catch (const CorruptJournal& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.code(), Exit::corrupt_journal);
    EXPECT_NE(std::string(e.what()).find("journal.jsonl line 2"), std::string::npos) << e.what();
  }
}

TEST_F(JournalTest, OutOfSequenceLineIsRefused) {
  write(R"({"seq":1,"op_id":"a","ts_ms":1,"event":"op_begin","op":{"kind":"failover","from":"e","to":"w","mode":"planned"}})"
        "\n"
        R"({"seq":3,"op_id":"a","ts_ms":2,"event":"step_begin","step":"fence"})"
        "\n");
  try {
    read_journal(dir_ / "journal.jsonl");
    FAIL();
  } catch (const CorruptJournal& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_NE(std::string(e.what()).find("seq 3 out of sequence"), std::string::npos) << e.what();
  }
}

TEST_F(JournalTest, SecondOpenIsRefusedNamingTheHolder) {
  Journal first = Journal::open(dir_, "ferry-dr failover --to west");
  try {
    Journal::open(dir_, "ferry-dr failover --to east");
    FAIL();
  } catch (const LockHeld& e) {
    EXPECT_EQ(e.code(), Exit::lock_held);
    EXPECT_EQ(e.holder().pid, ::getpid());
    EXPECT_EQ(e.holder().command, "ferry-dr failover --to west");
    EXPECT_NE(std::string(e.what()).find("failover --to west"), std::string::npos);
  }
  ASSERT_TRUE(lock_holder(dir_));
  EXPECT_EQ(lock_holder(dir_)->pid, ::getpid());
}

TEST_F(JournalTest, LockHeldByAnotherProcessIsRefusedAndReleasedOnExit) {
  int ready[2], go[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Journal j = Journal::open(dir_, "child op");
    char c = 'r';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(go[0], &c, 1);  // hold the lock until the parent says so
    ::_exit(0);
  }
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  try {
    Journal::open(dir_, "parent");
    ADD_FAILURE() << "lock not held";
  } catch (const LockHeld& e) {
    EXPECT_EQ(e.holder().pid, child);
    EXPECT_EQ(e.holder().command, "child op");
  }
  c = 'g';
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_FALSE(lock_holder(dir_));
  EXPECT_NO_THROW(Journal::open(dir_, "parent"));
  for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
}

TEST_F(JournalTest, StateFileRoundTripAndCorruption) {
  EXPECT_FALSE(read_state(dir_));
  write_state(dir_, DrState{"west", 1234, "op-1"});
  auto s = read_state(dir_);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->primary, "west");
  EXPECT_EQ(s->op_id, "op-1");
  EXPECT_FALSE(fs::exists(dir_ / "state.json.tmp"));
  std::ofstream(dir_ / "state.json", std::ios::trunc) << "{\"primary\": 3}";
  EXPECT_THROW(read_state(dir_), DrError);
}

}  // namespace
}  // namespace ferry::dr
