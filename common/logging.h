// Process-wide logging setup for Ferry binaries (spdlog to stderr).
#pragma once

#include <string>

namespace ferry::logging {

/// Configures the default spdlog logger: stderr, pattern "[time] [level] [component] msg".
/// `level` is one of trace, debug, info, warn, error, critical, off; anything else throws
/// std::invalid_argument naming the value.
void init(const std::string& component, const std::string& level);

}  // namespace ferry::logging
