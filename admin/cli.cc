#include "admin/cli.h"

#include <algorithm>
#include <charconv>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace ferry::admin {

const std::vector<OptionSpec>& global_options() {
  static const std::vector<OptionSpec> opts = {
      {"--bootstrap-server", "HOST:PORT[,HOST:PORT]",
       "brokers to bootstrap from (or bootstrap.servers in --command-config)"},
      {"--command-config", "FILE",
       "librdkafka properties, one key=value per line (# comments), e.g. security.protocol"},
      {"-X", "KEY=VALUE",
       "a librdkafka property, after --command-config; no passwords here: use "
       "sasl.password.file=FILE or sasl.password.env=VARIABLE", false, true},
      {"--json", "", "print one JSON document on stdout instead of a table"},
      {"--timeout-ms", "N", "give up on the cluster after N milliseconds (1..3600000)", false,
       false, "30000"},
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

// The words from the root to `app`: {"groups", "offsets"}.
std::vector<std::string> path_of(const CLI::App* app) {
  std::vector<std::string> words;
  for (; app != nullptr && app->get_parent() != nullptr; app = app->get_parent()) {
    words.insert(words.begin(), app->get_name());
  }
  return words;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

const CLI::App* root_of(const CLI::App* app) {
  while (app->get_parent() != nullptr) app = app->get_parent();
  return app;
}

// One aligned row per option: "--name METAVAR  help (required) (repeatable) (default: X)".
void append_options(std::string& out, const std::vector<const CLI::Option*>& opts) {
  std::vector<std::string> heads;
  size_t width = 0;
  for (const auto* o : opts) {
    std::string h = o->get_name(false, true);
    if (o->get_type_size() != 0) h += " " + o->get_type_name();
    width = std::max(width, h.size());
    heads.push_back(std::move(h));
  }
  for (size_t i = 0; i < opts.size(); ++i) {
    const CLI::Option* o = opts[i];
    std::string notes;
    if (o->get_required()) notes += " (required)";
    if (o->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll) notes += " (repeatable)";
    if (!o->get_default_str().empty()) notes += fmt::format(" (default: {})", o->get_default_str());
    out += fmt::format("  {:<{}}  {}{}\n", heads[i], width, o->get_description(), notes);
  }
}

// The leaf commands under `app`, depth first, with their full paths.
void collect_leaves(const CLI::App* app, std::vector<const CLI::App*>& out) {
  const auto subs = app->get_subcommands([](const CLI::App*) { return true; });
  if (subs.empty()) out.push_back(app);
  for (const auto* s : subs) collect_leaves(s, out);
}

// ferry-admin's --help, from the CLI11 tree: a group ("ferry-admin groups --help") lists the
// commands under it; a command shows its summary, details (the footer), its options and the
// global options (the root's, which every command accepts by fallthrough).
class AdminHelp : public CLI::FormatterBase {
 public:
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const override {
    const std::vector<std::string> words = path_of(app);
    const CLI::App* root = root_of(app);
    const auto globals = root->get_options([](const CLI::Option*) { return true; });
    std::string prefix = words.empty() ? "" : " " + join(words);
    std::string out;
    if (!app->get_subcommands([](const CLI::App*) { return true; }).empty()) {
      out += fmt::format("Usage: ferry-admin [global options]{} <command> [options]\n\nCommands:\n",
                         prefix);
      std::vector<const CLI::App*> leaves;
      collect_leaves(app, leaves);
      size_t width = 0;
      for (const auto* l : leaves) width = std::max(width, join(path_of(l)).size());
      for (const auto* l : leaves) {
        out += fmt::format("  {:<{}}  {}\n", join(path_of(l)), width, l->get_description());
      }
      out += "\nGlobal options:\n";
      append_options(out, globals);
      out += fmt::format("\nRun 'ferry-admin{} <command> --help' for the options of a command.\n"
                         "Exit status: 0 success, 1 the operation failed, 2 bad command line.\n",
                         prefix);
      return out;
    }
    out += fmt::format("Usage: ferry-admin [global options]{} [options]\n\n{}\n", prefix,
                       app->get_description());
    if (!app->get_footer().empty()) out += fmt::format("\n{}\n", app->get_footer());
    const CLI::Option* own_help = app->get_help_ptr();  // listed once, under the globals
    const auto own = app->get_options([own_help](const CLI::Option* o) { return o != own_help; });
    if (!own.empty()) {
      out += "\nOptions:\n";
      append_options(out, own);
    }
    out += "\nGlobal options:\n";
    append_options(out, globals);
    return out;
  }
};

CLI::Option* add_spec(CLI::App& app, const OptionSpec& spec) {
  const std::string name(spec.name);
  if (spec.metavar.empty()) {
    const std::string help(spec.help);
    return app.add_flag(name, help)
        ->disable_flag_override()  // "--json=false" is refused, not read as --json
        ->multi_option_policy(spec.repeatable ? CLI::MultiOptionPolicy::TakeAll
                                              : CLI::MultiOptionPolicy::Throw);
  }
  CLI::Option* o = app.add_option(name, CLI::callback_t{}, std::string(spec.help))
                       ->type_name(std::string(spec.metavar))
                       ->multi_option_policy(spec.repeatable ? CLI::MultiOptionPolicy::TakeAll
                                                             : CLI::MultiOptionPolicy::Throw);
  // A positional taking every remaining word ("FILE..."): one or more values.
  if (!name.starts_with('-') && spec.repeatable) o->type_size(1)->expected(-1);
  if (spec.required) o->required();
  if (!spec.default_value.empty()) o->default_str(std::string(spec.default_value));
  return o;
}

// The deepest command or group the words selected.
CLI::App* selected(CLI::App& root) {
  CLI::App* app = &root;
  for (auto subs = app->get_subcommands(); !subs.empty(); subs = app->get_subcommands()) {
    app = subs.front();
  }
  return app;
}

bool has_option(const Command& c, std::string_view name) {
  return std::any_of(c.options.begin(), c.options.end(),
                     [name](const OptionSpec& o) { return o.name == name; });
}

// Copies what CLI11 collected for `spec` into `out` (flags: one empty string per occurrence).
void keep(const CLI::App& app, const OptionSpec& spec, ParsedArgs::Values& out) {
  const CLI::Option* o = app.get_option(std::string(spec.name));
  if (o->count() == 0) return;
  out[std::string(spec.name)] =
      spec.metavar.empty() ? std::vector<std::string>(o->count(), "") : o->results();
}

}  // namespace

ParseResult parse_command_line(const std::vector<Command>& commands,
                               const std::vector<std::string>& argv) {
  CLI::App root{"", "ferry-admin"};
  root.formatter(std::make_shared<AdminHelp>());  // before add_subcommand: children inherit it
  root.set_help_flag("-h,--help", "show help for this command and exit");
  // Unknown words and options end in root.remaining() instead of CLI11's generic ExtrasError, so
  // the messages below can say which command or option was not understood.
  root.allow_extras();
  for (const auto& spec : global_options()) add_spec(root, spec);

  std::map<const CLI::App*, const Command*> leaves;
  for (const auto& c : commands) {
    CLI::App* node = &root;
    for (const auto& word : c.path) {
      CLI::App* next = nullptr;
      for (auto* s : node->get_subcommands([](CLI::App*) { return true; })) {
        if (s->get_name() == word) next = s;
      }
      if (next == nullptr) {
        next = node->add_subcommand(std::string(word), "");
        next->fallthrough();  // options this level does not know go up: the globals
      }
      node = next;
    }
    node->description(std::string(c.summary));
    node->footer(std::string(c.details));
    leaves[node] = &c;
    for (const auto& spec : c.options) add_spec(*node, spec);
  }

  // CLI11 wants argv order reversed when given a vector.
  std::vector<std::string> reversed(argv.rbegin(), argv.rend());
  ParseResult r;
  try {
    root.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    r.help = root.help();
    return r;
  } catch (const CLI::ParseError& e) {
    // CLI11 2.1.2 names a flag given a value without its dashes ("json was given a disallowed
    // flag override"); say it as for every other option.
    std::string what = e.what();
    const std::string_view flag_value = " was given a disallowed flag override";
    if (what.size() > flag_value.size() && what.ends_with(flag_value)) {
      what.resize(what.size() - flag_value.size());
      what = fmt::format("option --{} takes no value", what);
    }
    throw UsageError(join(path_of(selected(root))), what);
  }

  CLI::App* app = selected(root);
  const std::string where = join(path_of(app));
  // The first argument nobody took: a word is a command that does not exist, an option either
  // belongs to another command or to none.
  if (const std::vector<std::string> extra = root.remaining(); !extra.empty()) {
    const std::string& first = extra.front();
    if (first.empty() || first[0] != '-') {
      throw UsageError(where, fmt::format("unknown command '{}'{}", first,
                                          where.empty() ? "" : " after '" + where + "'"));
    }
    const std::string name = first.substr(0, first.find('='));
    const auto leaf = leaves.find(app);
    if (leaf != leaves.end() && has_option(*leaf->second, name)) {
      throw UsageError(where, fmt::format("option {} must come after '{}'", name, where));
    }
    const auto elsewhere = [&name](const Command& c) { return has_option(c, name); };
    if (leaf != leaves.end() && std::any_of(commands.begin(), commands.end(), elsewhere)) {
      throw UsageError(where, fmt::format("option {} does not apply to '{}'", name, where));
    }
    throw UsageError(where, fmt::format("unknown option {}", name));
  }
  const auto leaf = leaves.find(app);
  if (leaf == leaves.end()) {
    throw UsageError(where, where.empty() ? "no command given"
                                          : fmt::format("'{}' needs a subcommand", where));
  }
  r.command = leaf->second;
  r.args.command_ = where;
  for (const auto& spec : global_options()) keep(root, spec, r.args.values_);
  for (const auto& spec : r.command->options) keep(*app, spec, r.args.values_);
  return r;
}

}  // namespace ferry::admin
