// parse_command_line: ferry-admin's command line as a user types it, against a small command
// table shaped like the real one (a two-word and a three-word command, flags, a repeatable and a
// required option). What main() prints is the UsageError's message; the exit status is 2.
#include "admin/cli.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include <string>
#include <vector>

#include "admin/reassign_plan.h"

namespace ferry::admin {
namespace {

int noop(Session&, const ParsedArgs&) { return 0; }

const std::vector<Command>& table() {
  static const std::vector<Command> commands = {
      {{"topics", "create"},
       "create a topic",
       "Details paragraph.",
       {{"--topic", "T", "topic name", true},
        {"--partitions", "N", "number of partitions", false, false, "the broker's"},
        {"--config", "k=v", "topic config override", false, true}},
       &noop},
      {{"topics", "list"}, "list the names of all topics", "", {}, &noop},
      {{"groups", "offsets", "reset"},
       "move a group's committed offsets",
       "",
       {{"--group", "G", "consumer group id", true},
        {"--shift-by", "N", "move by N"},
        {"--execute", "", "commit the new offsets"}},
       &noop},
      {{"audit", "verify"},
       "check audit logs",
       "",
       {{"FILE", "...", "files", true, true}, {"--anchor", "FILE", "anchor"}},
       nullptr,
       [](const ParsedArgs&) { return 0; }},
  };
  return commands;
}

ParseResult parse(std::vector<std::string> argv) { return parse_command_line(table(), argv); }

// The UsageError's message and command path, or "no error".
std::pair<std::string, std::string> usage_error(std::vector<std::string> argv) {
  try {
    parse(std::move(argv));
  } catch (const UsageError& e) {
    return {e.what(), e.command()};
  }
  return {"no error", ""};
}

TEST(AdminCli, GlobalOptionsBeforeOrAfterTheCommand) {
  ParseResult before = parse({"--bootstrap-server", "b:1", "--json", "topics", "list"});
  ASSERT_NE(before.command, nullptr);
  EXPECT_EQ(before.command->summary, "list the names of all topics");
  EXPECT_EQ(before.args.get("--bootstrap-server"), "b:1");
  EXPECT_TRUE(before.args.has("--json"));
  EXPECT_EQ(before.args.command(), "topics list");

  ParseResult after = parse({"topics", "list", "--bootstrap-server=b:2", "--timeout-ms", "5"});
  EXPECT_EQ(after.args.get("--bootstrap-server"), "b:2");
  EXPECT_EQ(after.args.get_int("--timeout-ms", 1, 10), 5);
  EXPECT_FALSE(after.args.has("--json"));
}

TEST(AdminCli, CommandOptionsBothSpellingsAndRepeatableInOrder) {
  ParseResult r = parse({"topics", "create", "--topic=t", "--config", "a=1", "--partitions", "3",
                         "--config=b=2"});
  EXPECT_EQ(r.args.require("--topic"), "t");
  EXPECT_EQ(r.args.get_int("--partitions", 1, 10), 3);
  EXPECT_EQ(r.args.all("--config"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_FALSE(r.args.has("--json"));
}

TEST(AdminCli, NegativeNumberIsAValueNotAnOption) {
  ParseResult r = parse({"groups", "offsets", "reset", "--group", "g", "--shift-by", "-1",
                         "--execute"});
  EXPECT_EQ(r.args.get_int("--shift-by", -10, 10), -1);
  EXPECT_TRUE(r.args.has("--execute"));
}

TEST(AdminCli, BadValueNamesOptionValueAndExpectation) {
  ParseResult r = parse({"topics", "create", "--topic", "t", "--partitions", "abc"});
  try {
    r.args.get_int("--partitions", 1, 10);
    FAIL() << "abc accepted";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--partitions: expected an integer, got 'abc'");
    EXPECT_EQ(e.command(), "topics create");
  }
  EXPECT_THROW(r.args.get_int("--topic", 1, 10), UsageError);
}

TEST(AdminCli, MistakesAreNamed) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(usage_error({"topicz", "list"}), P("unknown command 'topicz'", ""));
  EXPECT_EQ(usage_error({"topics", "lst"}), P("unknown command 'lst' after 'topics'", "topics"));
  EXPECT_EQ(usage_error({"topics", "list", "extra"}),
            P("unknown command 'extra' after 'topics list'", "topics list"));
  EXPECT_EQ(usage_error({}), P("no command given", ""));
  EXPECT_EQ(usage_error({"groups", "offsets"}),
            P("'groups offsets' needs a subcommand", "groups offsets"));
  EXPECT_EQ(usage_error({"topics", "list", "--frobnicate=1"}),
            P("unknown option --frobnicate", "topics list"));
  EXPECT_EQ(usage_error({"topics", "list", "--group", "g"}),
            P("option --group does not apply to 'topics list'", "topics list"));
  EXPECT_EQ(usage_error({"--partitions", "3", "topics", "create", "--topic", "t"}),
            P("option --partitions must come after 'topics create'", "topics create"));
}

TEST(AdminCli, MissingValuesAndRepeatsAreRefusedNamingTheOption) {
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {"topics", "create"},                                     // required option absent
           {"topics", "create", "--topic"},                          // no value
           {"topics", "create", "--topic="},                         // empty value
           {"topics", "create", "--topic", "a", "--topic", "b"}}) {  // not repeatable
    auto [message, command] = usage_error(argv);
    EXPECT_NE(message.find("--topic"), std::string::npos) << message;
    EXPECT_EQ(command, "topics create") << message;
  }
  EXPECT_EQ(usage_error({"topics", "list", "--json=false"}),
            (std::pair<std::string, std::string>("option --json takes no value", "topics list")));
  auto [message, command] = usage_error({"topics", "list", "--timeout-ms"});
  EXPECT_NE(message.find("--timeout-ms"), std::string::npos) << message;
  EXPECT_NE(message.find("N"), std::string::npos) << message << ": names the value it wanted";
}

TEST(AdminCli, HelpOfACommandListsEveryOptionWithDescriptionAndDefault) {
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {"topics", "create", "--help"}, {"--help", "topics", "create"},
           {"topics", "create", "-h", "--frobnicate"}}) {
    ParseResult r = parse(argv);
    ASSERT_TRUE(r.help) << argv[0];
    const std::string& h = *r.help;
    EXPECT_NE(h.find("Usage: ferry-admin [global options] topics create [options]"),
              std::string::npos) << h;
    EXPECT_NE(h.find("create a topic"), std::string::npos) << h;
    EXPECT_NE(h.find("Details paragraph."), std::string::npos) << h;
    EXPECT_NE(h.find("--topic T       topic name (required)"), std::string::npos) << h;
    EXPECT_NE(h.find("--partitions N  number of partitions (default: the broker's)"),
              std::string::npos) << h;
    EXPECT_NE(h.find("--config k=v    topic config override (repeatable)"), std::string::npos)
        << h;
    for (const auto& g : global_options()) {
      EXPECT_NE(h.find(std::string(g.name) + " " + std::string(g.metavar)), std::string::npos)
          << g.name << " in\n" << h;
      EXPECT_NE(h.find(g.help), std::string::npos) << g.help << " in\n" << h;
    }
    EXPECT_NE(h.find("(default: 30000)"), std::string::npos) << h;
    EXPECT_NE(h.find("-h,--help"), std::string::npos) << h;
    EXPECT_EQ(h.find("--group"), std::string::npos) << "another command's option in\n" << h;
  }
}

TEST(AdminCli, HelpOfAGroupListsTheCommandsUnderIt) {
  ParseResult r = parse({"groups", "--help"});
  ASSERT_TRUE(r.help);
  EXPECT_NE(r.help->find("groups offsets reset  move a group's committed offsets"),
            std::string::npos) << *r.help;
  EXPECT_EQ(r.help->find("topics create"), std::string::npos) << *r.help;
  EXPECT_NE(r.help->find("--bootstrap-server"), std::string::npos) << *r.help;

  r = parse({"-h"});
  ASSERT_TRUE(r.help);
  EXPECT_NE(r.help->find("topics create"), std::string::npos) << *r.help;
  EXPECT_NE(r.help->find("groups offsets reset"), std::string::npos) << *r.help;
  EXPECT_NE(r.help->find("Exit status: 0 success, 1 the operation failed, 2 bad command line."),
            std::string::npos) << *r.help;
}

// A positional FILE... takes every remaining word, with options before or after them.
TEST(Cli, RepeatablePositionalTakesEveryFile) {
  auto r = parse({"audit", "verify", "a.log.2", "a.log.1", "--anchor", "x.json", "a.log"});
  ASSERT_NE(r.command, nullptr);
  EXPECT_EQ(r.args.all("FILE"), (std::vector<std::string>{"a.log.2", "a.log.1", "a.log"}));
  EXPECT_EQ(r.args.get("--anchor"), "x.json");
  EXPECT_NE(r.command->offline_handler, nullptr);
  EXPECT_NE(usage_error({"audit", "verify"}).first.find("FILE is required"), std::string::npos);
}

// --- the reassignment file of `topics reassign` (Kafka's format, version 1) ---------------------

// The message parse_reassignment_json gives for `text`, without the "--reassignment-json-file F: "
// prefix (checked once below), or "no error".
std::string plan_error(const std::string& text) {
  try {
    parse_reassignment_json("topics reassign", "plan.json", text);
  } catch (const UsageError& e) {
    const std::string prefix = "--reassignment-json-file plan.json: ";
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(prefix, 0), 0u) << what;
    EXPECT_EQ(e.command(), "topics reassign");
    return what.substr(prefix.size());
  }
  return "no error";
}

TEST(ReassignmentFile, KafkasFormatInFileOrder) {
  const auto moves = parse_reassignment_json(
      "topics reassign", "plan.json",
      R"({"version":1,"partitions":[{"topic":"orders","partition":1,"replicas":[3,2],"log_dirs":["any","any"]},
          {"topic":"audit","partition":0,"replicas":[1],"comment":"ignored"},
          {"topic":"orders","partition":0,"replicas":[2,3,1]}]})");
  EXPECT_EQ(moves, (std::vector<PartitionMove>{{"orders", 1, {3, 2}}, {"audit", 0, {1}}, {"orders", 0, {2, 3, 1}}}));
  // "version" may be left out, as in Kafka's parser (it defaults to 1).
  EXPECT_EQ(parse_reassignment_json("topics reassign", "f",
                                    R"({"partitions":[{"topic":"t","partition":0,"replicas":[1]}]})"),
            (std::vector<PartitionMove>{{"t", 0, {1}}}));
}

TEST(ReassignmentFile, EachMistakeIsNamedWithTheEntryAndWhatWasExpected) {
  const std::string ok = R"("replicas":[1,2])";
  // nlohmann/json words the rest ("column 14: syntax error ..."); the position is what matters.
  EXPECT_EQ(plan_error("{\"version\":1,").rfind("not valid JSON: parse error at line 1, column ", 0), 0u);
  EXPECT_EQ(plan_error("[1]"), R"(expected a JSON object {"version":1,"partitions":[...]}, got [1])");
  EXPECT_EQ(plan_error(R"({"version":2,"partitions":[]})"),
            R"("version": expected 1 (the only version of the format), got 2)");
  EXPECT_EQ(plan_error(R"({"version":"1","partitions":[]})"),
            R"("version": expected 1 (the only version of the format), got "1")");
  EXPECT_EQ(plan_error(R"({"version":1})"),
            R"("partitions" is missing; expected an array of {"topic","partition","replicas"} entries)");
  EXPECT_EQ(plan_error(R"({"version":1,"partitions":{}})"), R"("partitions": expected an array, got {})");
  EXPECT_EQ(plan_error(R"({"version":1,"partitions":[]})"),
            R"("partitions" is empty; list at least one partition to reassign)");
  EXPECT_EQ(plan_error(R"({"version":1,"partitions":["t-0"]})"),
            R"(partitions[0]: expected an object with "topic", "partition" and "replicas", got "t-0")");
  EXPECT_EQ(plan_error(R"({"version":1,"partitions":[{"partition":0,)" + ok + "}]}"),
            R"(partitions[0]: "topic" is missing; expected a non-empty string)");
  EXPECT_EQ(plan_error(R"({"version":1,"partitions":[{"topic":"","partition":0,)" + ok + "}]}"),
            R"(partitions[0]: "topic": expected a non-empty string, got "")");
  EXPECT_EQ(plan_error(R"({"version":1,"partitions":[{"topic":"t",)" + ok + "}]}"),
            R"(partitions[0] (topic 't'): "partition" is missing; expected an integer 0..2147483647)");
  for (const std::string bad : {"-1", "1.5", "\"0\"", "2147483648"}) {
    EXPECT_EQ(plan_error(R"({"version":1,"partitions":[{"topic":"t","partition":)" + bad + "," + ok + "}]}"),
              R"(partitions[0] (topic 't'): "partition": expected an integer 0..2147483647, got )" + bad);
  }
  const std::string t0 = R"({"version":1,"partitions":[{"topic":"t","partition":0},{"topic":"u","partition":7)";
  EXPECT_EQ(plan_error(t0 + "}]}"),  // the first entry is the one reported
            R"(partitions[0] (t-0): "replicas" is missing; expected a non-empty array of broker ids)");
  const std::string u7 =
      R"({"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"u","partition":7)";
  EXPECT_EQ(plan_error(u7 + R"(,"replicas":[]}]})"),
            R"(partitions[1] (u-7): "replicas": expected a non-empty array of broker ids, got [])");
  EXPECT_EQ(plan_error(u7 + R"(,"replicas":3}]})"),
            R"(partitions[1] (u-7): "replicas": expected a non-empty array of broker ids, got 3)");
  EXPECT_EQ(plan_error(u7 + R"(,"replicas":[1,-2]}]})"),
            R"(partitions[1] (u-7): "replicas"[1]: expected a broker id 0..2147483647, got -2)");
  EXPECT_EQ(plan_error(u7 + R"(,"replicas":[1,"2"]}]})"),
            R"(partitions[1] (u-7): "replicas"[1]: expected a broker id 0..2147483647, got "2")");
  EXPECT_EQ(plan_error(u7 + R"(,"replicas":[2,1,2]}]})"), R"(partitions[1] (u-7): "replicas" names broker 2 twice)");
  EXPECT_EQ(plan_error(u7 + R"(,"replicas":[1,2],"log_dirs":["/data","any"]}]})"),
            R"(partitions[1] (u-7): "log_dirs": expected "any" for each of the 2 replicas (Ferry does not place )"
            R"(replicas on log directories), got ["/data","any"])");
  EXPECT_EQ(plan_error(u7 + R"(,"replicas":[1,2],"log_dirs":["any"]}]})"),
            R"(partitions[1] (u-7): "log_dirs": expected "any" for each of the 2 replicas (Ferry does not place )"
            R"(replicas on log directories), got ["any"])");
  EXPECT_EQ(plan_error(u7 + R"(,"replicas":[2]},{"topic":"t","partition":0,"replicas":[3]}]})"),
            R"(partitions[2] (t-0): the partition is already listed at partitions[0])");
}

TEST(ReassignmentFile, ReadFromDiskAndWrittenBackInTheSameFormat) {
  const std::string path = ::testing::TempDir() + "ferry-admin-plan-test.json";
  const std::vector<PartitionMove> moves{{"orders", 0, {3, 2}}, {"a\"b", 2, {1}}};
  {
    std::ofstream out(path);
    out << reassignment_json(moves);
  }
  EXPECT_EQ(reassignment_json(moves),
            R"({"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[3,2]},)"
            R"({"topic":"a\"b","partition":2,"replicas":[1]}]})");
  EXPECT_EQ(read_reassignment_file("topics reassign", path), moves);
  std::remove(path.c_str());
  try {
    read_reassignment_file("topics reassign", path);
    FAIL() << "a missing file was read";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "--reassignment-json-file: cannot read '" + path + "'");
  }
}

}  // namespace
}  // namespace ferry::admin
