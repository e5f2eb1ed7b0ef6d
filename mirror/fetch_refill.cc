#include "mirror/fetch_refill.h"

#include <algorithm>

namespace ferry::mirror {

RefillTrigger::RefillTrigger(int64_t max_messages, int64_t max_bytes)
    : max_messages_(std::max<int64_t>(1, max_messages)), max_bytes_(std::max<int64_t>(1, max_bytes)) {}

bool RefillTrigger::observe(int64_t messages, double bytes_per_message) {
  messages = std::max<int64_t>(0, messages);
  const double bytes = static_cast<double>(messages) * std::max(0.0, bytes_per_message);
  // Compared in products rather than fractions, so a limit of 1 still works.
  const bool near_full = messages * 4 >= max_messages_ * 3 || bytes * 4 >= static_cast<double>(max_bytes_) * 3;
  const bool half_drained = messages * 2 < max_messages_ && bytes * 2 < static_cast<double>(max_bytes_);
  if (near_full) armed_ = true;
  if (armed_ && half_drained) {
    armed_ = false;
    ++wakes_;
    return true;
  }
  return false;
}

}  // namespace ferry::mirror
