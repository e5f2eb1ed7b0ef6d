#include "security/tests/sasl_test_client.h"

#include <cstring>
#include <mutex>
#include <stdexcept>

namespace ferry::security::testing {
namespace {
// Cyrus stores every callback as int (*)(void); going through void (*)() is the sanctioned
// generic function-pointer cast (no -Wcast-function-type).
template <typename F>
sasl_callback_ft as_callback(F* f) {
  return reinterpret_cast<sasl_callback_ft>(reinterpret_cast<void (*)()>(f));
}
}  // namespace


CyrusClient::CyrusClient(std::string mechanism, std::string user, std::string password, std::string authzid)
    : mechanism_(std::move(mechanism)), user_(std::move(user)), authzid_(std::move(authzid)) {
  static std::once_flag once;
  std::call_once(once, [] {
    if (int rc = sasl_client_init(nullptr); rc != SASL_OK) {
      throw std::runtime_error(std::string("sasl_client_init: ") + sasl_errstring(rc, nullptr, nullptr));
    }
  });
  secret_.resize(sizeof(sasl_secret_t) + password.size() + 1);
  auto* s = reinterpret_cast<sasl_secret_t*>(secret_.data());
  s->len = password.size();
  std::memcpy(s->data, password.data(), password.size());
  s->data[password.size()] = 0;
  callbacks_[0] = {SASL_CB_AUTHNAME, as_callback(&get_simple), this};
  callbacks_[1] = {SASL_CB_USER, as_callback(&get_simple), this};
  callbacks_[2] = {SASL_CB_PASS, as_callback(&get_secret), this};
  callbacks_[3] = {SASL_CB_LIST_END, nullptr, nullptr};
  if (int rc = sasl_client_new("kafka", "localhost", nullptr, nullptr, callbacks_, 0, &conn_); rc != SASL_OK) {
    throw std::runtime_error(std::string("sasl_client_new: ") + sasl_errstring(rc, nullptr, nullptr));
  }
  sasl_security_properties_t props{};
  sasl_setprop(conn_, SASL_SEC_PROPS, &props);
}

CyrusClient::~CyrusClient() {
  if (conn_ != nullptr) sasl_dispose(&conn_);
}

int CyrusClient::get_simple(void* context, int id, const char** result, unsigned* len) {
  auto* self = static_cast<CyrusClient*>(context);
  const std::string& v = id == SASL_CB_AUTHNAME ? self->user_ : self->authzid_;
  *result = v.c_str();
  if (len != nullptr) *len = static_cast<unsigned>(v.size());
  return SASL_OK;
}

int CyrusClient::get_secret(sasl_conn_t*, void* context, int, sasl_secret_t** secret) {
  *secret = reinterpret_cast<sasl_secret_t*>(static_cast<CyrusClient*>(context)->secret_.data());
  return SASL_OK;
}

int CyrusClient::start(std::string* token) {
  const char* out = nullptr;
  unsigned outlen = 0;
  const char* chosen = nullptr;
  sasl_interact_t* interact = nullptr;
  int rc = sasl_client_start(conn_, mechanism_.c_str(), &interact, &out, &outlen, &chosen);
  token->assign(out == nullptr ? "" : std::string(out, outlen));
  return rc;
}

int CyrusClient::step(const std::string& challenge, std::string* token) {
  const char* out = nullptr;
  unsigned outlen = 0;
  sasl_interact_t* interact = nullptr;
  int rc = sasl_client_step(conn_, challenge.data(), static_cast<unsigned>(challenge.size()), &interact, &out,
                            &outlen);
  token->assign(out == nullptr ? "" : std::string(out, outlen));
  return rc;
}

}  // namespace ferry::security::testing
