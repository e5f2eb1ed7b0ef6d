// Sends an encoded response frame on a plaintext TCP socket, its file slices (a Fetch's record
// batches) straight from the page cache with sendfile(2), as Kafka's FileRecords.writeTo does with
// FileChannel.transferTo. Used by Connection; a header of its own so a test can drive it on a
// real socket.
#pragma once

#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>

#include "broker/protocol/records.h"

namespace ferry::broker {

/// Writes all of `frame` to `socket`: its bytes with send(2) (MSG_MORE while a slice follows, so a
/// partition's header and its batches can share a TCP segment) and each splice with sendfile(2).
/// A frame without splices goes through Asio's async_write. Waits for writability whenever the
/// socket buffer is full, so it never blocks its io_context; the socket is put in non-blocking
/// mode. `progress` runs after every chunk the kernel accepted.
///
/// Errors: boost::system::system_error for a socket error (peer gone, socket closed), and also
/// (EIO) when a file ends before its slice does: the size prefix already promised those bytes, so
/// the only safe answer is to close the connection (Kafka throws in FileRecords.writeTo then).
/// Must not be used on a TLS stream.
boost::asio::awaitable<void> write_frame(boost::asio::ip::tcp::socket& socket, const protocol::Frame& frame,
                                         const std::function<void()>& progress);

}  // namespace ferry::broker
