#include "broker/server/frame_writer.h"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <string>

namespace ferry::broker {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Largest chunk one wake-up writes (Asio's own default for async_write).
constexpr size_t kWriteChunk = 64 * 1024;

[[noreturn]] void fail(int err, const std::string& what) {
  throw boost::system::system_error(err, boost::system::system_category(), what);
}

// After a send or sendfile that moved nothing: waits for writability on EAGAIN, returns at once
// on EINTR (the caller retries either way), throws on any other error.
asio::awaitable<void> wait_or_fail(tcp::socket& socket, int err, const char* call) {
  if (err == EAGAIN || err == EWOULDBLOCK) {
    co_await socket.async_wait(tcp::socket::wait_write, asio::use_awaitable);
  } else if (err != EINTR) {
    fail(err, call);
  }
}

asio::awaitable<void> send_bytes(tcp::socket& socket, const uint8_t* p, size_t n, bool more,
                                 const std::function<void()>& progress) {
  const int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
  while (n > 0) {
    const ssize_t r = ::send(socket.native_handle(), p, n, flags);
    if (r > 0) {
      p += r;
      n -= static_cast<size_t>(r);
      progress();
      continue;
    }
    co_await wait_or_fail(socket, r < 0 ? errno : EPIPE, "send");
  }
}

asio::awaitable<void> send_slice(tcp::socket& socket, const protocol::FileSlice& slice,
                                 const std::function<void()>& progress) {
  auto offset = static_cast<off_t>(slice.offset);
  auto left = static_cast<size_t>(slice.length);
  while (left > 0) {
    const ssize_t r = ::sendfile(socket.native_handle(), slice.fd, &offset, left);
    if (r > 0) {
      left -= static_cast<size_t>(r);
      progress();
      continue;
    }
    if (r == 0) {
      fail(EIO, "sendfile: the file ends " + std::to_string(left) + " bytes before its slice (offset " +
                    std::to_string(slice.offset) + ", " + std::to_string(slice.length) + " bytes): it was cut");
    }
    co_await wait_or_fail(socket, errno, "sendfile");
  }
}

}  // namespace

asio::awaitable<void> write_frame(tcp::socket& socket, const protocol::Frame& frame,
                                  const std::function<void()>& progress) {
  if (frame.splices.empty()) {
    auto each_chunk = [&](const boost::system::error_code& ec, size_t) -> size_t {
      progress();
      return ec ? 0 : kWriteChunk;
    };
    co_await asio::async_write(socket, asio::buffer(frame.bytes), each_chunk, asio::use_awaitable);
    co_return;
  }
  socket.native_non_blocking(true);
  size_t from = 0;
  for (const auto& s : frame.splices) {
    co_await send_bytes(socket, frame.bytes.data() + from, s.at - from, /*more=*/true, progress);
    co_await send_slice(socket, s.slice, progress);
    from = s.at;
  }
  co_await send_bytes(socket, frame.bytes.data() + from, frame.bytes.size() - from, /*more=*/false, progress);
}

}  // namespace ferry::broker
