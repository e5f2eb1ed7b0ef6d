// client::list_offsets without a cluster: what it says when nothing answers, and the properties it
// takes from the handle. The answers of real brokers are the integration tests' (it_mirror*,
// it_dr_status, it_cluster_mirror).
#include <gtest/gtest.h>

#include "client/kafka.h"
#include "client/wire_offsets.h"

namespace ferry::client {
namespace {

Handle producer_to(const std::string& bootstrap, const Properties& extra = {}) {
  Properties props{{"bootstrap.servers", bootstrap}};
  for (const auto& [k, v] : extra) props[k] = v;
  return make_handle(RD_KAFKA_PRODUCER, make_conf(props));
}

TEST(ListOffsets, NoBrokerAnsweringIsTimedOutNamingTheServer) {
  // Port 1 on loopback: refused at once, so the call fails fast rather than at its timeout.
  auto h = producer_to("127.0.0.1:1");
  try {
    list_offsets(h.get(), {{"t", 0}}, kListOffsetsLatest, std::chrono::milliseconds(2000));
    FAIL() << "no exception";
  } catch (const KafkaError& e) {
    EXPECT_EQ(e.err(), RD_KAFKA_RESP_ERR__TIMED_OUT);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
  }
}

TEST(ListOffsets, AnEmptyListAsksNothing) {
  auto h = producer_to("127.0.0.1:1");
  EXPECT_TRUE(list_offsets(h.get(), {}, kListOffsetsLatest, std::chrono::milliseconds(100)).empty());
}

TEST(ListOffsets, SecurityTheWireClientCannotSpeakIsRefusedNamingTheProperty) {
  // OAUTHBEARER is librdkafka's, not the wire client's (PLAIN and SCRAM only).
  auto h = producer_to("127.0.0.1:1", {{"security.protocol", "sasl_plaintext"}, {"sasl.mechanism", "OAUTHBEARER"},
                                       {"enable.sasl.oauthbearer.unsecure.jwt", "true"}});
  try {
    list_offsets(h.get(), {{"t", 0}}, kListOffsetsLatest, std::chrono::milliseconds(100));
    FAIL() << "no exception";
  } catch (const KafkaError& e) {
    EXPECT_EQ(e.err(), RD_KAFKA_RESP_ERR__INVALID_ARG);
    EXPECT_NE(std::string(e.what()).find("OAUTHBEARER"), std::string::npos) << e.what();
  }
}

TEST(WireOffsets, NeedsABootstrapServer) {
  EXPECT_THROW(WireOffsets({}, "t"), std::invalid_argument);
  EXPECT_NO_THROW(WireOffsets({{"metadata.broker.list", "127.0.0.1:1"}}, "t"));
}

}  // namespace
}  // namespace ferry::client
