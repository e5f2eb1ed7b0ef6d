// Seeded decoder fuzz. Every input must either decode or throw DecodeError: no crash, no other
// exception, and no string or array larger than the input it came from (the codec checks every
// wire length against the remaining bytes before allocating). Inputs are kept small so that the
// size bound is meaningful. Set FERRY_FUZZ_SEED to replay a failure.
#include <gtest/gtest.h>

#include <cstdio>
#include <typeinfo>
#include <cstdlib>
#include <random>
#include <string>

#include "broker/protocol/apis.h"
#include "broker/protocol/header.h"
#include "broker/protocol/tests/test_util.h"

namespace ferry::protocol {
namespace {

using testing::hex;

uint64_t fuzz_seed() {
  if (const char* s = std::getenv("FERRY_FUZZ_SEED")) return std::strtoull(s, nullptr, 0);
  return 0x5eed'f3e7'2024'0001ULL;
}

struct Stats {
  uint64_t inputs = 0;
  uint64_t decoded = 0;
  uint64_t rejected = 0;
};

struct Target {
  const char* name;
  int16_t version;
  bool flexible;
};

std::string where(const Target& t, const char* what) {
  return std::string(t.name) + " v" + std::to_string(t.version) + " (" + what + ")";
}

// Decodes one input. Returns true when it decoded. Fails the test on any other outcome.
template <class M>
bool try_decode(std::span<const uint8_t> in, const Target& t, const char* what, Stats& st) {
  ++st.inputs;
  try {
    Reader r(in);
    M m = decode<M>(r, t.version, t.flexible);
    testing::SizeProbe probe;
    probe.walk(m);
    EXPECT_LE(probe.largest(), in.size())
        << where(t, what) << ": decoded a string/array larger than the input: " << hex(in);
    ++st.decoded;
    return true;
  } catch (const DecodeError&) {
    ++st.rejected;
    return false;
  } catch (const std::exception& e) {
    ADD_FAILURE() << where(t, what) << ": unexpected " << typeid(e).name() << ": " << e.what()
                  << "\n  input: " << hex(in);
  } catch (...) {
    ADD_FAILURE() << where(t, what) << ": unexpected non-std exception\n  input: " << hex(in);
  }
  return false;
}

template <class M>
void fuzz_message(const Target& t, std::mt19937_64& rng, Stats& st) {
  // Random bytes, both uniform and drawn from values that mean something on the wire
  // (null/empty lengths, varint continuation, sign bits).
  static constexpr uint8_t kInteresting[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0xfe, 0x81};
  for (int i = 0; i < 300; ++i) {
    Bytes in(rng() % 48);
    bool biased = i % 2;
    for (auto& b : in)
      b = biased ? kInteresting[rng() % sizeof kInteresting] : static_cast<uint8_t>(rng());
    try_decode<M>(in, t, "random bytes", st);
  }

  for (int sample = 0; sample < 4; ++sample) {
    M m{};
    testing::Filler(rng, t.version, t.flexible,
                    {.max_string = 3, .max_elements = 2, .allow_long = false})
        .fill(m);
    const Bytes enc = testing::encode_body(m, t.version, t.flexible);
    EXPECT_TRUE(try_decode<M>(enc, t, "valid", st)) << where(t, "valid") << ": " << hex(enc);

    // A strict prefix of a valid encoding can never decode: the decoder would need the same
    // bytes the full message needed.
    for (size_t n = 0; n < enc.size(); ++n) {
      EXPECT_FALSE(try_decode<M>(std::span(enc.data(), n), t, "truncated", st))
          << where(t, "truncated") << " at " << n << " of " << enc.size();
    }

    Bytes in;
    for (size_t i = 0; i < enc.size(); ++i) {
      for (int k = 0; k < 2; ++k) {  // one byte changed
        in = enc;
        in[i] = static_cast<uint8_t>(in[i] ^ (1 + rng() % 255));
        try_decode<M>(in, t, "mutated byte", st);
      }
      // Whatever sits at i, read it as a length prefix that lies: huge, negative, or just past
      // the end, in both the int16 and int32 forms.
      static const Bytes kWide[] = {{0x7f, 0xff, 0xff, 0xff}, {0xff, 0xff, 0xff, 0xff},
                                    {0x80, 0x00, 0x00, 0x00}, {0xff, 0xff, 0xff, 0xfe}};
      static const Bytes kNarrow[] = {{0x7f, 0xff}, {0x80, 0x00}, {0xff, 0xfe}};
      for (const auto& pat : kWide) {
        if (i + pat.size() > enc.size()) break;
        in = enc;
        std::copy(pat.begin(), pat.end(), in.begin() + static_cast<ptrdiff_t>(i));
        try_decode<M>(in, t, "int32 length replaced", st);
      }
      for (const auto& pat : kNarrow) {
        if (i + pat.size() > enc.size()) break;
        in = enc;
        std::copy(pat.begin(), pat.end(), in.begin() + static_cast<ptrdiff_t>(i));
        try_decode<M>(in, t, "int16 length replaced", st);
      }
      // The byte at i replaced by the largest 5-byte unsigned varint (a compact length of 2^32-2).
      in.assign(enc.begin(), enc.begin() + static_cast<ptrdiff_t>(i));
      in.insert(in.end(), {0xff, 0xff, 0xff, 0xff, 0x0f});
      in.insert(in.end(), enc.begin() + static_cast<ptrdiff_t>(i) + 1, enc.end());
      try_decode<M>(in, t, "huge uvarint length", st);
      // The byte at i stretched into a 6-byte (overlong) varint of the same low bits.
      in.assign(enc.begin(), enc.begin() + static_cast<ptrdiff_t>(i));
      in.insert(in.end(), {static_cast<uint8_t>(enc[i] | 0x80), 0x80, 0x80, 0x80, 0x80, 0x00});
      in.insert(in.end(), enc.begin() + static_cast<ptrdiff_t>(i) + 1, enc.end());
      try_decode<M>(in, t, "overlong varint", st);
    }
  }
}

TEST(DecoderFuzz, NeverCrashesNorThrowsAnythingButDecodeError) {
  const uint64_t seed = fuzz_seed();
  std::fprintf(stderr, "protocol fuzz: FERRY_FUZZ_SEED=%#llx\n",
               static_cast<unsigned long long>(seed));
  SCOPED_TRACE("FERRY_FUZZ_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Stats st;
  testing::for_each_api([&]<class R>() {
    for (int16_t v = R::min_version; v <= R::max_version; ++v) {
      bool flexible = is_flexible<R>(v);
      std::string req = std::string(R::name) + "Request";
      std::string resp = std::string(R::name) + "Response";
      fuzz_message<R>({req.c_str(), v, flexible}, rng, st);
      fuzz_message<typename R::Response>({resp.c_str(), v, flexible}, rng, st);
    }
  });
  std::fprintf(stderr, "protocol fuzz: %llu inputs, %llu decoded, %llu rejected\n",
               static_cast<unsigned long long>(st.inputs),
               static_cast<unsigned long long>(st.decoded),
               static_cast<unsigned long long>(st.rejected));
  EXPECT_GE(st.inputs, 200'000u);
  EXPECT_GT(st.decoded, 0u);
  EXPECT_GT(st.rejected, 0u);
}

TEST(DecoderFuzz, RequestHeaders) {
  const uint64_t seed = fuzz_seed() + 1;
  SCOPED_TRACE("FERRY_FUZZ_SEED=" + std::to_string(seed - 1));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 20'000; ++i) {
    Bytes in(rng() % 24);
    for (auto& b : in) b = static_cast<uint8_t>(rng() % 4 == 0 ? 0xff : rng() % 8);
    try {
      Reader r(in);
      RequestHeader h = peek_request_header(r);
      read_request_header_tail(r, h, rng() % 2);
      if (h.client_id) {
        EXPECT_LE(h.client_id->size(), in.size());
      }
    } catch (const DecodeError&) {
    } catch (...) {
      ADD_FAILURE() << "request header: unexpected exception on " << hex(in);
    }
  }
}

}  // namespace
}  // namespace ferry::protocol
