#include "bench/copy_bound.h"

namespace ferry::bench {

std::optional<CopyCpuBound> copy_cpu_bound(int cpus, double produce_cores, double produce_mb_per_s,
                                           double consume_cores, double consume_mb_per_s) {
  if (cpus < 1 || produce_mb_per_s <= 0 || consume_mb_per_s <= 0 || produce_cores <= 0 || consume_cores <= 0)
    return std::nullopt;
  CopyCpuBound b;
  b.produce_cpu_ms_per_mb = produce_cores * 1000 / produce_mb_per_s;
  b.consume_cpu_ms_per_mb = consume_cores * 1000 / consume_mb_per_s;
  b.mb_per_s = cpus * 1000 / (b.produce_cpu_ms_per_mb + b.consume_cpu_ms_per_mb);
  return b;
}

}  // namespace ferry::bench
