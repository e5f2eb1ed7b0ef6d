// write_frame: a response frame whose record batches are file slices leaves a real loopback TCP
// socket byte for byte as if it had been encoded in memory, also when the socket buffer fills
// and the writer must wait; a file cut shorter than its slice closes with EIO, never a short frame
// the client would misread.
#include "broker/server/frame_writer.h"

#include "broker/protocol/tests/temp_file.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace ferry::broker {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using protocol::Bytes;
using protocol::FileSlice;
using protocol::Frame;

/// A temporary file of `size` seeded random bytes.
struct RandomFile : protocol::testing::TempFile {
  RandomFile(size_t size, uint32_t seed) : TempFile(random_bytes(size, seed)) {}
  static Bytes random_bytes(size_t size, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes b(size);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    return b;
  }
};

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

/// Sends `frame` over a loopback connection whose buffers are small and whose reader starts
/// late, so the writer fills the socket and has to wait. Returns what the reader got before EOF
/// and, through `error`, what write_frame threw (nullopt: nothing).
Bytes send_over_loopback(const Frame& frame, std::optional<boost::system::error_code>& error, int* chunks = nullptr) {
  asio::io_context io{1};
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(io, tcp::v4());
  client.set_option(asio::socket_base::receive_buffer_size(16 * 1024));
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  server.set_option(asio::socket_base::send_buffer_size(16 * 1024));
  Bytes got;
  int progress = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await write_frame(server, frame, [&] { ++progress; });
        } catch (const boost::system::system_error& e) {
          error = e.code();
        }
        server.close();
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer t(io, std::chrono::milliseconds(50));
        co_await t.async_wait(asio::use_awaitable);
        std::vector<uint8_t> buf(7 * 1024);
        for (;;) {
          boost::system::error_code ec;
          size_t n = co_await client.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
          got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
          if (ec) break;
        }
      },
      asio::detached);
  io.run_for(std::chrono::seconds(20));
  if (chunks) *chunks = progress;
  return got;
}

TEST(FrameWriter, BytesAndFileSlicesArriveInOrderThroughAFullSocket) {
  RandomFile file(3 << 20, 7);
  Frame frame;
  frame.bytes = text("size+header|partition 0|partition 1|tail");
  // partition 0's batches: 1 MiB from offset 1000; partition 1's: two ranges back to back, then
  // a last slice at the very end of the frame.
  frame.splices.push_back({12, file.slice(1000, 1 << 20)});
  frame.splices.push_back({24, file.slice(0, 17)});
  frame.splices.push_back({24, file.slice((2 << 20) + 5, 600 * 1024)});
  frame.splices.push_back({frame.bytes.size(), file.slice(3, 1)});
  std::optional<boost::system::error_code> error;
  int chunks = 0;
  const Bytes got = send_over_loopback(frame, error, &chunks);
  EXPECT_FALSE(error) << error->message();
  ASSERT_EQ(got.size(), frame.size());
  EXPECT_TRUE(got == frame.materialize()) << "the bytes on the wire differ from the frame encoded in memory";
  // 1.6 MiB through 16 KiB buffers: the writer had to stop and wait many times.
  EXPECT_GT(chunks, 20);
}

TEST(FrameWriter, AFrameWithoutSlicesIsWrittenWhole) {
  Frame frame(text(std::string(300 * 1024, 'x') + "end"));
  std::optional<boost::system::error_code> error;
  const Bytes got = send_over_loopback(frame, error);
  EXPECT_FALSE(error);
  EXPECT_TRUE(got == frame.bytes);
}

TEST(FrameWriter, AFileCutShorterThanItsSliceFailsWithEioInsteadOfAShortFrame) {
  RandomFile file(100 * 1024, 9);
  Frame frame(text("head|tail"));
  frame.splices.push_back({5, file.slice(50 * 1024, 80 * 1024)});  // 30 KiB past the end of the file
  std::optional<boost::system::error_code> error;
  const Bytes got = send_over_loopback(frame, error);
  ASSERT_TRUE(error) << "write_frame returned although the file could not fill the slice";
  EXPECT_EQ(error->value(), EIO) << error->message();
  // The reader sees a connection that ends before the frame does: it cannot take it for a whole one.
  EXPECT_LT(got.size(), frame.size());
  EXPECT_THROW(frame.materialize(), std::system_error);
}

}  // namespace
}  // namespace ferry::broker
