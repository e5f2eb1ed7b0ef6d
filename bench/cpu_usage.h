#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

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

/// utime + stime, in jiffies, of each thread of this process whose name (/proc/self/task/<tid>/comm)
/// starts with `prefix`, by thread id. librdkafka names the thread that does all I/O of one broker
/// connection, TLS and SASL included, "rdk:broker<id>" (rdkafka_broker.c). Unreadable threads are
/// left out; never throws.
std::map<pid_t, uint64_t> sample_threads(const std::string& prefix);

/// Where the CPU went during one timed phase, in cores (CPU-seconds per second of the phase).
struct PhaseCpu {
  double seconds = 0;
  /// Busy cores over the whole machine, 0 … cpus.
  double machine_cores = 0;
  /// The busiest of this process's librdkafka broker threads ("rdk:broker*") that lived through
  /// the phase. It is single-threaded per connection, so a value near 1.0 says the client, not the
  /// broker, set the pace. nullopt when no such thread was seen at both ends.
  std::optional<double> client_network_thread_cores;
  /// That thread's CPU-milliseconds per MB (10^6 bytes) of record values moved: what one MB
  /// costs the client, comparable across cases even when the thread is saturated in each.
  std::optional<double> client_network_thread_cpu_ms_per_mb;
  /// The measured broker process (Options::broker_pid); nullopt without one or once it is gone.
  std::optional<double> broker_cores;
  /// Broker CPU-milliseconds per MB (10^6 bytes) of record values moved; nullopt as above or when
  /// nothing moved.
  std::optional<double> broker_cpu_ms_per_mb;
};

/// Measures one phase: start() at its first instant, finish() at its last, both on the thread
/// that drives the client (the client's own threads are read through /proc).
class PhaseCpuMeter {
 public:
  /// `broker_pid` <= 0: no broker figures.
  void start(pid_t broker_pid);
  bool started() const { return started_; }
  /// `bytes`: record value bytes the phase moved, for broker_cpu_ms_per_mb.
  PhaseCpu finish(int64_t bytes) const;

 private:
  bool started_ = false;
  pid_t broker_pid_ = 0;
  CpuSample start_;
  std::map<pid_t, uint64_t> threads_;
};

}  // namespace ferry::bench
