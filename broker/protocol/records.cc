#include "broker/protocol/records.h"

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace ferry::protocol {

void read_slice(const FileSlice& slice, std::vector<uint8_t>& out) {
  const size_t old = out.size();
  const auto n = static_cast<size_t>(slice.length);
  out.resize(old + n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(slice.fd, out.data() + old + got, n - got, static_cast<off_t>(slice.offset) + static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int err = r < 0 ? errno : EIO;
      out.resize(old);
      throw std::system_error(err, std::generic_category(),
                              r < 0 ? "reading a file slice"
                                    : "file slice at offset " + std::to_string(slice.offset) + " of " +
                                          std::to_string(slice.length) + " bytes ends early: the file was cut");
    }
    got += static_cast<size_t>(r);
  }
}

size_t Records::size() const {
  size_t n = bytes.size();
  for (const auto& s : slices) n += static_cast<size_t>(s.length);
  return n;
}

Bytes Records::materialize() const {
  Bytes out;
  out.reserve(size());
  out.insert(out.end(), bytes.begin(), bytes.end());
  for (const auto& s : slices) read_slice(s, out);
  return out;
}

size_t Frame::size() const {
  size_t n = bytes.size();
  for (const auto& s : splices) n += static_cast<size_t>(s.slice.length);
  return n;
}

Bytes Frame::materialize() const {
  if (splices.empty()) return bytes;
  Bytes out;
  out.reserve(size());
  size_t from = 0;
  for (const auto& s : splices) {
    out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.begin() + static_cast<std::ptrdiff_t>(s.at));
    read_slice(s.slice, out);
    from = s.at;
  }
  out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.end());
  return out;
}

}  // namespace ferry::protocol
