#include "dr-orchestrator/mirror_client.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>

#include "common/clock.h"

namespace ferry::dr {

using nlohmann::json;

MirrorError::MirrorError(const std::string& what, std::string url, long http_status, std::string body_error,
                         std::vector<FlowPartitionLag> in_flight)
    : std::runtime_error(what),
      url_(std::move(url)),
      http_status_(http_status),
      body_error_(std::move(body_error)),
      in_flight_(std::move(in_flight)) {}

namespace {

[[noreturn]] void bad(const std::string& why) { throw MirrorError("unexpected mirror response: " + why, "", 0, ""); }

const json& field(const json& j, const char* key, const char* where) {
  if (!j.is_object()) bad(fmt::format("{} is not an object", where));
  auto it = j.find(key);
  if (it == j.end()) bad(fmt::format("{} has no \"{}\"", where, key));
  return *it;
}

template <class T>
T get(const json& j, const char* key, const char* where) {
  const json& v = field(j, key, where);
  try {
    return v.get<T>();
  } catch (const json::exception&) {
    bad(fmt::format("{}.{} has the wrong type ({})", where, key, v.type_name()));
  }
}

template <class T>
std::optional<T> get_opt(const json& j, const char* key, const char* where) {
  if (!j.is_object()) bad(fmt::format("{} is not an object", where));
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return get<T>(j, key, where);
}

std::vector<FlowPartitionLag> parse_partitions(const json& arr, const char* where) {
  if (!arr.is_array()) bad(fmt::format("{} is not an array", where));
  std::vector<FlowPartitionLag> out;
  for (const auto& p : arr) {
    FlowPartitionLag l;
    l.topic = get<std::string>(p, "topic", where);
    l.partition = get<int32_t>(p, "partition", where);
    l.remote_topic = get_opt<std::string>(p, "remote_topic", where).value_or("");
    l.next_offset = get<int64_t>(p, "next_offset", where);
    l.source_end_offset = get<int64_t>(p, "source_end_offset", where);
    l.lag_records = get_opt<int64_t>(p, "lag_records", where).value_or(std::max<int64_t>(0, l.source_end_offset - l.next_offset));
    l.source_end_offset_ms = get_opt<int64_t>(p, "source_end_offset_ms", where);
    out.push_back(std::move(l));
  }
  return out;
}

json parse_body(const std::string& body) {
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    bad(fmt::format("not JSON ({})", e.what()));
  }
}

MirrorFlowStatus parse_flow(const json& f) {
  const char* w = "flow";
  MirrorFlowStatus s;
  s.flow = get<std::string>(f, "flow", w);
  s.source = get_opt<std::string>(f, "source", w).value_or("");
  s.target = get_opt<std::string>(f, "target", w).value_or("");
  // Mirrors built before the control API have no state: they are running.
  s.state = get_opt<std::string>(f, "state", w).value_or("running");
  s.healthy = get_opt<bool>(f, "healthy", w).value_or(true);
  s.source_reachable = get_opt<bool>(f, "source_reachable", w);
  s.current_errors = get_opt<std::vector<std::string>>(f, "current_errors", w).value_or(std::vector<std::string>{});
  s.last_error = get_opt<std::string>(f, "last_error", w);
  s.last_checkpoint_ms = get_opt<int64_t>(f, "last_checkpoint_ms", w);
  if (auto hb = f.find("heartbeat"); hb != f.end() && hb->is_object()) {
    s.reports_heartbeat = true;
    s.heartbeat_last_replicated_ms = get_opt<int64_t>(*hb, "last_replicated_ms", "flow.heartbeat");
    s.heartbeat_age_ms = get_opt<int64_t>(*hb, "age_ms", "flow.heartbeat");
  }
  s.records_replicated = get_opt<int64_t>(f, "records_replicated", w).value_or(0);
  if (auto p = f.find("partitions"); p != f.end()) s.partitions = parse_partitions(*p, "flow.partitions");
  if (auto t = f.find("topics"); t != f.end() && t->is_array())
    for (const auto& e : *t)
      if (e.is_object() && e.contains("source") && e["source"].is_string() && e.contains("partitions") &&
          e["partitions"].is_number_integer())
        s.topics[e["source"].get<std::string>()] = e["partitions"].get<int32_t>();
  return s;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct HttpResult {
  long status = 0;
  std::string body;
  std::string transport_error;  // set when no HTTP answer came
};

HttpResult http(const char* method, const std::string& url, std::chrono::milliseconds timeout) {
  global_init();
  std::unique_ptr<CURL, CurlDeleter> c(curl_easy_init());
  HttpResult r;
  if (!c) {
    r.transport_error = "curl_easy_init failed";
    return r;
  }
  char err[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_CUSTOMREQUEST, method);
  if (std::string(method) == "POST") {
    curl_easy_setopt(c.get(), CURLOPT_POST, 1L);
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE, 0L);
  }
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<int64_t>(timeout.count(), 5000)));
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  // Signals are the daemon's (common/daemon.h); curl must not use SIGALRM for its timeouts.
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c.get(), CURLOPT_PROXY, "");
  CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) {
    r.transport_error = err[0] ? err : curl_easy_strerror(rc);
    return r;
  }
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

}  // namespace

std::vector<MirrorFlowStatus> parse_mirror_status(const std::string& body) {
  json j = parse_body(body);
  const json& flows = field(j, "flows", "status");
  if (!flows.is_array()) bad("status.flows is not an array");
  std::vector<MirrorFlowStatus> out;
  for (const auto& f : flows) out.push_back(parse_flow(f));
  return out;
}

PauseResult parse_pause_result(const std::string& body) {
  json j = parse_body(body);
  PauseResult r;
  r.flow = get<std::string>(j, "flow", "pause");
  r.state = get<std::string>(j, "state", "pause");
  r.source_reachable = get_opt<bool>(j, "source_reachable", "pause");
  r.partitions = parse_partitions(field(j, "partitions", "pause"), "pause.partitions");
  return r;
}

CheckpointResult parse_checkpoint_result(const std::string& body) {
  json j = parse_body(body);
  CheckpointResult r;
  r.flow = get<std::string>(j, "flow", "checkpoint");
  r.checkpoints_emitted = get<int64_t>(j, "checkpoints_emitted", "checkpoint");
  const json& groups = field(j, "groups", "checkpoint");
  if (!groups.is_array()) bad("checkpoint.groups is not an array");
  for (const auto& g : groups) {
    CheckpointGroup cg;
    cg.group = get<std::string>(g, "group", "checkpoint.groups");
    cg.synced = get<bool>(g, "synced", "checkpoint.groups");
    cg.reason = get_opt<std::string>(g, "reason", "checkpoint.groups");
    const json& offs = field(g, "offsets", "checkpoint.groups");
    if (!offs.is_array()) bad("checkpoint.groups.offsets is not an array");
    for (const auto& o : offs)
      cg.offsets.push_back({get<std::string>(o, "topic", "offsets"), get<int32_t>(o, "partition", "offsets"),
                            get<int64_t>(o, "upstream", "offsets"), get<int64_t>(o, "downstream", "offsets")});
    r.groups.push_back(std::move(cg));
  }
  return r;
}

MirrorClient::MirrorClient(std::string base_url, std::chrono::milliseconds timeout)
    : base_(std::move(base_url)), timeout_(timeout) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

MirrorClient::Response MirrorClient::call(const char* method, const std::string& path,
                                          std::chrono::milliseconds total_timeout) {
  const std::string url = base_ + path;
  HttpResult r = http(method, url, total_timeout);
  if (!r.transport_error.empty())
    throw MirrorError(fmt::format("{} {}: no answer: {}", method, url, r.transport_error), url, 0, "");
  if (r.status != 200) {
    std::string error;
    std::vector<FlowPartitionLag> in_flight;
    try {
      json j = json::parse(r.body);
      if (j.is_object() && j.contains("error") && j["error"].is_string()) error = j["error"];
      if (r.status == 504 && j.is_object() && j.contains("partitions")) in_flight = parse_partitions(j["partitions"], "error.partitions");
    } catch (const std::exception&) {
      error = r.body.substr(0, 200);
    }
    throw MirrorError(fmt::format("{} {}: HTTP {}: {}", method, url, r.status, error.empty() ? "(no error given)" : error),
                      url, r.status, error, std::move(in_flight));
  }
  return {r.status, std::move(r.body)};
}

namespace {

template <class F>
auto with_url(const std::string& url, long status, F&& parse) {
  try {
    return parse();
  } catch (const MirrorError& e) {
    throw MirrorError(fmt::format("{}: {}", url, e.what()), url, status, e.body_error());
  }
}

}  // namespace

std::vector<MirrorFlowStatus> MirrorClient::status() {
  Response r = call("GET", "/status", timeout_);
  return with_url(base_ + "/status", r.status, [&] { return parse_mirror_status(r.body); });
}

MirrorFlowStatus MirrorClient::flow_status(const std::string& source, const std::string& target) {
  const std::string name = source + "->" + target;
  for (auto& f : status())
    if (f.flow == name) return f;
  throw MirrorError(fmt::format("{}/status: this mirror does not run flow {}", base_, name), base_ + "/status", 200,
                    "unknown flow");
}

PauseResult MirrorClient::pause(const std::string& source, const std::string& target, std::chrono::milliseconds drain) {
  const std::string path = fmt::format("/flows/{}/{}/pause?timeout_ms={}", source, target, drain.count());
  Response r = call("POST", path, drain + timeout_);
  return with_url(base_ + path, r.status, [&] { return parse_pause_result(r.body); });
}

void MirrorClient::resume(const std::string& source, const std::string& target) {
  call("POST", fmt::format("/flows/{}/{}/resume", source, target), timeout_);
}

CheckpointResult MirrorClient::checkpoint(const std::string& source, const std::string& target,
                                          std::chrono::milliseconds limit) {
  const std::string path = fmt::format("/flows/{}/{}/checkpoint?timeout_ms={}", source, target, limit.count());
  Response r = call("POST", path, limit + timeout_);
  return with_url(base_ + path, r.status, [&] { return parse_checkpoint_result(r.body); });
}

FlowHealth probe_flow(const FlowConfig& flow, std::chrono::milliseconds timeout) {
  std::vector<MirrorAnswer> answers;
  for (const auto& url : flow.status_urls) {
    MirrorAnswer a{url, std::nullopt, ""};
    try {
      a.status = MirrorClient(url, timeout).flow_status(flow.source, flow.target);
    } catch (const MirrorError& e) {
      a.error = e.what();
    }
    answers.push_back(std::move(a));
  }
  return combine_flow(flow, answers, wall_clock_ms());
}

std::string http_get(const std::string& url, std::chrono::milliseconds timeout) {
  HttpResult r = http("GET", url, timeout);
  if (!r.transport_error.empty()) throw MirrorError(fmt::format("GET {}: no answer: {}", url, r.transport_error), url, 0, "");
  if (r.status != 200) throw MirrorError(fmt::format("GET {}: HTTP {}", url, r.status), url, r.status, "");
  return r.body;
}

}  // namespace ferry::dr
