#include "dr-orchestrator/mirror_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>
#include <mutex>

#include "common/clock.h"
#include "mirror/status_types.h"

namespace ferry::dr {

MirrorError::MirrorError(const std::string& what, std::string url, long http_status, std::string body_error,
                         std::vector<FlowPartitionLag> in_flight)
    : std::runtime_error(what),
      url_(std::move(url)),
      http_status_(http_status),
      body_error_(std::move(body_error)),
      in_flight_(std::move(in_flight)) {}

namespace {

[[noreturn]] void bad(const std::string& why) { throw MirrorError("unexpected mirror response: " + why, "", 0, ""); }

// Parses `body` as the mirror's typed T (mirror/status_types.h); its shape errors become MirrorError.
template <class T>
T parse_typed(const std::string& body) {
  try {
    return mirror::parse_status_body<T>(body);
  } catch (const mirror::StatusFormatError& e) {
    bad(e.what());
  }
}

FlowPartitionLag to_lag(const mirror::PartitionStatus& p) {
  return {p.topic, p.partition, p.remote_topic, p.next_offset, p.source_end_offset, p.lag_records, p.source_end_offset_ms};
}

std::vector<FlowPartitionLag> to_lags(const std::vector<mirror::PartitionStatus>& ps) {
  std::vector<FlowPartitionLag> out;
  out.reserve(ps.size());
  for (const auto& p : ps) out.push_back(to_lag(p));
  return out;
}

// What ferry-dr keeps of one /status flow. Fields an older mirror lacks (status_types.h says
// which) get the meaning they had for it: without the control API a flow cannot be paused
// (running); without "healthy" the mirror reported no conditions (healthy, none current).
MirrorFlowStatus to_flow_status(const mirror::FlowStatus& f) {
  MirrorFlowStatus s;
  s.flow = f.flow;
  s.source = f.source;
  s.target = f.target;
  s.state = f.state.value_or("running");
  s.healthy = f.healthy.value_or(true);
  s.source_reachable = f.source_reachable;
  s.current_errors = f.current_errors.value_or(std::vector<std::string>{});
  s.last_error = f.last_error;
  s.last_checkpoint_ms = f.last_checkpoint_ms;
  if (f.heartbeat) {
    s.reports_heartbeat = true;
    s.heartbeat_last_replicated_ms = f.heartbeat->last_replicated_ms;
    s.heartbeat_age_ms = f.heartbeat->age_ms;
  }
  s.records_replicated = f.records_replicated;
  s.partitions = to_lags(f.partitions);
  for (const auto& t : f.topics) s.topics[t.source] = t.partitions;
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
  std::vector<MirrorFlowStatus> out;
  for (const auto& f : parse_typed<mirror::MirrorStatus>(body).flows) out.push_back(to_flow_status(f));
  return out;
}

PauseResult parse_pause_result(const std::string& body) {
  auto p = parse_typed<mirror::PauseReply>(body);
  return {std::move(p.flow), std::move(p.state), p.source_reachable, to_lags(p.partitions)};
}

CheckpointResult parse_checkpoint_result(const std::string& body) {
  auto c = parse_typed<mirror::CheckpointReply>(body);
  CheckpointResult r{std::move(c.flow), c.checkpoints_emitted, {}};
  for (auto& g : c.groups) {
    CheckpointGroup cg{std::move(g.group), g.synced, std::move(g.reason), {}};
    for (const auto& o : g.offsets) cg.offsets.push_back({o.topic, o.partition, o.upstream, o.downstream});
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
      auto e = mirror::parse_status_body<mirror::ErrorReply>(r.body);
      error = std::move(e.error);
      if (r.status == 504 && e.partitions) in_flight = to_lags(*e.partitions);
    } catch (const std::exception&) {
      // Not the contract's error body (e.g. a proxy's page): its start says what answered.
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
