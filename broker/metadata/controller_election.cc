#include "broker/metadata/controller_election.h"

#include <spdlog/spdlog.h>

#include <atomic>

namespace ferry::broker {

using Clock = std::chrono::steady_clock;

std::string controller_key(const std::string& prefix) { return prefix + "/controller"; }

ControllerElection::ControllerElection(etcd::ClientOptions options, std::string prefix, int32_t node_id,
                                       std::chrono::milliseconds session_timeout,
                                       std::chrono::milliseconds heartbeat_interval,
                                       std::function<void(int64_t)> on_elect, std::function<void()> on_resign)
    : options_(options),
      client_(std::move(options)),
      prefix_(std::move(prefix)),
      key_(controller_key(prefix_)),
      node_id_(node_id),
      session_timeout_(session_timeout),
      heartbeat_interval_(heartbeat_interval),
      on_elect_(std::move(on_elect)),
      on_resign_(std::move(on_resign)) {}

ControllerElection::~ControllerElection() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (lease_ != 0) {
    try {
      client_.lease_revoke(lease_);  // deletes the controller key if this broker held it
    } catch (const std::exception& e) {
      spdlog::warn("controller election: could not revoke lease {:x}; {} goes when it expires: {}", lease_, key_,
                   e.what());
    }
  }
}

void ControllerElection::start() {
  thread_ = std::thread([this] { run(); });
}

int64_t ControllerElection::epoch() const {
  std::lock_guard lock(mu_);
  return epoch_;
}

bool ControllerElection::campaign() {
  if (lease_ == 0 || client_.lease_keepalive(lease_) == 0) {
    lease_ = client_.lease_grant((session_timeout_.count() + 999) / 1000).id;
  }
  auto r = client_.txn({etcd::Compare::create_revision_is(key_, 0)},
                       {etcd::Op::put(key_, std::to_string(node_id_), lease_)}, {etcd::Op::get(key_)});
  if (!r.succeeded) return false;
  last_renewed_ = Clock::now();
  std::lock_guard lock(mu_);
  epoch_ = r.revision;  // the put's revision is the key's create_revision
  return true;
}

bool ControllerElection::still_holding() {
  try {
    if (client_.lease_keepalive(lease_) == 0) {
      spdlog::warn("controller election: broker {} lost control: its lease expired (silent for longer than "
                   "broker.session.timeout.ms)",
                   node_id_);
      lease_ = 0;
      return false;
    }
    auto g = client_.get(key_);
    if (g.kvs.empty() || g.kvs[0].create_revision != epoch()) {
      spdlog::warn("controller election: broker {} lost control: {} was deleted or taken", node_id_, key_);
      return false;
    }
    last_renewed_ = Clock::now();
    return true;
  } catch (const std::exception& e) {
    // Unreachable etcd: keep control only as long as the lease can still be alive, then step
    // down by itself (the new controller's writes fence this one's anyway).
    const bool expired = Clock::now() - last_renewed_ >= session_timeout_;
    spdlog::warn("controller election: broker {} cannot renew its lease{}: {}", node_id_,
                 expired ? " for longer than the session; stepping down" : "", e.what());
    return !expired;
  }
}

void ControllerElection::wait_for_vacancy() {
  const auto held = client_.get(key_);
  if (held.kvs.empty()) return;
  std::atomic<bool> vacant{false};
  etcd::Watch watch(
      options_, key_, {}, held.revision + 1,
      [&](int64_t, const std::vector<etcd::WatchEvent>& events) {
        for (const auto& e : events) {
          if (e.type == etcd::WatchEvent::Type::kDelete) {
            {
              std::lock_guard lock(mu_);
              vacant = true;
            }
            cv_.notify_all();
          }
        }
      },
      [](const etcd::EtcdError&) {});
  std::unique_lock lock(mu_);
  // The watch wakes this at once; the session timeout bounds a wait whose watch went astray.
  cv_.wait_for(lock, session_timeout_, [&] { return stop_ || vacant.load(); });
}

void ControllerElection::run() {
  auto stopped = [this] {
    std::lock_guard lock(mu_);
    return stop_;
  };
  while (!stopped()) {
    try {
      if (!campaign()) {
        wait_for_vacancy();
        continue;
      }
      const int64_t won = epoch();
      spdlog::info("controller election: broker {} is the controller (epoch {})", node_id_, won);
      if (on_elect_) on_elect_(won);
      for (;;) {
        {
          std::unique_lock lock(mu_);
          if (cv_.wait_for(lock, heartbeat_interval_, [this] { return stop_; })) return;
        }
        if (!still_holding()) break;
      }
      {
        std::lock_guard lock(mu_);
        epoch_ = 0;
      }
      if (on_resign_) on_resign_();
    } catch (const std::exception& e) {
      spdlog::warn("controller election: broker {}: {}; trying again", node_id_, e.what());
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, heartbeat_interval_, [this] { return stop_; });
    }
  }
}

}  // namespace ferry::broker
