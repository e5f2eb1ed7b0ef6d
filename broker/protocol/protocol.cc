#include "broker/protocol/apis.h"
#include "broker/protocol/errors.h"
#include "broker/protocol/header.h"

namespace ferry::protocol {

RequestHeader peek_request_header(Reader& r) {
  RequestHeader h;
  h.api_key = r.i16();
  h.api_version = r.i16();
  h.correlation_id = r.i32();
  return h;
}

void read_request_header_tail(Reader& r, RequestHeader& h, bool flexible) {
  int16_t n = r.i16();  // client_id is a classic nullable STRING even in header v2 (KIP-482)
  if (n >= 0) {
    auto s = r.take(static_cast<size_t>(n));
    h.client_id.emplace(reinterpret_cast<const char*>(s.data()), s.size());
  } else if (n == -1) {
    h.client_id.reset();
  } else {
    throw DecodeError("invalid client_id length " + std::to_string(n));
  }
  if (flexible) {
    Decoder d(r, h.api_version, true);
    d.finish();  // no header tags are defined; skip any that arrive
  }
}

void write_request_header(Writer& w, const RequestHeader& h, bool flexible) {
  w.i16(h.api_key);
  w.i16(h.api_version);
  w.i32(h.correlation_id);
  if (h.client_id) {
    w.i16(static_cast<int16_t>(h.client_id->size()));
    w.raw(*h.client_id);
  } else {
    w.i16(-1);
  }
  if (flexible) w.uvarint(0);
}

void write_response_header(Writer& w, int32_t correlation_id, bool flexible) {
  w.i32(correlation_id);
  if (flexible) w.uvarint(0);
}

const std::vector<ApiRange>& supported_api_ranges() {
  static const std::vector<ApiRange> ranges = [] {
    std::vector<ApiRange> out;
    SupportedApis::for_each([&]<class R>() {
      out.push_back({R::api_key, R::name, R::min_version, R::max_version, R::flexible_from});
    });
    return out;
  }();
  return ranges;
}

std::optional<ApiRange> find_api(int16_t api_key) {
  for (const auto& r : supported_api_ranges())
    if (r.api_key == api_key) return r;
  return std::nullopt;
}

bool is_flexible_request(int16_t api_key, int16_t version) {
  auto r = find_api(api_key);
  return r && version >= r->flexible_from;
}

const char* error_name(ErrorCode code) {
  switch (code) {
#define FERRY_ERROR_NAME(name, value) \
  case ErrorCode::name:               \
    return #name;
    FERRY_KAFKA_ERROR_CODES(FERRY_ERROR_NAME)
#undef FERRY_ERROR_NAME
  }
  return "UNKNOWN_ERROR_CODE";
}

}  // namespace ferry::protocol
