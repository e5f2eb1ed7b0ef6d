// librdkafka's doubled final nonce (scram_nonce_compat.h): the rewrite must keep the proof valid
// exactly when the client's was, and sign the server-final over what the client signed.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "security/scram.h"
#include "security/scram_nonce_compat.h"

using namespace ferry::security;

namespace {

std::string hmac256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}
std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}
std::string xored(std::string a, std::string_view b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>(a[i] ^ b[i]);
  return a;
}

struct Exchange {
  ScramCredential credential = make_scram_credential(ScramMechanism::Sha256, "pencil", 4096, std::string("salt-16-bytes..."));
  std::string client_key = hmac256(scram_salted_password(ScramMechanism::Sha256, "pencil", "salt-16-bytes...", 4096),
                                   "Client Key");
  std::string client_first_bare = "n=user,r=CLIENTNONCE";
  std::string server_first = "r=CLIENTNONCESERVERNONCE,s=c2FsdC0xNi1ieXRlcy4uLg==,i=4096";
  // A client-final as the client computes it over its own AuthMessage.
  std::string final_with(const std::string& nonce, const std::string& key) const {
    const std::string without_proof = "c=biws,r=" + nonce;
    const std::string auth = client_first_bare + "," + server_first + "," + without_proof;
    return without_proof + ",p=" + base64_encode(xored(key, hmac256(credential.stored_key, auth)));
  }
};

TEST(ScramNonceCompat, RebasesLibrdkafkasProofSoItVerifiesOverTheFixedMessage) {
  Exchange x;
  auto r = rewrite_doubled_nonce(x.credential, x.client_first_bare, x.server_first,
                                 x.final_with("CLIENTNONCECLIENTNONCESERVERNONCE", x.client_key));
  ASSERT_TRUE(r.has_value());
  const std::string expected_prefix = "c=biws,r=CLIENTNONCESERVERNONCE,p=";
  ASSERT_EQ(r->client_final.substr(0, expected_prefix.size()), expected_prefix);
  // The check Cyrus makes: H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey.
  auto proof = base64_decode(r->client_final.substr(expected_prefix.size()));
  ASSERT_TRUE(proof.has_value());
  EXPECT_EQ(sha256(xored(*proof, hmac256(x.credential.stored_key, r->fixed_auth_message))), x.credential.stored_key);
  // The server signature the client checks is over its own AuthMessage.
  EXPECT_EQ(resign_server_final(x.credential, *r, "v=anything"),
            "v=" + base64_encode(hmac256(x.credential.server_key, r->client_auth_message)));
  EXPECT_EQ(resign_server_final(x.credential, *r, "e=other-error"), "e=other-error");
}

TEST(ScramNonceCompat, AWrongPasswordStaysWrongAfterTheRewrite) {
  Exchange x;
  const std::string wrong_key =
      hmac256(scram_salted_password(ScramMechanism::Sha256, "not-pencil", "salt-16-bytes...", 4096), "Client Key");
  auto r = rewrite_doubled_nonce(x.credential, x.client_first_bare, x.server_first,
                                 x.final_with("CLIENTNONCECLIENTNONCESERVERNONCE", wrong_key));
  ASSERT_TRUE(r.has_value());
  auto proof = base64_decode(r->client_final.substr(r->client_final.rfind(",p=") + 3));
  EXPECT_NE(sha256(xored(*proof, hmac256(x.credential.stored_key, r->fixed_auth_message))), x.credential.stored_key);
}

TEST(ScramNonceCompat, EveryOtherShapeGoesToCyrusUnchanged) {
  Exchange x;
  for (const std::string nonce : {"CLIENTNONCESERVERNONCE",                 // RFC 5802: already right
                                  "XCLIENTNONCESERVERNONCE",                // ends with it, but not librdkafka's shape
                                  "CLIENTNONCECLIENTNONCESERVERNONCEX",     // something appended
                                  "CLIENTNONCE",                            // no server nonce at all
                                  "SERVERNONCECLIENTNONCECLIENTNONCE"})
    EXPECT_FALSE(rewrite_doubled_nonce(x.credential, x.client_first_bare, x.server_first, x.final_with(nonce, x.client_key))
                     .has_value())
        << nonce;
  EXPECT_FALSE(rewrite_doubled_nonce(x.credential, x.client_first_bare, x.server_first,
                                     "c=biws,r=CLIENTNONCECLIENTNONCESERVERNONCE")  // no proof
                   .has_value());
}

TEST(ScramNonceCompat, ClientFirstParts) {
  EXPECT_EQ(scram_client_first_bare("n,,n=alice,r=abc"), "n=alice,r=abc");
  EXPECT_EQ(scram_client_first_bare("n,a=alice,n=alice,r=abc"), "n=alice,r=abc");
  EXPECT_EQ(scram_user_of("n=a=2Cb=3Dc,r=abc"), "a,b=c");
}

}  // namespace
