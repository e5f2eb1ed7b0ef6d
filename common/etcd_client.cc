#include "common/etcd_client.h"

#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <nlohmann/json.hpp>

#include "common/base64.h"

namespace ferry::etcd {
namespace {

using nlohmann::json;

void global_init_once() {
  // curl_global_init is not thread-safe; every handle of this file is made after this.
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

/// "host:port" or "http://host:port" → "http://host:port"; throws std::invalid_argument.
std::string normalize_endpoint(std::string_view raw) {
  std::string e(raw);
  if (e.rfind("https://", 0) == 0) {
    throw std::invalid_argument("etcd endpoint \"" + e + "\": TLS to etcd is not supported yet; expected http://host:port");
  }
  std::string hostport = e.rfind("http://", 0) == 0 ? e.substr(7) : e;
  while (!hostport.empty() && hostport.back() == '/') hostport.pop_back();
  const auto colon = hostport.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == hostport.size()) {
    throw std::invalid_argument("etcd endpoint \"" + e + "\": expected host:port or http://host:port");
  }
  const std::string port = hostport.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoi(port) == 0 ||
      std::stoi(port) > 65535) {
    throw std::invalid_argument("etcd endpoint \"" + e + "\": expected a port in 1..65535");
  }
  return "http://" + hostport;
}

std::string b64(std::string_view bytes) { return base64_encode(bytes); }

std::string unb64(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return {};
  auto out = base64_decode(it->get<std::string>());
  if (!out) throw EtcdError(EtcdError::kTransport, std::string("etcd reply: field ") + field + " is not base64");
  return *out;
}

/// Proto3 JSON int64: a decimal string, or a number; absent means 0.
int64_t i64(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) return std::stoll(it->get<std::string>());
  throw EtcdError(EtcdError::kTransport, std::string("etcd reply: field ") + field + " is not an int64");
}

KeyValue kv_from(const json& j) {
  KeyValue kv;
  kv.key = unb64(j, "key");
  kv.value = unb64(j, "value");
  kv.create_revision = i64(j, "create_revision");
  kv.mod_revision = i64(j, "mod_revision");
  kv.version = i64(j, "version");
  kv.lease = i64(j, "lease");
  return kv;
}

int64_t header_revision(const json& j) {
  auto it = j.find("header");
  return it == j.end() ? 0 : i64(*it, "revision");
}

RangeResult range_from(const json& j) {
  RangeResult r;
  r.revision = header_revision(j);
  if (auto it = j.find("kvs"); it != j.end()) {
    for (const auto& kv : *it) r.kvs.push_back(kv_from(kv));
  }
  r.more = j.value("more", false);
  return r;
}

json op_json(const Op& op) {
  switch (op.kind) {
    case Op::Kind::kPut: {
      json p = {{"key", b64(op.key)}, {"value", b64(op.value)}};
      if (op.lease != 0) p["lease"] = std::to_string(op.lease);
      return {{"request_put", p}};
    }
    case Op::Kind::kDelete: {
      json d = {{"key", b64(op.key)}};
      if (!op.range_end.empty()) d["range_end"] = b64(op.range_end);
      return {{"request_delete_range", d}};
    }
    case Op::Kind::kRange: {
      json r = {{"key", b64(op.key)}};
      if (!op.range_end.empty()) r["range_end"] = b64(op.range_end);
      return {{"request_range", r}};
    }
  }
  return {};
}

json compare_json(const Compare& c) {
  static const char* kResults[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
  json j = {{"key", b64(c.key)}, {"result", kResults[static_cast<int>(c.result)]}};
  if (!c.range_end.empty()) j["range_end"] = b64(c.range_end);
  switch (c.target) {
    case Compare::Target::kVersion:
      j["target"] = "VERSION";
      j["version"] = std::to_string(c.number);
      break;
    case Compare::Target::kCreate:
      j["target"] = "CREATE";
      j["create_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kMod:
      j["target"] = "MOD";
      j["mod_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kValue:
      j["target"] = "VALUE";
      j["value"] = b64(c.value);
      break;
  }
  return j;
}

/// Resets `c` for one JSON POST of `body` (which must outlive the transfer) to `url`; returns the
/// header list to free after it.
struct curl_slist* prepare_post(CURL* c, const std::string& url, const std::string& body,
                                std::chrono::milliseconds connect_timeout) {
  curl_easy_reset(c);
  struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  return headers;
}

size_t append_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

/// etcd's {"error","message","code"} as an EtcdError, or nullopt for anything else.
std::optional<EtcdError> error_from(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("code") || !(j.contains("error") || j.contains("message"))) return std::nullopt;
  const std::string message = j.value("message", j.value("error", std::string("unknown error")));
  return EtcdError(static_cast<int>(i64(j, "code")), "etcd " + where + ": " + message);
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::string(1, '\0');
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

Compare Compare::create_revision_is(std::string key, int64_t revision) {
  return Compare{std::move(key), Target::kCreate, Result::kEqual, revision, {}, {}};
}
Compare Compare::mod_revision_is(std::string key, int64_t revision) {
  return Compare{std::move(key), Target::kMod, Result::kEqual, revision, {}, {}};
}
Compare Compare::value_is(std::string key, std::string value) {
  return Compare{std::move(key), Target::kValue, Result::kEqual, 0, std::move(value), {}};
}
Compare Compare::range_is_empty(std::string key, std::string range_end) {
  return Compare{std::move(key), Target::kCreate, Result::kEqual, 0, {}, std::move(range_end)};
}
Compare Compare::range_unchanged_since(std::string key, std::string range_end, int64_t revision) {
  return Compare{std::move(key), Target::kMod, Result::kLess, revision + 1, {}, std::move(range_end)};
}
Op Op::put(std::string key, std::string value, int64_t lease) {
  return Op{Kind::kPut, std::move(key), std::move(value), {}, lease};
}
Op Op::remove(std::string key, std::string range_end) {
  return Op{Kind::kDelete, std::move(key), {}, std::move(range_end), 0};
}
Op Op::get(std::string key, std::string range_end) { return Op{Kind::kRange, std::move(key), {}, std::move(range_end), 0}; }

std::vector<std::string> parse_endpoints(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string item(text.substr(start, comma - start));
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item.empty()) {
      throw std::invalid_argument("etcd.endpoints \"" + std::string(text) +
                                  "\": expected a comma-separated list of host:port, with no empty entry");
    }
    try {
      normalize_endpoint(item);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("etcd.endpoints: ") + e.what());
    }
    out.push_back(item);
    start = comma + 1;
  }
  return out;
}

struct Client::Impl {
  ClientOptions options;
  std::vector<std::string> urls;
  size_t current = 0;
  mutable std::mutex mu;
  CURL* curl = nullptr;
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.endpoints.empty()) throw std::invalid_argument("etcd client: no endpoint given");
  for (const auto& e : options.endpoints) impl_->urls.push_back(normalize_endpoint(e));
  impl_->options = std::move(options);
  global_init_once();
  impl_->curl = curl_easy_init();
  if (!impl_->curl) throw std::runtime_error("etcd client: curl_easy_init failed");
}

Client::~Client() {
  if (impl_ && impl_->curl) curl_easy_cleanup(impl_->curl);
}

std::string Client::endpoint() const {
  std::lock_guard lock(impl_->mu);
  return impl_->urls[impl_->current];
}

std::string Client::call(const std::string& path, const std::string& body) {
  std::lock_guard lock(impl_->mu);
  std::string failures;
  const size_t n = impl_->urls.size();
  for (size_t attempt = 0; attempt < n; ++attempt) {
    const size_t index = (impl_->current + attempt) % n;
    const std::string url = impl_->urls[index] + path;
    std::string reply;
    CURL* c = impl_->curl;
    struct curl_slist* headers = prepare_post(c, url, body, impl_->options.connect_timeout);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(impl_->options.request_timeout.count()));
    const CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    const std::string where = url;
    if (rc != CURLE_OK) {
      failures += (failures.empty() ? "" : "; ") + where + ": " + curl_easy_strerror(rc);
      continue;
    }
    json j = json::parse(reply, nullptr, false);
    if (j.is_discarded()) {
      failures += (failures.empty() ? "" : "; ") + where + ": HTTP " + std::to_string(status) + ", not JSON";
      continue;
    }
    if (auto err = error_from(j, where)) {
      if (err->code == EtcdError::kUnavailable) {
        failures += (failures.empty() ? "" : "; ") + std::string(err->what());
        continue;
      }
      impl_->current = index;
      throw *err;
    }
    if (status != 200) {
      failures += (failures.empty() ? "" : "; ") + where + ": HTTP " + std::to_string(status);
      continue;
    }
    impl_->current = index;
    return reply;
  }
  throw EtcdError(failures.find("etcdserver:") != std::string::npos ? EtcdError::kUnavailable : EtcdError::kTransport,
                  "etcd: no endpoint answered " + path + " (" + failures + ")");
}

RangeResult Client::get(std::string_view key) { return range(key, {}, 0); }

RangeResult Client::range(std::string_view key, std::string_view range_end, int64_t limit) {
  json req = {{"key", b64(key)}};
  if (!range_end.empty()) req["range_end"] = b64(range_end);
  if (limit > 0) req["limit"] = std::to_string(limit);
  return range_from(json::parse(call("/v3/kv/range", req.dump())));
}

int64_t Client::put(std::string_view key, std::string_view value, int64_t lease) {
  json req = {{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  return header_revision(json::parse(call("/v3/kv/put", req.dump())));
}

int64_t Client::remove(std::string_view key, std::string_view range_end) {
  json req = {{"key", b64(key)}};
  if (!range_end.empty()) req["range_end"] = b64(range_end);
  return i64(json::parse(call("/v3/kv/deleterange", req.dump())), "deleted");
}

TxnResult Client::txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                      const std::vector<Op>& failure) {
  json req = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : compares) req["compare"].push_back(compare_json(c));
  for (const auto& op : success) req["success"].push_back(op_json(op));
  for (const auto& op : failure) req["failure"].push_back(op_json(op));
  const json reply = json::parse(call("/v3/kv/txn", req.dump()));
  TxnResult r;
  r.succeeded = reply.value("succeeded", false);
  r.revision = header_revision(reply);
  if (auto it = reply.find("responses"); it != reply.end()) {
    for (const auto& resp : *it) {
      if (auto range = resp.find("response_range"); range != resp.end()) r.ranges.push_back(range_from(*range));
    }
  }
  return r;
}

Client::Lease Client::lease_grant(int64_t ttl_seconds) {
  // call() has already thrown any error etcd answered with.
  const json reply = json::parse(call("/v3/lease/grant", json{{"TTL", std::to_string(ttl_seconds)}}.dump()));
  return Lease{i64(reply, "ID"), i64(reply, "TTL")};
}

int64_t Client::lease_keepalive(int64_t id) {
  // A stream on the gateway: one request message, one {"result":{...}} line back.
  const std::string reply = call("/v3/lease/keepalive", json{{"ID", std::to_string(id)}}.dump());
  const std::string first = reply.substr(0, reply.find('\n'));
  const json j = json::parse(first, nullptr, false);
  if (j.is_discarded()) throw EtcdError(EtcdError::kTransport, "etcd lease keepalive: reply is not JSON");
  if (auto it = j.find("error"); it != j.end() && it->is_object()) {
    if (auto err = error_from(*it, "lease keepalive")) throw *err;
  }
  return i64(j.value("result", json::object()), "TTL");
}

void Client::compact(int64_t revision) {
  call("/v3/kv/compaction", json{{"revision", std::to_string(revision)}, {"physical", true}}.dump());
}

void Client::lease_revoke(int64_t id) {
  try {
    call("/v3/lease/revoke", json{{"ID", std::to_string(id)}}.dump());
  } catch (const EtcdError& e) {
    if (e.code != EtcdError::kNotFound) throw;
  }
}

// ---------------------------------------------------------------------------------------------
// Watch

struct Watch::Impl {
  ClientOptions options;
  std::vector<std::string> urls;
  std::string key;
  std::string range_end;
  int64_t next_revision = 0;  // the first revision not yet delivered
  EventsFn on_events;
  ErrorFn on_error;
  std::atomic<bool> stop{false};
  bool finished = false;  // compaction or a callback failure ended the watch
  std::mutex mu;
  std::condition_variable cv;
  curl_socket_t socket = CURL_SOCKET_BAD;  // the stream's socket while open, under mu
  std::string buffer;                      // bytes of an incomplete line

  void line(const std::string& text);
};

namespace {

curl_socket_t open_socket(void* user, curlsocktype, struct curl_sockaddr* addr) {
  auto* impl = static_cast<Watch::Impl*>(user);
  curl_socket_t fd = ::socket(addr->family, addr->socktype, addr->protocol);
  std::lock_guard lock(impl->mu);
  if (impl->stop) {
    if (fd != CURL_SOCKET_BAD) ::close(fd);
    return CURL_SOCKET_BAD;
  }
  impl->socket = fd;
  return fd;
}

int close_socket(void* user, curl_socket_t fd) {
  auto* impl = static_cast<Watch::Impl*>(user);
  std::lock_guard lock(impl->mu);
  if (impl->socket == fd) impl->socket = CURL_SOCKET_BAD;
  return ::close(fd);
}

size_t watch_bytes(char* data, size_t size, size_t n, void* user) {
  auto* impl = static_cast<Watch::Impl*>(user);
  if (impl->stop) return 0;
  impl->buffer.append(data, size * n);
  size_t nl;
  while ((nl = impl->buffer.find('\n')) != std::string::npos) {
    std::string text = impl->buffer.substr(0, nl);
    impl->buffer.erase(0, nl + 1);
    if (!text.empty()) impl->line(text);
    if (impl->finished || impl->stop) return 0;
  }
  return size * n;
}

int watch_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<Watch::Impl*>(user)->stop ? 1 : 0;
}

}  // namespace

void Watch::Impl::line(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return;
  if (auto err = j.find("error"); err != j.end()) {
    if (auto e = error_from(err->is_object() ? *err : j, "watch")) on_error(*e);
    return;
  }
  const json result = j.value("result", json::object());
  if (result.value("canceled", false)) {
    const int64_t compacted = i64(result, "compact_revision");
    finished = true;
    on_error(EtcdError(compacted > 0 ? EtcdError::kOutOfRange : EtcdError::kCanceled,
                       compacted > 0 ? "etcd watch: revision " + std::to_string(next_revision) +
                                           " has been compacted (compaction revision " + std::to_string(compacted) +
                                           "); read again and watch from the read's revision + 1"
                                     : "etcd watch canceled: " + result.value("cancel_reason", std::string("no reason"))));
    return;
  }
  auto events = result.find("events");
  if (events == result.end() || events->empty()) return;
  std::vector<WatchEvent> out;
  int64_t last = 0;
  for (const auto& e : *events) {
    WatchEvent ev;
    ev.type = e.value("type", std::string("PUT")) == "DELETE" ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
    ev.kv = kv_from(e.value("kv", json::object()));
    last = std::max(last, ev.kv.mod_revision);
    out.push_back(std::move(ev));
  }
  try {
    on_events(header_revision(result), out);
  } catch (const std::exception& e) {
    finished = true;
    on_error(EtcdError(EtcdError::kCanceled, std::string("etcd watch: the event handler failed: ") + e.what()));
    return;
  }
  next_revision = last + 1;
}

Watch::Watch(ClientOptions options, std::string key, std::string range_end, int64_t start_revision,
             EventsFn on_events, ErrorFn on_error)
    : impl_(std::make_unique<Impl>()) {
  if (options.endpoints.empty()) throw std::invalid_argument("etcd watch: no endpoint given");
  for (const auto& e : options.endpoints) impl_->urls.push_back(normalize_endpoint(e));
  impl_->options = std::move(options);
  impl_->key = std::move(key);
  impl_->range_end = std::move(range_end);
  impl_->next_revision = start_revision;
  impl_->on_events = std::move(on_events);
  impl_->on_error = std::move(on_error);
  global_init_once();
  thread_ = std::thread([this] { run(); });
}

Watch::~Watch() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
    if (impl_->socket != CURL_SOCKET_BAD) ::shutdown(impl_->socket, SHUT_RDWR);
  }
  impl_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watch::run() {
  Impl& w = *impl_;
  CURL* c = curl_easy_init();
  if (!c) {
    w.on_error(EtcdError(EtcdError::kTransport, "etcd watch: curl_easy_init failed"));
    return;
  }
  size_t index = 0;
  while (!w.stop && !w.finished) {
    json create = {{"key", b64(w.key)}};
    if (!w.range_end.empty()) create["range_end"] = b64(w.range_end);
    if (w.next_revision > 0) create["start_revision"] = std::to_string(w.next_revision);
    const std::string body = json{{"create_request", create}}.dump();
    const std::string url = w.urls[index] + "/v3/watch";
    w.buffer.clear();
    struct curl_slist* headers = prepare_post(c, url, body, w.options.connect_timeout);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &w);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, &w);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, watch_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &w);
    // A member cut off without a FIN is noticed by TCP keepalive, not by a timeout on the stream.
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 2L);
    const CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (w.stop || w.finished) break;
    w.on_error(EtcdError(EtcdError::kTransport, "etcd watch on " + url + " ended (" + curl_easy_strerror(rc) +
                                                    "); resuming from revision " + std::to_string(w.next_revision)));
    index = (index + 1) % w.urls.size();
    std::unique_lock lock(w.mu);
    w.cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return w.stop.load(); });
  }
  curl_easy_cleanup(c);
}

}  // namespace ferry::etcd
