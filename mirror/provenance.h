// Provenance headers Ferry puts on every replicated record. MM2 detects cycles from topic names
// only, so with IdentityReplicationPolicy it cannot (its javadoc says so); Ferry carries the origin
// in the record instead, which makes identity naming safe in bidirectional and ring topologies,
// and carries this hop's source position so a restarted mirror resumes from what the target holds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::mirror {

/// Header naming the cluster where the record was first produced: the UTF-8 (in practice ASCII)
/// alias, exactly as configured. Set on the first hop, copied unchanged on every later hop.
inline constexpr std::string_view kOriginHeader = "ferry.origin";

/// Header naming this hop's source position: "<source alias>/<partition>/<offset>", partition and
/// offset in canonical ASCII decimal (no sign, no leading zeros). Replaced on every hop.
inline constexpr std::string_view kUpstreamHeader = "ferry.upstream";

/// True when `alias` is a valid cluster alias: one or more of [A-Za-z0-9._-], the characters Kafka
/// allows in topic names, since an alias becomes part of remote and internal topic names.
bool is_valid_alias(std::string_view alias);

/// The source position carried by kUpstreamHeader.
struct UpstreamRef {
  std::string source_alias;
  int32_t partition = 0;
  int64_t offset = 0;
  friend bool operator==(const UpstreamRef&, const UpstreamRef&) = default;
};

/// The kOriginHeader value for `alias`. Throws std::invalid_argument for an invalid alias.
std::string encode_origin(std::string_view alias);

/// The alias in a kOriginHeader value, or nullopt when the value is not a valid alias (empty,
/// other characters): such a header was not written by Ferry and must not be trusted.
std::optional<std::string> parse_origin(std::string_view value);

/// The kUpstreamHeader value for `ref`. Throws std::invalid_argument for an invalid alias, a
/// negative partition or a negative offset.
std::string encode_upstream(const UpstreamRef& ref);

/// The position in a kUpstreamHeader value, or nullopt when it is not exactly
/// "<valid alias>/<partition>/<offset>" in canonical decimal within int32/int64 range.
std::optional<UpstreamRef> parse_upstream(std::string_view value);

/// The kOriginHeader value to write on the next hop of a record read from `source_alias`: the
/// record's existing origin when it carries a valid one, otherwise `source_alias` (the record was
/// produced there, or its header was not Ferry's). Throws std::invalid_argument for an invalid
/// `source_alias`.
std::string next_hop_origin(std::optional<std::string_view> existing_origin, std::string_view source_alias);

/// True when a record must not be replicated to `target_alias` because it was first produced
/// there (its valid kOriginHeader names the target): this is what stops loops under the identity
/// policy. A missing or invalid header never counts as a loop.
bool originated_in(std::optional<std::string_view> origin_header, std::string_view target_alias);

}  // namespace ferry::mirror
