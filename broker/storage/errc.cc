#include "broker/storage/errc.h"

namespace ferry::storage {

const char* to_string(errc e) {
  switch (e) {
    case errc::ok: return "ok";
    case errc::corrupt_message: return "corrupt_message";
    case errc::invalid_record: return "invalid_record";
    case errc::message_too_large: return "message_too_large";
    case errc::record_list_too_large: return "record_list_too_large";
    case errc::unsupported_for_message_format: return "unsupported_for_message_format";
    case errc::offset_out_of_range: return "offset_out_of_range";
    case errc::invalid_timestamp: return "invalid_timestamp";
    case errc::storage_error: return "storage_error";
  }
  return "unknown";
}

int16_t kafka_error_code(errc e) {
  switch (e) {
    case errc::ok: return 0;
    case errc::corrupt_message: return 2;
    case errc::invalid_record: return 87;
    case errc::message_too_large: return 10;
    case errc::record_list_too_large: return 18;
    case errc::unsupported_for_message_format: return 43;
    case errc::offset_out_of_range: return 1;
    case errc::invalid_timestamp: return 32;
    case errc::storage_error: return 56;
  }
  return -1;  // UNKNOWN_SERVER_ERROR
}

}  // namespace ferry::storage
