// Data-path handlers: Produce, Fetch, ListOffsets, OffsetForLeaderEpoch, DeleteRecords.
// Request → handler → Partition → storage::Log, each a hop you can follow by file name.
#include <spdlog/spdlog.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "common/clock.h"
#include "broker/core/replica_manager.h"
#include "broker/replication/replication.h"
#include "broker/server/handlers.h"
#include "broker/storage/segment.h"
#include "common/metrics.h"

namespace ferry::broker {
namespace asio = boost::asio;
using namespace ferry::protocol;
using security::Operation;
using security::ResourceType;

namespace {

// Whether a Produce carries idempotent (producer id >= 0) but not transactional batches, judged
// as Kafka's ProduceRequest.hasIdempotentRecords / hasTransactionalRecords do: by the first batch
// header of each partition's records.
std::pair<bool, bool> idempotent_and_transactional(const ProduceRequest& req) {
  bool idempotent = false, transactional = false;
  for (const auto& t : req.topic_data)
    for (const auto& p : t.partition_data) {
      if (!p.records) continue;
      auto h = storage::parse_batch_header(p.records->data(), p.records->size());
      if (!h) continue;
      idempotent |= h->producer_id >= 0;
      transactional |= h->is_transactional();
    }
  return {idempotent, transactional};
}

// A range this size or larger leaves the page cache by sendfile(2) on a plaintext connection;
// a smaller one is read in here, where a copy of a few KiB costs less than a system call of its
// own on the way out (a consumer of many quiet partitions gets one write, not one per partition).
constexpr int64_t kMinFileSliceBytes = 16 * 1024;

// One partition's fetched batches as a RECORDS value: in log order, small ranges read in until
// the first large one, which and all after it stay file slices. Throws std::system_error when a
// range cannot be read.
Records to_records(storage::FetchRanges& found) {
  Records out;
  for (auto& r : found.ranges) {
    FileSlice slice{r.file, r.file->fd, r.position, r.size};
    if (out.slices.empty() && r.size < kMinFileSliceBytes) {
      read_slice(slice, out.bytes);
    } else {
      out.slices.push_back(std::move(slice));
    }
  }
  return out;
}

}  // namespace

asio::awaitable<void> wait_for_offsets(std::vector<OffsetWait> waits, Watermark mark, bool any,
                                       std::chrono::steady_clock::time_point deadline, BrokerServices& s,
                                       ReplicaManager* flusher) {
  // At shutdown a fetch answers at once with what it has, but an acks=all produce keeps waiting
  // for its fsync (the flusher outlives the network drain): answering it with an error would make
  // the client retry records that are already stored.
  const bool durable = mark == Watermark::kDurable;
  co_await wait_for_watermarks(
      std::move(waits), any ? WaitFor::any : WaitFor::all, deadline,
      [mark](const OffsetWait& w) {
        return mark == Watermark::kDurable   ? w.partition->durable_offset()
               : mark == Watermark::kLogEnd ? w.partition->log().log_end_offset()
                                            : w.partition->high_watermark();
      },
      [mark](const OffsetWait& w) -> OffsetWaiters& {
        return mark == Watermark::kDurable   ? w.partition->durable_waiters()
               : mark == Watermark::kLogEnd ? w.partition->end_offset_waiters()
                                            : w.partition->data_waiters();
      },
      [](const OffsetWait& w) { return w.target; }, [durable, &s] { return durable || !s.stopping; },
      [flusher](const std::vector<OffsetWait>& pending) {
        if (flusher)
          for (auto& w : pending) flusher->request_flush(w.partition);
      });
}

Handlers::Handlers(BrokerServices& services)
    : s_(services),
      // No client_id label: client ids are chosen by clients, so their cardinality is unbounded.
      fenced_produce_total_(s_.metrics.counter(
          "ferry_broker_standby_rejected_produce_total",
          "Produce requests refused because the cluster is in the standby role (ferry.cluster.role).")) {}

void Handlers::note_fenced_produce(const RequestContext& ctx) {
  fenced_produce_total_.inc();
  // One line per client per minute: a misdirected application keeps sending new batches.
  const std::string client = ctx.header.client_id.value_or("");
  // Monotonic, so a wall-clock step back cannot silence the log.
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  std::lock_guard lk(fenced_log_mu_);
  if (fenced_logged_ms_.size() >= 10'000) fenced_logged_ms_.clear();  // bounded: client ids are untrusted input
  auto [it, first] = fenced_logged_ms_.try_emplace(client, now);
  if (!first) {
    if (now - it->second < 60'000) return;
    it->second = now;
  }
  spdlog::warn("refused Produce from client '{}' with POLICY_VIOLATION (44): cluster is in the standby role: "
               "only clients whose client.id starts with one of ferry.standby.allowed.client.id.prefixes (and, when "
               "set, logged in as one of ferry.standby.allowed.principals) may write "
               "here; point the application at the primary (POLICY_VIOLATION is non-retriable, so the producer "
               "fails its delivery instead of retrying)",
               client);
}

ErrorCode Handlers::not_here(const std::string& topic, int32_t partition) const {
  auto t = s_.replicas.topic(topic);
  return t && partition >= 0 && partition < t->partitions ? ErrorCode::NOT_LEADER_OR_FOLLOWER
                                                          : ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
}

bool Handlers::allowed(RequestContext& ctx, Operation op, ResourceType type, const std::string& name) {
  return static_cast<bool>(s_.authorizer.authorize(ctx.identity, op, {type, name}));
}

bool Handlers::allowed_if_not_quiet_denial(RequestContext& ctx, Operation op, ResourceType type,
                                           const std::string& name) {
  if (!visible(ctx, op, type, name)) return false;
  return allowed(ctx, op, type, name);
}

bool Handlers::visible(RequestContext& ctx, Operation op, ResourceType type, const std::string& name) {
  return static_cast<bool>(s_.authorizer.authorize(ctx.identity, op, {type, name}, security::AuditHint::Quiet));
}

asio::awaitable<ProduceResponse> Handlers::handle(ProduceRequest& req, RequestContext& ctx) {
  ProduceResponse resp;
  // A broker that just woke (SIGSTOP, a stall) first learns whether it still leads.
  if (s_.replication) s_.replication->ensure_fresh();
  const int64_t now = wall_clock_ms();
  const bool acks_valid = req.acks == 0 || req.acks == 1 || req.acks == -1;
  const bool wait_durable = req.acks == -1 && s_.config.values.get_bool("log.flush.acks.all");
  // acks=all appends: answered once the whole ISR has them (the high watermark passes them) and,
  // with log.flush.acks.all, once they are fsynced here.
  struct AcksAll {
    std::shared_ptr<Partition> partition;
    int64_t target;        // last offset + 1
    int32_t leader_epoch;  // the epoch they were appended in
    // (topic, partition) indexes of the response: the vectors grow while partitions are added, so a
    // pointer kept across an emplace_back would dangle.
    std::pair<size_t, size_t> response;
  };
  std::vector<AcksAll> acks_all;
  // A standby (ferry.cluster.role) is fenced: only its replicator writes. POLICY_VIOLATION is
  // non-retriable for every client we test with, so a producer still pointed here fails at once
  // instead of retrying until its delivery timeout, and nothing is appended.
  // An idempotent producer needs IDEMPOTENT_WRITE on the cluster, checked before any topic; a
  // refusal answers every partition CLUSTER_AUTHORIZATION_FAILED (Kafka's handleProduceRequest).
  // Transactional batches are refused below (no transaction coordinator yet).
  if (auto [idempotent, transactional] = idempotent_and_transactional(req);
      idempotent && !transactional &&
      !allowed(ctx, Operation::IdempotentWrite, ResourceType::Cluster, security::kClusterResourceName)) {
    for (auto& t : req.topic_data) {
      auto& tr = resp.responses.emplace_back();
      tr.name = t.name;
      for (auto& p : t.partition_data) {
        auto& pr = tr.partition_responses.emplace_back();
        pr.index = p.index;
        pr.base_offset = -1;
        pr.error_code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
      }
    }
    co_return resp;
  }
  const bool fenced =
      !s_.replicas.produce_allowed(ctx.header.client_id.value_or(""), ctx.identity.principal.to_string());
  if (fenced) note_fenced_produce(ctx);

  for (auto& t : req.topic_data) {
    auto& tr = resp.responses.emplace_back();
    tr.name = t.name;
    const bool authorized = allowed(ctx, Operation::Write, ResourceType::Topic, t.name);
    int64_t topic_bytes = 0, topic_messages = 0;
    for (auto& p : t.partition_data) {
      auto& pr = tr.partition_responses.emplace_back();
      pr.index = p.index;
      pr.base_offset = -1;
      if (!acks_valid) {
        pr.error_code = ErrorCode::INVALID_REQUIRED_ACKS;
        continue;
      }
      if (!authorized) {
        pr.error_code = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
      if (is_internal_topic(t.name)) {
        pr.error_code = ErrorCode::INVALID_TOPIC_EXCEPTION;  // only the coordinator writes it
        continue;
      }
      if (fenced) {
        pr.error_code = ErrorCode::POLICY_VIOLATION;
        continue;
      }
      auto part = s_.replicas.partition(t.name, p.index);
      if (!part) {
        pr.error_code = not_here(t.name, p.index);
        continue;
      }
      if (!part->is_leader()) {
        pr.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER;
        continue;
      }
      // acks=all needs min.insync.replicas in the ISR before anything is appended
      // (Partition.appendRecordsToLeader); acks 0 and 1 are not checked.
      if (req.acks == -1 && part->isr_size() < part->effective_min_isr()) {
        pr.error_code = ErrorCode::NOT_ENOUGH_REPLICAS;
        continue;
      }
      if (!p.records || p.records->empty()) {
        pr.error_code = ErrorCode::INVALID_RECORD;
        continue;
      }
      auto v = storage::validate_produce_records(p.records->data(), p.records->size(), part->max_message_bytes());
      if (v.error != storage::errc::ok) {
        spdlog::debug("produce to {}-{} from {} rejected: {}", t.name, p.index, ctx.identity.client_host, v.message);
        pr.error_code = to_kafka_error(v.error);
        continue;
      }
      if (part->compacted()) {
        // A keyless record could never be compacted away. Kafka's LogValidator.validateKey refuses
        // each one with a RecordError; processRecordErrors then refuses the whole batch with
        // INVALID_RECORD and a message citing the first three (KIP-467; v8+ carry both).
        auto keyless = storage::null_key_records(p.records->data(), p.records->size());
        if (!keyless.empty()) {
          pr.error_code = ErrorCode::INVALID_RECORD;
          const std::string why = fmt::format(
              "Compacted topic cannot accept message without key in topic partition {}-{}", t.name, p.index);
          std::string shown;
          for (size_t i = 0; i < keyless.size(); ++i) {
            pr.record_errors.push_back({keyless[i], why});
            if (i < 3) shown += fmt::format("{}RecordError(batchIndex={}, message='{}')", i ? ", " : "", keyless[i], why);
          }
          pr.error_message = fmt::format(
              "One or more records have been rejected due to {} record errors in total, and only showing the "
              "first three errors at most: [{}]",
              keyless.size(), shown);
          continue;
        }
      }
      bool transactional = false;
      int64_t records = 0;
      for (auto& b : v.batches) {
        transactional |= b.is_transactional();
        records += b.record_count;
      }
      if (transactional || req.transactional_id) {
        // Transactions need the transaction coordinator, which this broker does not run yet.
        pr.error_code = ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        continue;
      }
      const int64_t bytes = static_cast<int64_t>(p.records->size());
      auto out = part->append(*p.records, v.batches, now);
      if (out.error != ErrorCode::NONE) {
        if (out.error == ErrorCode::KAFKA_STORAGE_ERROR)
          spdlog::error("append to {}-{} failed: storage error", t.name, p.index);
        else
          spdlog::debug("produce to {}-{} refused: {}", t.name, p.index, error_name(out.error));
        pr.error_code = out.error;
        continue;
      }
      const auto& res = out.result;
      pr.base_offset = res.base_offset;
      pr.log_append_time_ms = res.log_append_time_ms;
      pr.log_start_offset = res.log_start_offset;
      if (!out.duplicate) {
        topic_bytes += bytes;
        topic_messages += records;
      }
      if (req.acks == -1) {
        acks_all.push_back({part, res.last_offset + 1, part->leader_epoch(),
                            {resp.responses.size() - 1, tr.partition_responses.size() - 1}});
      }
    }
    if (topic_messages > 0) {
      metrics::Labels labels{{"topic", t.name}};
      s_.metrics.counter("kafka_server_brokertopicmetrics_bytesin_total", "Bytes of record batches appended.", labels)
          .inc(static_cast<double>(topic_bytes));
      s_.metrics.counter("kafka_server_brokertopicmetrics_messagesin_total", "Records appended.", labels)
          .inc(static_cast<double>(topic_messages));
    }
  }

  if (!acks_all.empty()) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(0, req.timeout_ms));
    const auto wait_start = std::chrono::steady_clock::now();
    std::vector<OffsetWait> waits;
    for (const auto& a : acks_all)
      if (a.partition->high_watermark() < a.target) waits.push_back({a.partition, a.target});
    if (!waits.empty())
      co_await wait_for_offsets(std::move(waits), Watermark::kHighWatermark, /*any=*/false, deadline, s_, nullptr);
    if (wait_durable) {
      waits.clear();
      for (const auto& a : acks_all)
        if (a.partition->high_watermark() >= a.target) waits.push_back({a.partition, a.target});
      co_await wait_for_offsets(std::move(waits), Watermark::kDurable, /*any=*/false, deadline, s_, &s_.replicas);
    }
    ctx.remote_time += std::chrono::steady_clock::now() - wait_start;
    // DelayedProduce / Partition.checkEnoughReplicasReachOffset: a leadership change answers
    // NOT_LEADER_OR_FOLLOWER (the client retries on the new leader; an idempotent producer's retry
    // is recognised there), a high watermark short of the records REQUEST_TIMED_OUT, an ISR that
    // fell below min.insync.replicas meanwhile NOT_ENOUGH_REPLICAS_AFTER_APPEND (the records stay).
    for (const auto& a : acks_all) {
      auto& pr = resp.responses[a.response.first].partition_responses[a.response.second];
      const auto& part = *a.partition;
      if (!part.is_leader() || part.leader_epoch() != a.leader_epoch)
        pr.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER;
      else if (part.high_watermark() < a.target || (wait_durable && part.durable_offset() < a.target))
        pr.error_code = ErrorCode::REQUEST_TIMED_OUT;
      else if (part.isr_size() < part.effective_min_isr())
        pr.error_code = ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND;
    }
  }
  co_return resp;
}

namespace {

// The per-partition leadership checks of a Fetch and of OffsetForLeaderEpoch (KIP-320; Kafka's
// Partition.fetchRecords / localLogWithEpochOrThrow and ReplicaManager.readFromLog): a
// CurrentLeaderEpoch (v9+, -1 = none) below this replica's is FENCED_LEADER_EPOCH, above it
// UNKNOWN_LEADER_EPOCH; then only the leader serves (NOT_LEADER_OR_FOLLOWER); then a follower
// (replica id >= 0) must be one of the partition's replicas, else UNKNOWN_LEADER_EPOCH when it sent
// an epoch and NOT_LEADER_OR_FOLLOWER when not.
std::optional<ErrorCode> fetch_epoch_error(int32_t current_leader_epoch, const Partition& part, int32_t replica_id) {
  const int32_t leader_epoch = part.leader_epoch();
  if (current_leader_epoch >= 0 && current_leader_epoch != leader_epoch)
    return current_leader_epoch < leader_epoch ? ErrorCode::FENCED_LEADER_EPOCH : ErrorCode::UNKNOWN_LEADER_EPOCH;
  if (!part.is_leader()) return ErrorCode::NOT_LEADER_OR_FOLLOWER;
  if (replica_id >= 0 && (replica_id == part.local_id() || !part.is_replica(replica_id)))
    return current_leader_epoch >= 0 ? ErrorCode::UNKNOWN_LEADER_EPOCH : ErrorCode::NOT_LEADER_OR_FOLLOWER;
  return std::nullopt;
}

}  // namespace

asio::awaitable<FetchResponse> Handlers::handle(FetchRequest& req, RequestContext& ctx) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(0, req.max_wait_ms));
  FetchResponse resp;
  if (req.session_id != 0 || req.session_epoch > 0) {
    // Ferry declines fetch sessions (it always answers session id 0, KIP-227), so any id or
    // incremental epoch a client presents is one we never issued.
    resp.error_code = ErrorCode::FETCH_SESSION_ID_NOT_FOUND;
    co_return resp;
  }
  // A replica id >= 0 is a follower broker (FetchRequest.json ReplicaId; KIP-903 moves it into
  // ReplicaState from v15): it needs CLUSTER_ACTION on the cluster, and is answered
  // TOPIC_AUTHORIZATION_FAILED for every partition without it (KafkaApis.handleFetchRequest).
  const bool follower = req.replica_id >= 0;
  const bool cluster_action =
      follower && allowed(ctx, Operation::ClusterAction, ResourceType::Cluster, security::kClusterResourceName);
  std::map<std::string, bool> authorized;
  for (auto& t : req.topics)
    if (!authorized.count(t.topic))
      authorized[t.topic] = follower ? cluster_action : allowed(ctx, Operation::Read, ResourceType::Topic, t.topic);

  for (;;) {
    resp.responses.clear();
    int64_t total = 0;
    bool any_error = false;
    std::vector<OffsetWait> waits;
    std::map<std::string, int64_t> bytes_out;
    for (auto& t : req.topics) {
      auto& tr = resp.responses.emplace_back();
      tr.topic = t.topic;
      for (auto& p : t.partitions) {
        auto& pd = tr.partitions.emplace_back();
        pd.partition_index = p.partition;
        pd.high_watermark = -1;
        pd.last_stable_offset = -1;
        pd.log_start_offset = -1;
        pd.records.emplace();  // empty, never null: Kafka sends an empty record set with an error
        if (req.isolation_level == 1) pd.aborted_transactions.emplace();  // READ_COMMITTED: none aborted
        if (!authorized[t.topic]) {
          pd.error_code = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
          any_error = true;
          continue;
        }
        auto part = s_.replicas.partition(t.topic, p.partition);
        if (!part) {
          pd.error_code = not_here(t.topic, p.partition);
          any_error = true;
          continue;
        }
        if (auto fenced = fetch_epoch_error(p.current_leader_epoch, *part, req.replica_id)) {
          pd.error_code = *fenced;
          any_error = true;
          continue;
        }
        // A follower's FetchOffset is its log end offset: the leader notes it (which may raise the
        // high watermark, or qualify the follower for the ISR) before answering, so the reply
        // carries the high watermark its own fetch made (Partition.updateFollowerFetchState).
        if (follower && part->record_follower_fetch(req.replica_id, p.fetch_offset, wall_clock_ms()) &&
            s_.replication)
          s_.replication->request_isr_update(part);
        const int64_t hwm = part->high_watermark();
        // Followers read up to the log end offset, consumers up to the high watermark.
        const int64_t read_bound = follower ? part->log().log_end_offset() : hwm;
        pd.high_watermark = hwm;
        pd.last_stable_offset = hwm;  // no open transactions: LSO = HW
        pd.log_start_offset = part->log().log_start_offset();
        const int64_t remaining = static_cast<int64_t>(req.max_bytes) - total;
        const int32_t limit = static_cast<int32_t>(std::min<int64_t>(p.partition_max_bytes, remaining));
        if (limit <= 0 && total > 0) continue;  // response full; the client fetches again
        auto [err, found] =
            part->log().read_ranges(p.fetch_offset, std::max(limit, 0), read_bound, /*min_one_batch=*/total == 0);
        if (err == storage::errc::ok) {
          try {
            pd.records = to_records(found);
          } catch (const std::system_error& e) {
            spdlog::error("fetch {}-{} at offset {}: {}", t.topic, p.partition, p.fetch_offset, e.what());
            err = storage::errc::storage_error;
            pd.records.emplace();
          }
        }
        if (err != storage::errc::ok) {
          pd.error_code = to_kafka_error(err);
          any_error = true;
          continue;
        }
        pd.log_start_offset = found.log_start_offset;
        // Any append past today's bound can change this partition's answer.
        waits.push_back({part, read_bound + 1});
        total += found.bytes;
        bytes_out[t.topic] += found.bytes;
      }
    }
    const bool satisfied = total >= req.min_bytes || any_error;
    if (satisfied || waits.empty() || Clock::now() >= deadline || s_.stopping) {
      for (auto& [topic, bytes] : bytes_out)
        s_.metrics.counter("kafka_server_brokertopicmetrics_bytesout_total", "Bytes of record batches fetched.",
                           {{"topic", topic}})
            .inc(static_cast<double>(bytes));
      co_return resp;
    }
    // Long poll (fetch.max.wait.ms): sleep until any empty partition gets data, then re-read.
    const auto wait_start = Clock::now();
    co_await wait_for_offsets(std::move(waits), follower ? Watermark::kLogEnd : Watermark::kHighWatermark,
                              /*any=*/true, deadline, s_, nullptr);
    ctx.remote_time += Clock::now() - wait_start;
  }
}

asio::awaitable<ListOffsetsResponse> Handlers::handle(ListOffsetsRequest& req, RequestContext& ctx) {
  ListOffsetsResponse resp;
  for (auto& t : req.topics) {
    auto& tr = resp.topics.emplace_back();
    tr.name = t.name;
    const bool authorized = allowed(ctx, Operation::Describe, ResourceType::Topic, t.name);
    for (auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      if (!authorized) {
        pr.error_code = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
      auto part = s_.replicas.partition(t.name, p.partition_index);
      if (!part || !part->is_leader()) {
        pr.error_code = part ? ErrorCode::NOT_LEADER_OR_FOLLOWER : not_here(t.name, p.partition_index);
        continue;
      }
      auto& log = part->log();
      if (p.timestamp == ListOffsetsRequest::kEarliest) {
        pr.offset = log.log_start_offset();
      } else if (p.timestamp == ListOffsetsRequest::kLatest) {
        // A replica asking (a follower recovering from OFFSET_OUT_OF_RANGE) gets the log end
        // offset; clients the high watermark.
        pr.offset = req.replica_id >= 0 ? log.log_end_offset() : part->high_watermark();
      } else if (p.timestamp == ListOffsetsRequest::kMaxTimestamp) {
        if (auto m = log.max_timestamp()) {
          pr.timestamp = m->first;
          pr.offset = m->second;
        }
      } else if (auto found = log.offset_for_timestamp(p.timestamp)) {
        pr.offset = found->first;
        pr.timestamp = found->second;
      }
    }
  }
  co_return resp;
}

// OffsetForLeaderEpoch (KIP-101, KIP-279, KIP-320): the end offset of a leader epoch in the
// partition's epoch history (storage::LeaderEpochCache). Kafka's rules (KafkaApis
// .handleOffsetForLeaderEpochRequest, Partition.lastOffsetForLeaderEpoch): CLUSTER_ACTION on the
// cluster (brokers) or DESCRIBE on the topic (KIP-320 consumers) lets a topic through, else
// TOPIC_AUTHORIZATION_FAILED; a CurrentLeaderEpoch below the leader's is FENCED_LEADER_EPOCH,
// above it UNKNOWN_LEADER_EPOCH; an epoch the history does not know answers (-1, -1).
asio::awaitable<OffsetForLeaderEpochResponse> Handlers::handle(OffsetForLeaderEpochRequest& req, RequestContext& ctx) {
  OffsetForLeaderEpochResponse resp;
  // logIfDenied = false in Kafka: the cluster check is a shortcut before the per-topic one.
  const bool cluster_action = allowed_if_not_quiet_denial(ctx, Operation::ClusterAction, ResourceType::Cluster,
                                                          security::kClusterResourceName);
  for (auto& t : req.topics) {
    auto& tr = resp.topics.emplace_back();
    tr.topic = t.topic;
    const bool authorized = cluster_action || allowed(ctx, Operation::Describe, ResourceType::Topic, t.topic);
    for (auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition = p.partition;
      if (!authorized) {
        pr.error_code = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
      auto part = s_.replicas.partition(t.topic, p.partition);
      if (!part) {
        pr.error_code = not_here(t.topic, p.partition);
        continue;
      }
      if (auto fenced = fetch_epoch_error(p.current_leader_epoch, *part, /*replica_id=*/-1)) {
        pr.error_code = *fenced;  // the leader answers followers and consumers alike
        continue;
      }
      std::tie(pr.leader_epoch, pr.end_offset) = part->log().end_offset_for_epoch(p.leader_epoch);
    }
  }
  co_return resp;
}

asio::awaitable<DeleteRecordsResponse> Handlers::handle(DeleteRecordsRequest& req, RequestContext& ctx) {
  DeleteRecordsResponse resp;
  bool changed = false;
  for (auto& t : req.topics) {
    auto& tr = resp.topics.emplace_back();
    tr.name = t.name;
    const bool authorized = allowed(ctx, Operation::Delete, ResourceType::Topic, t.name);
    for (auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      pr.low_watermark = -1;
      if (!authorized) {
        pr.error_code = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
      auto part = s_.replicas.partition(t.name, p.partition_index);
      if (!part || !part->is_leader()) {
        // Followers take the leader's log start offset from their fetches.
        pr.error_code = part ? ErrorCode::NOT_LEADER_OR_FOLLOWER : not_here(t.name, p.partition_index);
        continue;
      }
      const int64_t hwm = part->high_watermark();
      const int64_t offset = p.offset == -1 ? hwm : p.offset;
      if (offset < 0 || offset > hwm) {
        pr.error_code = ErrorCode::OFFSET_OUT_OF_RANGE;
        continue;
      }
      auto [err, low] = part->log().delete_records_before(offset);
      pr.error_code = to_kafka_error(err);
      pr.low_watermark = err == storage::errc::ok ? low : -1;
      changed |= err == storage::errc::ok;
    }
  }
  if (changed) s_.replicas.checkpoint_log_start_offsets();
  co_return resp;
}

}  // namespace ferry::broker
