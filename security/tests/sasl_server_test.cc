// Full in-process logins: the real Cyrus SASL client against SaslSession (Cyrus server side fed by
// a CredentialSource), for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
#include "security/sasl_server.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "security/sasl_client.h"

namespace ferry::security {
namespace {

using State = SaslSession::Step::State;
using ferry::security::SaslClient;

class MapCredentials : public CredentialSource {
 public:
  void add(const std::string& user, ScramMechanism m, const std::string& password, int32_t iterations = 4096) {
    std::lock_guard lock(mu_);
    creds_[{user, m}] = make_scram_credential(m, password, iterations);
  }
  std::optional<ScramCredential> scram_credential(const std::string& user, ScramMechanism m) const override {
    std::lock_guard lock(mu_);
    auto it = creds_.find({user, m});
    if (it == creds_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, ScramMechanism>, ScramCredential> creds_;
};

struct Login {
  SaslSession::Step last;
  int client_rc = SASL_FAIL;  // the Cyrus client's verdict on the last server message
  int server_steps = 0;
};

// Runs a whole exchange: client tokens into the session, challenges back to the client.
Login login(const CredentialSource& creds, const std::string& mech, const std::string& user,
            const std::string& password, const std::string& authzid = "") {
  auto session = SaslServerFactory::instance().start(mech, creds, "127.0.0.1;5000", "127.0.0.1;9092");
  SaslClient client(mech, user, password, "localhost", authzid);
  Login r;
  std::string token;
  r.client_rc = client.start(&token);
  EXPECT_TRUE(r.client_rc == SASL_OK || r.client_rc == SASL_CONTINUE) << sasl_errstring(r.client_rc, nullptr, nullptr);
  for (int i = 0; i < 5; ++i) {
    r.last = session->step(token);
    ++r.server_steps;
    if (r.last.state != State::Continue) break;
    r.client_rc = client.step(r.last.challenge, &token);
    if (r.client_rc != SASL_OK && r.client_rc != SASL_CONTINUE) break;
  }
  if (r.last.state == State::Done && !r.last.challenge.empty()) {
    std::string ignored;
    r.client_rc = client.step(r.last.challenge, &ignored);  // SCRAM: the client checks ServerSignature
  }
  return r;
}

class SaslServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    creds.add("alice", ScramMechanism::Sha256, "alice-secret");
    creds.add("alice", ScramMechanism::Sha512, "alice-secret");
    creds.add("bob", ScramMechanism::Sha256, "bob-secret-256", 8192);  // no SHA-512 credential
    creds.add("carol@example.com", ScramMechanism::Sha512, "c-secret");
    creds.add("d,=e", ScramMechanism::Sha256, "d-secret");  // needs SCRAM saslname escaping
  }
  MapCredentials creds;
};

const char* const kAll[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};

TEST_F(SaslServerTest, AllThreeMechanismsAvailable) {
  EXPECT_EQ(SaslServerFactory::instance().available_mechanisms(),
            (std::vector<std::string>{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}));
  EXPECT_THROW(SaslServerFactory::instance().start("GSSAPI", creds, "", ""), std::invalid_argument);
  EXPECT_THROW(SaslServerFactory::instance().start("DIGEST-MD5", creds, "", ""), std::invalid_argument);
}

TEST_F(SaslServerTest, GoodPasswordLogsIn) {
  for (const char* mech : kAll) {
    SCOPED_TRACE(mech);
    Login r = login(creds, mech, "alice", "alice-secret");
    EXPECT_EQ(r.last.state, State::Done) << r.last.error;
    EXPECT_EQ(r.last.user, "alice");
    EXPECT_EQ(r.client_rc, SASL_OK);  // for SCRAM: the server proved it knows ServerKey
    EXPECT_EQ(r.server_steps, std::string(mech) == "PLAIN" ? 1 : 2);
    EXPECT_EQ(login(creds, mech, "alice", "alice-secret", "alice").last.state, State::Done);  // authzid == user
  }
  EXPECT_EQ(login(creds, "SCRAM-SHA-256", "bob", "bob-secret-256").last.user, "bob");  // 8192 iterations
}

// No realm is appended or required: a Kafka user name with '@' is the principal as typed; SCRAM's
// "=2C"/"=3D" escaping of ',' and '=' is undone.
TEST_F(SaslServerTest, UserNamesAreKafkaNamesExactly) {
  for (const char* mech : {"PLAIN", "SCRAM-SHA-512"}) {
    Login r = login(creds, mech, "carol@example.com", "c-secret");
    EXPECT_EQ(r.last.state, State::Done) << mech << r.last.error;
    EXPECT_EQ(r.last.user, "carol@example.com");
  }
  Login r = login(creds, "SCRAM-SHA-256", "d,=e", "d-secret");
  EXPECT_EQ(r.last.state, State::Done) << r.last.error;
  EXPECT_EQ(r.last.user, "d,=e");
}

// PLAIN tries the SHA-512 credential then the SHA-256 one.
TEST_F(SaslServerTest, PlainUsesWhicheverScramCredentialExists) {
  EXPECT_EQ(login(creds, "PLAIN", "bob", "bob-secret-256").last.state, State::Done);
  EXPECT_EQ(login(creds, "PLAIN", "carol@example.com", "c-secret").last.state, State::Done);
}

TEST_F(SaslServerTest, WrongPasswordFails) {
  for (const char* mech : kAll) {
    SCOPED_TRACE(mech);
    Login r = login(creds, mech, "alice", "alice-secreT");
    EXPECT_EQ(r.last.state, State::Failed);
    EXPECT_NE(r.last.error.find("wrong password"), std::string::npos) << r.last.error;
    EXPECT_EQ(r.last.error.find("alice-secre"), std::string::npos) << r.last.error;
    EXPECT_TRUE(r.last.challenge.empty());
  }
}

// An unknown user fails like a wrong password as the client sees it: SCRAM still gets a
// server-first message (so the failure comes at the same step), with a salt stable per name.
TEST_F(SaslServerTest, UnknownUserFailsIndistinguishably) {
  for (const char* mech : kAll) {
    SCOPED_TRACE(mech);
    Login unknown = login(creds, mech, "mallory", "whatever");
    Login wrong = login(creds, mech, "alice", "whatever");
    EXPECT_EQ(unknown.last.state, State::Failed);
    EXPECT_NE(unknown.last.error.find("unknown user 'mallory'"), std::string::npos) << unknown.last.error;
    EXPECT_EQ(unknown.server_steps, wrong.server_steps);
    EXPECT_EQ(unknown.last.challenge, wrong.last.challenge);
  }
  // bob has only a SHA-256 credential: SHA-512 treats him as unknown.
  EXPECT_NE(login(creds, "SCRAM-SHA-512", "bob", "bob-secret-256").last.error.find("unknown user"), std::string::npos);

  auto server_first = [&](const std::string& user) {
    auto session = SaslServerFactory::instance().start("SCRAM-SHA-256", creds, "", "");
    SaslSession::Step st = session->step("n,,n=" + user + ",r=abcdefghijklmnop");
    EXPECT_EQ(st.state, State::Continue);
    std::string s = st.challenge;
    const auto at = s.find(",s=");
    return s.substr(at);  // ",s=<salt>,i=<iterations>" (the nonce part is random)
  };
  EXPECT_EQ(server_first("mallory"), server_first("mallory"));
  EXPECT_NE(server_first("mallory"), server_first("trudy"));
  EXPECT_NE(server_first("mallory").find(",i=4096"), std::string::npos);
}

TEST_F(SaslServerTest, AuthzidOtherThanUserFails) {
  for (const char* mech : kAll) {
    SCOPED_TRACE(mech);
    Login r = login(creds, mech, "alice", "alice-secret", "bob");
    EXPECT_EQ(r.last.state, State::Failed);
    EXPECT_NE(r.last.error.find("authorization id 'bob' differs"), std::string::npos) << r.last.error;
  }
}

TEST_F(SaslServerTest, BadTokensFail) {
  auto one = [&](const std::string& mech, const std::string& token) {
    return SaslServerFactory::instance().start(mech, creds, "", "")->step(token);
  };
  for (const char* mech : kAll) {
    SCOPED_TRACE(mech);
    EXPECT_EQ(one(mech, "").state, State::Failed);
    EXPECT_EQ(one(mech, "\x01\xff garbage \x7f").state, State::Failed);
    EXPECT_EQ(one(mech, std::string(300, '\0')).state, State::Failed);
  }
  // Truncated tokens from a real client.
  {
    SaslClient c("PLAIN", "alice", "alice-secret");
    std::string t;
    c.start(&t);
    SaslSession::Step st = one("PLAIN", t.substr(0, t.size() - 1));
    EXPECT_EQ(st.state, State::Failed);  // a shorter password, not a crash
    st = one("PLAIN", t.substr(0, 3));
    EXPECT_EQ(st.state, State::Failed);
    EXPECT_NE(st.error.find("malformed"), std::string::npos) << st.error;
  }
  for (const char* mech : {"SCRAM-SHA-256", "SCRAM-SHA-512"}) {
    SCOPED_TRACE(mech);
    SaslClient c(mech, "alice", "alice-secret");
    std::string first;
    c.start(&first);
    EXPECT_EQ(one(mech, first.substr(0, 9)).state, State::Failed);
    // A good first message, then a truncated final one.
    auto session = SaslServerFactory::instance().start(mech, creds, "", "");
    SaslSession::Step st = session->step(first);
    ASSERT_EQ(st.state, State::Continue);
    std::string final_msg;
    ASSERT_EQ(c.step(st.challenge, &final_msg), SASL_CONTINUE);
    st = session->step(final_msg.substr(0, final_msg.size() / 2));
    EXPECT_EQ(st.state, State::Failed);
    EXPECT_EQ(session->step(final_msg).state, State::Failed);  // nothing after a failure
  }
}

TEST_F(SaslServerTest, OversizedTokenFailsBeforeCyrusSeesIt) {
  auto session = SaslServerFactory::instance().start("PLAIN", creds, "", "", 64);
  SaslSession::Step st = session->step(std::string("\0alice\0", 7) + std::string(100, 'x'));
  EXPECT_EQ(st.state, State::Failed);
  EXPECT_NE(st.error.find("exceeds sasl.server.max.receive.size 64"), std::string::npos) << st.error;
  // The Kafka default bound.
  auto big = SaslServerFactory::instance().start("SCRAM-SHA-256", creds, "", "");
  EXPECT_EQ(big->step("n,,n=alice,r=" + std::string(kSaslServerMaxReceiveSizeDefault, 'r')).state, State::Failed);
}

TEST_F(SaslServerTest, TokenAfterDoneFails) {
  auto session = SaslServerFactory::instance().start("PLAIN", creds, "", "");
  const std::string token = std::string("\0alice\0alice-secret", 19);
  EXPECT_EQ(session->step(token).state, State::Done);
  EXPECT_EQ(session->step(token).state, State::Failed);
}

// With every log level on, neither Cyrus's log lines nor ours carry a password.
TEST_F(SaslServerTest, NoSecretInLogs) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  spdlog::set_level(spdlog::level::trace);
  for (const char* mech : kAll) {
    login(creds, mech, "alice", "Wr0ngPassw0rd");
    login(creds, mech, "alice", "alice-secret");
    login(creds, mech, "nobody", "Wr0ngPassw0rd");
  }
  spdlog::set_default_logger(previous);
  const std::string logs = captured.str();
  EXPECT_EQ(logs.find("Wr0ngPassw0rd"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("alice-secret"), std::string::npos) << logs;
}

// Sessions on 4 threads at once, every mechanism, good and bad passwords interleaved.
TEST_F(SaslServerTest, ConcurrentSessionsOnFourThreads) {
  std::atomic<int> done{0}, failed{0}, wrong_outcome{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 24; ++i) {
        const char* mech = kAll[(t + i) % 3];
        const bool good = (i % 4) != 3;
        Login r = login(creds, mech, "alice", good ? "alice-secret" : "nope");
        if (r.last.state == State::Done) ++done;
        if (r.last.state == State::Failed) ++failed;
        if ((r.last.state == State::Done) != good || (good && r.last.user != "alice")) ++wrong_outcome;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong_outcome.load(), 0);
  EXPECT_EQ(done.load(), 4 * 18);
  EXPECT_EQ(failed.load(), 4 * 6);
}

}  // namespace
}  // namespace ferry::security

// Name resolution interposed for the whole test binary (libsasl2 included): counts lookups.
static std::atomic<int> g_getaddrinfo_calls{0};
extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  ++g_getaddrinfo_calls;
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  return real(node, service, hints, res);
}

namespace ferry::security {
namespace {

// A session start must not resolve names: a network thread would block on DNS for every
// connection (Cyrus resolves the host's FQDN when sasl_server_new gets no server name).
TEST_F(SaslServerTest, StartingASessionDoesNoDnsLookup) {
  SaslServerFactory::instance();
  int server_lookups = 0;  // counted around the server's calls only (the Cyrus client resolves)
  for (const char* mech : kAll) {
    SaslClient client(mech, "alice", "alice-secret");
    std::string token;
    client.start(&token);
    int before = g_getaddrinfo_calls.load();
    auto session = SaslServerFactory::instance().start(mech, creds, "127.0.0.1;5000", "127.0.0.1;9092");
    SaslSession::Step st = session->step(token);
    server_lookups += g_getaddrinfo_calls.load() - before;
    while (st.state == State::Continue) {
      client.step(st.challenge, &token);
      before = g_getaddrinfo_calls.load();
      st = session->step(token);
      server_lookups += g_getaddrinfo_calls.load() - before;
    }
    EXPECT_EQ(st.state, State::Done) << st.error;
  }
  EXPECT_EQ(server_lookups, 0);
}

}  // namespace
}  // namespace ferry::security

namespace ferry::security {
namespace {

// The audit reason quotes the user name the client sent: control bytes are escaped (no forged
// log lines) and a huge name is cut.
TEST_F(SaslServerTest, ErrorQuotesClientUserNameSafely) {
  auto one = [&](const std::string& token) {
    return SaslServerFactory::instance().start("PLAIN", creds, "", "")->step(token);
  };
  SaslSession::Step st = one(std::string("\0evil\nINFO forged\x1b[0m\0pw", 24));
  EXPECT_EQ(st.state, State::Failed);
  EXPECT_EQ(st.error.find('\n'), std::string::npos) << st.error;
  EXPECT_EQ(st.error.find('\x1b'), std::string::npos) << st.error;
  EXPECT_NE(st.error.find("evil\\x0aINFO forged\\x1b[0m"), std::string::npos) << st.error;
  st = one(std::string("\0", 1) + std::string(100000, 'u') + std::string("\0pw", 3));
  EXPECT_EQ(st.state, State::Failed);
  EXPECT_LT(st.error.size(), 400u);
}

}  // namespace
}  // namespace ferry::security

namespace ferry::security {
namespace {

class BrokenStore : public CredentialSource {
 public:
  std::optional<ScramCredential> scram_credential(const std::string&, ScramMechanism) const override {
    throw std::runtime_error("metadata store unavailable");
  }
};

// A credential store that throws fails the login with a reason; the exception never crosses Cyrus.
TEST(SaslServerStore, StoreErrorFailsTheLogin) {
  BrokenStore broken;
  for (const char* mech : kAll) {
    SCOPED_TRACE(mech);
    Login r = login(broken, mech, "alice", "alice-secret");
    EXPECT_EQ(r.last.state, State::Failed);
    EXPECT_NE(r.last.error.find("credential store error for user 'alice'"), std::string::npos) << r.last.error;
  }
}

}  // namespace
}  // namespace ferry::security
