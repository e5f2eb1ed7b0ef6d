#include "admin/cli.h"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/format.h>

namespace ferry::admin {

const std::vector<OptionSpec>& global_options() {
  static const std::vector<OptionSpec> opts = {
      {"--bootstrap-server", "HOST:PORT[,HOST:PORT]",
       "brokers to bootstrap from (or bootstrap.servers in --command-config)"},
      {"--command-config", "FILE",
       "librdkafka properties, one key=value per line (# comments), e.g. security.protocol"},
      {"--json", "", "print one JSON document on stdout instead of a table"},
      {"--timeout-ms", "N", "give up on the cluster after N milliseconds (default 30000)"},
      {"--help", "", "show help for this command and exit"},
  };
  return opts;
}

int64_t parse_int(const std::string& command, std::string_view option, std::string_view text,
                  int64_t min, int64_t max) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end) {
    throw UsageError(command, fmt::format("{}: expected an integer, got '{}'", option, text));
  }
  if (v < min || v > max) {
    throw UsageError(command,
                     fmt::format("{}: {} is out of range [{}, {}]", option, v, min, max));
  }
  return v;
}

std::pair<std::string, std::string> split_key_value(const std::string& command,
                                                    std::string_view option,
                                                    std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw UsageError(command, fmt::format("{}: expected key=value, got '{}'", option, text));
  }
  return {std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

bool ParsedArgs::has(std::string_view name) const { return values_.find(name) != values_.end(); }

std::optional<std::string> ParsedArgs::get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::all(std::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string ParsedArgs::require(std::string_view name) const {
  auto v = get(name);
  if (!v) throw UsageError(command_, fmt::format("missing required option {}", name));
  return *v;
}

std::optional<int64_t> ParsedArgs::get_int(std::string_view name, int64_t min,
                                            int64_t max) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  return parse_int(command_, name, *v, min, max);
}

namespace {

std::string join_path(const std::vector<std::string_view>& path, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < path.size(); ++i) {
    if (i) out += ' ';
    out += path[i];
  }
  return out;
}

bool starts_with_path(const Command& c, const std::vector<std::string>& words) {
  if (words.size() > c.path.size()) return false;
  for (size_t i = 0; i < words.size(); ++i) {
    if (c.path[i] != words[i]) return false;
  }
  return true;
}

void append_options(std::string& out, const std::vector<OptionSpec>& opts) {
  size_t width = 0;
  std::vector<std::string> heads;
  for (const auto& o : opts) {
    std::string h(o.name);
    if (!o.metavar.empty()) h += fmt::format(" {}", o.metavar);
    width = std::max(width, h.size());
    heads.push_back(std::move(h));
  }
  for (size_t i = 0; i < opts.size(); ++i) {
    std::string notes;
    if (opts[i].required) notes += " (required)";
    if (opts[i].repeatable) notes += " (repeatable)";
    out += fmt::format("  {:<{}}  {}{}\n", heads[i], width, opts[i].help, notes);
  }
}

// Help for a group node ("ferry-admin groups"): the leaf commands under it.
std::string group_help(const std::vector<Command>& commands, const std::vector<std::string>& words) {
  std::string prefix;
  for (const auto& w : words) prefix += " " + w;
  std::string out = fmt::format("Usage: ferry-admin [global options]{} <command> [options]\n\n"
                                "Commands:\n", prefix);
  size_t width = 0;
  for (const auto& c : commands) {
    if (starts_with_path(c, words)) width = std::max(width, join_path(c.path, 99).size());
  }
  for (const auto& c : commands) {
    if (starts_with_path(c, words)) {
      out += fmt::format("  {:<{}}  {}\n", join_path(c.path, 99), width, c.summary);
    }
  }
  out += "\nGlobal options:\n";
  append_options(out, global_options());
  out += fmt::format("\nRun 'ferry-admin{} <command> --help' for the options of a command.\n",
                     prefix);
  out += "Exit status: 0 success, 1 the operation failed, 2 bad command line.\n";
  return out;
}

std::string command_help(const Command& c) {
  std::string out = fmt::format("Usage: ferry-admin [global options] {} [options]\n\n{}\n",
                                join_path(c.path, 99), c.summary);
  if (!c.details.empty()) out += fmt::format("\n{}\n", c.details);
  if (!c.options.empty()) {
    out += "\nOptions:\n";
    append_options(out, c.options);
  }
  out += "\nGlobal options:\n";
  append_options(out, global_options());
  return out;
}

const OptionSpec* find_option(const std::vector<OptionSpec>& opts, std::string_view name) {
  for (const auto& o : opts) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

}  // namespace

// Two passes: the first finds the command words (non-option tokens, skipping option values by
// looking the option up among every command's specs), the second validates each option against
// the chosen command, so a misplaced option is reported with the command it does not belong to.
struct Parser {
  static ParseResult parse(const std::vector<Command>& commands,
                           const std::vector<std::string>& argv) {
    std::vector<OptionSpec> every = global_options();
    for (const auto& c : commands) every.insert(every.end(), c.options.begin(), c.options.end());

    struct Token {
      std::string name;
      std::optional<std::string> value;
    };
    std::vector<std::string> words;
    std::vector<Token> options;
    bool help = false;
    for (size_t i = 0; i < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (a == "-h" || a == "--help") {
        help = true;
        continue;
      }
      if (a.size() > 2 && a.rfind("--", 0) == 0) {
        Token t;
        auto eq = a.find('=');
        t.name = a.substr(0, eq);
        if (eq != std::string::npos) t.value = a.substr(eq + 1);
        const OptionSpec* spec = find_option(every, t.name);
        if (!spec) {
          throw UsageError(join_words(words), fmt::format("unknown option {}", t.name));
        }
        if (!spec->metavar.empty() && !t.value) {
          if (i + 1 >= argv.size()) {
            throw UsageError(join_words(words),
                             fmt::format("option {} needs a value ({})", t.name, spec->metavar));
          }
          t.value = argv[++i];
        } else if (spec->metavar.empty() && t.value) {
          throw UsageError(join_words(words), fmt::format("option {} takes no value", t.name));
        }
        options.push_back(std::move(t));
        continue;
      }
      if (a.size() > 1 && a[0] == '-') {
        throw UsageError(join_words(words), fmt::format("unknown option {}", a));
      }
      words.push_back(a);
    }

    ParseResult r;
    const Command* exact = nullptr;
    bool is_prefix = words.empty();
    for (const auto& c : commands) {
      if (!starts_with_path(c, words)) continue;
      if (c.path.size() == words.size()) {
        exact = &c;
      } else {
        is_prefix = true;
      }
    }
    if (!exact) {
      if (is_prefix && help) {
        r.help = group_help(commands, words);
        return r;
      }
      if (is_prefix) {
        throw UsageError(join_words(words),
                         words.empty() ? "no command given"
                                       : fmt::format("'{}' needs a subcommand", join_words(words)));
      }
      // Name the first word that leads nowhere.
      std::vector<std::string> good;
      for (const auto& w : words) {
        good.push_back(w);
        bool any = std::any_of(commands.begin(), commands.end(),
                               [&](const Command& c) { return starts_with_path(c, good); });
        if (!any) {
          good.pop_back();
          throw UsageError(join_words(good), fmt::format("unknown command '{}'{}", w,
                                                         good.empty() ? "" : " after '" +
                                                         join_words(good) + "'"));
        }
      }
      throw UsageError(join_words(good), "unknown command");
    }
    r.command = exact;
    r.args.command_ = join_words(words);
    if (help) {
      r.help = command_help(*exact);
      return r;
    }
    for (auto& t : options) {
      const OptionSpec* spec = find_option(exact->options, t.name);
      if (!spec) spec = find_option(global_options(), t.name);
      if (!spec) {
        throw UsageError(r.args.command_, fmt::format("option {} does not apply to '{}'", t.name,
                                                      r.args.command_));
      }
      auto& slot = r.args.values_[std::string(spec->name)];
      if (!slot.empty() && !spec->repeatable) {
        throw UsageError(r.args.command_, fmt::format("option {} given more than once", t.name));
      }
      slot.push_back(t.value.value_or(""));
    }
    for (const auto& o : exact->options) {
      if (o.required && !r.args.has(o.name)) {
        throw UsageError(r.args.command_, fmt::format("missing required option {}", o.name));
      }
    }
    return r;
  }

  static std::string join_words(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
    return out;
  }
};

ParseResult parse_command_line(const std::vector<Command>& commands,
                               const std::vector<std::string>& argv) {
  return Parser::parse(commands, argv);
}

}  // namespace ferry::admin
