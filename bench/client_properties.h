#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ferry::bench {

/// librdkafka properties (CONFIGURATION.md of librdkafka 2.0.2) given with `-X KEY=VALUE`,
/// in command-line order, applied to every client of a run after the bench's own settings.
using ClientProperties = std::vector<std::pair<std::string, std::string>>;

/// Splits one `-X` argument "KEY=VALUE" (the first '=' separates; VALUE may be empty).
/// Returns an error message, or empty and sets `out`. Refuses `sasl.password`: a password on
/// the command line is visible to every local user in /proc/PID/cmdline, so it must come from
/// `sasl.password.file=PATH` or `sasl.password.env=NAME` (see resolve_password()).
std::string parse_client_property(const std::string& arg, std::pair<std::string, std::string>& out);

/// Replaces `sasl.password.file=PATH` (the file's content, one trailing "\n" or "\r\n" removed)
/// and `sasl.password.env=NAME` (that environment variable's value) by `sasl.password`, which
/// librdkafka knows; neither source key is one of librdkafka's. Returns an error message (file
/// unreadable, variable unset, both keys given), or empty. The password never appears in the
/// message. This is the bench's own minimal version of the shared resolution the issue asks for
/// (not on main when this was written).
std::string resolve_password(ClientProperties& props);

/// True for keys whose value must not be printed (the report, --help): any key containing
/// "password" (sasl.password, ssl.key.password, ssl.keystore.password …).
bool is_secret_property(const std::string& key);

}  // namespace ferry::bench
