#include "bench/cpu_usage.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "bench/payload.h"

namespace ferry::bench {

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
  if (pid > 0) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (std::getline(in, line)) {
      // The command name (field 2) is parenthesized and may contain spaces; fields after the
      // last ')' are space-separated, starting with field 3.
      const size_t close = line.rfind(')');
      if (close != std::string::npos) {
        std::istringstream rest(line.substr(close + 2));
        std::string field;
        uint64_t utime = 0, stime = 0;
        for (int i = 3; i <= 15 && rest >> field; ++i) {
          if (i == 14) utime = std::stoull(field);
          if (i == 15) stime = std::stoull(field);
        }
        if (rest) s.process = utime + stime;
      }
    }
  }
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

}  // namespace ferry::bench
