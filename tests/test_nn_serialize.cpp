// NumPy .npy / .npz serialization (tapegrad/nn/serialize.hpp): round trips, bytes written by
// NumPy read exactly, .npy output byte-identical to np.save, archives from np.savez and
// np.savez_compressed (and a ZIP64 one), every kind of bad file rejected with a SerializeError
// naming the file, and saves that fail leaving the previous file intact and no temporary behind.
//
// The reference files below were produced once with NumPy 1.24.2 (Debian bookworm's
// python3-numpy) and are embedded as hex, so the suite does not need Python. The generator:
//
//   import io, zipfile, numpy as np
//   f = io.BytesIO(); <one of the statements below>; print(f.getvalue().hex())
//
// Every array holds (i - 5) / 3 for its row-major element index i (computed in float64, then
// cast for float32 arrays), which is what `expected<T>()` below recomputes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <unistd.h>

#if __has_include(<sys/resource.h>)
#include <sys/resource.h>
#include <csignal>
#define TG_TEST_HAVE_RLIMIT 1
#endif

#include "check_error.hpp"
#include "tapegrad/nn/serialize.hpp"
#include "tapegrad/tensor.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using tg::Shape;
using tg::TensorD;
using tg::TensorF;
using tg::nn::load_npy;
using tg::nn::load_npz;
using tg::nn::save_npy;
using tg::nn::save_npz;
using tg::nn::SerializeError;

namespace {

// ---- reference bytes from NumPy ------------------------------------------------------------

// np.save(f, ((np.arange(6) - 5) / 3).reshape(2, 3))
const char* const kNpyF8_2x3 =
    "934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f726465"
    "72273a2046616c73652c20277368617065273a2028322c2033292c207d2020202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200aabaaaaaaaaaafabf555555555555f5bf000000000000f0bf555555555555e5bf"
    "555555555555d5bf0000000000000000";  // 176 bytes
// np.save(f, np.array(-5 / 3, dtype=np.float32))
const char* const kNpyF4_0d =
    "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f726465"
    "72273a2046616c73652c20277368617065273a2028292c207d202020202020202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200a5555d5bf";  // 132 bytes
// np.save(f, np.array(-5 / 3))
const char* const kNpyF8_0d =
    "934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f726465"
    "72273a2046616c73652c20277368617065273a2028292c207d202020202020202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200aabaaaaaaaaaafabf";  // 136 bytes
// np.save(f, ((np.arange(5) - 5) / 3).astype(np.float32))
const char* const kNpyF4_1d =
    "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f726465"
    "72273a2046616c73652c20277368617065273a2028352c292c207d20202020202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200a5555d5bfabaaaabf000080bfabaa2abfabaaaabe";  // 148 bytes
// np.save(f, ((np.arange(24) - 5) / 3).reshape(2, 3, 4))
const char* const kNpyF8_3d =
    "934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f726465"
    "72273a2046616c73652c20277368617065273a2028322c20332c2034292c207d2020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200aabaaaaaaaaaafabf555555555555f5bf000000000000f0bf555555555555e5bf"
    "555555555555d5bf0000000000000000555555555555d53f555555555555e53f000000000000f03f"
    "555555555555f53fabaaaaaaaaaafa3f0000000000000040abaaaaaaaaaa02405555555555550540"
    "0000000000000840abaaaaaaaaaa0a405555555555550d4000000000000010405555555555551140"
    "abaaaaaaaaaa124000000000000014405555555555551540abaaaaaaaaaa16400000000000001840";  // 320
                                                                                         // bytes
// np.save(f, ((np.arange(6) - 5) / 3).astype(np.float32).reshape(2, 1, 3))
const char* const kNpyF4_3d =
    "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f726465"
    "72273a2046616c73652c20277368617065273a2028322c20312c2033292c207d2020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200a5555d5bfabaaaabf000080bfabaa2abfabaaaabe00000000";  // 152 bytes
// np.save(f, np.zeros((0, 3)))
const char* const kNpyF8_0x3 =
    "934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f726465"
    "72273a2046616c73652c20277368617065273a2028302c2033292c207d2020202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200a";  // 128 bytes
// np.lib.format.write_array(f, ((np.arange(4) - 5) / 3).reshape(2, 2), version=(2, 0))
const char* const kNpyV2 =
    "934e554d50590200740000007b276465736372273a20273c6638272c2027666f727472616e5f6f72"
    "646572273a2046616c73652c20277368617065273a2028322c2032292c207d202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200aabaaaaaaaaaafabf555555555555f5bf000000000000f0bf555555555555e5bf";  // 160
                                                                                         // bytes
// np.lib.format.write_array(f, ((np.arange(4) - 5) / 3).astype(np.float32).reshape(2, 2),
// version=(3, 0))
const char* const kNpyV3 =
    "934e554d50590300740000007b276465736372273a20273c6634272c2027666f727472616e5f6f72"
    "646572273a2046616c73652c20277368617065273a2028322c2032292c207d202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200a5555d5bfabaaaabf000080bfabaa2abf";  // 144 bytes
// np.save(f, np.asfortranarray(((np.arange(6) - 5) / 3).reshape(2, 3)))
const char* const kNpyFortran =
    "934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f726465"
    "72273a20547275652c20277368617065273a2028322c2033292c207d202020202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200aabaaaaaaaaaafabf555555555555e5bf555555555555f5bf555555555555d5bf"
    "000000000000f0bf0000000000000000";  // 176 bytes
// np.save(f, np.arange(3, dtype='<i8'))
const char* const kNpyI8 =
    "934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f726465"
    "72273a2046616c73652c20277368617065273a2028332c292c207d20202020202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200a000000000000000001000000000000000200000000000000";  // 152 bytes
// np.save(f, np.arange(3, dtype='>f8'))
const char* const kNpyBigEndian =
    "934e554d5059010076007b276465736372273a20273e6638272c2027666f727472616e5f6f726465"
    "72273a2046616c73652c20277368617065273a2028332c292c207d20202020202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020200a00000000000000003ff00000000000004000000000000000";  // 152 bytes
// np.savez(f, w=((np.arange(6) - 5) / 3).reshape(2, 3), b=((np.arange(3) - 5) /
// 3).astype(np.float32), s=np.array(-5 / 3))
const char* const kNpz =
    "504b030414000000000000002100a27af405b0000000b000000005001400772e6e707901001000b0"
    "00000000000000b000000000000000934e554d5059010076007b276465736372273a20273c663827"
    "2c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033"
    "292c207d202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020202020202020202020202020202020200aabaaaaaaaaaafabf555555555555f5bf00"
    "0000000000f0bf555555555555e5bf555555555555d5bf0000000000000000504b03041400000000"
    "0000002100730dfec58c0000008c00000005001400622e6e7079010010008c000000000000008c00"
    "000000000000934e554d5059010076007b276465736372273a20273c6634272c2027666f72747261"
    "6e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d20202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020202020202020200a5555d5bfabaaaabf000080bf504b030414000000000000002100"
    "1974d254880000008800000005001400732e6e707901001000880000000000000088000000000000"
    "00934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f7264"
    "6572273a2046616c73652c20277368617065273a2028292c207d2020202020202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "20202020202020200aabaaaaaaaaaafabf504b0102140314000000000000002100a27af405b00000"
    "00b0000000050000000000000000000000800100000000772e6e7079504b01021403140000000000"
    "00002100730dfec58c0000008c0000000500000000000000000000008001e7000000622e6e707950"
    "4b01021403140000000000000021001974d254880000008800000005000000000000000000000080"
    "01aa010000732e6e7079504b0506000000000300030099000000690200000000";  // 792 bytes
// np.savez_compressed(f, w=((np.arange(64) - 5) / 3).reshape(8, 8), b=((np.arange(4) - 5) /
// 3).astype(np.float32), e=np.zeros((0, 3)))
const char* const kNpzCompressed =
    "504b0304140000000800000021007605d618ee0000008002000005001400772e6e70790100100080"
    "02000000000000ee000000000000009dccbf6ac2501887e163412842414b5b5a51395af5447bd424"
    "2e418464ead6e2e2d049428d74102d89b88857e15de8457815bd047717974efec97b057ecbe17d7e"
    "21abcffe47ef2b21e662a18641f41daa8e54dd91a3b454a369380bfdc9601a0e83b3bffbe3283879"
    "f4e3ff06a7361c2d9d9a964b79f5a536ebf3fd6ffb973b6cc5e5f6f48ef70f178276d95dbea70f2e"
    "ffc38517f78d17ef492fe65b3c85dfe1693ac37e8f3fe08ff813fe8cbfe0593c87e7f1022e69c95e"
    "c44b78097fc5cb7819afe055bc8a2bdcc00dbc86d7f13afe866b5ce30dbc8937f1166ed226bb895b"
    "b8855bb88ddbb88db7f1b67704504b0304140000000800000021004cb36858540000009000000005"
    "001400622e6e707901001000900000000000000054000000000000009bec17ea1b10c9c850c650ad"
    "9e925a9c5ca46ea5a06e9366a2aea3a09e965f54529498179f5f94920a12774bcc294e058a176724"
    "16a402f91a263a9a3a0ab50a1400aed0d0abfb57af5ab59f81a101486bed0700504b030414000000"
    "08000000210058fb60f8460000008000000005001400652e6e707901001000800000000000000046"
    "000000000000009bec17ea1b10c9c850c650ad9e925a9c5ca46ea5a06e9366a1aea3a09e965f5452"
    "9498179f5f94920a12774bcc294e058a17672416a402f91a063a0ac69a3a0ab50a64032e00504b01"
    "021403140000000800000021007605d618ee00000080020000050000000000000000000000800100"
    "000000772e6e7079504b01021403140000000800000021004cb36858540000009000000005000000"
    "0000000000000000800125010000622e6e7079504b010214031400000008000000210058fb60f846"
    "000000800000000500000000000000000000008001b0010000652e6e7079504b0506000000000300"
    "0300990000002d0200000000";  // 732 bytes
// zipfile.ZIP64_LIMIT = 8; np.savez(f, x=((np.arange(2) - 5) / 3), y=((np.arange(1) - 5) /
// 3).astype(np.float32).reshape(1, 1))
const char* const kNpzZip64 =
    "504b03042d000000000000002100c6350758ffffffffffffffff05001400782e6e70790100100090"
    "000000000000009000000000000000934e554d5059010076007b276465736372273a20273c663827"
    "2c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c"
    "207d2020202020202020202020202020202020202020202020202020202020202020202020202020"
    "202020202020202020202020202020202020202020200aabaaaaaaaaaafabf555555555555f5bf50"
    "4b03042d000000000000002100064ac55fffffffffffffffff05001400792e6e7079010010008400"
    "0000000000008400000000000000934e554d5059010076007b276465736372273a20273c6634272c"
    "2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028312c203129"
    "2c207d20202020202020202020202020202020202020202020202020202020202020202020202020"
    "2020202020202020202020202020202020202020200a5555d5bf504b01022d032d00000000000000"
    "2100c6350758ffffffffffffffff050014000000000000000000800100000000782e6e7079010010"
    "0090000000000000009000000000000000504b01022d032d000000000000002100064ac55fffffff"
    "ffffffffff05001c0000000000000000008001ffffffff792e6e7079010018008400000000000000"
    "8400000000000000c700000000000000504b06062c000000000000002d002d000000000000000000"
    "0200000000000000020000000000000096000000000000008201000000000000504b060700000000"
    "180200000000000001000000504b0506000000000200020096000000820100000000";  // 634 bytes

// ---- helpers -------------------------------------------------------------------------------

using Bytes = std::string;

Bytes from_hex(const char* hex) {
  Bytes out;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (const char* p = hex; p[0] && p[1]; p += 2)
    out += static_cast<char>(nibble(p[0]) * 16 + nibble(p[1]));
  return out;
}

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// Whether a save left one of its temporary files behind.
bool has_temporaries(const TempDir& dir) {
  for (const std::string& n : dir.names())
    if (n.find(".tmp-") != std::string::npos) return true;
  return false;
}

// (i - 5) / 3 for each element, as the NumPy generator computed it.
template <class T> std::vector<T> expected(std::size_t n) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>((static_cast<double>(i) - 5) / 3);
  return v;
}

template <class T> tg::Tensor<T> pattern(const Shape& shape) {
  return tg::Tensor<T>::from_vector(shape, expected<T>(shape.numel()));
}

template <class T>
void check_tensor(const tg::Tensor<T>& t, const Shape& shape, const std::vector<T>& values) {
  REQUIRE(t.defined());
  CHECK(t.shape() == shape);
  REQUIRE(t.size() == values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    INFO("element " << i);
    CHECK(t.data()[i] == values[i]);
  }
  CHECK_FALSE(t.requires_grad());
}

// Runs f, expects a SerializeError whose message contains every one of `parts`.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  check_error<SerializeError>(f, parts);
}

// A version 1.0 .npy file with the given header dict (padded like numpy's) and raw data bytes.
Bytes npy_file(const std::string& dict, const Bytes& data) {
  std::string header = dict;
  const std::size_t pad = 64 - ((10 + header.size() + 1) % 64);
  header.append(pad, ' ');
  header += '\n';
  Bytes out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

std::uint16_t rd16(const Bytes& b, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(b[at]) |
                                    (static_cast<unsigned char>(b[at + 1]) << 8));
}
void wr16(Bytes& b, std::size_t at, unsigned v) {
  b[at] = static_cast<char>(v & 0xff);
  b[at + 1] = static_cast<char>((v >> 8) & 0xff);
}
void wr32(Bytes& b, std::size_t at, std::uint32_t v) {
  wr16(b, at, v & 0xffff);
  wr16(b, at + 2, v >> 16);
}

// Offsets of every occurrence of a ZIP signature ("PK\1\2" central, "PK\3\4" local).
std::vector<std::size_t> find_all(const Bytes& b, const Bytes& sig) {
  std::vector<std::size_t> out;
  for (std::size_t p = b.find(sig); p != Bytes::npos; p = b.find(sig, p + 1)) out.push_back(p);
  return out;
}
const Bytes kCentralSig("PK\x01\x02", 4);
const Bytes kLocalSig("PK\x03\x04", 4);

}  // namespace

// ---- round trips ---------------------------------------------------------------------------

TEST_CASE_TEMPLATE("serialize: .npy round trip, ranks 0-3 and 6, empty", T, float, double) {
  TempDir dir;
  for (const Shape& shape : {Shape{}, Shape{1}, Shape{5}, Shape{2, 3}, Shape{2, 3, 4}, Shape{0, 3},
                             Shape{3, 0}, Shape{0}, Shape{2, 1, 2, 1, 2, 3}}) {
    INFO("shape " << shape.str());
    const std::string path = dir.file("a.npy");
    std::mt19937_64 rng(7);
    const auto t = tg::Tensor<T>::normal(shape, T(0), T(1e3), rng);
    save_npy(path, t);
    check_tensor(load_npy<T>(path), shape, t.to_vector());
  }
  CHECK_FALSE(has_temporaries(dir));
}

TEST_CASE("serialize: .npy keeps special values bit for bit and converts between dtypes") {
  TempDir dir;
  const double inf = std::numeric_limits<double>::infinity();
  const auto d = TensorD::vector({0.1, -0.0, inf, -inf, 1e-310, 1e300, -1.0 / 3});
  save_npy(dir.file("d.npy"), d);
  const auto back = load_npy<double>(dir.file("d.npy"));
  REQUIRE(back.size() == d.size());
  CHECK(std::memcmp(back.data(), d.data(), d.size() * sizeof(double)) == 0);  // -0.0 too
  const auto nan = TensorD::scalar(std::numeric_limits<double>::quiet_NaN());
  save_npy(dir.file("nan.npy"), nan);
  CHECK(std::isnan(load_npy<double>(dir.file("nan.npy")).item()));

  // A float64 file loads as float by rounding each element, a float32 file as double exactly.
  std::vector<float> rounded;
  for (double v : d.to_vector()) rounded.push_back(static_cast<float>(v));
  check_tensor(load_npy<float>(dir.file("d.npy")), Shape{7}, rounded);
  const auto f = TensorF::matrix({{0.1f, -2.5f}, {3e38f, 1e-45f}});
  save_npy(dir.file("f.npy"), f);
  std::vector<double> widened;
  for (float v : f.to_vector()) widened.push_back(v);
  check_tensor(load_npy<double>(dir.file("f.npy")), Shape{2, 2}, widened);
}

TEST_CASE("serialize: saving over an existing file replaces it") {
  TempDir dir;
  const std::string path = dir.file("w.npy");
  save_npy(path, TensorD::zeros({100, 100}));
  save_npy(path, TensorD::vector({1, 2}));
  check_tensor(load_npy<double>(path), Shape{2}, std::vector<double>{1, 2});
  CHECK(dir.names() == std::vector<std::string>{"w.npy"});
}

TEST_CASE_TEMPLATE("serialize: .npz round trip with several named arrays", T, float, double) {
  TempDir dir;
  const std::string path = dir.file("model.npz");
  std::mt19937_64 rng(3);
  const std::vector<std::pair<std::string, tg::Tensor<T>>> arrays = {
      {"layer1.weight", tg::Tensor<T>::uniform({4, 3}, T(-1), T(1), rng)},
      {"layer1.bias", tg::Tensor<T>::uniform({3}, T(-1), T(1), rng)},
      {"step", tg::Tensor<T>::scalar(T(1234))},
      {"empty", tg::Tensor<T>::zeros({0, 3})},
      {"cube", tg::Tensor<T>::uniform({2, 3, 4}, T(-1), T(1), rng)},
      {"z/y", tg::Tensor<T>::ones({1})},
      {"gr\xc3\xbc\xc3\x9f", tg::Tensor<T>::full({2}, T(-0.5))},  // UTF-8 name
  };
  save_npz(path, arrays);
  const auto back = load_npz<T>(path);
  REQUIRE(back.size() == arrays.size());
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    INFO("array " << arrays[i].first);
    CHECK(back[i].first == arrays[i].first);
    check_tensor(back[i].second, arrays[i].second.shape(), arrays[i].second.to_vector());
  }
  // The other element type converts on load.
  using U = std::conditional_t<std::is_same_v<T, float>, double, float>;
  const auto converted = load_npz<U>(path);
  REQUIRE(converted.size() == arrays.size());
  CHECK(converted[0].second.at({3, 2}) == static_cast<U>(arrays[0].second.at({3, 2})));
  CHECK_FALSE(has_temporaries(dir));
}

TEST_CASE("serialize: an empty .npz archive") {
  TempDir dir;
  save_npz<double>(dir.file("e.npz"), {});
  CHECK(read_bytes(dir.file("e.npz")).size() == 22);  // just the end of central directory
  CHECK(load_npz<double>(dir.file("e.npz")).empty());
}

// ---- NumPy's bytes -------------------------------------------------------------------------

struct NpyReference {
  const char* name;
  const char* hex;
  Shape shape;
  bool is_float32;
};

const NpyReference kNpyReferences[] = {
    {"kNpyF8_2x3", kNpyF8_2x3, Shape{2, 3}, false},  {"kNpyF4_0d", kNpyF4_0d, Shape{}, true},
    {"kNpyF8_0d", kNpyF8_0d, Shape{}, false},        {"kNpyF4_1d", kNpyF4_1d, Shape{5}, true},
    {"kNpyF8_3d", kNpyF8_3d, Shape{2, 3, 4}, false}, {"kNpyF4_3d", kNpyF4_3d, Shape{2, 1, 3}, true},
    {"kNpyF8_0x3", kNpyF8_0x3, Shape{0, 3}, false},
};

TEST_CASE("serialize: reads .npy files written by np.save exactly") {
  TempDir dir;
  for (const NpyReference& ref : kNpyReferences) {
    INFO(ref.name);
    const std::string path = dir.file(std::string(ref.name) + ".npy");
    write_bytes(path, from_hex(ref.hex));
    const std::size_t n = ref.shape.numel();
    if (ref.is_float32) {
      check_tensor(load_npy<float>(path), ref.shape, expected<float>(n));
      std::vector<double> widened;
      for (float v : expected<float>(n)) widened.push_back(v);
      check_tensor(load_npy<double>(path), ref.shape, widened);
    } else {
      check_tensor(load_npy<double>(path), ref.shape, expected<double>(n));
      check_tensor(load_npy<float>(path), ref.shape, expected<float>(n));
    }
  }
}

TEST_CASE("serialize: save_npy writes the same bytes as np.save") {
  TempDir dir;
  for (const NpyReference& ref : kNpyReferences) {
    INFO(ref.name);
    const std::string path = dir.file("ours.npy");
    if (ref.is_float32)
      save_npy(path, pattern<float>(ref.shape));
    else
      save_npy(path, pattern<double>(ref.shape));
    const Bytes ours = read_bytes(path);
    CHECK(ours == from_hex(ref.hex));
    CHECK(ours.find('\n') % 64 == 63);  // the data starts at a multiple of 64
  }
}

TEST_CASE("serialize: reads .npy format versions 2.0 and 3.0") {
  TempDir dir;
  write_bytes(dir.file("v2.npy"), from_hex(kNpyV2));
  check_tensor(load_npy<double>(dir.file("v2.npy")), Shape{2, 2}, expected<double>(4));
  write_bytes(dir.file("v3.npy"), from_hex(kNpyV3));
  check_tensor(load_npy<float>(dir.file("v3.npy")), Shape{2, 2}, expected<float>(4));
}

TEST_CASE("serialize: reads np.savez archives") {
  TempDir dir;
  const std::string path = dir.file("np.npz");
  write_bytes(path, from_hex(kNpz));
  const auto arrays = load_npz<double>(path);
  REQUIRE(arrays.size() == 3);
  CHECK(arrays[0].first == "w");
  check_tensor(arrays[0].second, Shape{2, 3}, expected<double>(6));
  CHECK(arrays[1].first == "b");
  std::vector<double> b;
  for (float v : expected<float>(3)) b.push_back(v);
  check_tensor(arrays[1].second, Shape{3}, b);
  CHECK(arrays[2].first == "s");
  check_tensor(arrays[2].second, Shape{}, expected<double>(1));
}

TEST_CASE("serialize: reads np.savez_compressed archives (deflate)") {
  TempDir dir;
  const std::string path = dir.file("np.npz");
  write_bytes(path, from_hex(kNpzCompressed));
  const auto arrays = load_npz<float>(path);
  REQUIRE(arrays.size() == 3);
  CHECK(arrays[0].first == "w");
  check_tensor(arrays[0].second, Shape{8, 8}, expected<float>(64));
  CHECK(arrays[1].first == "b");
  check_tensor(arrays[1].second, Shape{4}, expected<float>(4));
  CHECK(arrays[2].first == "e");
  check_tensor(arrays[2].second, Shape{0, 3}, std::vector<float>{});
}

TEST_CASE("serialize: reads ZIP64 archives") {
  TempDir dir;
  const std::string path = dir.file("np.npz");
  const Bytes zip = from_hex(kNpzZip64);
  CHECK(zip.find(Bytes("PK\x06\x06", 4)) != Bytes::npos);  // really has the ZIP64 records
  write_bytes(path, zip);
  const auto arrays = load_npz<double>(path);
  REQUIRE(arrays.size() == 2);
  CHECK(arrays[0].first == "x");
  check_tensor(arrays[0].second, Shape{2}, expected<double>(2));
  CHECK(arrays[1].first == "y");
  check_tensor(arrays[1].second, Shape{1, 1}, std::vector<double>{expected<float>(1)[0]});
}

TEST_CASE("serialize: save_npz stores np.save's bytes as uncompressed members") {
  TempDir dir;
  const std::string path = dir.file("m.npz");
  save_npz<double>(path, {{"w", pattern<double>({2, 3})}, {"s", pattern<double>({})}});
  const Bytes zip = read_bytes(path);
  CHECK(zip.substr(0, 4) == kLocalSig);
  // Each member's data is exactly the .npy file, right after its local header and name.
  const std::size_t w_at = zip.find(from_hex(kNpyF8_2x3));
  const std::size_t s_at = zip.find(from_hex(kNpyF8_0d));
  REQUIRE(w_at != Bytes::npos);
  REQUIRE(s_at != Bytes::npos);
  CHECK(zip.substr(w_at - 5, 5) == "w.npy");
  CHECK(zip.substr(s_at - 5, 5) == "s.npy");
  CHECK(find_all(zip, kCentralSig).size() == 2);
  // Deterministic: saving the same arrays again gives the same bytes.
  save_npz<double>(dir.file("m2.npz"),
                   {{"w", pattern<double>({2, 3})}, {"s", pattern<double>({})}});
  CHECK(read_bytes(dir.file("m2.npz")) == zip);
}

// ---- bad files -----------------------------------------------------------------------------

TEST_CASE("serialize: missing files, directories and empty files") {
  TempDir dir;
  const std::string missing = dir.file("missing.npy");
  expect_error([&] { load_npy<double>(missing); }, {"load_npy", missing, "cannot open"});
  expect_error([&] { load_npz<float>(missing); }, {"load_npz", missing, "cannot open"});
  expect_error([&] { load_npy<double>(dir.path().string()); }, {dir.path().string(), "directory"});
  write_bytes(dir.file("empty"), "");
  expect_error([&] { load_npy<double>(dir.file("empty")); }, {dir.file("empty"), "empty file"});
  expect_error([&] { load_npz<double>(dir.file("empty")); }, {dir.file("empty"), "empty file"});
}

TEST_CASE("serialize: wrong magic") {
  TempDir dir;
  const std::string text = dir.file("text.npy");
  write_bytes(text, "hello, this is not numpy at all\n");
  expect_error([&] { load_npy<double>(text); }, {text, "wrong magic"});
  expect_error([&] { load_npz<double>(text); }, {text, "wrong magic"});
  // The two formats mistaken for each other get a hint.
  const std::string npz = dir.file("a.npz");
  write_bytes(npz, from_hex(kNpz));
  expect_error([&] { load_npy<double>(npz); }, {npz, "wrong magic", "load_npz"});
  const std::string npy = dir.file("a.npy");
  write_bytes(npy, from_hex(kNpyF8_2x3));
  expect_error([&] { load_npz<double>(npy); }, {npy, "wrong magic", "load_npy"});
  write_bytes(npy, Bytes("\x93NUMP", 5));
  expect_error([&] { load_npy<double>(npy); }, {npy, "wrong magic"});
}

TEST_CASE("serialize: unsupported format versions, dtypes and Fortran order") {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  Bytes v4 = from_hex(kNpyF8_2x3);
  v4[6] = 4;
  write_bytes(path, v4);
  expect_error([&] { load_npy<double>(path); }, {path, "unsupported .npy format version 4.0"});

  write_bytes(path, from_hex(kNpyI8));
  expect_error([&] { load_npy<double>(path); }, {path, "unsupported dtype '<i8'"});
  write_bytes(path, from_hex(kNpyBigEndian));
  expect_error([&] { load_npy<float>(path); }, {path, "unsupported dtype '>f8'"});
  write_bytes(path, npy_file("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", "\0\0"));
  expect_error([&] { load_npy<float>(path); }, {path, "unsupported dtype '<f2'"});
  write_bytes(path, npy_file("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (), }",
                             Bytes(8, '\0')));
  expect_error([&] { load_npy<double>(path); }, {path, "unsupported dtype", "structured"});

  write_bytes(path, from_hex(kNpyFortran));
  expect_error([&] { load_npy<double>(path); }, {path, "Fortran"});
}

TEST_CASE("serialize: truncated files, trailing bytes and impossible header lengths") {
  TempDir dir;
  const std::string path = dir.file("t.npy");
  const Bytes good = from_hex(kNpyF8_2x3);  // 128 bytes of preamble, 48 of data
  write_bytes(path, good.substr(0, good.size() - 1));
  expect_error([&] { load_npy<double>(path); }, {path, "truncated data", "48", "47"});
  write_bytes(path, good.substr(0, 128));
  expect_error([&] { load_npy<double>(path); }, {path, "truncated data"});
  write_bytes(path, good.substr(0, 60));
  expect_error([&] { load_npy<double>(path); }, {path, "truncated header"});
  write_bytes(path, good.substr(0, 9));
  expect_error([&] { load_npy<double>(path); }, {path, "truncated header"});
  write_bytes(path, good + "x");
  expect_error([&] { load_npy<double>(path); }, {path, "trailing bytes"});

  Bytes huge = from_hex(kNpyV2);  // version 2.0: a 32-bit header length
  wr32(huge, 8, 0xfffffff0u);
  write_bytes(path, huge);
  expect_error([&] { load_npy<double>(path); }, {path, "header too long"});
  Bytes longer = good;  // version 1.0 header length beyond the file
  wr16(longer, 8, 0xffff);
  write_bytes(path, longer);
  expect_error([&] { load_npy<double>(path); }, {path, "truncated header"});

  // A shape whose data would need far more bytes than present: refused before allocating.
  write_bytes(path, npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, "
                             "100000, 100000), }",
                             Bytes(16, '\0')));
  expect_error([&] { load_npy<double>(path); }, {path, "truncated data"});
  write_bytes(path, npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': "
                             "(4294967296, 4294967296, 4294967296), }",
                             ""));
  CHECK_THROWS_WITH_AS(load_npy<double>(path),
                       doctest::Contains(("load_npy: '" + path + "': shape").c_str()),
                       tg::ShapeError);

  // Every truncation of a valid file is an error, never a crash or a short tensor.
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    write_bytes(path, good.substr(0, n));
    expect_error([&] { load_npy<double>(path); }, {path});
  }
}

TEST_CASE("serialize: garbled headers") {
  TempDir dir;
  const std::string path = dir.file("g.npy");
  const Bytes data(48, '\0');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "garbled header"},
      {"not a dict", "garbled header"},
      {"{'descr': '<f8', 'fortran_order': False}", "no 'shape' key"},
      {"{'descr': '<f8', 'shape': (2, 3)}", "no 'fortran_order' key"},
      {"{'fortran_order': False, 'shape': (2, 3)}", "no 'descr' key"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", "'extra'"},
      {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", "duplicate"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3]}", "not a tuple"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (6)}", "not a tuple"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, -3)}", "non-negative"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 'a')}", "non-negative"},
      {"{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 3)}", "not a bool"},
      {"{'descr': '<f8, 'fortran_order': False, 'shape': (2, 3)}", "garbled header"},
      {"{'descr': '<f8' 'fortran_order': False, 'shape': (2, 3)}", "garbled header"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2 3)}", "garbled header"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } junk", "garbled header"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)", "garbled header"},
      {"{'descr': '<f8', 'fortran_order': Fals, 'shape': (2, 3)}", "garbled header"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999, 3)}",
       "too large"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': " + std::string(100, '(') + "2" +
           std::string(100, ')') + "}",
       "nested too deeply"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 2, 3)}", "rank 7"},
      {std::string("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}") + '\0',
       "garbled header"},
  };
  for (const auto& [header, problem] : cases) {
    INFO("header: " << header);
    write_bytes(path, npy_file(header, data));
    expect_error([&] { load_npy<double>(path); }, {"load_npy", path, problem});
  }
  // Accepted variations: double quotes, no trailing comma, any key order, a Python 2 'L'.
  write_bytes(path, npy_file("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f8\"}",
                             Bytes(48, '\0')));
  check_tensor(load_npy<double>(path), Shape{2, 3}, std::vector<double>(6, 0.0));
}

TEST_CASE("serialize: corrupt .npz archives") {
  TempDir dir;
  const std::string path = dir.file("c.npz");
  const Bytes good = from_hex(kNpz);

  // Truncated anywhere: always a SerializeError.
  for (std::size_t n = 0; n < good.size(); n += 7) {
    INFO("truncated to " << n << " bytes");
    write_bytes(path, good.substr(0, n));
    expect_error([&] { load_npz<double>(path); }, {"load_npz", path});
  }
  write_bytes(path, good.substr(0, good.size() / 2));
  expect_error([&] { load_npz<double>(path); }, {path, "no end of central directory"});

  // A flipped byte in a stored member's array data: the CRC no longer matches.
  Bytes flipped = good;
  const std::size_t data_at = good.find(from_hex(kNpyF8_2x3));
  REQUIRE(data_at != Bytes::npos);
  flipped[data_at + 130] ^= 0x01;
  write_bytes(path, flipped);
  expect_error([&] { load_npz<double>(path); }, {path, "member 'w.npy'", "CRC-32 mismatch"});

  // Deflate data damaged: bad deflate data or a CRC mismatch, never garbage tensors.
  const Bytes compressed = from_hex(kNpzCompressed);
  const std::size_t first_data = 30 + rd16(compressed, 26) + rd16(compressed, 28);
  for (std::size_t k = 0; k < 40; ++k) {
    Bytes damaged = compressed;
    damaged[first_data + 3 + k] ^= 0x5a;
    write_bytes(path, damaged);
    expect_error([&] { load_npz<double>(path); }, {path, "member 'w.npy'"});
  }

  // Central directory entries pointing outside the archive or at garbage.
  const std::vector<std::size_t> central = find_all(good, kCentralSig);
  REQUIRE(central.size() == 3);
  Bytes bad_offset = good;
  wr32(bad_offset, central[1] + 42, 0x7fffff00u);
  write_bytes(path, bad_offset);
  expect_error([&] { load_npz<double>(path); }, {path, "member 'b.npy'", "local header"});
  Bytes bad_size = good;
  wr32(bad_size, central[0] + 20, 0x7fffff00u);
  wr32(bad_size, central[0] + 24, 0x7fffff00u);
  write_bytes(path, bad_size);
  expect_error([&] { load_npz<double>(path); }, {path, "member 'w.npy'", "overruns"});
  Bytes bad_count = good;
  const std::size_t end = good.rfind(Bytes("PK\x05\x06", 4));
  wr16(bad_count, end + 8, 500);
  wr16(bad_count, end + 10, 500);
  write_bytes(path, bad_count);
  expect_error([&] { load_npz<double>(path); }, {path, "corrupt archive"});
  Bytes bad_cd = good;
  wr32(bad_cd, end + 16, static_cast<std::uint32_t>(good.size()));
  write_bytes(path, bad_cd);
  expect_error([&] { load_npz<double>(path); }, {path, "central directory"});
}

TEST_CASE("serialize: .npz members that are not supported") {
  TempDir dir;
  const std::string path = dir.file("m.npz");
  save_npz<double>(path, {{"w", pattern<double>({2, 3})}});
  const Bytes good = read_bytes(path);
  const std::size_t central = find_all(good, kCentralSig).at(0);

  Bytes method = good;  // bzip2 (12)
  wr16(method, 8, 12);
  wr16(method, central + 10, 12);
  write_bytes(path, method);
  expect_error([&] { load_npz<double>(path); }, {path, "unsupported compression method 12"});

  Bytes encrypted = good;
  wr16(encrypted, central + 8, 1);
  write_bytes(path, encrypted);
  expect_error([&] { load_npz<double>(path); }, {path, "encrypted"});

  Bytes txt = good;  // rename w.npy to w.txt in both headers
  txt.replace(30, 5, "w.txt");
  txt.replace(central + 46, 5, "w.txt");
  write_bytes(path, txt);
  expect_error([&] { load_npz<double>(path); }, {path, "member 'w.txt'", "not a .npy"});

  Bytes mismatch = good;  // the local header names another file
  mismatch.replace(30, 5, "v.npy");
  write_bytes(path, mismatch);
  expect_error([&] { load_npz<double>(path); }, {path, "different file"});

  // A member whose .npy content is bad reports the member and the .npy problem.
  save_npz<double>(path, {{"w", pattern<double>({2, 3})}});
  Bytes i8 = read_bytes(path);
  const std::size_t descr = i8.find("'<f8'");
  i8.replace(descr, 5, "'<i8'");
  write_bytes(path, i8);
  expect_error([&] { load_npz<double>(path); }, {path, "member 'w.npy'"});
}

TEST_CASE("serialize: random damage never crashes the readers") {
  TempDir dir;
  const std::string path = dir.file("r.bin");
  std::mt19937_64 rng(11);
  const std::vector<Bytes> sources = {from_hex(kNpyF8_3d), from_hex(kNpz), from_hex(kNpzCompressed),
                                      from_hex(kNpzZip64)};
  int ok = 0, rejected = 0;
  for (int round = 0; round < 400; ++round) {
    Bytes b = sources[static_cast<std::size_t>(round) % sources.size()];
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] ^= static_cast<char>(1 + rng() % 255);
    write_bytes(path, b);
    try {
      if (round % sources.size() == 0)
        (void)load_npy<double>(path);
      else
        (void)load_npz<float>(path);
      ++ok;  // a flip inside array data of a .npy, or in a field nobody reads
    } catch (const SerializeError& e) {
      CHECK(std::string(e.what()).find(path) != std::string::npos);
      ++rejected;
    }
  }
  CHECK(ok + rejected == 400);
  CHECK(rejected > 0);
}

// ---- failed saves --------------------------------------------------------------------------

TEST_CASE("serialize: a save into a missing directory fails cleanly") {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/w.npy");
  expect_error([&] { save_npy(path, TensorD::ones({2})); }, {"save_npy", path, "temporary"});
  const std::string npz = dir.file("no/such/dir/m.npz");
  expect_error([&] { save_npz<float>(npz, {{"a", TensorF::ones({2})}}); }, {"save_npz", npz});
  CHECK(dir.names().empty());
}

TEST_CASE("serialize: a directory in the way is refused before anything is written") {
  TempDir dir;
  const std::string path = dir.file("taken");
  fs::create_directory(path);
  write_bytes(dir.file("taken/inside"), "keep");
  expect_error([&] { save_npy(path, TensorD::ones({3})); },
               {"save_npy", path, "a directory, not a regular file"});
  expect_error([&] { save_npz<double>(path, {{"a", TensorD::ones({3})}}); }, {"save_npz", path});
  CHECK(fs::is_directory(path));
  CHECK(read_bytes(dir.file("taken/inside")) == "keep");
  CHECK(dir.names() == std::vector<std::string>{"taken"});
}

TEST_CASE("serialize: a save whose temporary file cannot be created keeps the old file") {
  // The temporary's name (the target's plus ".tmp-XXXXXX") exceeds the longest file name the
  // file system takes while the target's does not: the creation fails for every user, root
  // included, unlike a read-only directory.
  TempDir dir;
  const std::string path = dir.file(std::string(250, 'w') + ".npy");
  save_npy(dir.file("short.npy"), TensorD::vector({1, 2, 3}));
  fs::rename(dir.file("short.npy"), path);
  const Bytes before = read_bytes(path);
  expect_error([&] { save_npy(path, TensorD::zeros({50})); },
               {"save_npy", path, "cannot create a temporary file", "too long"});
  expect_error(
      [&] {
        save_npz<double>(path, {{"a", TensorD::ones({3})}});
      },
      {"save_npz", path, "cannot create a temporary file"});
  CHECK(read_bytes(path) == before);
  check_tensor(load_npy<double>(path), Shape{3}, std::vector<double>{1, 2, 3});
  CHECK(dir.names().size() == 1);
}

// Root ignores permission bits, so as root this case is reported skipped; the case above makes
// the temporary file's creation fail in a way root cannot bypass.
TEST_CASE("serialize: a save into a read-only directory keeps the old file" *
          doctest::skip(::geteuid() == 0)) {
  TempDir dir;
  const fs::path ro = dir.path() / "ro";
  fs::create_directory(ro);
  const std::string path = (ro / "w.npy").string();
  save_npy(path, TensorD::vector({1, 2, 3}));
  const Bytes before = read_bytes(path);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
  REQUIRE_MESSAGE(!std::ofstream((ro / "probe").string()).good(),
                  "this process may write into a read-only directory (a capability?)");
  expect_error([&] { save_npy(path, TensorD::zeros({50})); }, {"save_npy", path});
  expect_error([&] { save_npz<double>(path, {{"a", TensorD::ones({3})}}); }, {"save_npz", path});
  fs::permissions(ro, fs::perms::owner_all);
  CHECK(read_bytes(path) == before);
  check_tensor(load_npy<double>(path), Shape{3}, std::vector<double>{1, 2, 3});
  CHECK(std::distance(fs::directory_iterator(ro), fs::directory_iterator()) == 1);
}

#ifdef TG_TEST_HAVE_RLIMIT
TEST_CASE("serialize: a write that fails midway keeps the old file and removes the temporary") {
  // A file size limit makes the write of a large tensor fail with EFBIG partway through (as a
  // full disk would); root is subject to it too.
  TempDir dir;
  const std::string path = dir.file("w.npy");
  const std::string npz = dir.file("m.npz");
  save_npy(path, TensorD::vector({1, 2, 3}));
  save_npz<double>(npz, {{"a", TensorD::vector({4, 5})}});
  const Bytes before = read_bytes(path), before_npz = read_bytes(npz);

  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < 4096) {
    MESSAGE("skipped: the file size limit is already below 4096 bytes");
    return;
  }
  struct Restore {
    rlimit limit;
    void (*handler)(int);
    ~Restore() {
      setrlimit(RLIMIT_FSIZE, &limit);
      std::signal(SIGXFSZ, handler);
    }
  } restore{old, std::signal(SIGXFSZ, SIG_IGN)};
  rlimit small = old;
  small.rlim_cur = 4096;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);

  const auto big = TensorD::ones({100, 100});  // 80 kB
  expect_error([&] { save_npy(path, big); }, {"save_npy", path});
  expect_error([&] { save_npz<double>(npz, {{"a", big}}); }, {"save_npz", npz});
  setrlimit(RLIMIT_FSIZE, &old);

  CHECK(read_bytes(path) == before);
  CHECK(read_bytes(npz) == before_npz);
  CHECK_FALSE(has_temporaries(dir));
  CHECK(dir.names() == std::vector<std::string>{"m.npz", "w.npy"});
}
#endif

TEST_CASE("serialize: invalid arguments to save throw before touching the file") {
  TempDir dir;
  const std::string path = dir.file("m.npz");
  save_npz<double>(path, {{"a", TensorD::ones({2})}});
  const Bytes before = read_bytes(path);
  expect_error(
      [&] {
        save_npz<double>(path, {{"a", TensorD::ones({2})}, {"a", TensorD::ones({3})}});
      },
      {path, "duplicate array name 'a'"});
  expect_error([&] { save_npz<double>(path, {{"", TensorD::ones({2})}}); }, {path, "empty name"});
  expect_error(
      [&] {
        save_npz<double>(path, {{std::string("a\0b", 3), TensorD::ones({2})}});
      },
      {path, "NUL"});
  expect_error([&] { save_npz<double>(path, {{"u", TensorD()}}); }, {path, "undefined"});
  expect_error([&] { save_npy(dir.file("u.npy"), TensorF()); }, {dir.file("u.npy"), "undefined"});
  CHECK(read_bytes(path) == before);
  CHECK(dir.names() == std::vector<std::string>{"m.npz"});
}
