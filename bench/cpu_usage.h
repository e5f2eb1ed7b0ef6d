#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace ferry::bench {

/// A reading of the machine's and one process's CPU time (Linux /proc, proc(5)), so a phase
/// can say how many cores it kept busy and whether something else on the machine competed.
struct CpuSample {
  /// CLOCK_MONOTONIC ns when read.
  int64_t at_ns = 0;
  /// Busy (everything but idle and iowait) and total jiffies over all CPUs, /proc/stat "cpu".
  uint64_t machine_busy = 0;
  uint64_t machine_total = 0;
  /// utime + stime of the process, jiffies (/proc/<pid>/stat fields 14 and 15); nullopt
  /// without a process or once it is gone.
  std::optional<uint64_t> process = std::nullopt;
};

/// Reads /proc/stat and, when `pid` > 0, /proc/<pid>/stat. Never throws: fields it cannot
/// read stay 0 / nullopt (the report then shows nulls rather than failing the run).
CpuSample sample_cpu(pid_t pid = 0);

/// CPU use between two samples, in cores (CPU-seconds per second of wall time).
struct CpuUsage {
  int cpus = 0;
  double seconds = 0;
  /// Busy cores over the whole machine, 0 … cpus.
  double machine_cores = 0;
  /// Cores the sampled process used; nullopt when either sample lacks it.
  std::optional<double> process_cores;
  /// CPU-seconds the process used.
  std::optional<double> process_cpu_seconds;
};

/// Usage between `before` and `after` (taken in that order for the same pid).
CpuUsage cpu_usage(const CpuSample& before, const CpuSample& after);

/// Online CPUs (sysconf(_SC_NPROCESSORS_ONLN)).
int online_cpus();

}  // namespace ferry::bench
