#pragma once

#include <optional>

namespace ferry::bench {

/// The fastest a copy can go on this machine when CPU is what limits it: a mirror consumes every
/// byte from the source broker and produces it to the target broker, so one MB copied costs at
/// least what one MB of the bench's consume-only phase cost plus what one MB of its produce-only
/// phase cost, whole machine (clients and brokers). All cores busy, that is at most
///   cpus × 1000 / (produce CPU-ms per MB + consume CPU-ms per MB)  MB/s.
/// A bound, not a prediction: the mirror's own work (provenance headers, offset translation,
/// offset syncs) comes on top, and a disk or network limit may bind first.
struct CopyCpuBound {
  /// Whole-machine CPU-milliseconds per MB (10^6 bytes of record values) of each phase.
  double produce_cpu_ms_per_mb = 0;
  double consume_cpu_ms_per_mb = 0;
  /// The bound, MB/s.
  double mb_per_s = 0;
};

/// The bound from `cpus` online CPUs and each phase's busy cores (whole machine, CPU-seconds per
/// second) and MB/s. nullopt when `cpus` < 1, a phase moved nothing, or used no measurable CPU.
std::optional<CopyCpuBound> copy_cpu_bound(int cpus, double produce_cores, double produce_mb_per_s,
                                           double consume_cores, double consume_mb_per_s);

}  // namespace ferry::bench
