// KIP-371 `ssl.principal.mapping.rules`: how a client certificate's subject becomes a principal
// name on SSL listeners. Kafka's rule grammar (SslPrincipalMapper): a comma-separated list of
// `DEFAULT` and `RULE:pattern/replacement/[LU]` entries, tried in order; the first rule whose
// pattern matches the WHOLE subject wins and yields the replacement ($1… are the pattern's
// groups), lower- or upper-cased with L/U; DEFAULT yields the subject unchanged. A `/` inside a
// pattern or replacement is written `\/`. Kafka's patterns are Java regular expressions; here they
// are ECMAScript (std::regex), which agrees on the usual DN patterns (groups, classes, `.*`).
#pragma once

#include <cctype>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::security {

/// A parsed `ssl.principal.mapping.rules` value. Construction throws std::invalid_argument naming
/// the position and the problem; map() is thread-safe (const).
class PrincipalMapper {
 public:
  explicit PrincipalMapper(std::string_view rules) {
    size_t i = 0;
    auto skip_separators = [&] {
      while (i < rules.size() && (rules[i] == ',' || std::isspace(static_cast<unsigned char>(rules[i])))) ++i;
    };
    skip_separators();
    while (i < rules.size()) {
      if (rules.compare(i, 7, "DEFAULT") == 0) {
        rules_.push_back(Rule{});
        i += 7;
      } else if (rules.compare(i, 5, "RULE:") == 0) {
        i += 5;
        Rule r;
        r.is_default = false;
        std::string pattern = read_part(rules, i);
        r.replacement = read_part(rules, i);
        if (i < rules.size() && (rules[i] == 'L' || rules[i] == 'U')) r.case_change = rules[i++];
        try {
          r.pattern = std::regex(pattern, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
          throw std::invalid_argument("rule pattern '" + pattern + "' is not a valid regular expression (" + e.what() + ")");
        }
        rules_.push_back(std::move(r));
      } else {
        throw std::invalid_argument("expected DEFAULT or RULE:pattern/replacement/[LU] at character " +
                                    std::to_string(i + 1));
      }
      while (i < rules.size() && rules[i] != ',') {
        if (!std::isspace(static_cast<unsigned char>(rules[i])))
          throw std::invalid_argument("unexpected '" + std::string(1, rules[i]) + "' after a rule at character " +
                                      std::to_string(i + 1));
        ++i;
      }
      skip_separators();
    }
    if (rules_.empty()) rules_.push_back(Rule{});
  }

  /// The principal name for `subject` (an RFC 2253 distinguished name), or nullopt when no rule
  /// matches (Kafka then refuses the connection: no DEFAULT at the end means "these only").
  std::optional<std::string> map(const std::string& subject) const {
    for (const auto& r : rules_) {
      if (r.is_default) return subject;
      if (!std::regex_match(subject, r.pattern)) continue;
      std::string out = std::regex_replace(subject, r.pattern, r.replacement, std::regex_constants::format_first_only);
      for (auto& c : out) {
        if (r.case_change == 'L') c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (r.case_change == 'U') c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      return out;
    }
    return std::nullopt;
  }

 private:
  struct Rule {
    bool is_default = true;
    std::regex pattern;
    std::string replacement;
    char case_change = 0;  // 'L', 'U' or 0
  };
  // Reads up to the next unescaped '/', consuming it; "\/" stands for '/'.
  static std::string read_part(std::string_view s, size_t& i) {
    std::string out;
    while (i < s.size() && s[i] != '/') {
      if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '/') {
        out += '/';
        i += 2;
      } else {
        out += s[i++];
      }
    }
    if (i >= s.size()) throw std::invalid_argument("rule part '" + out + "' is not closed with '/'");
    ++i;
    return out;
  }
  std::vector<Rule> rules_;
};

}  // namespace ferry::security
