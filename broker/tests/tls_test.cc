// TLS listener set-up: KIP-371 principal mapping, per-listener overrides (KIP-103) and the errors an
// operator gets for a keystore or truststore that cannot serve. Certificates are made here with the
// openssl CLI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "broker/config/broker_config.h"
#include "broker/server/tls.h"
#include "common/testing/temp_dir.h"
#include "security/principal_mapping.h"

using namespace ferry;
using namespace ferry::broker;

namespace {

using ferry::testing::TempDir;

void openssl(const std::string& args) {
  ASSERT_EQ(std::system(("openssl " + args + " >/dev/null 2>&1").c_str()), 0) << args;
}

// A CA, a server keystore (chain + key), a keystore whose key is encrypted with "pw", and a
// keystore whose key belongs to another certificate.
struct Pki {
  TempDir dir{"ferry-tls-test"};
  std::string p(const std::string& name) const { return (dir.path / name).string(); }
  Pki() {
    openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + p("ca.key") + " -out " +
            p("ca.crt") + " -days 2 -subj /CN=ca");
    for (const char* n : {"a", "b"}) {
      const std::string name(n);
      openssl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + p(name + ".key") + " -out " +
              p(name + ".csr") + " -subj /CN=" + name);
      openssl("x509 -req -in " + p(name + ".csr") + " -CA " + p("ca.crt") + " -CAkey " + p("ca.key") +
              " -set_serial 7 -days 2 -out " + p(name + ".crt"));
    }
    concat("server.pem", {"a.crt", "a.key"});
    concat("mismatch.pem", {"a.crt", "b.key"});
    openssl("pkey -in " + p("a.key") + " -aes256 -passout pass:pw -out " + p("a.enc.key"));
    concat("encrypted.pem", {"a.crt", "a.enc.key"});
  }
  void concat(const std::string& out, std::initializer_list<const char*> parts) const {
    std::ofstream o(p(out));
    for (const char* part : parts) o << std::ifstream(p(part)).rdbuf();
  }
};

config::Values values(const std::string& toml) { return config::load_toml(broker_schema(), toml, "t"); }

std::string context_error(const std::string& toml, const std::string& listener = "SSL://127.0.0.1:0") {
  auto v = values("listeners = \"" + listener + "\"\n" + toml);
  try {
    make_tls_context(v, parse_listener("listeners", listener, v.get_list("listener.security.protocol.map")));
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(PrincipalMapping, DefaultIsTheWholeSubject) {
  security::PrincipalMapper m("DEFAULT");
  EXPECT_EQ(m.map("CN=alice,OU=eng,O=acme").value(), "CN=alice,OU=eng,O=acme");
}

TEST(PrincipalMapping, FirstMatchingRuleWinsWithGroupsAndCase) {
  security::PrincipalMapper m("RULE:^CN=([a-zA-Z]+),OU=eng,.*$/$1/U, RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/L,DEFAULT");
  EXPECT_EQ(m.map("CN=alice,OU=eng,O=acme").value(), "ALICE");
  EXPECT_EQ(m.map("CN=Bob,OU=Ops,O=acme").value(), "bob@ops");
  EXPECT_EQ(m.map("CN=carol,O=acme").value(), "CN=carol,O=acme");  // DEFAULT
}

TEST(PrincipalMapping, WithoutDefaultAnUnmatchedSubjectHasNoPrincipal) {
  security::PrincipalMapper m("RULE:^CN=(.*),OU=eng$/$1/");
  EXPECT_FALSE(m.map("CN=alice,OU=ops").has_value());
  EXPECT_EQ(m.map("CN=alice,OU=eng").value(), "alice");
}

TEST(PrincipalMapping, EscapedSlashAndPartialMatchesDoNotCount) {
  security::PrincipalMapper m("RULE:^CN=(.*)\\/x$/$1/");
  EXPECT_EQ(m.map("CN=a/x").value(), "a");
  EXPECT_FALSE(m.map("CN=a/xy").has_value());  // the pattern must match the whole subject
}

TEST(PrincipalMapping, BadRulesAreRefusedWithTheirPosition) {
  EXPECT_THROW(security::PrincipalMapper("RULE:^CN=(.*$/$1/"), std::invalid_argument);  // bad regex
  EXPECT_THROW(security::PrincipalMapper("RULE:abc"), std::invalid_argument);           // unclosed
  EXPECT_THROW(security::PrincipalMapper("SOMETHING"), std::invalid_argument);
  EXPECT_THROW(security::PrincipalMapper("RULE:a/b/Q"), std::invalid_argument);  // flag not L or U
}

TEST(TlsContext, BuildsFromAPemKeystoreAndAnEncryptedOneWithItsPassword) {
  Pki pki;
  EXPECT_EQ(context_error("\"ssl.keystore.location\" = \"" + pki.p("server.pem") + "\""), "");
  EXPECT_EQ(context_error("\"ssl.keystore.location\" = \"" + pki.p("encrypted.pem") +
                          "\"\n\"ssl.key.password\" = \"pw\""),
            "");
}

TEST(TlsContext, ErrorsNameTheKeyTheValueAndTheProblem) {
  Pki pki;
  EXPECT_NE(context_error("").find("ssl.keystore.location"), std::string::npos);
  auto missing = context_error("\"ssl.keystore.location\" = \"/nonexistent.pem\"");
  EXPECT_NE(missing.find("'ssl.keystore.location' of listener SSL has value \"/nonexistent.pem\""), std::string::npos)
      << missing;
  auto mismatch = context_error("\"ssl.keystore.location\" = \"" + pki.p("mismatch.pem") + "\"");
  EXPECT_NE(mismatch.find("mismatch"), std::string::npos) << mismatch;
  auto wrong_password = context_error("\"ssl.keystore.location\" = \"" + pki.p("encrypted.pem") +
                                      "\"\n\"ssl.key.password\" = \"nope\"");
  EXPECT_NE(wrong_password.find("ssl.key.password"), std::string::npos) << wrong_password;
  auto no_truststore = context_error("\"ssl.keystore.location\" = \"" + pki.p("server.pem") +
                                     "\"\n\"ssl.client.auth\" = \"required\"");
  EXPECT_NE(no_truststore.find("ssl.truststore.location"), std::string::npos) << no_truststore;
  auto protocol = context_error("\"ssl.keystore.location\" = \"" + pki.p("server.pem") +
                                "\"\n\"ssl.enabled.protocols\" = \"TLSv1.1\"");
  EXPECT_NE(protocol.find("TLSv1.1"), std::string::npos) << protocol;
  auto cipher = context_error("\"ssl.keystore.location\" = \"" + pki.p("server.pem") +
                              "\"\n\"ssl.cipher.suites\" = \"TLS_NOT_A_SUITE\"");
  EXPECT_NE(cipher.find("TLS_NOT_A_SUITE"), std::string::npos) << cipher;
}

TEST(TlsContext, AcceptsIanaAndOpenSslCipherNames) {
  Pki pki;
  EXPECT_EQ(context_error("\"ssl.keystore.location\" = \"" + pki.p("server.pem") +
                          "\"\n\"ssl.cipher.suites\" = \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,"
                          "ECDHE-ECDSA-AES256-GCM-SHA384,TLS_AES_128_GCM_SHA256\""),
            "");
}

TEST(TlsContext, PerListenerOverridesWinOverTheBrokerWideKey) {
  Pki pki;
  // The broker-wide keystore does not exist; the listener's own one does.
  EXPECT_EQ(context_error("\"ssl.keystore.location\" = \"/nonexistent.pem\"\n"
                          "\"listener.name.ssl.ssl.keystore.location\" = \"" +
                          pki.p("server.pem") + "\""),
            "");
}

TEST(TlsConfig, OverridesForUnknownListenersAndBadMechanismsAreRefused) {
  auto error = [](const std::string& toml) {
    try {
      BrokerConfig(values(toml));
    } catch (const config::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error("listeners = \"SSL://127.0.0.1:0\"\n\"listener.name.external.ssl.client.auth\" = \"required\"")
                .find("names listener 'external'"),
            std::string::npos);
  EXPECT_NE(error("listeners = \"SASL_SSL://127.0.0.1:0\"\n\"sasl.enabled.mechanisms\" = \"GSSAPI\"").find("GSSAPI"),
            std::string::npos);
  EXPECT_NE(error("listeners = \"SSL://127.0.0.1:0\"\n\"listener.name.ssl.ssl.client.auth\" = \"sometimes\"")
                .find("sometimes"),
            std::string::npos);
  EXPECT_EQ(error("listeners = \"SSL://127.0.0.1:0\"\n\"listener.name.ssl.ssl.client.auth\" = \"required\""), "");
}

}  // namespace
