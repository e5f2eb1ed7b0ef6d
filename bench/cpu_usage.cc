#include "bench/cpu_usage.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "bench/payload.h"

namespace ferry::bench {

namespace {

// utime + stime (fields 14 and 15) of a /proc/.../stat file, in jiffies.
std::optional<uint64_t> stat_cpu(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) is parenthesized and may contain spaces; fields after the
  // last ')' are space-separated, starting with field 3.
  const size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size()) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  if (!rest) return std::nullopt;
  return utime + stime;
}

}  // namespace

CpuSample sample_cpu(pid_t pid) {
  CpuSample s;
  s.at_ns = monotonic_ns();
  std::ifstream stat("/proc/stat");
  std::string label;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (stat >> label >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal &&
      label == "cpu") {
    s.machine_busy = user + nice + system + irq + softirq + steal;
    s.machine_total = s.machine_busy + idle + iowait;
  }
  if (pid > 0) s.process = stat_cpu("/proc/" + std::to_string(pid) + "/stat");
  return s;
}

CpuUsage cpu_usage(const CpuSample& before, const CpuSample& after) {
  CpuUsage u;
  u.cpus = online_cpus();
  u.seconds = seconds_between(before.at_ns, after.at_ns);
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const auto total = static_cast<double>(after.machine_total - before.machine_total);
  if (total > 0) {
    u.machine_cores = u.cpus * static_cast<double>(after.machine_busy - before.machine_busy) / total;
  }
  if (before.process && after.process && u.seconds > 0 && ticks > 0) {
    u.process_cpu_seconds = static_cast<double>(*after.process - *before.process) / ticks;
    u.process_cores = *u.process_cpu_seconds / u.seconds;
  }
  return u;
}

int online_cpus() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::map<pid_t, uint64_t> sample_threads(const std::string& prefix) {
  std::map<pid_t, uint64_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    if (!std::getline(comm, name) || name.rfind(prefix, 0) != 0) continue;
    pid_t tid = 0;
    try {
      tid = static_cast<pid_t>(std::stol(entry.path().filename().string()));
    } catch (const std::exception&) {
      continue;
    }
    if (auto cpu = stat_cpu((entry.path() / "stat").string())) out[tid] = *cpu;
  }
  return out;
}

void PhaseCpuMeter::start(pid_t broker_pid) {
  broker_pid_ = broker_pid;
  threads_ = sample_threads("rdk:broker");
  start_ = sample_cpu(broker_pid);
  started_ = true;
}

PhaseCpu PhaseCpuMeter::finish(int64_t bytes) const {
  const CpuSample end = sample_cpu(broker_pid_);
  const auto threads = sample_threads("rdk:broker");
  const CpuUsage u = cpu_usage(start_, end);
  PhaseCpu out;
  out.seconds = u.seconds;
  out.machine_cores = u.machine_cores;
  out.broker_cores = u.process_cores;
  if (u.process_cpu_seconds && bytes > 0) {
    out.broker_cpu_ms_per_mb = *u.process_cpu_seconds * 1e3 / (static_cast<double>(bytes) / 1e6);
  }
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  if (u.seconds <= 0 || ticks <= 0) return out;
  for (const auto& [tid, cpu] : threads) {
    const auto before = threads_.find(tid);
    if (before == threads_.end() || cpu < before->second) continue;
    const double cores = static_cast<double>(cpu - before->second) / ticks / u.seconds;
    out.client_network_thread_cores = std::max(out.client_network_thread_cores.value_or(0.0), cores);
  }
  if (out.client_network_thread_cores && bytes > 0) {
    out.client_network_thread_cpu_ms_per_mb =
        *out.client_network_thread_cores * u.seconds * 1e3 / (static_cast<double>(bytes) / 1e6);
  }
  return out;
}

}  // namespace ferry::bench
