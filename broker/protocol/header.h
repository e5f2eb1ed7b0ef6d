// Request and response headers (kafka.apache.org/protocol "Headers"; KIP-482 for v2/v1).
// Request header v1: api_key, api_version, correlation_id, client_id (nullable STRING, never
// compact). v2 (flexible APIs) appends a tagged-field section. Response header v0: correlation_id;
// v1 (flexible APIs) appends a tagged-field section — except ApiVersions, whose response always
// uses v0 so that a client that does not yet know the broker's versions can parse it (KIP-511).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "broker/protocol/wire.h"

namespace ferry::protocol {

/// The decoded request header. `flexible` records whether it was a v2 header.
struct RequestHeader {
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::optional<std::string> client_id;
};

/// Reads api_key, api_version and correlation_id only (enough to answer even an unknown API).
/// Throws DecodeError if fewer than 8 bytes are present.
RequestHeader peek_request_header(Reader& r);

/// Reads the rest of the header after peek_request_header(): client_id, and the tagged-field
/// section when `flexible` (header v2). Throws DecodeError.
void read_request_header_tail(Reader& r, RequestHeader& h, bool flexible);

/// Writes a full request header (used by tests and clients in this repository).
void write_request_header(Writer& w, const RequestHeader& h, bool flexible);

/// Writes a response header v0 (flexible=false) or v1 (flexible=true).
void write_response_header(Writer& w, int32_t correlation_id, bool flexible);

}  // namespace ferry::protocol
