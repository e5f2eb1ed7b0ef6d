// Command-line grammar of ferry-admin: a table of commands, each with its own options. The table is
// turned into a CLI11 (libcli11-dev) subcommand tree, which does the parsing and, with a Ferry
// formatter, the --help text; global options may appear before or after the command words.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::admin {

/// Exit status for a malformed command line (unknown command or option, bad value, missing
/// required option). Matches the convention of getopt tools and Ferry's broker.
inline constexpr int kExitUsage = 2;
/// Exit status for an operation that reached the cluster (or tried to) and failed.
inline constexpr int kExitFailed = 1;

/// A command-line mistake. `command` is the command path the user was typing ("topics create"),
/// used to point at the right --help; the message names the offending argument.
class UsageError : public std::runtime_error {
 public:
  UsageError(std::string command, const std::string& message)
      : std::runtime_error(message), command_(std::move(command)) {}
  const std::string& command() const { return command_; }

 private:
  std::string command_;
};

/// One option a command accepts. `metavar` empty means a flag without a value. A repeated option
/// that is not `repeatable` is a usage error.
struct OptionSpec {
  std::string_view name;     ///< with the leading dashes, e.g. "--topic"
  std::string_view metavar;  ///< shown in help ("N", "k=v"); empty for flags
  std::string_view help;
  bool required = false;
  bool repeatable = false;
  std::string_view default_value = {};  ///< shown in help as "(default: X)"; the handler applies it
};

class ParsedArgs;
class Session;
struct ParseResult;

/// Runs a command; returns the process exit status. Throws UsageError or OpError.
using Handler = int (*)(Session&, const ParsedArgs&);
/// Runs a command that needs no cluster (no Session, no --bootstrap-server): `audit verify`.
using OfflineHandler = int (*)(const ParsedArgs&);

/// A leaf command such as "groups offsets reset".
struct Command {
  std::vector<std::string_view> path;  ///< {"groups", "offsets", "reset"}
  std::string_view summary;            ///< one line for the parent's --help
  std::string_view details;            ///< extra paragraphs for the command's own --help
  std::vector<OptionSpec> options;     ///< command-specific options (globals are added); a name
                                       ///< without leading dashes ("FILE") is positional
  Handler handler = nullptr;
  OfflineHandler offline_handler = nullptr;  ///< set instead of handler for commands without a cluster
};

/// Options every command accepts (bootstrap, command config, output format, timeout); -h/--help
/// is CLI11's help flag and is not in this list.
const std::vector<OptionSpec>& global_options();

/// The options of one invocation, after validation against the command's specs. Values are the
/// raw strings; handlers convert them (parse_int, split_key_value) so a bad value's message names
/// the option, the value and what was expected.
class ParsedArgs {
 public:
  /// Whether the option was given at all (flags and valued options alike).
  bool has(std::string_view name) const;
  /// Last value of a valued option, or nullopt.
  std::optional<std::string> get(std::string_view name) const;
  /// Every value of a repeatable option, in command-line order.
  std::vector<std::string> all(std::string_view name) const;
  /// Value of a required option; throws UsageError if absent (the parser normally catches this).
  std::string require(std::string_view name) const;
  /// Integer value within [min, max]; throws UsageError naming the option otherwise.
  std::optional<int64_t> get_int(std::string_view name, int64_t min, int64_t max) const;
  /// The command path as typed, for error messages ("topics create").
  const std::string& command() const { return command_; }

  /// Option name -> its values in command-line order (flags: one empty string per occurrence).
  using Values = std::map<std::string, std::vector<std::string>, std::less<>>;

 private:
  friend ParseResult parse_command_line(const std::vector<Command>&,
                                        const std::vector<std::string>&);
  std::string command_;
  Values values_;
};

/// Result of parsing argv: either help text to print, or a command to run.
struct ParseResult {
  std::optional<std::string> help;  ///< set when --help was asked for (exit 0)
  const Command* command = nullptr;
  ParsedArgs args;
};

/// Parses argv (without argv[0]) against `commands`. Throws UsageError on any mistake: an unknown
/// command or option, an option of another command, a missing value or required option, a
/// non-repeatable option given twice. `--help`/`-h` anywhere gives the help of the command (or
/// command group) the words name.
ParseResult parse_command_line(const std::vector<Command>& commands,
                               const std::vector<std::string>& argv);

/// Splits "k=v" at the first '='; throws UsageError naming `option` when there is no '=' or the
/// key is empty.
std::pair<std::string, std::string> split_key_value(const std::string& command,
                                                    std::string_view option,
                                                    std::string_view text);

/// Parses a decimal integer in [min, max]; throws UsageError naming `option` otherwise.
int64_t parse_int(const std::string& command, std::string_view option, std::string_view text,
                  int64_t min, int64_t max);

}  // namespace ferry::admin
