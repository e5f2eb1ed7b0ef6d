// Bench (not a test): in-process SASL logins per second through SaslSession with the real Cyrus
// client, 4096 iterations. Reports whole logins (client + server work) and the server's share
// (time inside SaslSession::step only). Usage: security_sasl_bench [seconds-per-case] [threads]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>
#include <vector>

#include "security/sasl_server.h"
#include "security/sasl_client.h"

using namespace ferry::security;
using Clock = std::chrono::steady_clock;

namespace {
class OneUser : public CredentialSource {
 public:
  OneUser() {
    for (auto m : {ScramMechanism::Sha256, ScramMechanism::Sha512}) creds_[m] = make_scram_credential(m, "pw", 4096);
  }
  std::optional<ScramCredential> scram_credential(const std::string& user, ScramMechanism m) const override {
    if (user != "bench") return std::nullopt;
    return creds_.at(m);
  }

 private:
  std::map<ScramMechanism, ScramCredential> creds_;
};

// One login; returns nanoseconds spent in the server's step() calls, or -1 on failure.
long long login(const OneUser& creds, const std::string& mech) {
  auto session = SaslServerFactory::instance().start(mech, creds, "", "");
  SaslClient client(mech, "bench", "pw");
  std::string token;
  client.start(&token);
  long long server_ns = 0;
  for (int i = 0; i < 4; ++i) {
    auto t0 = Clock::now();
    SaslSession::Step st = session->step(token);
    server_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    if (st.state == SaslSession::Step::State::Done) return server_ns;
    if (st.state == SaslSession::Step::State::Failed) return -1;
    client.step(st.challenge, &token);
  }
  return -1;
}
}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
  OneUser creds;
  for (const std::string mech : {"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"}) {
    std::vector<long long> count(threads), server_ns(threads);
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        while (Clock::now() < end) {
          long long ns = login(creds, mech);
          if (ns < 0) std::abort();
          ++count[t];
          server_ns[t] += ns;
        }
      });
    }
    for (auto& th : pool) th.join();
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    long long n = 0, ns = 0;
    for (int t = 0; t < threads; ++t) n += count[t], ns += server_ns[t];
    std::printf("%-14s threads=%d logins=%lld  whole logins/s=%.0f  server-side us/login=%.0f (=> %.0f logins/s/core)\n",
                mech.c_str(), threads, n, n / wall, ns / 1e3 / n, n * 1e9 / ns);
  }
}
