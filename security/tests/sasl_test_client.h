// Test support: the real Cyrus SASL client side (sasl_client_init / sasl_client_new /
// sasl_client_start / sasl_client_step with SASL_CB_AUTHNAME, SASL_CB_USER and SASL_CB_PASS),
// so the server is exercised by the same library a Kafka client built on Cyrus would use.
#pragma once

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include <string>
#include <vector>

namespace ferry::security::testing {

class CyrusClient {
 public:
  /// `authzid` empty: the client asks for no separate authorization id.
  CyrusClient(std::string mechanism, std::string user, std::string password, std::string authzid = "");
  ~CyrusClient();
  CyrusClient(const CyrusClient&) = delete;
  CyrusClient& operator=(const CyrusClient&) = delete;

  /// sasl_client_start: the initial response. Returns the Cyrus code (SASL_OK / SASL_CONTINUE).
  int start(std::string* token);
  /// sasl_client_step with the server's challenge.
  int step(const std::string& challenge, std::string* token);

 private:
  static int get_simple(void* context, int id, const char** result, unsigned* len);
  static int get_secret(sasl_conn_t* conn, void* context, int id, sasl_secret_t** secret);

  std::string mechanism_, user_, authzid_;
  std::vector<unsigned char> secret_;  // sasl_secret_t storage
  sasl_callback_t callbacks_[4];
  sasl_conn_t* conn_ = nullptr;
};

}  // namespace ferry::security::testing
