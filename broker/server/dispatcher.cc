#include "broker/server/dispatcher.h"

#include <fmt/format.h>

#include "common/metrics.h"

namespace ferry::broker {
namespace asio = boost::asio;
using namespace ferry::protocol;

namespace {

template <class R>
concept HasHandler = requires(Handlers& h, R& r, RequestContext& c) {
  { h.handle(r, c) } -> std::same_as<asio::awaitable<typename R::Response>>;
};

// The size prefix counts the file bytes that the connection will splice in (Fetch's records).
Frame frame_response(int32_t correlation_id, bool flexible_header, auto&& encode_body) {
  Frame out;
  out.bytes.reserve(256);
  Writer w(out.bytes, &out.splices);
  w.i32(0);  // size, patched below
  write_response_header(w, correlation_id, flexible_header);
  encode_body(w);
  w.patch_i32(0, static_cast<int32_t>(out.size() - 4));
  return out;
}

template <class R>
asio::awaitable<std::optional<Frame>> run(Reader r, RequestContext& ctx, Handlers& handlers, bool flexible) {
  static_assert(HasHandler<R>, "every API in SupportedApis needs a handler of the standard shape");
  const int16_t version = ctx.header.api_version;
  R req = decode<R>(r, version, flexible);
  typename R::Response resp = co_await handlers.handle(req, ctx);
  // The request's times are observed by its connection once the response is written
  // (request_metrics.h); here only the count.
  handlers.services()
      .metrics.counter("kafka_network_requestmetrics_requests_total", "Requests handled, by API.", {{"request", R::name}})
      .inc();
  if constexpr (std::is_same_v<R, ProduceRequest>) {
    if (req.acks == 0) {
      // acks=0 gets no response; a failure can only be signalled by closing (Kafka does the same).
      for (auto& t : resp.responses)
        for (auto& p : t.partition_responses)
          if (p.error_code != ErrorCode::NONE)
            throw CloseConnection(fmt::format("acks=0 produce to {}-{} failed with {}", t.name, p.index,
                                              error_name(p.error_code)));
      co_return std::nullopt;
    }
  }
  // ApiVersions answers with response header v0 at every version (KIP-511).
  const bool flexible_header = flexible && R::api_key != ApiVersionsRequest::api_key;
  co_return frame_response(ctx.header.correlation_id, flexible_header,
                           [&](Writer& w) { encode(resp, version, flexible, w); });
}

}  // namespace

asio::awaitable<std::optional<Frame>> dispatch(std::span<const uint8_t> frame, RequestContext& ctx,
                                               Handlers& handlers) {
  Reader r(frame);
  RequestHeader hdr = peek_request_header(r);
  auto api = find_api(hdr.api_key);
  if (hdr.api_key == ApiVersionsRequest::api_key &&
      (hdr.api_version < ApiVersionsRequest::min_version || hdr.api_version > ApiVersionsRequest::max_version)) {
    // A client newer than us: answer in the v0 layout so it can read the error and our ranges
    // (KIP-511; Kafka's ApiVersionsRequest.getErrorResponse answers in the v0 layout).
    ApiVersionsResponse resp;
    resp.error_code = ErrorCode::UNSUPPORTED_VERSION;
    for (const auto& a : supported_api_ranges()) resp.api_keys.push_back({a.api_key, a.min_version, a.max_version});
    co_return frame_response(hdr.correlation_id, false, [&](Writer& w) { encode(resp, 0, false, w); });
  }
  if (!api) throw CloseConnection(fmt::format("unknown API key {}", hdr.api_key));
  if (hdr.api_version < api->min_version || hdr.api_version > api->max_version)
    throw CloseConnection(fmt::format("{} v{} is not supported (supported: v{}-v{})", api->name, hdr.api_version,
                                      api->min_version, api->max_version));
  const bool flexible = hdr.api_version >= api->flexible_from;
  read_request_header_tail(r, hdr, flexible);
  ctx.header = hdr;
  ctx.api = api->name;
  ctx.identity.method = fmt::format("kafka.{}", api->name);
  ctx.identity.client_id = hdr.client_id.value_or("");
  std::optional<asio::awaitable<std::optional<Frame>>> work;
  SupportedApis::visit(hdr.api_key, [&]<class R>() { work.emplace(run<R>(r, ctx, handlers, flexible)); });
  co_return co_await std::move(*work);
}

}  // namespace ferry::broker
