// A RECORDS field as the broker sends it, and an encoded frame that may refer to file bytes
// instead of holding them. Source: kafka.apache.org/protocol, "Protocol Primitive Types"
// (RECORDS is NULLABLE_BYTES holding record batches; COMPACT_RECORDS when flexible, KIP-482).
#pragma once

#include <utility>
#include <vector>

#include "broker/protocol/wire.h"

namespace ferry::protocol {

/// The value of a RECORDS field: record batches in memory (`bytes`, as decoded or built by the
/// sender), followed by `slices` of files (log segments) that a plaintext connection sends from
/// the page cache. Encoded as one RECORDS value of size() bytes; decoding fills `bytes` only.
struct Records {
  Bytes bytes;
  std::vector<FileSlice> slices;

  Records() = default;
  Records(Bytes b) : bytes(std::move(b)) {}  // NOLINT(google-explicit-constructor): a Bytes value is a Records value

  /// Bytes on the wire: bytes.size() plus every slice's length.
  size_t size() const;
  bool empty() const { return size() == 0; }
  /// Every byte in memory, the slices read in order. Errors as read_slice().
  Bytes materialize() const;
  bool operator==(const Records&) const = default;
};

/// One encoded response, its 4-byte size prefix included: `bytes`, with the file bytes of
/// `splices` (ordered by `at`, as a Writer records them) inserted. Sending it is the
/// connection's job: sendfile(2) on plaintext sockets, materialize() under TLS.
struct Frame {
  Bytes bytes;
  std::vector<Splice> splices;

  Frame() = default;
  Frame(Bytes b) : bytes(std::move(b)) {}  // NOLINT(google-explicit-constructor): a frame without file bytes

  /// Bytes on the wire, size prefix included.
  size_t size() const;
  /// The whole frame in memory, the splices read in. Errors as read_slice().
  Bytes materialize() const;
};

}  // namespace ferry::protocol
