#include "bench/login_bench.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "bench/bench_error.h"
#include "bench/payload.h"
#include "security/scram.h"

namespace ferry::bench {
namespace {

constexpr int16_t kSaslHandshake = 17;
constexpr int16_t kSaslAuthenticate = 36;

using Bytes = std::string;

void put16(Bytes& b, int16_t v) {
  const uint16_t n = htons(static_cast<uint16_t>(v));
  b.append(reinterpret_cast<const char*>(&n), 2);
}
void put32(Bytes& b, int32_t v) {
  const uint32_t n = htonl(static_cast<uint32_t>(v));
  b.append(reinterpret_cast<const char*>(&n), 4);
}

// Reads big-endian fields from a response body; throws BenchError when it runs short.
class Reader {
 public:
  explicit Reader(const Bytes& b) : b_(b) {}
  int64_t integer(int width) {
    need(width);
    int64_t v = 0;
    for (int i = 0; i < width; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_ + i]);
    pos_ += width;
    // Sign-extend.
    if (width < 8 && (v & (int64_t{1} << (width * 8 - 1)))) v -= int64_t{1} << (width * 8);
    return v;
  }
  std::optional<std::string> string16() {
    const int64_t n = integer(2);
    if (n < 0) return std::nullopt;
    need(n);
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string bytes32() {
    const int64_t n = integer(4);
    if (n < 0) return {};
    need(n);
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  void need(int64_t n) {
    if (n < 0 || pos_ + n > b_.size()) throw BenchError("login: short response from the broker");
  }
  const Bytes& b_;
  size_t pos_ = 0;
};

class Connection {
 public:
  explicit Connection(const addrinfo* ai) {
    fd_ = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw BenchError(fmt::format("login: socket: {}", std::strerror(errno)));
    if (::connect(fd_, ai->ai_addr, ai->ai_addrlen) != 0) {
      const int e = errno;
      ::close(fd_);
      throw BenchError(fmt::format("login: connect: {}", std::strerror(e)));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { ::close(fd_); }

  // Sends one request (header v1: api key, version, correlation id, client id) and returns the
  // response body after the correlation id, which must match.
  Bytes call(int16_t api, int16_t version, const Bytes& body) {
    Bytes req;
    put16(req, api);
    put16(req, version);
    put32(req, ++correlation_);
    const std::string client_id = "ferry-bench";
    put16(req, static_cast<int16_t>(client_id.size()));
    req += client_id;
    req += body;
    Bytes frame;
    put32(frame, static_cast<int32_t>(req.size()));
    frame += req;
    write_all(frame);
    Bytes size_bytes = read_exact(4);
    Reader size_reader(size_bytes);
    const int64_t size = size_reader.integer(4);
    if (size < 4 || size > (1 << 20)) throw BenchError(fmt::format("login: response size {}", size));
    Bytes resp = read_exact(static_cast<size_t>(size));
    Reader r(resp);
    if (r.integer(4) != correlation_) throw BenchError("login: correlation id mismatch");
    return resp.substr(4);
  }

 private:
  void write_all(const Bytes& b) {
    size_t off = 0;
    while (off < b.size()) {
      const ssize_t n = ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw BenchError(fmt::format("login: send: {}", std::strerror(errno)));
      off += static_cast<size_t>(n);
    }
  }
  Bytes read_exact(size_t n) {
    Bytes out(n, '\0');
    size_t off = 0;
    while (off < n) {
      const ssize_t got = ::recv(fd_, out.data() + off, n - off, 0);
      if (got == 0) throw BenchError("login: the broker closed the connection");
      if (got < 0) throw BenchError(fmt::format("login: recv: {}", std::strerror(errno)));
      off += static_cast<size_t>(got);
    }
    return out;
  }
  int fd_ = -1;
  int32_t correlation_ = 0;
};

// RFC 5802 section 5.1: "=" and "," in a user name are written =3D and =2C.
std::string sasl_name(const std::string& user) {
  std::string out;
  for (char c : user) {
    if (c == '=') out += "=3D";
    else if (c == ',') out += "=2C";
    else out += c;
  }
  return out;
}

std::string attribute(const std::string& msg, char key) {
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t end = msg.find(',', pos);
    if (end == std::string::npos) end = msg.size();
    if (end - pos >= 2 && msg[pos] == key && msg[pos + 1] == '=') return msg.substr(pos + 2, end - pos - 2);
    pos = end + 1;
  }
  throw BenchError(fmt::format("login: SCRAM message without '{}=': {}", key, msg));
}

// The client's SCRAM keys per (salt, iterations), shared by the client threads: SaltedPassword,
// ClientKey = HMAC(SaltedPassword, "Client Key"), and StoredKey / ServerKey (RFC 5802 §3), all
// computed by security/scram.h.
struct ScramKeys {
  std::string client_key, stored_key, server_key;
};

class ScramKeyCache {
 public:
  ScramKeyCache(security::ScramMechanism m, std::string password) : m_(m), password_(std::move(password)) {}
  ScramKeys get(const std::string& salt, int iterations) {
    std::lock_guard lock(mu_);
    auto key = std::make_pair(salt, iterations);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    const std::string salted = security::scram_salted_password(m_, password_, salt, iterations);
    const security::ScramCredential cred =
        security::scram_credential_from_salted_password(m_, salt, salted, iterations);
    ScramKeys keys{security::scram_hmac(m_, salted, "Client Key"), cred.stored_key, cred.server_key};
    return cache_.emplace(key, std::move(keys)).first->second;
  }

 private:
  security::ScramMechanism m_;
  std::string password_;
  std::mutex mu_;
  std::map<std::pair<std::string, int>, ScramKeys> cache_;
};

// SaslAuthenticate v1; returns the server's auth bytes or throws with Kafka's error.
std::string authenticate(Connection& c, const std::string& token) {
  Bytes body;
  put32(body, static_cast<int32_t>(token.size()));
  body += token;
  Bytes resp = c.call(kSaslAuthenticate, 1, body);
  Reader r(resp);
  const int64_t code = r.integer(2);
  const std::optional<std::string> message = r.string16();
  std::string auth = r.bytes32();
  if (code != 0) {
    throw BenchError(fmt::format("login: SaslAuthenticate error {}: {}", code, message.value_or("")));
  }
  return auth;
}

struct Login {
  std::optional<security::ScramMechanism> scram;  // nullopt for PLAIN
  std::string mechanism;
  std::string user;
  std::string password;
  ScramKeyCache* keys;

  void once(const addrinfo* ai) const {
    Connection c(ai);
    Bytes body;
    put16(body, static_cast<int16_t>(mechanism.size()));
    body += mechanism;
    Bytes resp = c.call(kSaslHandshake, 1, body);
    Reader r(resp);
    if (const int64_t code = r.integer(2); code != 0) {
      throw BenchError(fmt::format("login: SaslHandshake {} error {}", mechanism, code));
    }
    if (!scram) {
      authenticate(c, std::string("\0", 1) + user + std::string("\0", 1) + password);
      return;
    }
    unsigned char raw[18];
    RAND_bytes(raw, sizeof raw);
    const std::string client_nonce =
        security::base64_encode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
    const std::string first_bare = "n=" + sasl_name(user) + ",r=" + client_nonce;
    const std::string server_first = authenticate(c, "n,," + first_bare);
    const std::string nonce = attribute(server_first, 'r');
    if (nonce.rfind(client_nonce, 0) != 0) throw BenchError("login: server nonce does not extend ours");
    const std::optional<std::string> salt = security::base64_decode(attribute(server_first, 's'));
    if (!salt) throw BenchError("login: bad base64 from the broker");
    const ScramKeys k = keys->get(*salt, std::stoi(attribute(server_first, 'i')));
    const std::string without_proof = "c=biws,r=" + nonce;
    const std::string auth_message = first_bare + "," + server_first + "," + without_proof;
    // ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage) (RFC 5802 §3).
    const std::string signature = security::scram_hmac(*scram, k.stored_key, auth_message);
    std::string proof = k.client_key;
    for (size_t i = 0; i < proof.size(); ++i) proof[i] = static_cast<char>(proof[i] ^ signature[i]);
    const std::string server_final = authenticate(c, without_proof + ",p=" + security::base64_encode(proof));
    const std::string expected = security::base64_encode(security::scram_hmac(*scram, k.server_key, auth_message));
    if (attribute(server_final, 'v') != expected) {
      throw BenchError("login: the broker's SCRAM server signature is wrong");
    }
  }
};

}  // namespace

LoginRun run_logins(const std::string& address, const std::string& mechanism,
                    const std::string& user, const std::string& password, int clients,
                    double seconds) {
  const size_t colon = address.rfind(':');
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* ai = nullptr;
  if (colon == std::string::npos ||
      ::getaddrinfo(address.substr(0, colon).c_str(), address.substr(colon + 1).c_str(), &hints, &ai) != 0) {
    throw BenchError(fmt::format("login: cannot resolve {}", address));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> ai_owner(ai, ::freeaddrinfo);

  const std::optional<security::ScramMechanism> scram = security::scram_mechanism_from_name(mechanism);
  if (!scram && mechanism != "PLAIN") throw BenchError("login: unsupported mechanism " + mechanism);
  ScramKeyCache keys(scram.value_or(security::ScramMechanism::Sha512), password);
  const Login login{scram, mechanism, user, password, &keys};

  // One untimed login first: wrong credentials fail fast, and the SaltedPassword is cached.
  login.once(ai);

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::string failure;
  std::vector<std::vector<int64_t>> per_thread(static_cast<size_t>(clients));
  const int64_t start_ns = monotonic_ns();
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      auto& samples = per_thread[static_cast<size_t>(t)];
      while (!stop.load(std::memory_order_relaxed)) {
        const int64_t begin = monotonic_ns();
        try {
          login.once(ai);
        } catch (const std::exception& e) {
          std::lock_guard lock(mu);
          if (failure.empty()) failure = e.what();
          stop = true;
          return;
        }
        samples.push_back(monotonic_ns() - begin);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  const int64_t end_ns = monotonic_ns();
  if (!failure.empty()) throw BenchError(fmt::format("{} on {}: {}", mechanism, address, failure));

  LoginRun run;
  run.mechanism = mechanism;
  run.clients = clients;
  std::vector<int64_t> all;
  for (auto& s : per_thread) all.insert(all.end(), s.begin(), s.end());
  run.logins = static_cast<int64_t>(all.size());
  // Logins in flight when `stop` was set finish after it and are counted: the clock runs to
  // the last one's end.
  run.seconds = static_cast<double>(end_ns - start_ns) / 1e9;
  run.latency = summarize(all);
  return run;
}

}  // namespace ferry::bench
