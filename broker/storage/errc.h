// The storage module's one error vocabulary. Each value corresponds to exactly one Kafka error
// code (kafka.apache.org/protocol "Error Codes"); the protocol edge converts with
// kafka_error_code(), nothing inside storage speaks Kafka numbers.
#pragma once

#include <cstdint>

namespace ferry::storage {

/// Outcome of a storage operation. Values are stable; do not renumber (tests and logs name them).
enum class errc {
  ok = 0,
  corrupt_message,                 ///< CRC mismatch or broken batch framing (Kafka 2 CORRUPT_MESSAGE)
  invalid_record,                  ///< well-framed batch with malformed records (87 INVALID_RECORD)
  message_too_large,               ///< one batch above max.message.bytes (10 MESSAGE_TOO_LARGE)
  record_list_too_large,           ///< one append above segment.bytes (18 RECORD_LIST_TOO_LARGE)
  unsupported_for_message_format,  ///< magic != 2 (43 UNSUPPORTED_FOR_MESSAGE_FORMAT)
  offset_out_of_range,             ///< offset outside [log start, log end] (1 OFFSET_OUT_OF_RANGE)
  invalid_timestamp,               ///< reserved for message.timestamp.difference.max.ms (32); storage never returns it today
  storage_error,                   ///< I/O failure, the log is offline (56 KAFKA_STORAGE_ERROR)
};

/// Stable lower-case name of the value, e.g. "corrupt_message"; "unknown" for out-of-range values.
const char* to_string(errc e);

/// The Kafka protocol error code for `e` (0 for ok), per the protocol guide's error table.
int16_t kafka_error_code(errc e);

}  // namespace ferry::storage
