#include "security/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <map>
#include <stdexcept>
#include <string>

namespace ferry::security {
namespace {

const EVP_MD* digest(ScramMechanism m) { return m == ScramMechanism::Sha512 ? EVP_sha512() : EVP_sha256(); }

}  // namespace

std::string scram_hmac(ScramMechanism m, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(digest(m), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len) == nullptr) {
    throw std::runtime_error("OpenSSL HMAC failed");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

namespace {

std::string hmac(ScramMechanism m, std::string_view key, std::string_view data) { return scram_hmac(m, key, data); }

std::string hash(ScramMechanism m, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, digest(m), nullptr) != 1) {
    throw std::runtime_error("OpenSSL digest failed");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

std::string stored_key_of(ScramMechanism m, std::string_view salted_password) {
  std::string client_key = hmac(m, salted_password, "Client Key");
  std::string stored = hash(m, client_key);
  wipe(client_key);
  return stored;
}

std::string trim(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::optional<ScramMechanism> scram_mechanism_from_name(std::string_view name) {
  if (name == "SCRAM-SHA-256") return ScramMechanism::Sha256;
  if (name == "SCRAM-SHA-512") return ScramMechanism::Sha512;
  return std::nullopt;
}

const char* scram_mechanism_name(ScramMechanism m) {
  return m == ScramMechanism::Sha512 ? "SCRAM-SHA-512" : "SCRAM-SHA-256";
}

std::size_t scram_hash_size(ScramMechanism m) { return m == ScramMechanism::Sha512 ? 64 : 32; }

std::string scram_salted_password(ScramMechanism m, std::string_view password, std::string_view salt,
                                  int32_t iterations) {
  if (iterations < 1) throw std::invalid_argument("SCRAM iterations must be positive");
  std::string out(scram_hash_size(m), '\0');
  static const char kEmpty[1] = {0};
  const char* pw = password.empty() ? kEmpty : password.data();
  const auto* s = reinterpret_cast<const unsigned char*>(salt.empty() ? kEmpty : salt.data());
  if (PKCS5_PBKDF2_HMAC(pw, static_cast<int>(password.size()), s, static_cast<int>(salt.size()),
                        iterations, digest(m), static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    throw std::runtime_error("OpenSSL PKCS5_PBKDF2_HMAC failed");
  }
  return out;
}

ScramCredential scram_credential_from_salted_password(ScramMechanism m, std::string_view salt,
                                                      std::string_view salted_password,
                                                      int32_t iterations) {
  if (salted_password.size() != scram_hash_size(m)) {
    throw std::invalid_argument(std::string("salted password for ") + scram_mechanism_name(m) +
                                " must be " + std::to_string(scram_hash_size(m)) + " bytes, got " +
                                std::to_string(salted_password.size()));
  }
  if (salt.empty()) throw std::invalid_argument("SCRAM salt must not be empty");
  if (iterations < 1) throw std::invalid_argument("SCRAM iterations must be positive");
  return ScramCredential{m, iterations, std::string(salt), stored_key_of(m, salted_password),
                         hmac(m, salted_password, "Server Key")};
}

ScramCredential make_scram_credential(ScramMechanism m, std::string_view password, int32_t iterations,
                                      std::optional<std::string> salt) {
  if (iterations < kScramMinIterations || iterations > kScramMaxIterations) {
    throw std::invalid_argument(std::string("iterations for ") + scram_mechanism_name(m) + " must be in [" +
                                std::to_string(kScramMinIterations) + ", " +
                                std::to_string(kScramMaxIterations) + "], got " + std::to_string(iterations));
  }
  if (!salt) {
    salt.emplace(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(salt->data()), static_cast<int>(salt->size())) != 1) {
      throw std::runtime_error("OpenSSL RAND_bytes failed");
    }
  }
  if (salt->empty()) throw std::invalid_argument("SCRAM salt must not be empty");
  std::string salted = scram_salted_password(m, password, *salt, iterations);
  ScramCredential c = scram_credential_from_salted_password(m, *salt, salted, iterations);
  wipe(salted);
  return c;
}

bool scram_verify_password(const ScramCredential& c, std::string_view password) {
  if (c.iterations < 1 || c.stored_key.size() != scram_hash_size(c.mechanism)) return false;
  std::string salted = scram_salted_password(c.mechanism, password, c.salt, c.iterations);
  std::string stored = stored_key_of(c.mechanism, salted);
  wipe(salted);
  return CRYPTO_memcmp(stored.data(), c.stored_key.data(), stored.size()) == 0;
}

std::string scram_auth_password(const ScramCredential& c) {
  return std::string(scram_mechanism_name(c.mechanism)) + "$" + std::to_string(c.iterations) + ":" +
         base64_encode(c.salt) + "$" + base64_encode(c.stored_key) + ":" + base64_encode(c.server_key);
}

AddScramSpec parse_add_scram(std::string_view text) {
  const std::string input = trim(text);
  const std::size_t eq = input.find('=');
  if (eq == std::string::npos) {
    throw std::invalid_argument(
        "--add-scram: expected MECHANISM=[name=...,password=...], found no '=' after the mechanism");
  }
  const std::string mech_name = input.substr(0, eq);
  auto mech = scram_mechanism_from_name(mech_name);
  if (!mech) {
    throw std::invalid_argument("--add-scram: mechanism '" + mech_name +
                                "' is not supported (SCRAM-SHA-256 or SCRAM-SHA-512)");
  }
  std::string_view config = std::string_view(input).substr(eq + 1);
  if (config.empty() || config.front() != '[') {
    throw std::invalid_argument("--add-scram: the configuration after '" + mech_name + "=' must start with '['");
  }
  if (config.back() != ']') {
    throw std::invalid_argument("--add-scram: the configuration after '" + mech_name + "=' must end with ']'");
  }
  config = config.substr(1, config.size() - 2);

  // Keys other than the known ones are never echoed: a password containing ',' splits into
  // components whose "keys" are pieces of the password. Components are named by position.
  static constexpr std::string_view kKnown[] = {"name", "salt", "iterations", "password", "saltedpassword"};
  std::map<std::string, std::string> components;
  std::string unknown_positions;
  std::size_t start = 0;
  int index = 0;
  while (true) {
    const std::size_t comma = config.find(',', start);
    std::string_view part = config.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                                 : comma - start);
    ++index;
    const std::size_t keq = part.find('=');
    if (keq == std::string_view::npos) {
      throw std::invalid_argument("--add-scram: component " + std::to_string(index) +
                                  " has no '=' (expected key=value; values cannot contain ',')");
    }
    std::string key(part.substr(0, keq));
    std::string value(part.substr(keq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    bool known = false;
    for (std::string_view k : kKnown) known = known || key == k;
    if (!known) {
      unknown_positions += (unknown_positions.empty() ? "" : ", ") + std::to_string(index);
      OPENSSL_cleanse(value.data(), value.size());
    } else if (!components.emplace(key, std::move(value)).second) {
      throw std::invalid_argument("--add-scram: '" + key + "' given more than once");
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (!unknown_positions.empty()) {
    throw std::invalid_argument("--add-scram: unknown key in component(s) " + unknown_positions +
                                " (known: name, password, saltedpassword, salt, iterations; values cannot "
                                "contain ',')");
  }
  auto take = [&](const char* key) -> std::optional<std::string> {
    auto it = components.find(key);
    if (it == components.end()) return std::nullopt;
    std::string v = std::move(it->second);
    components.erase(it);
    return v;
  };
  std::optional<std::string> name = take("name");
  std::optional<std::string> salt_b64 = take("salt");
  std::optional<std::string> iterations_text = take("iterations");
  std::optional<std::string> password = take("password");
  std::optional<std::string> salted_b64 = take("saltedpassword");
  if (!name || name->empty()) throw std::invalid_argument("--add-scram: 'name' is required");

  std::optional<std::string> salt;
  if (salt_b64) {
    salt = base64_decode(*salt_b64);
    if (!salt) throw std::invalid_argument("--add-scram: 'salt' is not valid base64");
    if (salt->empty()) throw std::invalid_argument("--add-scram: 'salt' is empty");
  }
  int32_t iterations = kScramDefaultIterations;
  if (iterations_text) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(*iterations_text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != iterations_text->size()) {
      throw std::invalid_argument("--add-scram: 'iterations' is not a number: '" + *iterations_text + "'");
    }
    if (v < kScramMinIterations || v > kScramMaxIterations) {
      throw std::invalid_argument("--add-scram: 'iterations' must be in [" + std::to_string(kScramMinIterations) +
                                  ", " + std::to_string(kScramMaxIterations) + "] for " + mech_name +
                                  ", got " + *iterations_text);
    }
    iterations = static_cast<int32_t>(v);
  }
  if (password && salted_b64) {
    throw std::invalid_argument("--add-scram: give one of 'password' or 'saltedpassword', not both");
  }
  AddScramSpec spec;
  spec.user = *name;
  if (password) {
    spec.credential = make_scram_credential(*mech, *password, iterations, salt);
    wipe(*password);
  } else if (salted_b64) {
    if (!salt) throw std::invalid_argument("--add-scram: 'saltedpassword' requires 'salt'");
    std::optional<std::string> salted = base64_decode(*salted_b64);
    wipe(*salted_b64);
    if (!salted) throw std::invalid_argument("--add-scram: 'saltedpassword' is not valid base64");
    if (salted->size() != scram_hash_size(*mech)) {
      const std::size_t got = salted->size();
      wipe(*salted);
      throw std::invalid_argument("--add-scram: 'saltedpassword' for " + mech_name + " must decode to " +
                                  std::to_string(scram_hash_size(*mech)) + " bytes, got " +
                                  std::to_string(got));
    }
    spec.credential = scram_credential_from_salted_password(*mech, *salt, *salted, iterations);
    wipe(*salted);
  } else {
    throw std::invalid_argument("--add-scram: one of 'password' or 'saltedpassword' is required");
  }
  return spec;
}

}  // namespace ferry::security
