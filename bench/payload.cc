#include "bench/payload.h"

#include <time.h>

#include <algorithm>
#include <cstring>

namespace ferry::bench {

int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

PayloadPool::PayloadPool(size_t record_size) : record_size_(record_size) {
  constexpr size_t kMinPoolBytes = size_t{16} << 20;
  slots_ = std::max<size_t>(64, (kMinPoolBytes + record_size - 1) / record_size);
  bytes_.resize(slots_ * record_size_);
  // splitmix64: fast, full-period, and its output is incompressible in practice.
  uint64_t state = 0x5eed'f00d'cafe'0001ULL;
  for (size_t off = 0; off < bytes_.size(); off += sizeof(uint64_t)) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::memcpy(bytes_.data() + off, &z, std::min(sizeof z, bytes_.size() - off));
  }
}

}  // namespace ferry::bench
