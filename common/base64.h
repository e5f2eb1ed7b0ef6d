// Standard base64 (RFC 4648 §4): SCRAM's salts and keys (security/), etcd's bytes fields on its
// JSON gateway (common/etcd_client).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ferry {

/// Standard base64 (RFC 4648 §4) with padding.
std::string base64_encode(std::string_view bytes);
/// Standard base64 (RFC 4648 §4); padding optional (as Java's Base64.getDecoder()). nullopt when
/// the text is not base64, or not its canonical encoding (RFC 4648 §3.5: leftover bits zero).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace ferry
