#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/cpu_usage.h"
#include "bench/mirror_endpoints.h"
#include "bench/mirror_process.h"
#include "bench/options.h"
#include "bench/produce_bench.h"

namespace ferry::bench {

/// How fast a mirror started after the fact copies records already on its source to its
/// target, observed from the outside through the target's end offsets.
struct MirrorCopyResult {
  std::string source_topic;
  std::string remote_topic;
  int partitions = 0;
  /// Records (and value bytes) the target must end up holding: what the produce phase got
  /// acknowledged.
  int64_t records = 0;
  int64_t bytes = 0;
  /// From starting the process to /healthz answering, to /status listing the source topic
  /// (its remote topic then exists), and to the first record seen on the target. The last
  /// is an upper bound by up to one poll interval.
  double serving_seconds = 0;
  double routed_seconds = 0;
  double startup_seconds = 0;
  /// The timed copy: from the first poll that found records on the target to the poll that
  /// found all of them. Records already there at the first sighting are not counted, so
  /// `records_timed` / `seconds` is the rate over exactly the observed interval.
  double seconds = 0;
  int64_t records_timed = 0;
  int64_t bytes_timed = 0;
  /// From starting the process to the target holding every record.
  double total_seconds = 0;
  /// End-offset queries (one ListOffsets request for all partitions each) made while timing.
  int64_t polls = 0;
  double poll_interval_ms = 0;
  /// Time inside the timed copy during which the target's end offsets did not move from one
  /// poll to the next, summed, and the longest such stretch: a mirror that copies in bursts
  /// with pauses in between shows here, one that is uniformly slow does not.
  double stalled_seconds = 0;
  double longest_stall_ms = 0;
  /// When the longest stall began, in seconds since the mirror was started, to line it up
  /// with the mirror's own periodic work (topic refresh, heartbeats, checkpoints).
  double longest_stall_at_seconds = 0;
  /// True when --mirror-seconds ran out first; the rate then covers what arrived until then.
  bool capped = false;
  /// The target's end offset per partition when the copy was complete (or at the cap).
  std::vector<int64_t> target_end_offsets;
  /// Routes of the other topics the caller asked to wait for, in the same order.
  std::vector<MirrorRoute> other_routes;
  /// CPU over the timed copy: the whole machine's and the mirror process's, which tells a
  /// mirror short of CPU (machine near all cores busy) from one waiting on something.
  CpuUsage cpu;
  /// The mirror's own account when the copy was complete.
  MirrorStatus status;
  std::vector<std::string> warnings;

  double records_per_s() const { return seconds > 0 ? records_timed / seconds : 0; }
  /// MB = 10^6 bytes of record values, as for produce and consume.
  double mb_per_s() const { return seconds > 0 ? bytes_timed / seconds / 1e6 : 0; }
};

/// Waits until the just-started `mirror` serves --mirror-status, routes `source`'s topic
/// and every topic of `also_routed` (so their remote topics exist), then polls the target's
/// end offsets of the remote copy of `source`'s topic every 10 ms until they reach what
/// `source` got acknowledged per partition, within --mirror-seconds of the mirror's start.
/// Throws BenchError when the mirror exits, never serves its status, never routes a topic,
/// or copies nothing before the cap.
MirrorCopyResult run_mirror_copy(const Options& options, MirrorProcess& mirror,
                                 const ProduceResult& source,
                                 const std::vector<std::string>& also_routed);

/// End offset (log end / high watermark) of each partition 0..partitions-1 of `topic` on
/// the cluster `bootstrap`, with one ListOffsets request (timestamp -1 = latest, Kafka
/// protocol ListOffsets). Throws BenchError when the cluster does not answer in 10 s.
std::vector<int64_t> end_offsets(const std::string& bootstrap, const std::string& topic,
                                 int partitions);

}  // namespace ferry::bench
