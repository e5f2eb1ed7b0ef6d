// ACL handlers: DescribeAcls (29), CreateAcls (30), DeleteAcls (31), as Kafka's AclApis answers
// them: the cluster check first (DESCRIBE for DescribeAcls, ALTER for Create/Delete; refused with
// CLUSTER_AUTHORIZATION_FAILED on the whole request / every item), SECURITY_DISABLED when no ACL
// authorizer runs (authorizer = allow-all), then per-binding / per-filter validation
// (INVALID_REQUEST). Changes are stored durably in the MetadataStore first and then applied to
// the AclAuthorizer, so the next decision sees them and a restart keeps them.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <mutex>

#include "broker/metadata/metadata_store.h"
#include "broker/server/handlers.h"

namespace ferry::broker {
namespace asio = boost::asio;
using namespace ferry::protocol;
using security::Operation;
using security::ResourceType;

namespace {

// One writer at a time, so the store and the authorizer apply ACL changes in the same order.
std::mutex acl_change_mu;

constexpr const char* kNoAuthorizer = "No Authorizer is configured on the broker (authorizer = allow-all)";

template <class Filter>
security::AclBindingFilter to_filter(const Filter& f) {
  return {f.resource_type_filter, f.resource_name_filter, f.pattern_type_filter, f.principal_filter,
          f.host_filter,          f.operation,            f.permission_type};
}

}  // namespace

asio::awaitable<DescribeAclsResponse> Handlers::handle(DescribeAclsRequest& req, RequestContext& ctx) {
  DescribeAclsResponse resp;
  if (!allowed(ctx, Operation::Describe, ResourceType::Cluster, security::kClusterResourceName)) {
    resp.error_code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
    resp.error_message = "not authorized to describe ACLs (needs DESCRIBE on the cluster)";
    co_return resp;
  }
  if (!s_.acls) {
    resp.error_code = ErrorCode::SECURITY_DISABLED;
    resp.error_message = kNoAuthorizer;
    co_return resp;
  }
  const auto filter = to_filter(req);
  if (auto why = security::invalid_filter_reason(filter)) {
    resp.error_code = ErrorCode::INVALID_REQUEST;
    resp.error_message = *why;
    co_return resp;
  }
  // acls() is ordered by resource pattern, so equal patterns are adjacent.
  for (const auto& b : s_.acls->acls(filter)) {
    if (resp.resources.empty() || resp.resources.back().resource_type != b.resource_type ||
        resp.resources.back().resource_name != b.resource_name || resp.resources.back().pattern_type != b.pattern_type)
      resp.resources.push_back({b.resource_type, b.resource_name, b.pattern_type, {}});
    resp.resources.back().acls.push_back({b.principal, b.host, b.operation, b.permission});
  }
  co_return resp;
}

asio::awaitable<CreateAclsResponse> Handlers::handle(CreateAclsRequest& req, RequestContext& ctx) {
  CreateAclsResponse resp;
  auto fail_all = [&](ErrorCode code, const std::string& message) {
    for (size_t i = 0; i < req.creations.size(); ++i) resp.results.push_back({code, message});
  };
  if (!allowed(ctx, Operation::Alter, ResourceType::Cluster, security::kClusterResourceName)) {
    fail_all(ErrorCode::CLUSTER_AUTHORIZATION_FAILED, "not authorized to create ACLs (needs ALTER on the cluster)");
    co_return resp;
  }
  if (!s_.acls) {
    fail_all(ErrorCode::SECURITY_DISABLED, kNoAuthorizer);
    co_return resp;
  }
  std::vector<security::AclBinding> valid;
  std::vector<size_t> valid_index;
  for (const auto& c : req.creations) {
    security::AclBinding b{c.resource_type, c.resource_name, c.resource_pattern_type, c.principal,
                           c.host,          c.operation,     c.permission_type};
    auto& r = resp.results.emplace_back();
    if (auto why = security::invalid_binding_reason(b)) {
      r = {ErrorCode::INVALID_REQUEST, *why};
      continue;
    }
    valid_index.push_back(resp.results.size() - 1);
    valid.push_back(std::move(b));
  }
  if (valid.empty()) co_return resp;
  try {
    std::lock_guard lk(acl_change_mu);
    s_.metadata.add_acls(valid);
    s_.acls->add(valid);
  } catch (const std::exception& e) {
    spdlog::error("CreateAcls: storing {} ACLs failed: {}", valid.size(), e.what());
    for (size_t i : valid_index) resp.results[i] = {ErrorCode::UNKNOWN_SERVER_ERROR, "storing the ACL failed"};
    co_return resp;
  }
  for (const auto& b : valid)
    spdlog::info("ACL created by {} from {}: {}", ctx.identity.principal.to_string(), ctx.identity.client_host,
                 b.to_string());
  co_return resp;
}

asio::awaitable<DeleteAclsResponse> Handlers::handle(DeleteAclsRequest& req, RequestContext& ctx) {
  DeleteAclsResponse resp;
  auto fail_all = [&](ErrorCode code, const std::string& message) {
    for (size_t i = 0; i < req.filters.size(); ++i) resp.filter_results.push_back({code, message, {}});
  };
  if (!allowed(ctx, Operation::Alter, ResourceType::Cluster, security::kClusterResourceName)) {
    fail_all(ErrorCode::CLUSTER_AUTHORIZATION_FAILED, "not authorized to delete ACLs (needs ALTER on the cluster)");
    co_return resp;
  }
  if (!s_.acls) {
    fail_all(ErrorCode::SECURITY_DISABLED, kNoAuthorizer);
    co_return resp;
  }
  std::lock_guard lk(acl_change_mu);
  // Each filter lists every ACL it matches (Kafka's AclControlManager); each ACL is deleted once.
  std::set<security::AclBinding> doomed;
  for (const auto& f : req.filters) {
    auto& r = resp.filter_results.emplace_back();
    const auto filter = to_filter(f);
    if (auto why = security::invalid_filter_reason(filter)) {
      r.error_code = ErrorCode::INVALID_REQUEST;
      r.error_message = *why;
      continue;
    }
    for (auto& b : s_.acls->acls(filter)) {
      r.matching_acls.push_back({ErrorCode::NONE, std::nullopt, b.resource_type, b.resource_name, b.pattern_type,
                                 b.principal, b.host, b.operation, b.permission});
      doomed.insert(std::move(b));
    }
  }
  if (doomed.empty()) co_return resp;
  const std::vector<security::AclBinding> list(doomed.begin(), doomed.end());
  try {
    s_.metadata.delete_acls(list);
    s_.acls->remove(list);
  } catch (const std::exception& e) {
    spdlog::error("DeleteAcls: storing the deletion of {} ACLs failed: {}", list.size(), e.what());
    for (auto& r : resp.filter_results)
      for (auto& m : r.matching_acls) {
        m.error_code = ErrorCode::UNKNOWN_SERVER_ERROR;
        m.error_message = "storing the deletion failed";
      }
    co_return resp;
  }
  for (const auto& b : list)
    spdlog::info("ACL deleted by {} from {}: {}", ctx.identity.principal.to_string(), ctx.identity.client_host,
                 b.to_string());
  co_return resp;
}

}  // namespace ferry::broker
