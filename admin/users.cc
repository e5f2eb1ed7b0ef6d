// users describe | set | delete: SCRAM credentials through DescribeUserScramCredentials (50) and
// AlterUserScramCredentials (51) (KIP-554), which librdkafka 2.0.2 lacks, on client/wire_client
// with the invocation's client properties. As kafka-configs.sh --alter --add-config
// 'SCRAM-SHA-512=[password=...]' does, the client derives SaltedPassword from a random salt; the
// password itself never crosses the wire, and it is read from stdin or --password-file, never
// from the command line.
#include <openssl/rand.h>

#include <fstream>
#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include "admin/commands.h"
#include "admin/session.h"
#include "broker/protocol/messages/sasl.h"
#include "client/wire_client.h"
#include "security/scram.h"

namespace ferry::admin {
namespace {

namespace proto = ferry::protocol;
using security::ScramMechanism;

ScramMechanism mechanism_of(const ParsedArgs& a) {
  const std::string m = a.require("--mechanism");
  auto mech = security::scram_mechanism_from_name(m);
  if (!mech) throw UsageError(a.command(), fmt::format("--mechanism: '{}' is not SCRAM-SHA-256 or SCRAM-SHA-512", m));
  return *mech;
}

std::string mechanism_name(int8_t code) {
  if (code == 1 || code == 2) return security::scram_mechanism_name(static_cast<ScramMechanism>(code));
  return fmt::format("UNKNOWN({})", code);
}

int users_describe(Session& s, const ParsedArgs& a) {
  proto::DescribeUserScramCredentialsRequest req;
  const auto names = a.all("NAME");
  if (!names.empty()) {
    req.users.emplace();
    for (const auto& n : names) req.users->push_back({n});
  }
  proto::DescribeUserScramCredentialsResponse resp;
  on_cluster(s, [&](client::WireConnection& c) { resp = c.call(req, version_or_throw<decltype(req)>(c, "KIP-554")); });
  if (resp.error_code != proto::ErrorCode::NONE)
    throw OpError(proto::error_name(resp.error_code),
                  fmt::format("DescribeUserScramCredentials: {}", resp.error_message.value_or(proto::error_name(resp.error_code))));
  Json users = Json::array();
  Table table({"USER", "MECHANISM", "ITERATIONS"});
  std::string failed;
  for (const auto& r : resp.results) {
    if (r.error_code != proto::ErrorCode::NONE) {
      failed += fmt::format("{}user '{}': {}: {}", failed.empty() ? "" : "; ", r.user, proto::error_name(r.error_code),
                            r.error_message.value_or("(no message)"));
      continue;
    }
    Json creds = Json::array();
    for (const auto& c : r.credential_infos) {
      creds.push(Json::object().set("mechanism", mechanism_name(c.mechanism)).set("iterations", Json(int64_t{c.iterations})));
      table.add({r.user, mechanism_name(c.mechanism), std::to_string(c.iterations)});
    }
    users.push(Json::object().set("user", r.user).set("credentials", std::move(creds)));
  }
  if (!failed.empty()) throw OpError("RESOURCE_NOT_FOUND", failed);
  s.print(Json::object().set("users", std::move(users)), table.empty() ? "no SCRAM credentials\n" : table.render());
  return 0;
}

// The password: --password-file's contents or stdin, one trailing newline stripped.
std::string read_password(const ParsedArgs& a) {
  std::string pw;
  if (auto f = a.get("--password-file")) {
    std::ifstream in(*f, std::ios::binary);
    if (!in) throw UsageError(a.command(), fmt::format("--password-file: cannot read '{}'", *f));
    pw.assign(std::istreambuf_iterator<char>(in), {});
  } else {
    pw.assign(std::istreambuf_iterator<char>(std::cin), {});
  }
  if (!pw.empty() && pw.back() == '\n') pw.pop_back();
  if (!pw.empty() && pw.back() == '\r') pw.pop_back();
  if (pw.empty())
    throw UsageError(a.command(), "empty password (give it on stdin or in --password-file)");
  return pw;
}

void check_alter(const proto::AlterUserScramCredentialsResponse& resp, const std::string& what) {
  for (const auto& r : resp.results)
    if (r.error_code != proto::ErrorCode::NONE)
      throw OpError(proto::error_name(r.error_code), fmt::format("{} of user '{}': {}", what, r.user,
                                                                 r.error_message.value_or(proto::error_name(r.error_code))));
}

int users_set(Session& s, const ParsedArgs& a) {
  const std::string user = a.require("NAME");
  const ScramMechanism mech = mechanism_of(a);
  const int32_t iterations = static_cast<int32_t>(
      a.get_int("--iterations", security::kScramMinIterations, security::kScramMaxIterations)
          .value_or(security::kScramDefaultIterations));
  std::string password = read_password(a);
  std::string salt(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) != 1)
    throw OpError("_FAIL", "OpenSSL RAND_bytes failed to make a salt");
  const std::string salted = security::scram_salted_password(mech, password, salt, iterations);
  std::fill(password.begin(), password.end(), '\0');
  proto::AlterUserScramCredentialsRequest req;
  req.upsertions.push_back({user, static_cast<int8_t>(mech), iterations, proto::Bytes(salt.begin(), salt.end()),
                            proto::Bytes(salted.begin(), salted.end())});
  proto::AlterUserScramCredentialsResponse resp;
  on_cluster(s, [&](client::WireConnection& c) { resp = c.call(req, version_or_throw<decltype(req)>(c, "KIP-554")); });
  check_alter(resp, "setting the credential");
  s.print(Json::object().set("user", user).set("mechanism", security::scram_mechanism_name(mech))
              .set("iterations", Json(int64_t{iterations})).set("result", "set"),
          fmt::format("user '{}': {} credential set ({} iterations)\n", user, security::scram_mechanism_name(mech),
                      iterations));
  return 0;
}

int users_delete(Session& s, const ParsedArgs& a) {
  const std::string user = a.require("NAME");
  const ScramMechanism mech = mechanism_of(a);
  proto::AlterUserScramCredentialsRequest req;
  req.deletions.push_back({user, static_cast<int8_t>(mech)});
  proto::AlterUserScramCredentialsResponse resp;
  on_cluster(s, [&](client::WireConnection& c) { resp = c.call(req, version_or_throw<decltype(req)>(c, "KIP-554")); });
  check_alter(resp, "deleting the credential");
  s.print(Json::object().set("user", user).set("mechanism", security::scram_mechanism_name(mech)).set("result", "deleted"),
          fmt::format("user '{}': {} credential deleted\n", user, security::scram_mechanism_name(mech)));
  return 0;
}

}  // namespace

std::vector<Command> user_commands() {
  const OptionSpec mech{"--mechanism", "SCRAM-SHA-256|SCRAM-SHA-512", "the SCRAM mechanism", true};
  return {
      {{"users", "describe"},
       "show users' SCRAM credentials: mechanism and iterations (DescribeUserScramCredentials)",
       "Without NAME every user with a credential is listed. Only mechanism and iteration count\n"
       "exist on the wire (KIP-554); salts and keys are never returned.",
       {{"NAME", "...", "user names", false, true}},
       &users_describe},
      {{"users", "set"},
       "create or replace a user's SCRAM credential (AlterUserScramCredentials)",
       "The password is read from --password-file or, without it, from stdin (one trailing newline\n"
       "is stripped); it is never taken on the command line. ferry-admin derives SaltedPassword\n"
       "from a random 32-byte salt and sends only that (KIP-554): the password never crosses the wire.",
       {{"NAME", "NAME", "user name", true},
        mech,
        {"--iterations", "N", "PBKDF2 iterations (4096..16384)", false, false, "4096"},
        {"--password-file", "FILE", "file holding the password (else stdin)"}},
       &users_set},
      {{"users", "delete"},
       "delete a user's SCRAM credential for one mechanism (AlterUserScramCredentials)",
       "",
       {{"NAME", "NAME", "user name", true}, mech},
       &users_delete},
  };
}

}  // namespace ferry::admin
