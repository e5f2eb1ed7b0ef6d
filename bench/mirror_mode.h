#pragma once

#include "bench/options.h"

namespace ferry::bench {

/// The ferry-mirror benchmark (issue 4, "Benchmark"), run instead of the broker phases when
/// --mirror-target is given. On the source (--bootstrap), with the mirror not yet running:
/// (1) produce --records records of --record-size bytes, acks=all and idempotent, into a
/// fresh topic of --mirror-partitions partitions; (2) read them back. Then (3) start
/// --mirror-bin with --mirror-config and time how long the target (--mirror-target) takes to
/// hold all of them in the remote topic the mirror reports in /status, compared with (1)
/// and (2); check the copy byte for byte; (4) with the mirror running, produce
/// --latency-rate records/s for --latency-seconds on the source and measure send → receipt
/// from the remote topic, and read the mirror's own replication-latency histogram from
/// /metrics. Stops the mirror (SIGTERM) and prints one JSON document on stdout
/// (bench/README.md, "Mirror mode"). Returns 0; throws BenchError on failure.
int run_mirror_mode(const Options& options);

}  // namespace ferry::bench
