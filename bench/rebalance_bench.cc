#include "bench/rebalance_bench.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "bench/bench_error.h"
#include "bench/kafka_client.h"
#include "bench/payload.h"

namespace ferry::bench {
namespace {

constexpr int64_t kHeartbeatIntervalMs = 100;
constexpr auto kStepTimeout = std::chrono::seconds(30);

// What one member's rebalance callbacks last told it. Guarded by GroupTracker::mu.
struct MemberState {
  bool assigned = false;
  std::vector<int32_t> partitions;
  int64_t last_assign_ns = 0;
  std::vector<int64_t> revokes_ns;
};

// Shared by the members' poll threads (through their rebalance callbacks) and the thread
// that measures.
struct GroupTracker {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<MemberState> members;
  int64_t callback_errors = 0;
  std::string first_callback_error;
  std::atomic<int64_t> poll_errors{0};
};

// The rebalance callback's opaque: which member it serves.
struct MemberContext {
  GroupTracker* tracker = nullptr;
  size_t index = 0;
};

void note_callback_error(GroupTracker& t, std::string what) {
  if (t.callback_errors++ == 0) t.first_callback_error = std::move(what);
}

// Eager protocol: every rebalance revokes everything, then assigns the new share. The
// application must apply both with rd_kafka_assign() itself once it installs a callback.
void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                  rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  const int64_t now_ns = monotonic_ns();
  auto& ctx = *static_cast<MemberContext*>(opaque);
  const bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
  const rd_kafka_resp_err_t applied = rd_kafka_assign(rk, assign ? partitions : nullptr);
  {
    std::lock_guard lock(ctx.tracker->mu);
    MemberState& m = ctx.tracker->members[ctx.index];
    m.assigned = assign;
    m.partitions.clear();
    if (assign) {
      for (int i = 0; i < partitions->cnt; ++i) {
        m.partitions.push_back(partitions->elems[i].partition);
      }
      m.last_assign_ns = now_ns;
    } else {
      m.revokes_ns.push_back(now_ns);
    }
    if (!assign && err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      note_callback_error(*ctx.tracker, fmt::format("member {}: rebalance error {}", ctx.index,
                                                    rd_kafka_err2name(err)));
    }
    if (applied != RD_KAFKA_RESP_ERR_NO_ERROR) {
      note_callback_error(*ctx.tracker, fmt::format("member {}: assign failed: {}", ctx.index,
                                                    rd_kafka_err2name(applied)));
    }
  }
  ctx.tracker->changed.notify_all();
}

// One consumer with its own poll thread, which serves its rebalance callbacks as soon as
// librdkafka queues them. The thread stops (and is joined) before the handle goes away.
class Member {
 public:
  Member(KafkaConfig& conf, GroupTracker& tracker, size_t index) : ctx_{&tracker, index} {
    rd_kafka_conf_set_rebalance_cb(conf.raw(), on_rebalance);
    rd_kafka_conf_set_opaque(conf.raw(), &ctx_);
    rk_ = make_consumer(conf);
    poller_ = std::jthread([this] { poll_loop(); });
  }
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;
  ~Member() { stop_polling(); }

  rd_kafka_t* get() const { return rk_.get(); }

  void stop_polling() {
    stop_ = true;
    if (poller_.joinable()) poller_.join();
  }

 private:
  void poll_loop() {
    while (!stop_) {
      // 50 ms only bounds how long stop_polling() waits; callbacks are served on arrival.
      rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk_.get(), 50);
      if (msg == nullptr) continue;
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR && msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
          ctx_.tracker->poll_errors++ < 10) {
        std::fprintf(stderr, "ferry-bench: rebalance member %zu: %s: %s\n", ctx_.index,
                     rd_kafka_err2name(msg->err), rd_kafka_message_errstr(msg));
      }
      rd_kafka_message_destroy(msg);
    }
  }

  MemberContext ctx_;
  KafkaHandle rk_;
  std::atomic<bool> stop_{false};
  std::jthread poller_;
};

void subscribe(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw BenchError(fmt::format("subscribe({}) failed: {}", topic, rd_kafka_err2str(err)));
  }
}

// Empty when `active` members are settled on assignments received at or after `since_ns`
// that hold each partition exactly once; otherwise what is still missing. Caller holds mu.
std::string unsettled(const GroupTracker& t, const std::vector<size_t>& active, int partitions,
                      int64_t since_ns) {
  std::vector<int> owners(static_cast<size_t>(partitions), 0);
  int waiting = 0;
  for (size_t i : active) {
    const MemberState& m = t.members[i];
    if (!m.assigned || m.last_assign_ns < since_ns) {
      ++waiting;
      continue;
    }
    for (int32_t p : m.partitions) {
      if (p >= 0 && p < partitions) ++owners[static_cast<size_t>(p)];
    }
  }
  if (waiting > 0) {
    return fmt::format("{} of {} members without a new assignment", waiting, active.size());
  }
  const auto unowned = std::count(owners.begin(), owners.end(), 0);
  const auto shared = std::count_if(owners.begin(), owners.end(), [](int n) { return n > 1; });
  if (unowned > 0 || shared > 0) {
    return fmt::format("{} partitions unassigned, {} assigned twice", unowned, shared);
  }
  return {};
}

struct Settled {
  /// When the last of the settling assignments arrived.
  int64_t settled_ns = 0;
  /// When the last member that held partitions before the step had revoked them, i.e. had
  /// learned of the rebalance; 0 when nobody revoked.
  int64_t all_revoked_ns = 0;
};

// Waits until the group settles (see unsettled()). Throws BenchError after `timeout`.
Settled wait_settled(GroupTracker& t, const std::vector<size_t>& active, int partitions,
                     int64_t since_ns, std::chrono::milliseconds timeout, const char* step) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(t.mu);
  std::string missing;
  while (!(missing = unsettled(t, active, partitions, since_ns)).empty()) {
    if (t.changed.wait_until(lock, deadline) == std::cv_status::timeout &&
        !(missing = unsettled(t, active, partitions, since_ns)).empty()) {
      throw BenchError(fmt::format("rebalance ({}): group not settled after {} ms: {}{}", step,
                                   timeout.count(), missing,
                                   t.callback_errors > 0 ? "; " + t.first_callback_error : ""));
    }
  }
  Settled out;
  for (size_t i : active) {
    const MemberState& m = t.members[i];
    out.settled_ns = std::max(out.settled_ns, m.last_assign_ns);
    // Revocations are in time order; the member's first one in this step is when it learned.
    auto first = std::find_if(m.revokes_ns.begin(), m.revokes_ns.end(),
                              [since_ns](int64_t r) { return r >= since_ns; });
    if (first != m.revokes_ns.end()) out.all_revoked_ns = std::max(out.all_revoked_ns, *first);
  }
  return out;
}

// From the last existing member's revocation to the settled group; 0 when none revoked.
double after_all_revoked_ms(const Settled& s) {
  return s.all_revoked_ns > 0 ? static_cast<double>(s.settled_ns - s.all_revoked_ns) / 1e6 : 0;
}

double ms_between(int64_t start_ns, int64_t end_ns) {
  return static_cast<double>(end_ns - start_ns) / 1e6;
}

// Leaves the group from every still-open member at once: closed one by one, each LeaveGroup
// would start a rebalance the next member has to sit through.
void close_all(std::vector<std::unique_ptr<Member>>& members, std::vector<bool>& open) {
  std::vector<std::jthread> closers;
  for (size_t i = 0; i < members.size(); ++i) {
    if (!open[i]) continue;
    open[i] = false;
    closers.emplace_back([m = members[i].get()] {
      m->stop_polling();
      rd_kafka_consumer_close(m->get());
    });
  }
}

}  // namespace

RebalanceResult run_rebalance(const Options& options, const std::string& topic,
                              const std::string& group,
                              std::optional<int64_t> broker_initial_delay_ms) {
  const auto n = static_cast<size_t>(options.rebalance_members);
  const auto partitions = static_cast<int>(options.rebalance_partitions);
  RebalanceResult result;
  result.topic = topic;
  result.group = group;
  result.members = static_cast<int>(n);
  result.partitions = partitions;
  result.broker_initial_delay_ms = broker_initial_delay_ms;
  result.heartbeat_interval_ms = kHeartbeatIntervalMs;

  GroupTracker tracker;
  tracker.members.resize(n + 1);
  std::vector<std::unique_ptr<Member>> members;
  std::vector<bool> open(n + 1, false);
  for (size_t i = 0; i <= n; ++i) {
    KafkaConfig conf(options.bootstrap, options.client_properties);
    conf.set("group.id", group)
        // Eager assignment, librdkafka 2.0.2's first default strategy: every rebalance
        // revokes and reassigns everything, the classic protocol's full cost.
        .set("partition.assignment.strategy", "range")
        .set("heartbeat.interval.ms", std::to_string(kHeartbeatIntervalMs))
        // librdkafka 2.0.2 defaults, pinned for the report. max.poll.interval.ms is sent as
        // the JoinGroup rebalance timeout (KIP-62).
        .set("session.timeout.ms", "45000")
        .set("max.poll.interval.ms", "300000")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    if (i == 0) result.client_settings = conf.settings();
    members.push_back(std::make_unique<Member>(conf, tracker, i));
    open[i] = true;
  }

  // Connections and topic metadata are client start-up, not the group protocol: one Metadata
  // round trip per client and leaders checked once, before any clock. (librdkafka looks up
  // the coordinator by itself as soon as a handle with a group.id exists.)
  for (const auto& m : members) {
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_resp_err_t err = rd_kafka_metadata(m->get(), 0, nullptr, &md, 5000);
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw BenchError(fmt::format("rebalance member: Metadata failed: {}", rd_kafka_err2str(err)));
    }
    rd_kafka_metadata_destroy(md);
  }
  {
    TopicHandle rkt = open_topic(members[0]->get(), topic);
    wait_for_leaders(members[0]->get(), rkt.get(), partitions, std::chrono::seconds(10));
  }

  std::vector<size_t> initial(n);
  for (size_t i = 0; i < n; ++i) initial[i] = i;
  const int64_t first_subscribe_ns = monotonic_ns();
  int64_t last_subscribe_ns = first_subscribe_ns;
  for (size_t i = 0; i < n; ++i) {
    last_subscribe_ns = monotonic_ns();
    subscribe(members[i]->get(), topic);
  }
  const auto initial_timeout = kStepTimeout + std::chrono::milliseconds(
                                                  broker_initial_delay_ms.value_or(3000));
  const int64_t formed_ns =
      wait_settled(tracker, initial, partitions, first_subscribe_ns, initial_timeout, "initial")
          .settled_ns;
  result.subscribe_spread_ms = ms_between(first_subscribe_ns, last_subscribe_ns);
  result.initial_ms = ms_between(last_subscribe_ns, formed_ns);

  std::vector<size_t> grown = initial;
  grown.push_back(n);
  const int64_t join_start_ns = monotonic_ns();
  subscribe(members[n]->get(), topic);
  const Settled joined =
      wait_settled(tracker, grown, partitions, join_start_ns, kStepTimeout, "member join");
  result.join_ms = ms_between(join_start_ns, joined.settled_ns);
  result.join_after_all_revoked_ms = after_all_revoked_ms(joined);

  // The leaver's callbacks now run inside rd_kafka_consumer_close() on this thread.
  members[n]->stop_polling();
  const int64_t leave_start_ns = monotonic_ns();
  rd_kafka_consumer_close(members[n]->get());
  open[n] = false;
  const Settled left =
      wait_settled(tracker, initial, partitions, leave_start_ns, kStepTimeout, "member leave");
  result.leave_ms = ms_between(leave_start_ns, left.settled_ns);
  result.leave_after_all_revoked_ms = after_all_revoked_ms(left);

  close_all(members, open);
  {
    std::lock_guard lock(tracker.mu);
    result.client_errors = tracker.callback_errors + tracker.poll_errors.load();
    if (tracker.callback_errors > 0) {
      result.warnings.push_back(fmt::format("rebalance: {} rebalance callback error(s); first: {}",
                                            tracker.callback_errors,
                                            tracker.first_callback_error));
    }
  }
  // Half, not all: a coordinator that reads its clock at timer ticks may fire a little
  // early, which is no news; ignoring the delay altogether is.
  if (broker_initial_delay_ms &&
      result.initial_ms < 0.5 * static_cast<double>(*broker_initial_delay_ms)) {
    result.warnings.push_back(fmt::format(
        "rebalance: the group formed {:.0f} ms after the last subscribe although the broker "
        "reports group.initial.rebalance.delay.ms={}",
        result.initial_ms, *broker_initial_delay_ms));
  }
  return result;
}

}  // namespace ferry::bench
