// acls list | add | remove — DescribeAcls, CreateAcls, DeleteAcls (KIP-11, KIP-290) with
// kafka-acls.sh's flags: --allow-principal / --deny-principal, --operation, --topic / --group /
// --cluster / --transactional-id, --resource-pattern-type, --allow-host / --deny-host.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "admin/commands.h"
#include "admin/session.h"

namespace ferry::admin {
namespace {

using client::AclBinding;

constexpr int kAny = 1;
constexpr int kTopic = 2, kGroup = 3, kCluster = 4, kTransactionalId = 5;
constexpr int kAnyPattern = 1, kMatch = 2, kLiteral = 3, kPrefixed = 4;
constexpr int kDeny = 2, kAllow = 3;

// Kafka's AclOperation names and codes (kafka-acls.sh takes them case-insensitively).
constexpr std::array<std::pair<std::string_view, int>, 13> kOperations{{{"All", 2},
                                                                        {"Read", 3},
                                                                        {"Write", 4},
                                                                        {"Create", 5},
                                                                        {"Delete", 6},
                                                                        {"Alter", 7},
                                                                        {"Describe", 8},
                                                                        {"ClusterAction", 9},
                                                                        {"DescribeConfigs", 10},
                                                                        {"AlterConfigs", 11},
                                                                        {"IdempotentWrite", 12},
                                                                        {"CreateTokens", 13},
                                                                        {"DescribeTokens", 14}}};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string operation_name(int code) {
  for (auto [name, c] : kOperations)
    if (c == code) return std::string(name);
  return fmt::format("Unknown({})", code);
}

const char* resource_type_name(int t) {
  switch (t) {
    case kTopic: return "Topic";
    case kGroup: return "Group";
    case kCluster: return "Cluster";
    case kTransactionalId: return "TransactionalId";
    default: return "Unknown";
  }
}

const char* pattern_name(int p) {
  switch (p) {
    case kLiteral: return "LITERAL";
    case kPrefixed: return "PREFIXED";
    case kMatch: return "MATCH";
    default: return "ANY";
  }
}

std::vector<int> operations(const ParsedArgs& args, bool required) {
  std::vector<int> out;
  for (const auto& text : args.all("--operation")) {
    auto it = std::find_if(kOperations.begin(), kOperations.end(), [&](auto& op) { return lower(op.first) == lower(text); });
    if (it == kOperations.end())
      throw UsageError(args.command(), fmt::format("--operation has value '{}'; expected one of All, Read, Write, Create, "
                                                   "Delete, Alter, Describe, ClusterAction, DescribeConfigs, "
                                                   "AlterConfigs, IdempotentWrite",
                                                   text));
    out.push_back(it->second);
  }
  if (out.empty() && required) throw UsageError(args.command(), "--operation is required");
  return out;
}

// The resources the command names: (type, name).
std::vector<std::pair<int, std::string>> resources(const ParsedArgs& args) {
  std::vector<std::pair<int, std::string>> out;
  for (const auto& t : args.all("--topic")) out.emplace_back(kTopic, t);
  for (const auto& g : args.all("--group")) out.emplace_back(kGroup, g);
  for (const auto& x : args.all("--transactional-id")) out.emplace_back(kTransactionalId, x);
  if (args.has("--cluster")) out.emplace_back(kCluster, "kafka-cluster");
  return out;
}

int pattern_type(const ParsedArgs& args, bool filter) {
  auto text = lower(args.get("--resource-pattern-type").value_or(filter ? "any" : "literal"));
  if (text == "literal") return kLiteral;
  if (text == "prefixed") return kPrefixed;
  if (filter && text == "any") return kAnyPattern;
  if (filter && text == "match") return kMatch;
  throw UsageError(args.command(), fmt::format("--resource-pattern-type has value '{}'; expected {}", text,
                                               filter ? "any, match, literal or prefixed" : "literal or prefixed"));
}

// (principal, host, permission) triples from --allow-principal/--allow-host and the deny pair.
std::vector<std::tuple<std::string, std::string, int>> principals(const ParsedArgs& args) {
  std::vector<std::tuple<std::string, std::string, int>> out;
  auto add = [&](std::string_view principal_opt, std::string_view host_opt, int permission) {
    auto hosts = args.all(host_opt);
    if (hosts.empty()) hosts.push_back("*");
    for (const auto& p : args.all(principal_opt)) {
      if (p.find(':') == std::string::npos)
        throw UsageError(args.command(),
                         fmt::format("{} has value '{}'; expected Type:name, e.g. User:alice", principal_opt, p));
      for (const auto& h : hosts) out.emplace_back(p, h, permission);
    }
  };
  add("--allow-principal", "--allow-host", kAllow);
  add("--deny-principal", "--deny-host", kDeny);
  return out;
}

Json to_json(const AclBinding& b) {
  return Json::object()
      .set("resource_type", resource_type_name(b.resource_type))
      .set("resource_name", b.resource_name)
      .set("pattern_type", pattern_name(b.pattern_type))
      .set("principal", b.principal)
      .set("host", b.host)
      .set("operation", operation_name(b.operation))
      .set("permission", b.permission == kAllow ? "ALLOW" : "DENY");
}

void print_bindings(Session& s, const std::string& key, const std::vector<AclBinding>& bindings) {
  Json list = Json::array();
  Table table({"RESOURCE_TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"});
  auto sorted = bindings;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& b : sorted) {
    list.push(to_json(b));
    table.add({resource_type_name(b.resource_type), b.resource_name, pattern_name(b.pattern_type), b.principal, b.host,
               operation_name(b.operation), b.permission == kAllow ? "ALLOW" : "DENY"});
  }
  s.print(Json::object().set(key, std::move(list)), table.empty() ? "(no ACLs)\n" : table.render());
}

std::chrono::milliseconds timeout(Session& s) { return std::chrono::milliseconds(s.timeout_ms()); }

int acls_list(Session& s, const ParsedArgs& args) {
  auto res = resources(args);
  if (res.empty()) res.emplace_back(kAny, "");
  const int pattern = pattern_type(args, true);
  const auto principal = args.get("--principal").value_or("");
  std::vector<AclBinding> found;
  try {
    for (const auto& [type, name] : res) {
      AclBinding filter{type, name, type == kAny ? kAnyPattern : pattern, principal, "", kAny, kAny};
      auto got = client::describe_acls(s.handle(), timeout(s), client::kAdminGrace, filter);
      found.insert(found.end(), got.begin(), got.end());
    }
  } catch (const client::KafkaError& e) {
    s.rethrow(e);
  }
  print_bindings(s, "acls", found);
  return 0;
}

int acls_add(Session& s, const ParsedArgs& args) {
  auto res = resources(args);
  if (res.empty()) throw UsageError(args.command(), "name a resource: --topic, --group, --transactional-id or --cluster");
  auto who = principals(args);
  if (who.empty()) throw UsageError(args.command(), "--allow-principal or --deny-principal is required");
  const int pattern = pattern_type(args, false);
  std::vector<AclBinding> bindings;
  for (const auto& [type, name] : res)
    for (const auto& [principal, host, permission] : who)
      for (int op : operations(args, true))
        bindings.push_back({type, name, type == kCluster ? kLiteral : pattern, principal, host, op, permission});
  try {
    client::create_acls(s.handle(), timeout(s), client::kAdminGrace, bindings);
  } catch (const client::KafkaError& e) {
    s.rethrow(e);
  }
  print_bindings(s, "added", bindings);
  return 0;
}

int acls_remove(Session& s, const ParsedArgs& args) {
  auto res = resources(args);
  if (res.empty()) throw UsageError(args.command(), "name a resource: --topic, --group, --transactional-id or --cluster");
  auto who = principals(args);
  auto ops = operations(args, false);
  const int pattern = pattern_type(args, false);
  // Without a principal or an operation, every ACL of the resource goes (as kafka-acls.sh --remove).
  if (who.empty()) who.emplace_back("", "", kAny);
  if (ops.empty()) ops.push_back(kAny);
  std::vector<AclBinding> removed;
  try {
    for (const auto& [type, name] : res)
      for (const auto& [principal, host, permission] : who)
        for (int op : ops) {
          auto got = client::delete_acls(s.handle(), timeout(s), client::kAdminGrace,
                                         {type, name, type == kCluster ? kLiteral : pattern, principal, host, op, permission});
          removed.insert(removed.end(), got.begin(), got.end());
        }
  } catch (const client::KafkaError& e) {
    s.rethrow(e);
  }
  print_bindings(s, "removed", removed);
  return 0;
}

}  // namespace

std::vector<Command> acl_commands() {
  const std::vector<OptionSpec> resource_opts = {
      {"--topic", "T", "a topic", false, true},
      {"--group", "G", "a consumer group", false, true},
      {"--transactional-id", "ID", "a transactional id", false, true},
      {"--cluster", "", "the cluster resource (kafka-cluster)"},
  };
  auto with = [&](std::vector<OptionSpec> extra) {
    std::vector<OptionSpec> out = resource_opts;
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  };
  const std::vector<OptionSpec> principal_opts = {
      {"--allow-principal", "P", "principal to allow, Type:name", false, true},
      {"--deny-principal", "P", "principal to deny, Type:name", false, true},
      {"--allow-host", "H", "IP address the allow applies to", false, true, "*"},
      {"--deny-host", "H", "IP address the deny applies to", false, true, "*"},
      {"--operation", "OP", "All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, "
                            "AlterConfigs, IdempotentWrite", false, true},
      {"--resource-pattern-type", "TYPE", "literal or prefixed", false, false, "literal"},
  };
  std::vector<OptionSpec> add_opts = with(principal_opts);
  return {
      {{"acls", "list"},
       "list ACLs (DescribeAcls)",
       "Without a resource every ACL is listed. --resource-pattern-type any (default) lists bindings of\n"
       "every pattern type; match lists the literal, wildcard and prefixed bindings that apply to the\n"
       "named resource. Needs DESCRIBE on the cluster.",
       with({{"--principal", "P", "only this principal's ACLs"},
             {"--resource-pattern-type", "TYPE", "any, match, literal or prefixed", false, false, "any"}}),
       &acls_list},
      {{"acls", "add"},
       "add ACLs (CreateAcls): every resource x principal x host x operation",
       "Needs ALTER on the cluster. Example:\n"
       "  ferry-admin acls add --allow-principal User:app --operation Write --operation Describe --topic orders",
       add_opts,
       &acls_add},
      {{"acls", "remove"},
       "remove ACLs (DeleteAcls)",
       "Without --allow/--deny-principal or --operation, every ACL of the named resources (with the given\n"
       "pattern type) is removed, as kafka-acls.sh --remove does. Needs ALTER on the cluster.",
       add_opts,
       &acls_remove},
  };
}

}  // namespace ferry::admin
