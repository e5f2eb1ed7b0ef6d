// ferry-admin: administers any Kafka-compatible cluster through librdkafka's Admin API.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "admin/commands.h"
#include "admin/session.h"

namespace {

std::vector<ferry::admin::Command> all_commands() {
  using namespace ferry::admin;
  std::vector<Command> out;
  for (auto family : {topic_commands, reassign_commands, config_commands, group_commands, group_offset_commands,
                      acl_commands, user_commands, cluster_commands, audit_commands}) {
    auto c = family();
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ferry::admin;
  std::vector<std::string> args(argv + 1, argv + argc);
  const std::vector<Command> commands = all_commands();
  try {
    ParseResult r = parse_command_line(commands, args);
    if (r.help) {
      std::fputs(r.help->c_str(), stdout);
      return 0;
    }
    if (r.command->offline_handler) return r.command->offline_handler(r.args);
    Session session(r.args);
    return r.command->handler(session, r.args);
  } catch (const UsageError& e) {
    std::string where = e.command().empty() ? "" : " " + e.command();
    std::fprintf(stderr, "ferry-admin: error: %s\nRun 'ferry-admin%s --help' for usage.\n",
                 e.what(), where.c_str());
    return kExitUsage;
  } catch (const OpError& e) {
    std::fprintf(stderr, "ferry-admin: %s: %s\n", e.code().c_str(), e.what());
    return kExitFailed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry-admin: internal error: %s\n", e.what());
    return kExitFailed;
  }
}
