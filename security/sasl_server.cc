#include "security/sasl_server.h"


#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <unistd.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <spdlog/spdlog.h>

#include "security/scram_nonce_compat.h"

#include <array>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>

#ifndef FERRY_SASL_PLUGIN_DIR
#define FERRY_SASL_PLUGIN_DIR "/usr/lib/x86_64-linux-gnu/sasl2"
#endif

namespace ferry::security {

/// Per-session state the Cyrus callbacks see (their context pointer). Written only by the thread
/// running the session's step().
struct SaslSession::Impl {
  std::string mechanism;
  std::optional<ScramMechanism> scram;  // set for SCRAM sessions
  const CredentialSource* credentials = nullptr;
  std::size_t max_receive = kSaslServerMaxReceiveSizeDefault;
  std::string client_address;
  sasl_conn_t* conn = nullptr;
  std::array<sasl_callback_t, 4> callbacks{};
  enum class Phase { Fresh, Started, Finished } phase = Phase::Fresh;
  // What the callbacks learned during the exchange (for the audit reason).
  std::string attempted_user;
  bool unknown_user = false;
  bool wrong_password = false;
  bool store_error = false;
  std::string authzid_mismatch;  // the requested authzid, when it differed from the user
  // Secrets of the current step, redacted from Cyrus log lines (the PLAIN token's password).
  std::string secret;
  // SCRAM messages kept for librdkafka's doubled final nonce (scram_nonce_compat.h).
  std::string client_first_bare, server_first;
  std::optional<ScramNonceRewrite> rewrite;
  std::optional<ScramCredential> rewrite_credential;

  ~Impl() {
    if (conn != nullptr) sasl_dispose(&conn);
    if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  }
};

namespace {

// Cyrus stores every callback as int (*)(void); going through void (*)() is the sanctioned
// generic function-pointer cast (no -Wcast-function-type).
template <typename F>
sasl_callback_ft as_callback(F* f) {
  return reinterpret_cast<sasl_callback_ft>(reinterpret_cast<void (*)()>(f));
}

constexpr const char* kAuxpropName = "ferry";
constexpr const char* kAuthPasswordProp = "*authPassword";
const std::array<std::string, 3> kWanted = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};

/// A client-supplied name as it may appear in a log or audit line: control bytes as \xNN, at most
/// 200 bytes (then "...").
std::string printable(std::string_view raw) {
  std::string out;
  for (unsigned char c : raw.substr(0, 200)) {
    if (c < 0x20 || c == 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (raw.size() > 200) out += "...";
  return out;
}

// ---- logging ---------------------------------------------------------------------------------

std::string redact(std::string line, const std::string& secret) {
  if (secret.empty()) return line;
  for (std::size_t at = line.find(secret); at != std::string::npos; at = line.find(secret, at + 3)) {
    line.replace(at, secret.size(), "***");
  }
  return line;
}

void log_line(int level, std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  switch (level) {
    case SASL_LOG_ERR: spdlog::error("sasl: {}", text); break;
    case SASL_LOG_NOTE: spdlog::info("sasl: {}", text); break;
    case SASL_LOG_FAIL:  // why one login failed: the session's Step.error (audit log) says it with context
    case SASL_LOG_DEBUG: spdlog::debug("sasl: {}", text); break;
    case SASL_LOG_WARN: spdlog::warn("sasl: {}", text); break;
    case SASL_LOG_TRACE: spdlog::trace("sasl: {}", text); break;
    default: break;  // SASL_LOG_PASS traces passwords: never logged
  }
}

int global_log_cb(void*, int level, const char* message) {
  if (message != nullptr) log_line(level, message);
  return SASL_OK;
}

int session_log_cb(void* context, int level, const char* message) {
  if (message == nullptr) return SASL_OK;
  auto* s = static_cast<SaslSession::Impl*>(context);
  log_line(level, s->mechanism + " from " + (s->client_address.empty() ? "?" : s->client_address) + ": " +
                     redact(message, s->secret));
  return SASL_OK;
}

// ---- options, plugins ------------------------------------------------------------------------

int getopt_cb(void*, const char* plugin_name, const char* option, const char** result, unsigned* len) {
  const char* value = nullptr;
  if (plugin_name == nullptr || *plugin_name == '\0') {
    if (std::strcmp(option, "mech_list") == 0) value = "PLAIN SCRAM-SHA-256 SCRAM-SHA-512";
    else if (std::strcmp(option, "auxprop_plugin") == 0) value = kAuxpropName;
    else if (std::strcmp(option, "pwcheck_method") == 0) value = "auxprop";  // after our checkpass callback: finds nothing
    else if (std::strcmp(option, "log_level") == 0) {
      // Cyrus levels: ERR 1 .. DEBUG 5, TRACE 6, PASS 7 (passwords). Never above DEBUG.
      switch (spdlog::get_level()) {
        case spdlog::level::trace:
        case spdlog::level::debug: value = "5"; break;
        case spdlog::level::info: value = "4"; break;
        case spdlog::level::warn: value = "3"; break;
        default: value = "1"; break;
      }
    }
  }
  if (value == nullptr) return SASL_FAIL;
  *result = value;
  if (len != nullptr) *len = static_cast<unsigned>(std::strlen(value));
  return SASL_OK;
}

int getpath_cb(void*, const char** path) {
  *path = FERRY_SASL_PLUGIN_DIR;
  return SASL_OK;
}

int verifyfile_cb(void*, const char* file, sasl_verify_type_t type) {
  if (type != SASL_VRFY_PLUGIN) return SASL_CONTINUE;  // no config or password files
  const char* base = std::strrchr(file, '/');
  base = base == nullptr ? file : base + 1;
  // Only the mechanisms Ferry serves; in particular not libsasldb (it would open /etc/sasldb2).
  if (std::strncmp(base, "libplain.", 9) == 0 || std::strncmp(base, "libscram.", 9) == 0) return SASL_OK;
  return SASL_CONTINUE;
}

// Real mutexes for Cyrus (its built-in ones are no-ops).
void* mutex_alloc() {
  auto* m = new (std::nothrow) pthread_mutex_t;
  if (m != nullptr) pthread_mutex_init(m, nullptr);
  return m;
}
int mutex_lock(void* m) { return pthread_mutex_lock(static_cast<pthread_mutex_t*>(m)) == 0 ? SASL_OK : SASL_FAIL; }
int mutex_unlock(void* m) {
  return pthread_mutex_unlock(static_cast<pthread_mutex_t*>(m)) == 0 ? SASL_OK : SASL_FAIL;
}
void mutex_free(void* m) {
  pthread_mutex_destroy(static_cast<pthread_mutex_t*>(m));
  delete static_cast<pthread_mutex_t*>(m);
}

int checkpass_cb(sasl_conn_t*, void* context, const char* user, const char* pass, unsigned passlen,
                 struct propctx*);

// The session a Cyrus connection belongs to: the context of the connection's own checkpass
// callback (every Ferry session registers one), so no global registry is needed.
SaslSession::Impl* session_of(const sasl_utils_t* utils) {
  sasl_callback_ft proc = nullptr;
  void* context = nullptr;
  if (utils->getcallback(utils->conn, SASL_CB_SERVER_USERDB_CHECKPASS, &proc, &context) != SASL_OK ||
      proc != as_callback(&checkpass_cb)) {
    return nullptr;
  }
  return static_cast<SaslSession::Impl*>(context);
}

// ---- unknown users ----------------------------------------------------------------------------

/// A plausible credential for a user that has none, so SCRAM fails at the proof exactly like a
/// wrong password (RFC 5802 §9 "mock" salt). Salt and keys derive from a per-process random key
/// and the user name: stable for one name, unrelated across names.
ScramCredential mock_credential(const std::string& user, ScramMechanism m) {
  static const std::string key = [] {
    std::string k(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(k.data()), static_cast<int>(k.size())) != 1) {
      throw std::runtime_error("OpenSSL RAND_bytes failed");
    }
    return k;
  }();
  auto mac = [&](std::string_view label) {
    return scram_hmac(m, key, std::string(label) + '\0' + scram_mechanism_name(m) + '\0' + user);
  };
  return ScramCredential{m, kScramDefaultIterations, mac("salt").substr(0, 32), mac("stored"), mac("server")};
}

// ---- the auxprop plugin: SCRAM secrets from the session's CredentialSource ---------------------

int auxprop_lookup(void*, sasl_server_params_t* sparams, unsigned flags, const char* user, unsigned ulen) {
  if ((flags & SASL_AUXPROP_AUTHZID) != 0) return SASL_OK;  // we serve authentication secrets only
  SaslSession::Impl* s = session_of(sparams->utils);
  if (s == nullptr) return SASL_NOMECH;  // not a Ferry session
  // PLAIN sessions are checked by checkpass_cb; Cyrus's fallback (pwcheck_method auxprop) asks
  // for a plaintext userPassword, which Ferry never has.
  if (!s->scram || user == nullptr) return SASL_NOUSER;
  const struct propval* props = sparams->utils->prop_get(sparams->propctx);
  if (props == nullptr) return SASL_OK;
  const struct propval* wanted = nullptr;
  for (const struct propval* p = props; p->name != nullptr; ++p) {
    if (std::strcmp(p->name, kAuthPasswordProp) == 0) wanted = p;
  }
  if (wanted == nullptr) return SASL_OK;  // nothing we serve was asked for
  if (wanted->values != nullptr) {
    if ((flags & SASL_AUXPROP_OVERRIDE) == 0) return SASL_OK;
    sparams->utils->prop_erase(sparams->propctx, kAuthPasswordProp);
  }
  std::string name(user, ulen);
  s->attempted_user = name;
  std::optional<ScramCredential> cred;
  try {
    cred = s->credentials->scram_credential(name, *s->scram);
  } catch (const std::exception& e) {
    s->store_error = true;
    spdlog::error("sasl: credential store failed for user '{}': {}", printable(name), e.what());
    return SASL_FAIL;
  }
  if (!cred || cred->mechanism != *s->scram) {
    s->unknown_user = true;
    cred = mock_credential(name, *s->scram);
  }
  std::string value = scram_auth_password(*cred);
  int rc = sparams->utils->prop_set(sparams->propctx, kAuthPasswordProp, value.c_str(),
                                    static_cast<int>(value.size()));
  OPENSSL_cleanse(value.data(), value.size());
  return rc;
}

int auxprop_init(const sasl_utils_t*, int max_version, int* out_version, sasl_auxprop_plug_t** plug,
                 const char*) {
  static sasl_auxprop_plug_t plugin = [] {
    sasl_auxprop_plug_t p{};
    p.auxprop_lookup = &auxprop_lookup;
    p.name = const_cast<char*>(kAuxpropName);
    return p;
  }();
  if (max_version < SASL_AUXPROP_PLUG_VERSION) return SASL_BADVERS;
  *out_version = SASL_AUXPROP_PLUG_VERSION;
  *plug = &plugin;
  return SASL_OK;
}

// ---- PLAIN: the password checked against the stored SCRAM credentials --------------------------

int checkpass_cb(sasl_conn_t*, void* context, const char* user, const char* pass, unsigned passlen,
                 struct propctx*) {
  auto* s = static_cast<SaslSession::Impl*>(context);
  std::string name = user == nullptr ? "" : user;
  s->attempted_user = name;
  std::string_view password(pass, passlen);
  // One PBKDF2 per mechanism whether or not the user has that credential (a mock stands in), so
  // a failure takes the same work for an unknown user as for a wrong password.
  bool any = false, ok = false;
  try {
    for (ScramMechanism m : {ScramMechanism::Sha512, ScramMechanism::Sha256}) {
      std::optional<ScramCredential> cred = s->credentials->scram_credential(name, m);
      if (cred && cred->mechanism == m) {
        any = true;
        if (scram_verify_password(*cred, password)) {
          ok = true;
          break;
        }
      } else {
        (void)scram_verify_password(mock_credential(name, m), password);
      }
    }
  } catch (const std::exception& e) {
    s->store_error = true;
    spdlog::error("sasl: credential store failed for user '{}': {}", printable(name), e.what());
    return SASL_FAIL;
  }
  if (ok) return SASL_OK;
  if (!any) {
    s->unknown_user = true;
    return SASL_NOUSER;
  }
  s->wrong_password = true;
  return SASL_BADAUTH;
}

// ---- authorization id: empty or equal to the user (Kafka's PLAIN and SCRAM servers) -----------

int proxy_policy_cb(sasl_conn_t* conn, void* context, const char* requested_user, unsigned rlen,
                    const char* auth_identity, unsigned alen, const char*, unsigned, struct propctx*) {
  auto* s = static_cast<SaslSession::Impl*>(context);
  std::string_view requested(requested_user == nullptr ? "" : requested_user, requested_user ? rlen : 0);
  std::string_view authid(auth_identity == nullptr ? "" : auth_identity, auth_identity ? alen : 0);
  if (requested.empty() || requested == authid) return SASL_OK;
  s->authzid_mismatch = std::string(requested);
  sasl_seterror(conn, 0, "authorization id differs from the user name");
  return SASL_NOAUTHZ;
}

std::string cyrus_error(int rc) { return std::string(sasl_errstring(rc, nullptr, nullptr)) + " (" + std::to_string(rc) + ")"; }

}  // namespace

// ---- factory --------------------------------------------------------------------------------------

SaslServerFactory::SaslServerFactory() {
  static sasl_callback_t global_callbacks[] = {
      {SASL_CB_LOG, as_callback(&global_log_cb), nullptr},
      {SASL_CB_GETOPT, as_callback(&getopt_cb), nullptr},
      {SASL_CB_GETPATH, as_callback(&getpath_cb), nullptr},
      {SASL_CB_VERIFYFILE, as_callback(&verifyfile_cb), nullptr},
      {SASL_CB_LIST_END, nullptr, nullptr},
  };
  // The server name Cyrus records per connection: the host name, read once and never resolved
  // (given no name, sasl_server_new resolves the host's FQDN through DNS on every connection).
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  server_name_ = host;
  sasl_set_mutex(&mutex_alloc, &mutex_lock, &mutex_unlock, &mutex_free);
  // No application name: Cyrus reads no <app>.conf.
  int rc = sasl_server_init(global_callbacks, nullptr);
  if (rc != SASL_OK) throw std::runtime_error("Cyrus SASL sasl_server_init failed: " + cyrus_error(rc));
  rc = sasl_auxprop_add_plugin(kAuxpropName, &auxprop_init);
  if (rc != SASL_OK) throw std::runtime_error("Cyrus SASL sasl_auxprop_add_plugin failed: " + cyrus_error(rc));
  const char** listed = sasl_global_listmech();
  for (const std::string& want : kWanted) {
    for (const char** m = listed; m != nullptr && *m != nullptr; ++m) {
      if (want == *m) {
        mechanisms_.push_back(want);
        break;
      }
    }
  }
  spdlog::info("sasl: Cyrus SASL server ready, mechanisms: {}", [&] {
                 std::string all;
                 for (const auto& m : mechanisms_) all += (all.empty() ? "" : " ") + m;
                 return all.empty() ? std::string("(none)") : all;
               }());
}

SaslServerFactory& SaslServerFactory::instance() {
  static SaslServerFactory factory;  // a throwing constructor is retried on the next call
  return factory;
}

std::vector<std::string> SaslServerFactory::available_mechanisms() const { return mechanisms_; }

std::unique_ptr<SaslSession> SaslServerFactory::start(const std::string& mechanism,
                                                      const CredentialSource& credentials,
                                                      const std::string& client_address,
                                                      const std::string& local_address,
                                                      std::size_t max_receive) {
  bool available = false;
  for (const auto& m : mechanisms_) available = available || m == mechanism;
  if (!available) throw std::invalid_argument("SASL mechanism '" + mechanism + "' is not available");
  auto impl = std::make_unique<SaslSession::Impl>();
  impl->mechanism = mechanism;
  impl->scram = scram_mechanism_from_name(mechanism);
  impl->credentials = &credentials;
  impl->max_receive = std::min<std::size_t>(max_receive, UINT_MAX);
  impl->client_address = client_address;
  void* ctx = impl.get();
  impl->callbacks = {{
      {SASL_CB_LOG, as_callback(&session_log_cb), ctx},
      {SASL_CB_SERVER_USERDB_CHECKPASS, as_callback(&checkpass_cb), ctx},
      {SASL_CB_PROXY_POLICY, as_callback(&proxy_policy_cb), ctx},
      {SASL_CB_LIST_END, nullptr, nullptr},
  }};
  (void)local_address;  // Cyrus needs addresses only for mechanisms with security layers
  // user_realm NULL: the realm is pinned to none (see the header).
  int rc = sasl_server_new("kafka", server_name_.c_str(), nullptr, nullptr, nullptr, impl->callbacks.data(),
                           SASL_SUCCESS_DATA, &impl->conn);
  if (rc != SASL_OK) throw std::runtime_error("Cyrus SASL sasl_server_new failed: " + cyrus_error(rc));
  // No security layer (Kafka has none: TLS does that); allow plaintext mechanisms (PLAIN).
  sasl_security_properties_t props{};
  props.min_ssf = 0;
  props.max_ssf = 0;
  props.maxbufsize = 0;
  props.security_flags = 0;
  rc = sasl_setprop(impl->conn, SASL_SEC_PROPS, &props);
  if (rc != SASL_OK) throw std::runtime_error("Cyrus SASL sasl_setprop failed: " + cyrus_error(rc));
  return std::unique_ptr<SaslSession>(new SaslSession(std::move(impl)));
}

// ---- session --------------------------------------------------------------------------------------

SaslSession::SaslSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SaslSession::~SaslSession() = default;

const std::string& SaslSession::mechanism() const { return impl_->mechanism; }

SaslSession::Step SaslSession::step(std::string_view token) {
  Impl& s = *impl_;
  auto fail = [&](std::string why) {
    s.phase = Impl::Phase::Finished;
    if (!s.secret.empty()) OPENSSL_cleanse(s.secret.data(), s.secret.size());
    s.secret.clear();
    return Step{Step::State::Failed, {}, {}, s.mechanism + ": " + std::move(why)};
  };
  if (s.phase == Impl::Phase::Finished) return fail("token after the exchange finished");
  if (token.size() > s.max_receive) {
    return fail("token of " + std::to_string(token.size()) + " bytes exceeds sasl.server.max.receive.size " +
                std::to_string(s.max_receive));
  }
  if (s.phase == Impl::Phase::Fresh && token.empty()) return fail("empty initial token");

  if (s.mechanism == "PLAIN") {
    // authzid NUL authcid NUL password: the last field is the secret to keep out of log lines.
    std::size_t last_nul = token.rfind('\0');
    s.secret = last_nul == std::string_view::npos ? std::string(token) : std::string(token.substr(last_nul + 1));
  }
  const char* out = nullptr;
  unsigned outlen = 0;
  int rc;
  if (s.phase == Impl::Phase::Fresh) {
    s.phase = Impl::Phase::Started;
    rc = sasl_server_start(s.conn, s.mechanism.c_str(), token.data(), static_cast<unsigned>(token.size()), &out,
                           &outlen);
    if (s.scram) s.client_first_bare = std::string(scram_client_first_bare(token));
  } else {
    std::string_view to_cyrus = token;
    if (s.scram && !s.server_first.empty()) {
      // librdkafka < 2.6.1 repeats its nonce in the final message; Kafka accepts it, Cyrus does not.
      std::optional<ScramCredential> credential;
      try {
        credential = s.credentials->scram_credential(scram_user_of(s.client_first_bare), *s.scram);
      } catch (const std::exception&) {
      }
      if (credential) s.rewrite = rewrite_doubled_nonce(*credential, s.client_first_bare, s.server_first, token);
      if (s.rewrite) to_cyrus = s.rewrite->client_final;
      s.rewrite_credential = std::move(credential);
    }
    rc = sasl_server_step(s.conn, to_cyrus.data(), static_cast<unsigned>(to_cyrus.size()), &out, &outlen);
  }
  std::string challenge = out == nullptr ? std::string() : std::string(out, outlen);
  if (s.scram && s.server_first.empty() && rc == SASL_CONTINUE) s.server_first = challenge;
  if (rc == SASL_OK && s.rewrite && s.rewrite_credential)
    challenge = resign_server_final(*s.rewrite_credential, *s.rewrite, challenge);

  if (rc == SASL_CONTINUE) {
    s.secret.clear();
    return Step{Step::State::Continue, std::move(challenge), {}, {}};
  }
  if (rc == SASL_OK) {
    const void* name = nullptr;
    if (sasl_getprop(s.conn, SASL_USERNAME, &name) != SASL_OK || name == nullptr) {
      return fail("no user name after a successful exchange");
    }
    s.phase = Impl::Phase::Finished;
    if (!s.secret.empty()) OPENSSL_cleanse(s.secret.data(), s.secret.size());
    s.secret.clear();
    return Step{Step::State::Done, std::move(challenge), static_cast<const char*>(name), {}};
  }
  // Failure: name what happened for the audit log; Cyrus's detail only for protocol errors.
  const std::string who = s.attempted_user.empty() ? "" : " '" + printable(s.attempted_user) + "'";
  if (s.store_error) return fail("credential store error for user" + who);
  if (!s.authzid_mismatch.empty()) {
    return fail("authorization id '" + printable(s.authzid_mismatch) + "' differs from user" + who);
  }
  if (s.unknown_user) return fail("unknown user" + who);
  if (s.wrong_password || rc == SASL_BADAUTH) return fail("wrong password for user" + who);
  const char* detail = sasl_errdetail(s.conn);
  std::string why = "malformed exchange: " + cyrus_error(rc);
  if (detail != nullptr) {
    std::string d = redact(detail, s.secret);
    while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
    why += ": " + printable(d);
  }
  return fail(std::move(why));
}

}  // namespace ferry::security
