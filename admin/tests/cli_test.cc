// parse_command_line: ferry-admin's command line as a user types it, against a small command
// table shaped like the real one (a two-word and a three-word command, flags, a repeatable and a
// required option). What main() prints is the UsageError's message; the exit status is 2.
#include "admin/cli.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

}  // namespace
}  // namespace ferry::admin
