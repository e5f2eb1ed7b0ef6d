#include "client/wire_client.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sasl/sasl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <sstream>

#include "broker/protocol/messages/api_versions.h"
#include "broker/protocol/messages/sasl.h"
#include "security/sasl_client.h"

namespace ferry::client {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
namespace proto = ferry::protocol;

namespace {

constexpr int32_t kMaxResponse = 16 << 20;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string get(const std::map<std::string, std::string>& p, const std::string& k) {
  auto it = p.find(k);
  return it == p.end() ? "" : it->second;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// OpenSSL's queued reasons, newest last, "; "-joined.
std::string openssl_reasons() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out;
}

}  // namespace

WireSecurity parse_wire_security(const std::map<std::string, std::string>& props) {
  WireSecurity s;
  const std::string proto = lower(get(props, "security.protocol"));
  if (proto.empty() || proto == "plaintext") {
  } else if (proto == "ssl") {
    s.tls = true;
  } else if (proto == "sasl_plaintext") {
    s.sasl = true;
  } else if (proto == "sasl_ssl") {
    s.tls = s.sasl = true;
  } else {
    throw std::invalid_argument(fmt::format("security.protocol '{}' is not one of plaintext, ssl, sasl_plaintext, sasl_ssl",
                                            get(props, "security.protocol")));
  }
  s.ca_location = get(props, "ssl.ca.location");
  s.certificate_location = get(props, "ssl.certificate.location");
  s.key_location = get(props, "ssl.key.location");
  s.key_password = get(props, "ssl.key.password");
  if (s.certificate_location.empty() != s.key_location.empty())
    throw std::invalid_argument("ssl.certificate.location and ssl.key.location go together (mutual TLS needs both)");
  if (props.count("ssl.endpoint.identification.algorithm")) {
    const std::string a = lower(get(props, "ssl.endpoint.identification.algorithm"));
    if (a == "https") s.verify_hostname = true;
    else if (a == "none" || a.empty()) s.verify_hostname = false;
    else
      throw std::invalid_argument(fmt::format("ssl.endpoint.identification.algorithm '{}' is not https, none or empty", a));
  }
  if (props.count("enable.ssl.certificate.verification")) {
    const std::string v = lower(get(props, "enable.ssl.certificate.verification"));
    if (v != "true" && v != "false")
      throw std::invalid_argument(fmt::format("enable.ssl.certificate.verification '{}' is not true or false", v));
    s.verify_certificate = v == "true";
  }
  if (s.sasl) {
    s.mechanism = get(props, "sasl.mechanism");
    if (s.mechanism.empty()) s.mechanism = get(props, "sasl.mechanisms");
    if (s.mechanism.empty()) s.mechanism = "GSSAPI";  // librdkafka's default
    if (s.mechanism != "PLAIN" && s.mechanism != "SCRAM-SHA-256" && s.mechanism != "SCRAM-SHA-512")
      throw std::invalid_argument(fmt::format(
          "sasl.mechanism '{}' is not supported by Ferry's protocol client; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
          s.mechanism));
    s.username = get(props, "sasl.username");
    s.password = get(props, "sasl.password");
    if (s.username.empty()) throw std::invalid_argument(fmt::format("sasl.mechanism {} needs sasl.username", s.mechanism));
    if (!props.count("sasl.password"))
      throw std::invalid_argument(
          fmt::format("sasl.mechanism {} needs sasl.password (or sasl.password.file / sasl.password.env)", s.mechanism));
  }
  return s;
}

std::vector<std::pair<std::string, std::string>> parse_bootstrap_servers(const std::string& list) {
  std::vector<std::pair<std::string, std::string>> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    if (auto p = item.find("://"); p != std::string::npos) item = item.substr(p + 3);  // librdkafka accepts it
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size())
      throw std::invalid_argument(fmt::format("bootstrap server '{}' is not host:port", item));
    std::string host = item.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    out.emplace_back(host, item.substr(colon + 1));
  }
  if (out.empty()) throw std::invalid_argument(fmt::format("bootstrap.servers '{}' lists no server", list));
  return out;
}

struct WireConnection::Impl {
  asio::io_context io;
  std::optional<ssl::context> ctx;
  std::unique_ptr<ssl::stream<tcp::socket>> tls;
  std::unique_ptr<tcp::socket> plain;
  std::chrono::steady_clock::time_point deadline;

  tcp::socket& sock() { return tls ? tls->next_layer() : *plain; }

  // Runs the io_context until `done` or the deadline; throws on timeout or error.
  void wait(bool& done, boost::system::error_code& ec, const std::string& server, const char* what) {
    io.restart();
    io.run_until(deadline);
    if (!done) {
      boost::system::error_code ignored;
      sock().close(ignored);
      io.restart();
      io.run();
      throw WireError("NETWORK", fmt::format("{}: {} timed out", server, what));
    }
    if (ec) throw WireError("NETWORK", fmt::format("{}: {} failed: {}", server, what, ec.message()));
  }

  template <class Buffers>
  void write(const Buffers& b, const std::string& server) {
    boost::system::error_code ec;
    bool done = false;
    auto h = [&](const boost::system::error_code& e, size_t) { ec = e, done = true; };
    if (tls) asio::async_write(*tls, b, h);
    else asio::async_write(*plain, b, h);
    wait(done, ec, server, "send");
  }
  template <class Buffers>
  void read(const Buffers& b, const std::string& server) {
    boost::system::error_code ec;
    bool done = false;
    auto h = [&](const boost::system::error_code& e, size_t) { ec = e, done = true; };
    if (tls) asio::async_read(*tls, b, h);
    else asio::async_read(*plain, b, h);
    wait(done, ec, server, "read");
  }
};

WireConnection::WireConnection(const std::string& host, const std::string& port, const WireSecurity& security,
                               const std::string& client_id, std::chrono::steady_clock::time_point deadline)
    : impl_(std::make_unique<Impl>()), server_(host + ":" + port), client_id_(client_id) {
  Impl& m = *impl_;
  m.deadline = deadline;
  if (security.tls) {
    m.ctx.emplace(ssl::context::tls_client);
    boost::system::error_code ec;
    auto fail = [&](const std::string& what) {
      throw WireError("SSL_HANDSHAKE", fmt::format("{}: TLS setup failed: {}: {}", server_, what,
                                                   ec ? ec.message() : openssl_reasons()));
    };
    if (security.ca_location.empty()) m.ctx->set_default_verify_paths(ec);
    else m.ctx->load_verify_file(security.ca_location, ec);
    if (ec) fail("ssl.ca.location '" + security.ca_location + "'");
    if (!security.key_password.empty()) {
      std::string pw = security.key_password;
      m.ctx->set_password_callback([pw](size_t, ssl::context::password_purpose) { return pw; });
    }
    if (!security.certificate_location.empty()) {
      m.ctx->use_certificate_chain_file(security.certificate_location, ec);
      if (ec) fail("ssl.certificate.location '" + security.certificate_location + "'");
      m.ctx->use_private_key_file(security.key_location, ssl::context::pem, ec);
      if (ec) fail("ssl.key.location '" + security.key_location + "'");
    }
    m.ctx->set_verify_mode(security.verify_certificate ? ssl::verify_peer : ssl::verify_none);
    m.tls = std::make_unique<ssl::stream<tcp::socket>>(m.io, *m.ctx);
    SSL* s = m.tls->native_handle();
    if (security.verify_certificate && security.verify_hostname) {
      if (is_ip_literal(host)) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), host.c_str());
      else SSL_set1_host(s, host.c_str());
    }
    if (!is_ip_literal(host)) SSL_set_tlsext_host_name(s, host.c_str());
  } else {
    m.plain = std::make_unique<tcp::socket>(m.io);
  }

  tcp::resolver resolver(m.io);
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) throw WireError("NETWORK", fmt::format("{}: cannot resolve: {}", server_, ec.message()));
  bool done = false;
  asio::async_connect(m.sock(), endpoints, [&](const boost::system::error_code& e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  m.wait(done, ec, server_, "connect");

  if (m.tls) {
    done = false;
    m.tls->async_handshake(ssl::stream_base::client, [&](const boost::system::error_code& e) {
      ec = e;
      done = true;
    });
    try {
      m.wait(done, ec, server_, "TLS handshake");
    } catch (const WireError& e) {
      std::string why = ec ? ec.message() : e.what();
      const long vr = SSL_get_verify_result(m.tls->native_handle());
      if (vr != X509_V_OK) why += fmt::format(" ({})", X509_verify_cert_error_string(vr));
      throw WireError("SSL_HANDSHAKE", fmt::format("{}: TLS handshake failed: {}", server_, why));
    }
  }

  proto::ApiVersionsRequest av;
  auto resp = call(av, 0);
  if (resp.error_code != proto::ErrorCode::NONE)
    throw WireError(proto::error_name(resp.error_code),
                    fmt::format("{}: ApiVersions failed: {}", server_, proto::error_name(resp.error_code)));
  for (const auto& k : resp.api_keys) versions_[k.api_key] = {k.min_version, k.max_version};

  if (security.sasl) authenticate(security);
}

WireConnection::~WireConnection() = default;

int16_t WireConnection::version_for(int16_t api_key, int16_t ours) const {
  auto it = versions_.find(api_key);
  if (it == versions_.end() || it->second.first > ours) return -1;
  return std::min(ours, it->second.second);
}

void WireConnection::authenticate(const WireSecurity& s) {
  const std::string who = fmt::format("SASL {} authentication as user '{}'", s.mechanism, s.username);
  proto::SaslHandshakeRequest hs;
  hs.mechanism = s.mechanism;
  auto hr = call(hs, 1);
  if (hr.error_code != proto::ErrorCode::NONE) {
    std::string enabled;
    for (const auto& mech : hr.mechanisms) enabled += (enabled.empty() ? "" : ", ") + mech;
    throw WireError(proto::error_name(hr.error_code),
                    fmt::format("{}: {} refused by SaslHandshake: {} (the listener enables: {})", server_, who,
                                proto::error_name(hr.error_code), enabled.empty() ? "none" : enabled));
  }
  const int16_t auth_version = version_for(proto::SaslAuthenticateRequest::api_key, 1);
  if (auth_version < 0)
    throw WireError("UNSUPPORTED_VERSION", fmt::format("{}: the broker lacks SaslAuthenticate (API key 36)", server_));
  security::SaslClient cyrus(s.mechanism, s.username, s.password, server_.substr(0, server_.rfind(':')));
  std::string token;
  int rc = cyrus.start(&token);
  if (rc != SASL_OK && rc != SASL_CONTINUE)
    throw WireError("SASL_AUTHENTICATION_FAILED", fmt::format("{}: {} could not start: {}", server_, who, cyrus.detail()));
  for (int round = 0; round < 10; ++round) {
    proto::SaslAuthenticateRequest req;
    req.auth_bytes.assign(token.begin(), token.end());
    auto ar = call(req, auth_version);
    if (ar.error_code != proto::ErrorCode::NONE)
      throw WireError(proto::error_name(ar.error_code),
                      fmt::format("{}: {} failed: {}: {}", server_, who, proto::error_name(ar.error_code),
                                  ar.error_message.value_or("(no message)")));
    if (rc == SASL_OK) {
      if (!ar.auth_bytes.empty())
        throw WireError("SASL_AUTHENTICATION_FAILED", fmt::format("{}: {}: the broker sent data after the exchange ended",
                                                                  server_, who));
      return;
    }
    rc = cyrus.step(std::string_view(reinterpret_cast<const char*>(ar.auth_bytes.data()), ar.auth_bytes.size()), &token);
    if (rc != SASL_OK && rc != SASL_CONTINUE)
      throw WireError("SASL_AUTHENTICATION_FAILED",
                      fmt::format("{}: {} failed on the client side (a wrong server signature means the broker does not "
                                  "know this password): {}",
                                  server_, who, cyrus.detail()));
    // SCRAM ends with the client verifying the server's final message; nothing more to send.
    if (rc == SASL_OK && token.empty() && s.mechanism != "PLAIN") return;
  }
  throw WireError("SASL_AUTHENTICATION_FAILED", fmt::format("{}: {} did not finish in 10 rounds", server_, who));
}

void WireConnection::set_deadline(std::chrono::steady_clock::time_point deadline) { impl_->deadline = deadline; }

proto::Bytes WireConnection::exchange(const proto::Bytes& frame) {
  proto::Bytes out;
  proto::Writer w(out);
  w.i32(static_cast<int32_t>(frame.size()));
  out.insert(out.end(), frame.begin(), frame.end());
  impl_->write(asio::buffer(out), server_);
  uint8_t size_buf[4];
  impl_->read(asio::buffer(size_buf), server_);
  proto::Reader r({size_buf, 4});
  const int32_t size = r.i32();
  if (size < 4 || size > kMaxResponse)
    throw WireError("NETWORK", fmt::format("{}: response size {} out of range", server_, size));
  proto::Bytes body(static_cast<size_t>(size));
  impl_->read(asio::buffer(body), server_);
  return body;
}

void WireConnection::read_response_header(proto::Reader& r, int32_t want, bool flexible) {
  const int32_t correlation = r.i32();
  if (correlation != want)
    throw proto::DecodeError(fmt::format("correlation id {} does not match the request's {}", correlation, want));
  if (flexible) {
    const uint32_t n = r.uvarint();
    for (uint32_t i = 0; i < n; ++i) {
      r.uvarint();
      r.skip(r.uvarint());
    }
  }
}

void with_cluster(const std::map<std::string, std::string>& props, const std::string& client_id,
                  std::chrono::milliseconds timeout, const std::function<void(WireConnection&)>& fn) {
  const WireSecurity security = parse_wire_security(props);
  auto it = props.find("bootstrap.servers");
  const auto servers = parse_bootstrap_servers(it == props.end() ? "" : it->second);
  std::string failures;
  for (const auto& [host, port] : servers) {
    try {
      WireConnection conn(host, port, security, client_id, std::chrono::steady_clock::now() + timeout);
      fn(conn);
      return;
    } catch (const WireError& e) {
      if (e.code() != "NETWORK") throw;
      failures += (failures.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  throw WireError("NETWORK", fmt::format("no bootstrap server answered ({})", failures));
}

}  // namespace ferry::client
