// wire_client's property parsing: the librdkafka names and defaults it follows, and what it refuses.
#include "client/wire_client.h"

#include <gtest/gtest.h>

namespace ferry::client {
namespace {

using Props = std::map<std::string, std::string>;

TEST(WireSecurity, PlaintextByDefault) {
  WireSecurity s = parse_wire_security({});
  EXPECT_FALSE(s.tls);
  EXPECT_FALSE(s.sasl);
}

TEST(WireSecurity, SaslSslWithScram) {
  WireSecurity s = parse_wire_security(Props{{"security.protocol", "sasl_ssl"}, {"sasl.mechanism", "SCRAM-SHA-512"},
                                             {"sasl.username", "u"}, {"sasl.password", "p"},
                                             {"ssl.ca.location", "/ca.pem"}});
  EXPECT_TRUE(s.tls);
  EXPECT_TRUE(s.sasl);
  EXPECT_EQ(s.mechanism, "SCRAM-SHA-512");
  EXPECT_EQ(s.ca_location, "/ca.pem");
  EXPECT_TRUE(s.verify_hostname);  // librdkafka's default is https since 1.9
  EXPECT_TRUE(s.verify_certificate);
}

TEST(WireSecurity, EndpointIdentificationCanBeTurnedOff) {
  EXPECT_FALSE(parse_wire_security(Props{{"security.protocol", "SSL"}, {"ssl.endpoint.identification.algorithm", ""}})
                   .verify_hostname);
  EXPECT_FALSE(parse_wire_security(Props{{"security.protocol", "SSL"}, {"ssl.endpoint.identification.algorithm", "none"}})
                   .verify_hostname);
  EXPECT_THROW(parse_wire_security(Props{{"ssl.endpoint.identification.algorithm", "dns"}}), std::invalid_argument);
}

std::string error_of(const Props& p) {
  try {
    parse_wire_security(p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(WireSecurity, RefusalsNameThePropertyNeverThePassword) {
  EXPECT_NE(error_of({{"security.protocol", "tls"}}).find("security.protocol"), std::string::npos);
  // librdkafka's default mechanism is GSSAPI, which this client does not speak.
  EXPECT_NE(error_of({{"security.protocol", "SASL_PLAINTEXT"}, {"sasl.username", "u"}, {"sasl.password", "p"}})
                .find("GSSAPI"),
            std::string::npos);
  EXPECT_NE(error_of({{"security.protocol", "SASL_PLAINTEXT"}, {"sasl.mechanism", "PLAIN"}, {"sasl.password", "secretpw"}})
                .find("sasl.username"),
            std::string::npos);
  const std::string missing_pw =
      error_of({{"security.protocol", "SASL_PLAINTEXT"}, {"sasl.mechanism", "PLAIN"}, {"sasl.username", "u"}});
  EXPECT_NE(missing_pw.find("sasl.password"), std::string::npos);
  EXPECT_NE(error_of({{"security.protocol", "SSL"}, {"ssl.certificate.location", "/c.pem"}}).find("ssl.key.location"),
            std::string::npos);
  EXPECT_EQ(error_of({{"security.protocol", "SASL_PLAINTEXT"}, {"sasl.mechanism", "PLAIN"}, {"sasl.password", "secretpw"}})
                .find("secretpw"),
            std::string::npos);
}

TEST(WireSecurity, BootstrapServers) {
  auto s = parse_bootstrap_servers("SASL_SSL://a:1, [::1]:2,b:3");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], std::make_pair(std::string("a"), std::string("1")));
  EXPECT_EQ(s[1], std::make_pair(std::string("::1"), std::string("2")));
  EXPECT_THROW(parse_bootstrap_servers(""), std::invalid_argument);
  EXPECT_THROW(parse_bootstrap_servers("nohost"), std::invalid_argument);
}

}  // namespace
}  // namespace ferry::client
