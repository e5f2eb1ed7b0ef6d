#include "security/scram_nonce_compat.h"

namespace ferry::security {

namespace {

std::string xor_bytes(std::string a, std::string_view b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) a[i] = static_cast<char>(a[i] ^ b[i]);
  return a;
}

// The value of attribute `name` ("r", "p") in a comma-separated SCRAM message.
std::optional<std::string_view> attribute(std::string_view message, char name) {
  size_t pos = 0;
  while (pos <= message.size()) {
    size_t end = message.find(',', pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view part = message.substr(pos, end - pos);
    if (part.size() >= 2 && part[0] == name && part[1] == '=') return part.substr(2);
    pos = end + 1;
  }
  return std::nullopt;
}

}  // namespace

std::string_view scram_client_first_bare(std::string_view client_first) {
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  size_t first = client_first.find(',');
  if (first == std::string_view::npos) return client_first;
  size_t second = client_first.find(',', first + 1);
  if (second == std::string_view::npos) return client_first;
  return client_first.substr(second + 1);
}

std::string scram_user_of(std::string_view client_first_bare) {
  auto n = attribute(client_first_bare, 'n');
  if (!n) return "";
  std::string out;
  for (size_t i = 0; i < n->size(); ++i) {
    if ((*n)[i] == '=' && n->substr(i, 3) == "=2C") {
      out += ',';
      i += 2;
    } else if ((*n)[i] == '=' && n->substr(i, 3) == "=3D") {
      out += '=';
      i += 2;
    } else {
      out += (*n)[i];
    }
  }
  return out;
}

std::optional<ScramNonceRewrite> rewrite_doubled_nonce(const ScramCredential& credential,
                                                       std::string_view client_first_bare,
                                                       std::string_view server_first, std::string_view client_final) {
  auto client_nonce = attribute(client_first_bare, 'r');
  auto server_nonce = attribute(server_first, 'r');
  auto final_nonce = attribute(client_final, 'r');
  const size_t proof_at = client_final.rfind(",p=");
  if (!client_nonce || !server_nonce || !final_nonce || proof_at == std::string_view::npos) return std::nullopt;
  // Exactly librdkafka's shape, nothing looser: <client nonce><server-first nonce>.
  if (final_nonce->size() != client_nonce->size() + server_nonce->size() ||
      final_nonce->substr(0, client_nonce->size()) != *client_nonce ||
      final_nonce->substr(client_nonce->size()) != *server_nonce)
    return std::nullopt;
  auto proof = base64_decode(client_final.substr(proof_at + 3));
  if (!proof || proof->size() != credential.stored_key.size()) return std::nullopt;

  const std::string_view without_proof = client_final.substr(0, proof_at);
  const size_t nonce_at = static_cast<size_t>(final_nonce->data() - client_final.data());
  std::string fixed_without_proof(without_proof);
  fixed_without_proof.replace(nonce_at, final_nonce->size(), *server_nonce);

  ScramNonceRewrite out;
  out.client_auth_message =
      std::string(client_first_bare) + "," + std::string(server_first) + "," + std::string(without_proof);
  out.fixed_auth_message = std::string(client_first_bare) + "," + std::string(server_first) + "," + fixed_without_proof;
  const std::string client_key =
      xor_bytes(*proof, scram_hmac(credential.mechanism, credential.stored_key, out.client_auth_message));
  const std::string fixed_proof =
      xor_bytes(client_key, scram_hmac(credential.mechanism, credential.stored_key, out.fixed_auth_message));
  out.client_final = fixed_without_proof + ",p=" + base64_encode(fixed_proof);
  return out;
}

std::string resign_server_final(const ScramCredential& credential, const ScramNonceRewrite& rewrite,
                                std::string_view server_final) {
  if (server_final.rfind("v=", 0) != 0) return std::string(server_final);
  return "v=" + base64_encode(scram_hmac(credential.mechanism, credential.server_key, rewrite.client_auth_message));
}

}  // namespace ferry::security
