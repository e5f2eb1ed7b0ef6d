#include "security/sasl_client.h"

#include <sasl/saslplug.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace ferry::security {
namespace {
// Cyrus stores every callback as int (*)(void); going through void (*)() is the sanctioned
// generic function-pointer cast (no -Wcast-function-type).
template <typename F>
sasl_callback_ft as_callback(F* f) {
  return reinterpret_cast<sasl_callback_ft>(reinterpret_cast<void (*)()>(f));
}
}  // namespace

SaslClient::SaslClient(std::string mechanism, std::string user, std::string password,
                       const std::string& server_host, std::string authzid)
    : mechanism_(std::move(mechanism)), user_(std::move(user)), authzid_(std::move(authzid)) {
  static std::once_flag once;
  static int init_rc = SASL_OK;
  std::call_once(once, [] { init_rc = sasl_client_init(nullptr); });
  if (init_rc != SASL_OK)
    throw std::runtime_error(std::string("Cyrus SASL sasl_client_init failed: ") +
                             sasl_errstring(init_rc, nullptr, nullptr));
  secret_.resize(sizeof(sasl_secret_t) + password.size() + 1);
  auto* s = reinterpret_cast<sasl_secret_t*>(secret_.data());
  s->len = password.size();
  std::memcpy(s->data, password.data(), password.size());
  s->data[password.size()] = 0;
  callbacks_[0] = {SASL_CB_AUTHNAME, as_callback(&get_simple), this};
  callbacks_[1] = {SASL_CB_USER, as_callback(&get_simple), this};
  callbacks_[2] = {SASL_CB_PASS, as_callback(&get_secret), this};
  callbacks_[3] = {SASL_CB_LIST_END, nullptr, nullptr};
  if (int rc = sasl_client_new("kafka", server_host.c_str(), nullptr, nullptr, callbacks_, 0, &conn_); rc != SASL_OK)
    throw std::runtime_error(std::string("Cyrus SASL sasl_client_new failed: ") + sasl_errstring(rc, nullptr, nullptr));
  sasl_security_properties_t props{};
  sasl_setprop(conn_, SASL_SEC_PROPS, &props);
}

SaslClient::~SaslClient() {
  if (conn_ != nullptr) sasl_dispose(&conn_);
  std::fill(secret_.begin(), secret_.end(), 0);
}

int SaslClient::get_simple(void* context, int id, const char** result, unsigned* len) {
  auto* self = static_cast<SaslClient*>(context);
  const std::string& v = id == SASL_CB_AUTHNAME ? self->user_ : self->authzid_;
  *result = v.c_str();
  if (len != nullptr) *len = static_cast<unsigned>(v.size());
  return SASL_OK;
}

int SaslClient::get_secret(sasl_conn_t*, void* context, int, sasl_secret_t** secret) {
  *secret = reinterpret_cast<sasl_secret_t*>(static_cast<SaslClient*>(context)->secret_.data());
  return SASL_OK;
}

int SaslClient::start(std::string* token) {
  const char* out = nullptr;
  unsigned outlen = 0;
  const char* chosen = nullptr;
  sasl_interact_t* interact = nullptr;
  int rc = sasl_client_start(conn_, mechanism_.c_str(), &interact, &out, &outlen, &chosen);
  token->assign(out == nullptr ? "" : std::string(out, outlen));
  return rc;
}

int SaslClient::step(std::string_view challenge, std::string* token) {
  const char* out = nullptr;
  unsigned outlen = 0;
  sasl_interact_t* interact = nullptr;
  int rc = sasl_client_step(conn_, challenge.data(), static_cast<unsigned>(challenge.size()), &interact, &out,
                            &outlen);
  token->assign(out == nullptr ? "" : std::string(out, outlen));
  return rc;
}

std::string SaslClient::detail() const { return conn_ != nullptr ? sasl_errdetail(conn_) : ""; }

}  // namespace ferry::security
