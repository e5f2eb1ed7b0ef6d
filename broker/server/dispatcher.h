// Request frame → handler → response frame. The only place that knows the request/response header
// rules (KIP-482: flexible APIs use request header v2 / response header v1; ApiVersions always
// answers with header v0).
#pragma once

#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <span>
#include <stdexcept>

#include "broker/protocol/header.h"
#include "broker/protocol/records.h"
#include "broker/protocol/wire.h"
#include "broker/server/handlers.h"

namespace ferry::broker {

/// The request cannot be answered on this connection (unknown API key, unsupported version of an
/// API other than ApiVersions, or acks=0 produce that failed); Kafka closes the connection then.
struct CloseConnection : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The response frame (with its 4-byte size prefix) to a request of type R at `version`, with the
/// response header KIP-482 prescribes (v1 for flexible versions, v0 otherwise).
template <class R>
protocol::Bytes response_frame(int32_t correlation_id, int16_t version, const typename R::Response& resp) {
  const bool flexible = version >= R::flexible_from;
  protocol::Bytes out;
  protocol::Writer w(out);
  w.i32(0);  // size, patched below
  protocol::write_response_header(w, correlation_id, flexible);
  protocol::encode(resp, version, flexible, w);
  w.patch_i32(0, static_cast<int32_t>(out.size() - 4));
  return out;
}

/// Decodes `frame` (a request without its size prefix), runs the handler and returns the response
/// frame including its 4-byte size prefix, or nullopt when the request gets no response
/// (Produce with acks=0). A Fetch response's records may be file slices spliced into the frame
/// (protocol::Frame): the caller sends them or calls materialize(). Throws protocol::DecodeError for malformed input and CloseConnection as
/// above; the caller closes the connection in both cases.
boost::asio::awaitable<std::optional<protocol::Frame>> dispatch(std::span<const uint8_t> frame, RequestContext& ctx,
                                                                Handlers& handlers);

}  // namespace ferry::broker
