// SCRAM credential administration (KIP-554) and the SASL APIs' answer outside a SASL exchange.
// Rules from Kafka's ScramControlManager / ControllerApis: one result per user; a user named in
// more than one alteration is DUPLICATE_RESOURCE; iterations outside 4096–16384 or an empty salt or
// salted password UNACCEPTABLE_CREDENTIAL; an unknown mechanism UNSUPPORTED_SASL_MECHANISM;
// deleting a credential that does not exist RESOURCE_NOT_FOUND.

#include <fmt/format.h>

#include <map>
#include <set>

#include "broker/metadata/metadata_store.h"
#include "broker/server/handlers.h"

namespace ferry::broker {
namespace asio = boost::asio;
using namespace ferry::protocol;
using security::Operation;
using security::ResourceType;

namespace {

struct UserOutcome {
  ErrorCode code = ErrorCode::NONE;
  std::string message;
};

// Checks one upsertion; nullopt when acceptable.
std::optional<UserOutcome> check_upsertion(const AlterUserScramCredentialsRequest::Upsertion& u) {
  if (u.name.empty()) return UserOutcome{ErrorCode::UNACCEPTABLE_CREDENTIAL, "Username must not be empty"};
  auto m = static_cast<security::ScramMechanism>(u.mechanism);
  if (u.mechanism != 1 && u.mechanism != 2)
    return UserOutcome{ErrorCode::UNSUPPORTED_SASL_MECHANISM, fmt::format("Unknown SCRAM mechanism {}", u.mechanism)};
  if (u.iterations < security::kScramMinIterations)
    return UserOutcome{ErrorCode::UNACCEPTABLE_CREDENTIAL,
                       fmt::format("Too few iterations ({} < {})", u.iterations, security::kScramMinIterations)};
  if (u.iterations > security::kScramMaxIterations)
    return UserOutcome{ErrorCode::UNACCEPTABLE_CREDENTIAL,
                       fmt::format("Too many iterations ({} > {})", u.iterations, security::kScramMaxIterations)};
  if (u.salt.empty()) return UserOutcome{ErrorCode::UNACCEPTABLE_CREDENTIAL, "Salt must not be empty"};
  if (u.salted_password.size() != security::scram_hash_size(m))
    return UserOutcome{ErrorCode::UNACCEPTABLE_CREDENTIAL,
                       fmt::format("Salted password must be {} bytes for {}", security::scram_hash_size(m),
                                   security::scram_mechanism_name(m))};
  return std::nullopt;
}

}  // namespace

asio::awaitable<SaslHandshakeResponse> Handlers::handle(SaslHandshakeRequest&, RequestContext&) {
  SaslHandshakeResponse resp;
  resp.error_code = ErrorCode::ILLEGAL_SASL_STATE;
  co_return resp;
}

asio::awaitable<SaslAuthenticateResponse> Handlers::handle(SaslAuthenticateRequest&, RequestContext& ctx) {
  SaslAuthenticateResponse resp;
  resp.error_code = ErrorCode::ILLEGAL_SASL_STATE;
  resp.error_message = ctx.listener != nullptr && ctx.listener->sasl()
                           ? "SaslAuthenticate without a SaslHandshake first"
                           : fmt::format("listener {} does not use SASL", ctx.identity.listener);
  co_return resp;
}

asio::awaitable<DescribeUserScramCredentialsResponse> Handlers::handle(DescribeUserScramCredentialsRequest& req,
                                                                       RequestContext& ctx) {
  DescribeUserScramCredentialsResponse resp;
  if (!allowed(ctx, Operation::Describe, ResourceType::Cluster, security::kClusterResourceName)) {
    resp.error_code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
    resp.error_message = "not authorized to describe SCRAM credentials (DESCRIBE on the cluster)";
    co_return resp;
  }
  const auto all = s_.metadata.scram_credentials();
  auto describe = [](const std::string& user, const std::vector<security::ScramCredential>& creds) {
    DescribeUserScramCredentialsResponse::Result r;
    r.user = user;
    for (const auto& c : creds) r.credential_infos.push_back({static_cast<int8_t>(c.mechanism), c.iterations});
    return r;
  };
  if (!req.users || req.users->empty()) {
    for (const auto& [user, creds] : all) resp.results.push_back(describe(user, creds));
    co_return resp;
  }
  std::map<std::string, int> asked;
  for (const auto& u : *req.users) asked[u.name]++;
  for (const auto& [user, times] : asked) {
    DescribeUserScramCredentialsResponse::Result r;
    r.user = user;
    if (times > 1) {
      r.error_code = ErrorCode::DUPLICATE_RESOURCE;
      r.error_message = "Cannot describe SCRAM credentials for the same user twice in a single request";
    } else if (auto it = all.find(user); it == all.end()) {
      r.error_code = ErrorCode::RESOURCE_NOT_FOUND;
      r.error_message = "Attempt to describe a user credential that does not exist";
    } else {
      r = describe(user, it->second);
    }
    resp.results.push_back(std::move(r));
  }
  co_return resp;
}

asio::awaitable<AlterUserScramCredentialsResponse> Handlers::handle(AlterUserScramCredentialsRequest& req,
                                                                    RequestContext& ctx) {
  AlterUserScramCredentialsResponse resp;
  // Every user named, in order of first appearance, with how often.
  std::vector<std::string> order;
  std::map<std::string, int> times;
  for (const auto& d : req.deletions)
    if (times[d.name]++ == 0) order.push_back(d.name);
  for (const auto& u : req.upsertions)
    if (times[u.name]++ == 0) order.push_back(u.name);
  std::map<std::string, UserOutcome> outcome;
  if (!allowed(ctx, Operation::Alter, ResourceType::Cluster, security::kClusterResourceName)) {
    for (const auto& user : order) resp.results.push_back({user, ErrorCode::CLUSTER_AUTHORIZATION_FAILED,
                                                           "not authorized to alter SCRAM credentials"});
    co_return resp;
  }
  std::vector<std::pair<std::string, security::ScramCredential>> upserts;
  std::vector<std::pair<std::string, security::ScramMechanism>> deletes;
  for (const auto& [user, n] : times)
    if (n > 1) outcome[user] = {ErrorCode::DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request"};
  for (const auto& d : req.deletions) {
    if (outcome.count(d.name)) continue;
    if (d.name.empty()) {
      outcome[d.name] = {ErrorCode::UNACCEPTABLE_CREDENTIAL, "Username must not be empty"};
    } else if (d.mechanism != 1 && d.mechanism != 2) {
      outcome[d.name] = {ErrorCode::UNSUPPORTED_SASL_MECHANISM, fmt::format("Unknown SCRAM mechanism {}", d.mechanism)};
    } else if (!s_.metadata.scram_credential(d.name, static_cast<security::ScramMechanism>(d.mechanism))) {
      outcome[d.name] = {ErrorCode::RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist"};
    } else {
      deletes.emplace_back(d.name, static_cast<security::ScramMechanism>(d.mechanism));
    }
  }
  for (const auto& u : req.upsertions) {
    if (outcome.count(u.name)) continue;
    if (auto bad = check_upsertion(u)) {
      outcome[u.name] = *bad;
      continue;
    }
    const std::string salt(u.salt.begin(), u.salt.end());
    const std::string salted(u.salted_password.begin(), u.salted_password.end());
    upserts.emplace_back(u.name, security::scram_credential_from_salted_password(
                                     static_cast<security::ScramMechanism>(u.mechanism), salt, salted, u.iterations));
  }
  if (!upserts.empty() || !deletes.empty()) {
    try {
      s_.metadata.alter_scram_credentials(upserts, deletes);
    } catch (const std::exception& e) {
      for (const auto& [user, c] : upserts) outcome[user] = {ErrorCode::KAFKA_STORAGE_ERROR, e.what()};
      for (const auto& [user, m] : deletes) outcome[user] = {ErrorCode::KAFKA_STORAGE_ERROR, e.what()};
    }
  }
  for (const auto& user : order) {
    auto it = outcome.find(user);
    if (it == outcome.end())
      resp.results.push_back({user, ErrorCode::NONE, std::nullopt});
    else
      resp.results.push_back({user, it->second.code, it->second.message});
  }
  co_return resp;
}

}  // namespace ferry::broker
