// The ACL Admin APIs (DescribeAcls 29, CreateAcls 30, DeleteAcls 31) through librdkafka.
#include <fmt/format.h>

#include "client/kafka.h"

namespace ferry::client {

namespace {

using BindingPtr = std::unique_ptr<rd_kafka_AclBinding_t, decltype(&rd_kafka_AclBinding_destroy)>;

const char* or_null(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

// A binding (filter = true: a filter, with empty strings meaning any) as librdkafka takes it.
BindingPtr to_rd(const AclBinding& b, bool filter) {
  char err[256] = "";
  auto make = filter ? rd_kafka_AclBindingFilter_new : rd_kafka_AclBinding_new;
  rd_kafka_AclBinding_t* out =
      make(static_cast<rd_kafka_ResourceType_t>(b.resource_type), filter ? or_null(b.resource_name) : b.resource_name.c_str(),
           static_cast<rd_kafka_ResourcePatternType_t>(b.pattern_type), filter ? or_null(b.principal) : b.principal.c_str(),
           filter ? or_null(b.host) : b.host.c_str(), static_cast<rd_kafka_AclOperation_t>(b.operation),
           static_cast<rd_kafka_AclPermissionType_t>(b.permission), err, sizeof err);
  if (out == nullptr) throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, fmt::format("ACL binding: {}", err));
  return BindingPtr(out, &rd_kafka_AclBinding_destroy);
}

AclBinding from_rd(const rd_kafka_AclBinding_t* b) {
  return {static_cast<int>(rd_kafka_AclBinding_restype(b)),   rd_kafka_AclBinding_name(b),
          static_cast<int>(rd_kafka_AclBinding_resource_pattern_type(b)), rd_kafka_AclBinding_principal(b),
          rd_kafka_AclBinding_host(b),                         static_cast<int>(rd_kafka_AclBinding_operation(b)),
          static_cast<int>(rd_kafka_AclBinding_permission_type(b))};
}

void check_event(rd_kafka_event_t* ev, const std::string& what) {
  if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw KafkaError(rd_kafka_event_error(ev), fmt::format("{}: {}", what, rd_kafka_event_error_string(ev)));
}

}  // namespace

std::vector<AclBinding> describe_acls(rd_kafka_t* rk, std::chrono::milliseconds timeout,
                                      std::chrono::milliseconds grace, const AclBinding& filter) {
  auto f = to_rd(filter, true);
  auto ev = await_admin_result(
      rk, timeout, "DescribeAcls",
      [&](rd_kafka_queue_t* q) {
        auto opts = admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBEACLS, timeout);
        rd_kafka_DescribeAcls(rk, f.get(), opts.get(), q);
      },
      grace);
  check_event(ev.get(), "DescribeAcls");
  size_t n = 0;
  const auto** acls = rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev.get()), &n);
  std::vector<AclBinding> out;
  for (size_t i = 0; i < n; ++i) out.push_back(from_rd(acls[i]));
  return out;
}

void create_acls(rd_kafka_t* rk, std::chrono::milliseconds timeout, std::chrono::milliseconds grace,
                 const std::vector<AclBinding>& bindings) {
  if (bindings.empty()) return;
  std::vector<BindingPtr> owned;
  std::vector<rd_kafka_AclBinding_t*> raw;
  for (const auto& b : bindings) {
    owned.push_back(to_rd(b, false));
    raw.push_back(owned.back().get());
  }
  auto ev = await_admin_result(
      rk, timeout, "CreateAcls",
      [&](rd_kafka_queue_t* q) {
        auto opts = admin_options(rk, RD_KAFKA_ADMIN_OP_CREATEACLS, timeout);
        rd_kafka_CreateAcls(rk, raw.data(), raw.size(), opts.get(), q);
      },
      grace);
  check_event(ev.get(), "CreateAcls");
  size_t n = 0;
  const auto** results = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i)
    if (const rd_kafka_error_t* e = rd_kafka_acl_result_error(results[i]))
      throw KafkaError(rd_kafka_error_code(e), fmt::format("CreateAcls: {}", rd_kafka_error_string(e)));
}

std::vector<AclBinding> delete_acls(rd_kafka_t* rk, std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds grace, const AclBinding& filter) {
  auto f = to_rd(filter, true);
  rd_kafka_AclBinding_t* raw[] = {f.get()};
  auto ev = await_admin_result(
      rk, timeout, "DeleteAcls",
      [&](rd_kafka_queue_t* q) {
        auto opts = admin_options(rk, RD_KAFKA_ADMIN_OP_DELETEACLS, timeout);
        rd_kafka_DeleteAcls(rk, raw, 1, opts.get(), q);
      },
      grace);
  check_event(ev.get(), "DeleteAcls");
  size_t n = 0;
  const auto** responses = rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev.get()), &n);
  std::vector<AclBinding> out;
  for (size_t i = 0; i < n; ++i) {
    if (const rd_kafka_error_t* e = rd_kafka_DeleteAcls_result_response_error(responses[i]))
      throw KafkaError(rd_kafka_error_code(e), fmt::format("DeleteAcls: {}", rd_kafka_error_string(e)));
    size_t m = 0;
    const auto** matching = rd_kafka_DeleteAcls_result_response_matching_acls(responses[i], &m);
    for (size_t j = 0; j < m; ++j) out.push_back(from_rd(matching[j]));
  }
  return out;
}

std::vector<AclBinding> Admin::describe_acls(const AclBinding& filter) {
  return client::describe_acls(rk_.get(), timeout_, grace_, filter);
}
void Admin::create_acls(const std::vector<AclBinding>& bindings) {
  client::create_acls(rk_.get(), timeout_, grace_, bindings);
}
std::vector<AclBinding> Admin::delete_acls(const AclBinding& filter) {
  return client::delete_acls(rk_.get(), timeout_, grace_, filter);
}

}  // namespace ferry::client
