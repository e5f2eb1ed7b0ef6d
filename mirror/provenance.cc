#include "mirror/provenance.h"

#include <fmt/format.h>

#include <charconv>
#include <stdexcept>

namespace ferry::mirror {
namespace {

// Canonical non-negative decimal: digits only, no leading zero unless the number is 0, in range.
template <class I>
std::optional<I> parse_canonical(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  I v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

bool is_valid_alias(std::string_view alias) {
  if (alias.empty()) return false;
  for (char c : alias) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string encode_origin(std::string_view alias) {
  if (!is_valid_alias(alias))
    throw std::invalid_argument(fmt::format("cluster alias '{}' is not one or more of [A-Za-z0-9._-]", alias));
  return std::string(alias);
}

std::optional<std::string> parse_origin(std::string_view value) {
  if (!is_valid_alias(value)) return std::nullopt;
  return std::string(value);
}

std::string encode_upstream(const UpstreamRef& ref) {
  if (!is_valid_alias(ref.source_alias))
    throw std::invalid_argument(
        fmt::format("cluster alias '{}' is not one or more of [A-Za-z0-9._-]", ref.source_alias));
  if (ref.partition < 0) throw std::invalid_argument(fmt::format("negative partition {}", ref.partition));
  if (ref.offset < 0) throw std::invalid_argument(fmt::format("negative offset {}", ref.offset));
  return fmt::format("{}/{}/{}", ref.source_alias, ref.partition, ref.offset);
}

std::optional<UpstreamRef> parse_upstream(std::string_view value) {
  // Aliases cannot contain '/', so the first two slashes are the separators.
  size_t a = value.find('/');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = value.find('/', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  std::string_view alias = value.substr(0, a);
  if (!is_valid_alias(alias)) return std::nullopt;
  auto partition = parse_canonical<int32_t>(value.substr(a + 1, b - a - 1));
  auto offset = parse_canonical<int64_t>(value.substr(b + 1));
  if (!partition || !offset) return std::nullopt;
  return UpstreamRef{std::string(alias), *partition, *offset};
}

std::string next_hop_origin(std::optional<std::string_view> existing_origin, std::string_view source_alias) {
  if (existing_origin)
    if (auto origin = parse_origin(*existing_origin)) return *origin;
  return encode_origin(source_alias);
}

bool originated_in(std::optional<std::string_view> origin_header, std::string_view target_alias) {
  if (!origin_header) return false;
  auto origin = parse_origin(*origin_header);
  return origin && *origin == target_alias;
}

}  // namespace ferry::mirror
