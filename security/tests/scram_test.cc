// SCRAM credential maths against published and independently computed values, and the
// kafka-storage --add-scram parser.
#include "security/scram.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>
#include <string>

namespace ferry::security {
namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += char(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

std::string hmac256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(out), len);
}

// RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations. The
// RFC publishes the exchange, not the keys: a credential is right when the client proof the RFC
// shows verifies against StoredKey and ServerKey signs the AuthMessage into the RFC's v=.
TEST(Scram, Rfc7677Sha256VectorVerifies) {
  const std::string salt = *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  const std::string salted = scram_salted_password(ScramMechanism::Sha256, "pencil", salt, 4096);
  const ScramCredential c = scram_credential_from_salted_password(ScramMechanism::Sha256, salt, salted, 4096);
  const std::string nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  const std::string auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=" + nonce +
                                   ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=" + nonce;
  const std::string proof = *base64_decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  const std::string client_signature = hmac256(c.stored_key, auth_message);
  std::string client_key(proof.size(), '\0');
  for (std::size_t i = 0; i < proof.size(); ++i) client_key[i] = char(proof[i] ^ client_signature[i]);
  EXPECT_EQ(sha256(client_key), c.stored_key);
  EXPECT_EQ(base64_encode(hmac256(c.server_key, auth_message)), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  EXPECT_EQ(c, make_scram_credential(ScramMechanism::Sha256, "pencil", 4096, salt));
  EXPECT_TRUE(scram_verify_password(c, "pencil"));
  EXPECT_FALSE(scram_verify_password(c, "pencil "));
  EXPECT_FALSE(scram_verify_password(c, ""));
}

// Expected values from Python's hashlib (independent of OpenSSL's PBKDF2 wrapper):
//   sp = hashlib.pbkdf2_hmac('sha512', 'pässwörd'.encode(), b'ferry-salt-512', 4096)
//   stored = hashlib.sha512(hmac.new(sp, b'Client Key', 'sha512').digest()); server = hmac.new(sp, b'Server Key', 'sha512')
// The password is UTF-8 bytes as given, no SASLprep (Kafka's ScramFormatter).
TEST(Scram, Sha512MatchesPythonHashlib) {
  const std::string pw = "p\xc3\xa4ssw\xc3\xb6rd";
  const std::string salted = scram_salted_password(ScramMechanism::Sha512, pw, "ferry-salt-512", 4096);
  EXPECT_EQ(salted, unhex("a9b8a53341c09c20235083cb9a917224b0599d9ecb7a7cc10780b18aa34023ed826821974c31d6bbb33cac1b4f"
                          "762d2cde7de38ffc0708cd73592106aec95607"));
  const ScramCredential c = make_scram_credential(ScramMechanism::Sha512, pw, 4096, std::string("ferry-salt-512"));
  EXPECT_EQ(c.stored_key, unhex("a32a55c9e5da9e8052494f70728fbf2e637def517c5803391a27a795b1086996f83ac20b0d206c8ba92a1a"
                                "5f2ae65cd69e7154d427e35a5621413144d91cf397"));
  EXPECT_EQ(c.server_key, unhex("baabcf2a2cea689d37d708d9cbbc97027a704d9792d4b5eb35ff9a1f1577aeeb1a9609dedbcb8f6b228496"
                                "567306171178623de8f863b12db11ee9e50863d649"));
  EXPECT_TRUE(scram_verify_password(c, pw));
  EXPECT_FALSE(scram_verify_password(c, "passwörd"));
}

TEST(Scram, RandomSaltAndIterationBounds) {
  const ScramCredential a = make_scram_credential(ScramMechanism::Sha256, "pw", 4096);
  const ScramCredential b = make_scram_credential(ScramMechanism::Sha256, "pw", 4096);
  EXPECT_EQ(a.salt.size(), 32u);
  EXPECT_NE(a.salt, b.salt);
  EXPECT_NE(a.stored_key, b.stored_key);
  EXPECT_THROW(make_scram_credential(ScramMechanism::Sha256, "pw", 4095), std::invalid_argument);
  EXPECT_THROW(make_scram_credential(ScramMechanism::Sha512, "pw", 16385), std::invalid_argument);
  EXPECT_NO_THROW(make_scram_credential(ScramMechanism::Sha512, "pw", 16384));
  EXPECT_THROW(scram_credential_from_salted_password(ScramMechanism::Sha512, "salt", std::string(32, 'x'), 4096),
               std::invalid_argument);
}

TEST(Scram, MechanismNamesAndAuthPasswordForm) {
  EXPECT_EQ(scram_mechanism_from_name("SCRAM-SHA-256"), ScramMechanism::Sha256);
  EXPECT_EQ(scram_mechanism_from_name("SCRAM-SHA-512"), ScramMechanism::Sha512);
  EXPECT_FALSE(scram_mechanism_from_name("scram-sha-256"));
  EXPECT_FALSE(scram_mechanism_from_name("SCRAM-SHA-1"));
  EXPECT_STREQ(scram_mechanism_name(ScramMechanism::Sha512), "SCRAM-SHA-512");
  EXPECT_EQ(static_cast<int>(ScramMechanism::Sha256), 1);
  EXPECT_EQ(static_cast<int>(ScramMechanism::Sha512), 2);
  const ScramCredential c{ScramMechanism::Sha256, 4096, "ab", std::string(32, '\0'), std::string(32, '\xff')};
  EXPECT_EQ(scram_auth_password(c),
            "SCRAM-SHA-256$4096:YWI=$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
            "//////////////////////////////////////////8=");
}

TEST(Scram, Base64RoundTripAndRejects) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) EXPECT_EQ(*base64_decode(base64_encode(s)), s);
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*base64_decode("Zm9vYg"), "foob");  // padding optional, like Java's Base64 decoder
  EXPECT_FALSE(base64_decode("Zm9v!mFy"));
  EXPECT_FALSE(base64_decode("Zm9vY"));
  EXPECT_FALSE(base64_decode("Zh=="));  // non-canonical trailing bits
}

TEST(AddScram, PasswordForm) {
  const AddScramSpec s = parse_add_scram("SCRAM-SHA-512=[name=admin,password=secret]");
  EXPECT_EQ(s.user, "admin");
  EXPECT_EQ(s.credential.mechanism, ScramMechanism::Sha512);
  EXPECT_EQ(s.credential.iterations, 4096);
  EXPECT_EQ(s.credential.salt.size(), 32u);
  EXPECT_TRUE(scram_verify_password(s.credential, "secret"));
}

TEST(AddScram, AllKeysQuotedValuesAndSaltedPassword) {
  const std::string salt = "0123456789abcdef";
  const AddScramSpec a = parse_add_scram("  SCRAM-SHA-256=[name=\"alice\",iterations=8192,salt=" + base64_encode(salt) +
                                         ",password=\"alice-secret\"]  ");
  EXPECT_EQ(a.user, "alice");
  EXPECT_EQ(a.credential, make_scram_credential(ScramMechanism::Sha256, "alice-secret", 8192, salt));
  const std::string salted = scram_salted_password(ScramMechanism::Sha256, "alice-secret", salt, 8192);
  const AddScramSpec b = parse_add_scram("SCRAM-SHA-256=[name=alice,iterations=8192,salt=" + base64_encode(salt) +
                                         ",saltedpassword=" + base64_encode(salted) + "]");
  EXPECT_EQ(b.credential, a.credential);
  // A password may contain '=' (split at the first one).
  EXPECT_TRUE(scram_verify_password(parse_add_scram("SCRAM-SHA-256=[name=x,password=a=b]").credential, "a=b"));
}

// Every bad input throws, and the message never contains the password or salted password.
TEST(AddScram, BadInputsNameTheProblemWithoutTheSecret) {
  const std::string secret = "Sup3rSecretPw";
  const std::string salted = base64_encode(std::string(32, 'k'));
  struct Case {
    std::string text, expect;
  };
  const Case cases[] = {
      {"SCRAM-SHA-512", "no '='"},
      {"SCRAM-SHA-1=[name=a,password=" + secret + "]", "SCRAM-SHA-1"},
      {"SCRAM-SHA-512=name=a,password=" + secret + "]", "start with '['"},
      {"SCRAM-SHA-512=[name=a,password=" + secret, "end with ']'"},
      {"SCRAM-SHA-512=[password=" + secret + "]", "'name' is required"},
      {"SCRAM-SHA-512=[name=a]", "one of 'password' or 'saltedpassword'"},
      {"SCRAM-SHA-512=[name=a,iterations=4095,password=" + secret + "]", "[4096, 16384]"},
      {"SCRAM-SHA-512=[name=a,iterations=99999,password=" + secret + "]", "[4096, 16384]"},
      {"SCRAM-SHA-512=[name=a,iterations=12x,password=" + secret + "]", "not a number"},
      {"SCRAM-SHA-512=[name=a,salt=***,password=" + secret + "]", "'salt' is not valid base64"},
      {"SCRAM-SHA-256=[name=a,saltedpassword=" + salted + "]", "requires 'salt'"},
      {"SCRAM-SHA-512=[name=a,salt=c2FsdA==,saltedpassword=" + salted + "]", "64 bytes, got 32"},
      {"SCRAM-SHA-256=[name=a,salt=c2FsdA==,saltedpassword=" + secret + "!]", "'saltedpassword' is not valid base64"},
      {"SCRAM-SHA-256=[name=a,salt=c2FsdA==,password=x,saltedpassword=" + salted + "]", "not both"},
      {"SCRAM-SHA-256=[name=a,password=x,password=" + secret + "]", "'password' given more than once"},
      // A password with ',' splits into components: their text is never echoed.
      {"SCRAM-SHA-256=[name=a,password=Sup3r," + secret + "]", "component 3 has no '='"},
      {"SCRAM-SHA-256=[name=a,password=x," + secret + "=1]", "unknown key in component(s) 3"},
      {"SCRAM-SHA-256=[name=a,pasword=" + secret + "]", "unknown key in component(s) 2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    try {
      parse_add_scram(c.text);
      ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(c.expect), std::string::npos) << what;
      EXPECT_EQ(what.find(secret), std::string::npos) << what;
      EXPECT_EQ(what.find(salted), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace ferry::security
