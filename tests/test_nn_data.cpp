// tg::nn data loading: the IDX reader (plain and gzip'd, every malformed-file case raises a
// DataError naming the file and never crashes), CSV, one_hot and the minibatch iterator.
#include <doctest/doctest.h>

#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <new>
#include <random>
#include <ranges>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "check_error.hpp"
#include "tapegrad/nn/data.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using tg::Labels;
using tg::Shape;
using tg::TensorD;
using tg::TensorF;
using tg::nn::DataError;
using tg::nn::IdxArray;
using tg::nn::IdxType;
using tg::nn::Minibatches;

namespace {

using Bytes = std::vector<std::uint8_t>;

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A sanitizer's allocator reserves its own address space up front, which a limit on the data
// segment would break: the memory-budget test runs in plain builds only.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Runs f in a child process whose data segment (heap and private mappings) may grow by at most
// `budget` bytes from the moment f starts. Returns f's result, 100 when an allocation failed,
// 101 for another exception, 102 when the limit could not be set, -1 when the child did not exit.
int exit_code_within_memory_budget(std::size_t budget, const std::function<int()>& f) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Large blocks from fresh mappings, which the limit counts, rather than from heap memory the
    // parent freed earlier, which it does not (glibc raises its mmap threshold as blocks are
    // freed).
#ifdef __GLIBC__
    ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    ::malloc_trim(0);
#endif
    std::size_t data_kb = 0;
    if (std::FILE* status = std::fopen("/proc/self/status", "r")) {
      char line[256];
      while (std::fgets(line, sizeof line, status))
        if (std::sscanf(line, "VmData: %zu kB", &data_kb) == 1) break;
      std::fclose(status);
    }
    if (data_kb == 0) ::_exit(102);
    const rlim_t limit = data_kb * 1024 + budget;
    const rlimit lim{limit, limit};
    if (::setrlimit(RLIMIT_DATA, &lim) != 0) ::_exit(102);
    int code = 101;
    try {
      code = f();
    } catch (const std::bad_alloc&) {
      code = 100;
    } catch (...) {
      code = 101;
    }
    ::_exit(code);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void put_be(Bytes& out, std::uint64_t v, int size) {
  for (int i = size - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// An IDX file: magic 00 00 <type> <ndims>, big-endian uint32 extents, then `payload` as is.
Bytes idx_file(std::uint8_t type, const std::vector<std::uint32_t>& shape, const Bytes& payload) {
  Bytes out = {0, 0, type, static_cast<std::uint8_t>(shape.size())};
  for (std::uint32_t d : shape) put_be(out, d, 4);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// gzip -c in > out (gzip is part of every Debian base system); false when it is unavailable.
bool gzip_file(const std::string& in, const std::string& out) {
  const std::string cmd = "gzip -c -n '" + in + "' > '" + out + "' 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

std::string gzip_bytes(const TempDir& dir, const std::string& name, const Bytes& bytes) {
  const std::string raw = dir.file(name + ".raw");
  const std::string gz = dir.file(name + ".gz");
  write_file(raw, bytes);
  REQUIRE_MESSAGE(gzip_file(raw, gz), "gzip is needed to write the .gz test files");
  return gz;
}

#define CHECK_ERROR(expr, Type, ...)                         \
  do {                                                       \
    CHECK_THROWS_AS((void)(expr), Type);                     \
    check_error<Type>([&] { (void)(expr); }, {__VA_ARGS__}); \
  } while (0)

// read_idx of a file written from `bytes` must throw a DataError naming the file and `parts`.
void check_idx_error(const TempDir& dir, const std::string& name, const Bytes& bytes,
                     const std::vector<std::string>& parts) {
  const std::string path = dir.file(name);
  write_file(path, bytes);
  std::vector<std::string> all = parts;
  all.push_back("read_idx");
  all.push_back(path);
  CHECK_THROWS_AS(tg::nn::read_idx(path), tg::Error);  // DataError is a tg::Error
  check_error<DataError>([&] { (void)tg::nn::read_idx(path); }, all);
}

// A valid [3, 2, 2] ubyte image file: values 0, 20, 40, ...
Bytes small_images() {
  Bytes payload;
  for (int i = 0; i < 12; ++i) payload.push_back(static_cast<std::uint8_t>(20 * i));
  return idx_file(0x08, {3, 2, 2}, payload);
}

}  // namespace

// ============================================================================================
// IDX
// ============================================================================================

TEST_CASE("nn data: read_idx reads a plain ubyte file, idx_images scales it to a matrix") {
  TempDir dir;
  const std::string path = dir.file("images-idx3-ubyte");
  write_file(path, small_images());
  const IdxArray a = tg::nn::read_idx(path);
  CHECK(a.path == path);
  CHECK(a.type == IdxType::u8);
  CHECK(a.shape == std::vector<std::size_t>{3, 2, 2});
  CHECK(a.shape_str() == "[3,2,2]");
  CHECK(a.size() == 12);
  CHECK(a.bytes.size() == 12);
  CHECK(a.value(0) == 0);
  CHECK(a.value(11) == 220);
  CHECK_THROWS_AS(a.value(12), tg::IndexError);
  CHECK(a.to_vector<double>()[5] == 100.0);

  const TensorF xf = tg::nn::idx_images<float>(a, 1.0f / 255);
  CHECK(xf.shape() == Shape{3, 4});
  CHECK(xf.at({2, 3}) == doctest::Approx(220.0 / 255).epsilon(1e-6));
  CHECK(xf.at({1, 0}) == doctest::Approx(80.0 / 255).epsilon(1e-6));
  const TensorD xd = tg::nn::idx_images<double>(a, 1.0 / 255);
  for (std::size_t i = 0; i < 12; ++i) CHECK(xd.data()[i] == 20.0 * double(i) * (1.0 / 255));
  const TensorD raw = tg::nn::idx_images<double>(a);  // scale 1
  CHECK(raw.at({0, 1}) == 20.0);
}

TEST_CASE("nn data: read_idx decodes every type code big-endian") {
  TempDir dir;
  SUBCASE("sbyte") {
    write_file(dir.file("a"), idx_file(0x09, {3}, {0x80, 0xFF, 0x7F}));
    const IdxArray a = tg::nn::read_idx(dir.file("a"));
    CHECK(a.type == IdxType::i8);
    CHECK(a.to_vector<double>() == std::vector<double>{-128, -1, 127});
    CHECK(tg::nn::idx_labels(a) == Labels{-128, -1, 127});
  }
  SUBCASE("short") {
    Bytes p;
    put_be(p, 300, 2);
    put_be(p, 0xFFFE, 2);  // -2
    write_file(dir.file("a"), idx_file(0x0B, {2}, p));
    const IdxArray a = tg::nn::read_idx(dir.file("a"));
    CHECK(a.type == IdxType::i16);
    CHECK(a.to_vector<double>() == std::vector<double>{300, -2});
  }
  SUBCASE("int") {
    Bytes p;
    put_be(p, 70000, 4);
    put_be(p, static_cast<std::uint32_t>(-70000), 4);
    write_file(dir.file("a"), idx_file(0x0C, {1, 2}, p));
    const IdxArray a = tg::nn::read_idx(dir.file("a"));
    CHECK(a.type == IdxType::i32);
    CHECK(a.shape == std::vector<std::size_t>{1, 2});
    CHECK(a.value(0) == 70000);
    CHECK(a.value(1) == -70000);
  }
  SUBCASE("float") {
    Bytes p;
    put_be(p, 0x3FC00000, 4);  // 1.5f
    put_be(p, 0xBE800000, 4);  // -0.25f
    write_file(dir.file("a"), idx_file(0x0D, {2, 1}, p));
    const IdxArray a = tg::nn::read_idx(dir.file("a"));
    CHECK(a.type == IdxType::f32);
    CHECK(a.to_vector<float>() == std::vector<float>{1.5f, -0.25f});
    const TensorD x = tg::nn::idx_images<double>(a, 2.0);
    CHECK(x.to_vector() == std::vector<double>{3.0, -0.5});
  }
  SUBCASE("double") {
    Bytes p;
    put_be(p, 0x400921FB54442D18ull, 8);  // pi
    write_file(dir.file("a"), idx_file(0x0E, {1}, p));
    const IdxArray a = tg::nn::read_idx(dir.file("a"));
    CHECK(a.type == IdxType::f64);
    CHECK(a.value(0) == 3.141592653589793);
  }
  SUBCASE("an empty extent is an empty array") {
    write_file(dir.file("a"), idx_file(0x08, {0, 28, 28}, {}));
    const IdxArray a = tg::nn::read_idx(dir.file("a"));
    CHECK(a.size() == 0);
    CHECK(tg::nn::idx_images<float>(a, 1.0f).shape() == Shape{0, 784});
    // Empty, but each row would need 2^67 bytes: refused like any shape no buffer could hold.
    write_file(dir.file("b"), idx_file(0x0E, {0, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
    CHECK_ERROR(tg::nn::read_idx(dir.file("b")), tg::ShapeError, "read_idx", dir.file("b"),
                "shape [0,4294967295,4294967295] double");
    write_file(dir.file("c"), idx_file(0x0E, {0, 0xFFFF, 0xFFFF}, {}));
    CHECK(tg::nn::read_idx(dir.file("c")).size() == 0);
  }
}

TEST_CASE("nn data: read_idx reads gzip'd files like plain ones, large ones in chunks") {
  TempDir dir;
  const IdxArray plain = [&] {
    write_file(dir.file("small"), small_images());
    return tg::nn::read_idx(dir.file("small"));
  }();
  const std::string gz = gzip_bytes(dir, "small", small_images());
  const IdxArray z = tg::nn::read_idx(gz);
  CHECK(z.path == gz);
  CHECK(z.type == plain.type);
  CHECK(z.shape == plain.shape);
  CHECK(z.bytes == plain.bytes);

  // 3000 28x28 images of random bytes (2.35 MB, incompressible: several read chunks) and
  // int labels, gzip'd.
  std::mt19937_64 rng(5);
  Bytes pixels(3000 * 28 * 28);
  for (auto& b : pixels) b = static_cast<std::uint8_t>(rng());
  const IdxArray big =
      tg::nn::read_idx(gzip_bytes(dir, "big", idx_file(0x08, {3000, 28, 28}, pixels)));
  CHECK(big.shape == std::vector<std::size_t>{3000, 28, 28});
  CHECK(big.bytes == pixels);
  Bytes lp;
  for (int i = 0; i < 3000; ++i) put_be(lp, static_cast<std::uint32_t>(i % 10), 4);
  const Labels labels =
      tg::nn::idx_labels(tg::nn::read_idx(gzip_bytes(dir, "labels", idx_file(0x0C, {3000}, lp))));
  REQUIRE(labels.size() == 3000);
  CHECK(labels[0] == 0);
  CHECK(labels[2999] == 9);
}

TEST_CASE("nn data: read_idx rejects malformed files with a DataError naming the file") {
  TempDir dir;
  SUBCASE("missing file") {
    const std::string path = dir.file("does-not-exist.idx");
    CHECK_ERROR(tg::nn::read_idx(path), DataError, "read_idx", path, "cannot open", "No such file");
  }
  SUBCASE("a directory") {
    const std::string path = dir.file("subdir");
    fs::create_directory(path);
    CHECK_ERROR(tg::nn::read_idx(path), DataError, "read_idx", path);
  }
  SUBCASE("empty file") {
    check_idx_error(dir, "empty", {}, {"empty file"});
  }
  SUBCASE("file ends inside the magic") {
    check_idx_error(dir, "short", {0, 0, 8}, {"truncated", "magic"});
  }
  SUBCASE("wrong magic") {
    check_idx_error(dir, "png", {0x89, 'P', 'N', 'G', 0, 0, 0, 0},
                    {"bad magic 0x89 0x50 0x4e 0x47", "not an IDX file"});
    check_idx_error(dir, "le", {0x03, 0x08, 0x00, 0x00, 1, 0, 0, 0}, {"bad magic"});
  }
  SUBCASE("unknown type code") {
    check_idx_error(dir, "type", idx_file(0x0A, {2}, {1, 2}), {"unknown type code 0x0a"});
  }
  SUBCASE("file ends inside the extents") {
    Bytes b = {0, 0, 8, 3, 0, 0, 0, 10, 0, 0};  // 3 dimensions, 1.5 extents
    check_idx_error(dir, "dims", b, {"truncated", "3 dimensions", "12 bytes"});
  }
  SUBCASE("truncated data") {
    check_idx_error(dir, "trunc", idx_file(0x08, {10000, 28, 28}, Bytes(1200, 7)),
                    {"truncated: header promises 7840000 bytes of data", "[10000,28,28] ubyte",
                     "file has 1200"});
    check_idx_error(dir, "trunc-int", idx_file(0x0C, {5}, Bytes(19, 0)),
                    {"truncated: header promises 20 bytes", "file has 19"});
  }
  SUBCASE("trailing garbage") {
    Bytes b = small_images();
    b.push_back(1);
    b.push_back(2);
    b.push_back(3);
    check_idx_error(dir, "trail", b, {"trailing garbage: 3 bytes", "12 bytes of data"});
  }
  SUBCASE("an absurd header is checked against the file, never allocated") {
    // A shape no buffer could hold is a ShapeError, as everywhere a shape is made.
    const std::string huge = dir.file("huge");
    write_file(huge, idx_file(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, Bytes(8, 0)));
    CHECK_ERROR(tg::nn::read_idx(huge), tg::ShapeError, "read_idx", huge,
                "shape [4294967295,4294967295,4294967295] double is too large");
    check_idx_error(dir, "big", idx_file(0x08, {65536, 65536, 1024}, Bytes(64, 0)),
                    {"truncated: header promises 4398046511104 bytes", "file has 64"});
  }
}

// Its own test case, so that ctest runs it in a fresh process: blocks the process freed before
// the fork could serve the allocation without growing the data segment.
TEST_CASE("nn data: read_idx allocates as a gzip stream delivers, not as its header promises") {
  // The buffer grows with the bytes the stream delivers; a read sized by the header's promise
  // (capped at 16 MiB per read) allocated 400,000 times what the file held.
  TempDir dir;
  const std::string gz = gzip_bytes(dir, "p", idx_file(0x08, {0x7fffffff}, Bytes{1, 2, 3}));
  if (kSanitized) return;
  const int code = exit_code_within_memory_budget(std::size_t{8} << 20, [&] {
    try {
      tg::nn::read_idx(gz);
    } catch (const DataError& e) {
      return std::string(e.what()).find("truncated") != std::string::npos ? 0 : 2;
    }
    return 3;
  });
  CHECK_MESSAGE(code == 0, "exit code " << code << " (100: an allocation beyond 8 MiB failed)");
}

TEST_CASE("nn data: read_idx rejects malformed gzip'd files cleanly") {
  TempDir dir;
  SUBCASE("truncated data inside a valid gzip stream") {
    const std::string gz = gzip_bytes(dir, "t", idx_file(0x08, {10000, 28, 28}, Bytes(1200, 7)));
    CHECK_ERROR(tg::nn::read_idx(gz), DataError, "read_idx", gz,
                "truncated: header promises 7840000 bytes of data", "has 1200");
  }
  SUBCASE("an absurd header in a tiny gzip stream fails without a huge allocation") {
    const std::string gz =
        gzip_bytes(dir, "h", idx_file(0x08, {65536, 65536, 16}, Bytes(100, 1)));  // 64 GiB
    CHECK_ERROR(tg::nn::read_idx(gz), DataError, gz, "truncated", "has 100");
  }
  SUBCASE("trailing garbage after the data") {
    Bytes b = small_images();
    b.insert(b.end(), 1000, 9);
    const std::string gz = gzip_bytes(dir, "g", b);
    CHECK_ERROR(tg::nn::read_idx(gz), DataError, gz, "trailing garbage: 1000 bytes");
  }
  SUBCASE("bad magic inside the gzip stream") {
    const std::string gz = gzip_bytes(dir, "m", Bytes{'h', 'e', 'l', 'l', 'o'});
    CHECK_ERROR(tg::nn::read_idx(gz), DataError, gz, "bad magic");
  }
  std::mt19937_64 rng(3);
  Bytes pixels(50000);
  for (auto& b : pixels) b = static_cast<std::uint8_t>(rng() % 4);  // compressible
  const Bytes gzbytes = read_file(gzip_bytes(dir, "src", idx_file(0x08, {50, 1000}, pixels)));
  REQUIRE(gzbytes.size() > 100);
  SUBCASE("a cut gzip file") {
    const std::string path = dir.file("cut.gz");
    write_file(path, Bytes(gzbytes.begin(), gzbytes.begin() + gzbytes.size() / 2));
    CHECK_ERROR(tg::nn::read_idx(path), DataError, path, "truncated");
  }
  SUBCASE("a gzip file without its trailer (CRC and size)") {
    const std::string path = dir.file("notrailer.gz");
    write_file(path, Bytes(gzbytes.begin(), gzbytes.end() - 8));
    CHECK_ERROR(tg::nn::read_idx(path), DataError, path, "gzip");
  }
  SUBCASE("corrupt compressed data") {
    Bytes b = gzbytes;
    for (std::size_t i = b.size() / 3; i < b.size() / 3 + 16; ++i) b[i] ^= 0x5A;
    const std::string path = dir.file("corrupt.gz");
    write_file(path, b);
    CHECK_ERROR(tg::nn::read_idx(path), DataError, path, "gzip");
  }
  SUBCASE("just the gzip magic") {
    const std::string path = dir.file("magic.gz");
    write_file(path, Bytes{0x1f, 0x8b});
    CHECK_ERROR(tg::nn::read_idx(path), DataError, path);
  }
}

TEST_CASE("nn data: read_idx never crashes on any truncation or single-byte corruption") {
  TempDir dir;
  Bytes lp;
  for (int i = 0; i < 6; ++i) put_be(lp, static_cast<std::uint32_t>(i * 1000), 4);
  const std::vector<Bytes> sources = {small_images(), idx_file(0x0C, {2, 3}, lp)};
  std::vector<Bytes> files = sources;
  for (std::size_t s = 0; s < sources.size(); ++s)
    files.push_back(read_file(gzip_bytes(dir, std::to_string(s) + "f", sources[s])));
  const std::string path = dir.file("fuzz");
  std::size_t reads = 0, errors = 0;
  auto attempt = [&](const Bytes& b) {
    write_file(path, b);
    ++reads;
    try {
      (void)tg::nn::read_idx(path);
    } catch (const DataError& e) {
      ++errors;
      CHECK(std::string(e.what()).find(path) != std::string::npos);
    } catch (const tg::ShapeError& e) {  // a header whose shape no buffer could hold
      ++errors;
      CHECK(std::string(e.what()).find(path) != std::string::npos);
    }  // any other exception fails the test case
  };
  for (const Bytes& f : files) {
    for (std::size_t len = 0; len < f.size(); ++len) attempt(Bytes(f.begin(), f.begin() + len));
    for (std::size_t i = 0; i < f.size(); ++i)
      for (std::uint8_t flip : {0x01, 0xFF}) {
        Bytes b = f;
        b[i] ^= flip;
        attempt(b);
      }
  }
  MESSAGE(reads << " corrupted files read, " << errors
                << " rejected with a DataError or a ShapeError");
  CHECK(errors > reads / 2);
}

TEST_CASE("nn data: idx_images and idx_labels check rank and type") {
  TempDir dir;
  write_file(dir.file("l"), idx_file(0x08, {4}, {3, 1, 4, 1}));
  const IdxArray labels = tg::nn::read_idx(dir.file("l"));
  CHECK(tg::nn::idx_labels(labels) == Labels{3, 1, 4, 1});
  CHECK_ERROR(tg::nn::idx_images<float>(labels, 1.0f), tg::ShapeError, "idx_images", "[4]",
              dir.file("l"));

  write_file(dir.file("i"), small_images());
  CHECK_ERROR(tg::nn::idx_labels(tg::nn::read_idx(dir.file("i"))), tg::ShapeError, "idx_labels",
              "[3,2,2]");
  Bytes p;
  put_be(p, 0x3FC00000, 4);
  write_file(dir.file("f"), idx_file(0x0D, {1}, p));
  CHECK_ERROR(tg::nn::idx_labels(tg::nn::read_idx(dir.file("f"))), DataError, "idx_labels",
              "integer type", "float");
}

TEST_CASE("nn data: the real Fashion-MNIST test set, when installed") {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  const std::string labels_path = dir + "t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(labels_path)) {
    MESSAGE("skipped: " << labels_path << " is not installed");
    return;
  }
  const IdxArray a = tg::nn::read_idx(labels_path);
  CHECK(a.type == IdxType::u8);
  const Labels labels = tg::nn::idx_labels(a);
  REQUIRE(labels.size() == 10000);
  std::vector<int> counts(10, 0);
  for (std::int64_t l : labels) {
    REQUIRE(l >= 0);
    REQUIRE(l <= 9);
    ++counts[static_cast<std::size_t>(l)];
  }
  for (int c : counts) CHECK(c == 1000);

  const std::string images_path = dir + "t10k-images-idx3-ubyte.gz";
  if (!fs::exists(images_path)) return;
  const TensorF x = tg::nn::idx_images<float>(tg::nn::read_idx(images_path), 1.0f / 255);
  CHECK(x.shape() == Shape{10000, 784});
  const auto [lo, hi] = std::minmax_element(x.data(), x.data() + x.size());
  CHECK(*lo == 0.0f);
  CHECK(*hi == 1.0f);
}

// ============================================================================================
// CSV
// ============================================================================================

TEST_CASE("nn data: read_csv round trip") {
  TempDir dir;
  const std::string path = dir.file("data.csv");
  SUBCASE("header, signs, exponents, quotes, blanks, CRLF, a trailing blank line") {
    write_text(path,
               "\xEF\xBB\xBF"
               "x1,x2,y\r\n"
               "1, -2.5 ,3e2\r\n"
               "+4,\"0.125\",-1E-3\r\n"
               "\r\n");
    const TensorD t = tg::nn::read_csv<double>(path, true);
    CHECK(t.shape() == Shape{2, 3});
    CHECK(t.to_vector() == std::vector<double>{1, -2.5, 300, 4, 0.125, -0.001});
    const TensorF f = tg::nn::read_csv<float>(path, true);
    CHECK(f.at({1, 2}) == -0.001f);
  }
  SUBCASE("written values come back exactly") {
    std::mt19937_64 rng(11);
    const TensorD m = TensorD::normal(Shape{20, 7}, 0.0, 100.0, rng);
    std::ofstream out(path);
    out.precision(17);
    for (std::size_t i = 0; i < 20; ++i)
      for (std::size_t j = 0; j < 7; ++j) out << m.at({i, j}) << (j + 1 < 7 ? ";" : "\n");
    out.close();
    const TensorD t = tg::nn::read_csv<double>(path, false, ';');
    CHECK(t.shape() == Shape{20, 7});
    CHECK(t.to_vector() == m.to_vector());
  }
  SUBCASE("whitespace delimiters treat runs of blanks as one") {
    write_text(path, "  1\t\t2   3\n4 5\t6  \n");
    CHECK(tg::nn::read_csv<double>(path, false, ' ').to_vector() ==
          std::vector<double>{1, 2, 3, 4, 5, 6});
    CHECK(tg::nn::read_csv<double>(path, false, '\t').shape() == Shape{2, 3});
  }
  SUBCASE("no trailing newline, one column") {
    write_text(path, "7\n8\n9");
    CHECK(tg::nn::read_csv<float>(path).shape() == Shape{3, 1});
  }
}

TEST_CASE("nn data: read_csv errors name the file, line and column") {
  TempDir dir;
  const std::string path = dir.file("bad.csv");
  SUBCASE("missing file") {
    const std::string missing = dir.file("missing.csv");
    CHECK_ERROR(tg::nn::read_csv<double>(missing), DataError, "read_csv", missing, "cannot open");
  }
  SUBCASE("ragged rows") {
    write_text(path, "a,b,c\n1,2,3\n4,5,6\n7,8\n");
    CHECK_ERROR(tg::nn::read_csv<double>(path, true), DataError, "read_csv", path,
                "line 4 has 2 fields, expected 3", "line 2");
    write_text(path, "1,2\n3,4,5\n");
    CHECK_ERROR(tg::nn::read_csv<double>(path), DataError, path, "line 2 has 3 fields");
  }
  SUBCASE("a non-numeric field") {
    write_text(path, "1,2,3\n4,five,6\n");
    CHECK_ERROR(tg::nn::read_csv<float>(path), DataError, "read_csv", path, "line 2, column 2",
                "'five' is not a number");
    write_text(path, "1,2,3x\n");
    CHECK_ERROR(tg::nn::read_csv<double>(path), DataError, "line 1, column 3", "'3x'");
  }
  SUBCASE("a header read as data") {
    write_text(path, "x,y\n1,2\n");
    CHECK_ERROR(tg::nn::read_csv<double>(path), DataError, "line 1, column 1", "'x'");
  }
  SUBCASE("an empty field") {
    write_text(path, "1,,3\n");
    CHECK_ERROR(tg::nn::read_csv<double>(path), DataError, "line 1, column 2", "empty field");
  }
  SUBCASE("out of range") {
    write_text(path, "1e300\n");
    CHECK_ERROR(tg::nn::read_csv<float>(path), DataError, "out of range for float");
    CHECK(tg::nn::read_csv<double>(path).item() == 1e300);
    write_text(path, "1e999\n");
    CHECK_ERROR(tg::nn::read_csv<double>(path), DataError, "out of range");
  }
  SUBCASE("empty files") {
    write_text(path, "");
    CHECK_ERROR(tg::nn::read_csv<double>(path), DataError, path, "empty file");
    write_text(path, "\n\n  \n");
    CHECK_ERROR(tg::nn::read_csv<double>(path), DataError, path, "empty file");
    write_text(path, "a,b\n");
    CHECK_ERROR(tg::nn::read_csv<double>(path, true), DataError, path, "no data rows");
  }
}

// ============================================================================================
// taking a table apart: select_columns, split_features_labels
// ============================================================================================

TEST_CASE("nn data: select_columns copies columns in the order given, negative from the end") {
  const TensorD table = TensorD::matrix({{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}});
  // Columns 2, 0, 3 (as -1) and 0 again.
  const TensorD picked = tg::nn::select_columns(table, {2, 0, -1, 0});
  CHECK(picked.shape() == Shape{3, 4});
  CHECK(picked.to_vector() == std::vector<double>{3, 1, 4, 1, 7, 5, 8, 5, 11, 9, 12, 9});
  CHECK(tg::nn::select_columns(table, {-4}).to_vector() == std::vector<double>{1, 5, 9});
  CHECK(tg::nn::select_columns(table, {}).shape() == Shape{3, 0});
  CHECK(tg::nn::select_columns(TensorF::zeros(Shape{0, 2}), {1}).shape() == Shape{0, 1});

  // A copy outside any graph: writing to it leaves the table alone.
  TensorD leaf = table.clone();
  leaf.set_requires_grad(true);
  TensorD copy = tg::nn::select_columns(leaf, {0});
  CHECK(copy.is_leaf());
  CHECK_FALSE(copy.requires_grad());
  copy.data()[0] = -1;
  CHECK(leaf.at({0, 0}) == 1);
}

TEST_CASE("nn data: select_columns names a bad column and the table's shape") {
  const TensorD table = TensorD::zeros(Shape{3, 4});
  CHECK_ERROR(tg::nn::select_columns(table, {0, 4}), tg::IndexError, "select_columns", "column 4",
              "table[3,4]", "-4..3");
  CHECK_ERROR(tg::nn::select_columns(table, {-5}), tg::IndexError, "column -5", "table[3,4]");
  CHECK_ERROR(tg::nn::select_columns(TensorD::zeros(Shape{3, 0}), {0}), tg::IndexError, "column 0",
              "table[3,0]", "no columns");
  CHECK_ERROR(tg::nn::select_columns(TensorD::vector({1, 2}), {0}), tg::ShapeError,
              "select_columns", "table[2]", "not 2-d");
  CHECK_ERROR(tg::nn::select_columns(TensorF::zeros(Shape{1, 2, 3}), {0}), tg::ShapeError,
              "table[1,2,3]");
}

TEST_CASE("nn data: split_features_labels takes the label column out, the rest in order") {
  SUBCASE("the last column, as -1") {
    const TensorD table =
        TensorD::matrix({{5.1, 3.5, 0}, {4.9, 3.0, 2}, {6.2, 2.9, 1}, {5.9, 3.0, 2}});
    const auto [X, y] = tg::nn::split_features_labels(table, -1);
    CHECK(X.shape() == Shape{4, 2});
    CHECK(X.to_vector() == std::vector<double>{5.1, 3.5, 4.9, 3.0, 6.2, 2.9, 5.9, 3.0});
    CHECK(y == Labels{0, 2, 1, 2});
  }
  SUBCASE("the first and a middle column") {
    const TensorF first = TensorF::matrix({{2, 10, 20}, {0, 11, 21}});
    const auto split0 = tg::nn::split_features_labels(first, 0);
    CHECK(split0.features.to_vector() == std::vector<float>{10, 20, 11, 21});
    CHECK(split0.labels == Labels{2, 0});
    const TensorD middle = TensorD::matrix({{1, 0, 2}, {3, 1, 4}});
    const auto split1 = tg::nn::split_features_labels(middle, -2);
    CHECK(split1.features.to_vector() == std::vector<double>{1, 2, 3, 4});
    CHECK(split1.labels == Labels{0, 1});
  }
  SUBCASE("a CSV file with a header") {
    TempDir dir;
    const std::string path = dir.file("labeled.csv");
    write_text(path, "x1,x2,class\n0.5,1,2\n1.5,0,0\n");
    const auto [X, y] = tg::nn::split_features_labels(tg::nn::read_csv<float>(path, true), 2);
    CHECK(X.to_vector() == std::vector<float>{0.5f, 1, 1.5f, 0});
    CHECK(y == Labels{2, 0});
  }
  SUBCASE("no rows, negative zero and the largest labels") {
    const auto empty = tg::nn::split_features_labels(TensorD::zeros(Shape{0, 3}), 1);
    CHECK(empty.features.shape() == Shape{0, 2});
    CHECK(empty.labels.empty());
    // 2^63 - 1024 is the largest double below 2^63; -0 is the label 0.
    const TensorD table = TensorD::matrix({{7, 9223372036854774784.0}, {8, -0.0}});
    CHECK(tg::nn::split_features_labels(table, 1).labels ==
          Labels{std::int64_t{9223372036854774784}, 0});
  }
}

TEST_CASE("nn data: split_features_labels refuses a value that is no class label") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  // Row 3 of column 2 holds 1.5.
  const TensorD table = TensorD::matrix({{0, 0, 1}, {0, 0, 0}, {0, 0, 2}, {0, 0, 1.5}});
  CHECK_ERROR(tg::nn::split_features_labels(table, 2), tg::DomainError,
              "split_features_labels: row 3, column 2 holds 1.5, not a class label");
  // The column is named as the table indexes it, whichever way it was given.
  CHECK_ERROR(tg::nn::split_features_labels(table, -1), tg::DomainError, "row 3, column 2");
  CHECK_ERROR(tg::nn::split_features_labels(TensorD::matrix({{1, 0}, {2, -1}}), 1), tg::DomainError,
              "row 1, column 1 holds -1,");
  CHECK_ERROR(tg::nn::split_features_labels(TensorD::matrix({{nan, 0}}), 0), tg::DomainError,
              "row 0, column 0 holds nan");
  CHECK_ERROR(tg::nn::split_features_labels(TensorD::matrix({{1, inf}}), 1), tg::DomainError,
              "holds inf");
  CHECK_ERROR(tg::nn::split_features_labels(TensorD::matrix({{1, -inf}}), 1), tg::DomainError,
              "holds -inf");
  // 2^63 is one past the largest label, in either precision; float values print shortest.
  CHECK_ERROR(tg::nn::split_features_labels(TensorD::matrix({{9223372036854775808.0, 1}}), 0),
              tg::DomainError, "row 0, column 0", "not a class label");
  CHECK_ERROR(tg::nn::split_features_labels(TensorF::matrix({{1, 9223372036854775808.0f}}), 1),
              tg::DomainError, "row 0, column 1", "not a class label");
  CHECK_ERROR(tg::nn::split_features_labels(TensorF::matrix({{1, 0.1f}}), 1), tg::DomainError,
              "holds 0.1,");
}

TEST_CASE("nn data: split_features_labels wants a 2-d table of two columns or more") {
  CHECK_ERROR(tg::nn::split_features_labels(TensorD::zeros(Shape{4, 1}), 0), tg::ShapeError,
              "split_features_labels", "table[4,1]", "one column");
  CHECK_ERROR(tg::nn::split_features_labels(TensorD::zeros(Shape{4, 0}), 0), tg::ShapeError,
              "table[4,0]", "no columns");
  CHECK_ERROR(tg::nn::split_features_labels(TensorD::vector({1, 2, 3}), 0), tg::ShapeError,
              "split_features_labels", "table[3]", "not 2-d");
  CHECK_ERROR(tg::nn::split_features_labels(TensorD(), 0), tg::ShapeError, "undefined");
  const TensorD table = TensorD::zeros(Shape{2, 3});
  CHECK_ERROR(tg::nn::split_features_labels(table, 3), tg::IndexError, "split_features_labels",
              "column 3", "table[2,3]", "-3..2");
  CHECK_ERROR(tg::nn::split_features_labels(table, -4), tg::IndexError, "column -4");
  CHECK_ERROR(tg::nn::split_features_labels(table, std::numeric_limits<std::int64_t>::min()),
              tg::IndexError, "column -9223372036854775808");
}

// ============================================================================================
// one_hot
// ============================================================================================

TEST_CASE("nn data: one_hot") {
  const TensorD t = tg::nn::one_hot<double>({2, 0, 1, 2}, 3);
  CHECK(t.shape() == Shape{4, 3});
  CHECK(t.to_vector() == std::vector<double>{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1});
  CHECK(tg::nn::one_hot<float>({}, 5).shape() == Shape{0, 5});
  CHECK_ERROR(tg::nn::one_hot<float>({0, 1, 3}, 3), tg::IndexError, "one_hot", "label 3", "row 2",
              "3 classes", "0..2");
  CHECK_ERROR(tg::nn::one_hot<double>({-1}, 3), tg::IndexError, "label -1", "row 0");
  CHECK_ERROR(tg::nn::one_hot<double>({0}, 0), tg::IndexError, "label 0", "0 classes");
}

// ============================================================================================
// Minibatches
// ============================================================================================

namespace {

// n samples with 3 features: X[i, c] = 10 i + c, label i (or target row [i, -i]).
TensorD numbered(std::size_t n) {
  TensorD x = TensorD::empty(Shape{n, 3});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t c = 0; c < 3; ++c) x.data()[3 * i + c] = 10.0 * double(i) + double(c);
  return x;
}
Labels iota_labels(std::size_t n) {
  Labels y(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<std::int64_t>(i);
  return y;
}

// The sample ids of one epoch, batch by batch, checking that x rows match their labels.
std::vector<std::vector<std::int64_t>> epoch_ids(Minibatches<double>& batches) {
  std::vector<std::vector<std::int64_t>> out;
  for (const auto& b : batches) {
    REQUIRE(b.x.ndim() == 2);
    REQUIRE(b.x.dim(0) == b.y.size());
    CHECK(b.x.dim(1) == 3);
    for (std::size_t j = 0; j < b.y.size(); ++j)
      for (std::size_t c = 0; c < 3; ++c)
        CHECK(b.x.at({j, c}) == 10.0 * double(b.y[j]) + double(c));
    out.push_back(b.y);
  }
  return out;
}

}  // namespace

static_assert(std::ranges::input_range<Minibatches<float>>);
static_assert(std::is_same_v<decltype(Minibatches(std::declval<TensorF>(), std::declval<Labels>(),
                                                  1, std::declval<std::mt19937_64&>())),
                             Minibatches<float, Labels>>);
static_assert(std::is_same_v<decltype(Minibatches(std::declval<TensorD>(), std::declval<TensorD>(),
                                                  1, std::declval<std::mt19937_64&>())),
                             Minibatches<double, TensorD>>);

TEST_CASE("nn data: every sample appears exactly once per epoch, the last batch is smaller") {
  std::mt19937_64 rng(1);
  Minibatches batches(numbered(10), iota_labels(10), 4, rng);
  CHECK(batches.samples() == 10);
  CHECK(batches.batch_size() == 4);
  CHECK(batches.batches_per_epoch() == 3);
  for (int epoch = 0; epoch < 3; ++epoch) {
    const auto ids = epoch_ids(batches);
    REQUIRE(ids.size() == 3);
    CHECK(ids[0].size() == 4);
    CHECK(ids[1].size() == 4);
    CHECK(ids[2].size() == 2);
    std::vector<std::int64_t> all;
    for (const auto& b : ids) all.insert(all.end(), b.begin(), b.end());
    std::sort(all.begin(), all.end());
    CHECK(all == iota_labels(10));
  }
  CHECK(batches.epochs_started() == 3);
}

TEST_CASE("nn data: drop_last keeps only full batches, each sample at most once") {
  std::mt19937_64 rng(2);
  Minibatches batches(numbered(10), iota_labels(10), 4, rng, {.drop_last = true});
  CHECK(batches.batches_per_epoch() == 2);
  const auto ids = epoch_ids(batches);
  REQUIRE(ids.size() == 2);
  std::set<std::int64_t> seen;
  for (const auto& b : ids) {
    CHECK(b.size() == 4);
    seen.insert(b.begin(), b.end());
  }
  CHECK(seen.size() == 8);
  // An exact multiple loses nothing; fewer samples than a batch gives no batch at all.
  Minibatches exact(numbered(8), iota_labels(8), 4, rng, {.drop_last = true});
  CHECK(exact.batches_per_epoch() == 2);
  Minibatches tiny(numbered(3), iota_labels(3), 4, rng, {.drop_last = true});
  CHECK(tiny.batches_per_epoch() == 0);
  CHECK(epoch_ids(tiny).empty());
  Minibatches tiny_kept(numbered(3), iota_labels(3), 4, rng);
  const auto tiny_ids = epoch_ids(tiny_kept);  // one short batch holding the epoch's order
  REQUIRE(tiny_ids.size() == 1);
  CHECK(tiny_ids[0] ==
        std::vector<std::int64_t>(tiny_kept.order().begin(), tiny_kept.order().end()));
}

TEST_CASE("nn data: shuffling differs between epochs and is reproducible from the seed") {
  std::mt19937_64 rng_a(42), rng_b(42), rng_c(43);
  Minibatches a(numbered(100), iota_labels(100), 16, rng_a);
  Minibatches b(numbered(100), iota_labels(100), 16, rng_b);
  Minibatches c(numbered(100), iota_labels(100), 16, rng_c);
  const auto a1 = epoch_ids(a), a2 = epoch_ids(a), a3 = epoch_ids(a);
  CHECK(a1 != a2);
  CHECK(a2 != a3);
  CHECK(epoch_ids(b) == a1);  // same seed, same batches, epoch after epoch
  CHECK(epoch_ids(b) == a2);
  CHECK(epoch_ids(b) == a3);
  CHECK(epoch_ids(c) != a1);
  // The first epoch is shuffled too.
  std::vector<std::int64_t> first;
  for (const auto& batch : a1) first.insert(first.end(), batch.begin(), batch.end());
  CHECK(first != iota_labels(100));
}

TEST_CASE("nn data: shuffle = false iterates in order, batch(k) and iterators") {
  std::mt19937_64 rng(0);
  const std::uint64_t before = std::mt19937_64(0)();
  Minibatches batches(numbered(5), iota_labels(5), 2, rng, {.shuffle = false});
  const auto ids = epoch_ids(batches);
  CHECK(ids == std::vector<std::vector<std::int64_t>>{{0, 1}, {2, 3}, {4}});
  CHECK(rng() == before);  // no shuffling, the generator is untouched
  CHECK(batches.batch(1).y == Labels{2, 3});
  CHECK_ERROR(batches.batch(3), tg::IndexError, "batch 3", "3 batches per epoch");
  std::size_t count = 0;
  for (auto it = batches.begin(); it != batches.end(); ++it) {
    CHECK(it->x.dim(0) == it->y.size());
    ++count;
  }
  CHECK(count == 3);
  CHECK(std::ranges::distance(batches) == 3);
}

TEST_CASE("nn data: batches are copies that stay valid while the iteration goes on") {
  std::mt19937_64 rng(9);
  TensorD x = numbered(9);
  Minibatches batches(x, iota_labels(9), 2, rng);
  std::vector<Minibatches<double>::Batch> kept;
  for (const auto& b : batches) kept.push_back(b);
  REQUIRE(kept.size() == 5);
  for (const auto& b : kept)
    for (std::size_t j = 0; j < b.y.size(); ++j) CHECK(b.x.at({j, 0}) == 10.0 * double(b.y[j]));
  CHECK(kept[0].x.data() != x.data());
  CHECK_FALSE(kept[0].x.requires_grad());
}

TEST_CASE("nn data: an epoch gathers its full batches into one reused buffer") {
  std::mt19937_64 rng(11);
  Minibatches batches(numbered(10), iota_labels(10), 4, rng);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<const double*> buffers;  // addresses only: no handle kept, so reuse is allowed
    for (const auto& b : batches) {
      for (std::size_t j = 0; j < b.y.size(); ++j)
        CHECK(b.x.at({j, 2}) == 10.0 * double(b.y[j]) + 2.0);
      buffers.push_back(std::as_const(b.x).data());
    }
    REQUIRE(buffers.size() == 3);
    CHECK(buffers[1] == buffers[0]);  // batch 1 overwrote batch 0, which nothing held
  }
}

TEST_CASE("nn data: a batch still held elsewhere is not overwritten by the next one") {
  std::mt19937_64 rng(12);
  Minibatches batches(numbered(10), iota_labels(10), 4, rng);
  // A handle on the same storage (detach), and a graph that saved the batch for its adjoint:
  // both must still see batch 0 after the loop has gathered batches 1 and 2.
  TensorD held, w = TensorD::ones(Shape{3, 1}, true), loss;
  Labels first_ids;
  for (const auto& b : batches)
    if (!held.defined()) {
      held = b.x.detach();
      loss = tg::sum(tg::matmul(b.x, w));
      first_ids = b.y;
    }
  REQUIRE(first_ids.size() == 4);
  for (std::size_t j = 0; j < 4; ++j)
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(held.at({j, c}) == 10.0 * double(first_ids[j]) + double(c));
  // d/dw sum(x w) = the column sums of x: sum over the batch of 10 id + c.
  loss.backward();
  double id_sum = 0;
  for (const auto id : first_ids) id_sum += double(id);
  for (std::size_t c = 0; c < 3; ++c) CHECK(w.grad().at({c, 0}) == 10.0 * id_sum + 4.0 * double(c));
}

TEST_CASE("nn data: batch(k, out) reuses out's buffers only when nothing else holds them") {
  std::mt19937_64 rng(0);
  const std::size_t n = 5;
  TensorD targets = TensorD::empty(Shape{n, 2});
  for (std::size_t i = 0; i < n; ++i) {
    targets.data()[2 * i] = double(i);
    targets.data()[2 * i + 1] = -double(i);
  }
  Minibatches batches(numbered(n), targets, 2, rng, {.shuffle = false});
  Minibatches<double, TensorD>::Batch out;
  batches.batch(0, out);
  const double* x0 = std::as_const(out.x).data();
  const double* y0 = std::as_const(out.y).data();
  batches.batch(1, out);  // rows 2 and 3, into the same buffers
  CHECK(std::as_const(out.x).data() == x0);
  CHECK(std::as_const(out.y).data() == y0);
  CHECK(out.x.at({1, 0}) == 30.0);
  CHECK(out.y.at({1, 1}) == -3.0);

  const TensorD kept_x = out.x, kept_y = out.y;  // now shared: batch 0 goes to fresh buffers
  batches.batch(0, out);
  CHECK(std::as_const(out.x).data() != x0);
  CHECK(std::as_const(out.y).data() != y0);
  CHECK(out.x.at({1, 0}) == 10.0);
  CHECK(kept_x.at({0, 0}) == 20.0);  // still rows 2 and 3
  CHECK(kept_x.at({1, 0}) == 30.0);
  CHECK(kept_y.at({0, 1}) == -2.0);

  batches.batch(2, out);  // the short last batch: a buffer of its own shape
  CHECK(out.x.shape() == Shape{1, 3});
  CHECK(out.y.shape() == Shape{1, 2});
  CHECK(out.x.at({0, 2}) == 42.0);
  CHECK(out.y.at({0, 0}) == 4.0);
  CHECK_ERROR(batches.batch(3, out), tg::IndexError, "batch 3", "3 batches per epoch");
  CHECK(out.x.shape() == Shape{1, 3});  // left as it was
}

TEST_CASE("nn data: labels passed by std::move are taken over, not copied") {
  std::mt19937_64 rng(0);
  Labels y = iota_labels(6);
  Minibatches batches(numbered(6), std::move(y), 4, rng, {.shuffle = false});
  CHECK(y.empty());  // NOLINT(bugprone-use-after-move): the point of the test
  CHECK(batches.batch(1).y == Labels{4, 5});
}

TEST_CASE("nn data: tensor targets and higher-rank samples") {
  std::mt19937_64 rng(4);
  const std::size_t n = 7;
  TensorF x = TensorF::empty(Shape{n, 2, 2});  // image-like samples keep their shape
  TensorF y = TensorF::empty(Shape{n, 2});
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < 4; ++k) x.data()[4 * i + k] = float(i);
    y.data()[2 * i] = float(i);
    y.data()[2 * i + 1] = -float(i);
  }
  Minibatches batches(x, y, 3, rng);
  std::multiset<float> seen;
  for (const auto& b : batches) {
    CHECK(b.x.ndim() == 3);
    CHECK(b.x.dim(1) == 2);
    CHECK(b.y.ndim() == 2);
    REQUIRE(b.x.dim(0) == b.y.dim(0));
    for (std::size_t j = 0; j < b.y.dim(0); ++j) {
      CHECK(b.x.at({j, 1, 1}) == b.y.at({j, 0}));
      CHECK(b.y.at({j, 1}) == -b.y.at({j, 0}));
      seen.insert(b.y.at({j, 0}));
    }
  }
  CHECK(seen == std::multiset<float>{0, 1, 2, 3, 4, 5, 6});
  // One-hot targets from labels work the same way.
  Minibatches onehot(numbered(4), tg::nn::one_hot<double>({0, 1, 2, 1}, 3), 4, rng,
                     {.shuffle = false});
  CHECK(onehot.batch(0).y.at({3, 1}) == 1.0);
}

TEST_CASE("nn data: Minibatches rejects mismatched sizes and a zero batch size") {
  std::mt19937_64 rng(0);
  CHECK_ERROR(Minibatches(numbered(5), iota_labels(4), 2, rng), tg::ShapeError, "Minibatches",
              "X[5,3]", "5 samples", "4 labels");
  CHECK_ERROR(Minibatches(numbered(5), TensorD::zeros(Shape{6, 2}), 2, rng), tg::ShapeError,
              "X[5,3]", "Y[6,2]");
  CHECK_ERROR(Minibatches(numbered(5), TensorD::scalar(1.0), 2, rng), tg::ShapeError, "Y[]");
  CHECK_ERROR(Minibatches(TensorD::scalar(1.0), Labels{1}, 2, rng), tg::ShapeError, "0-d");
  CHECK_ERROR(Minibatches(numbered(5), iota_labels(5), 0, rng), tg::DomainError, "batch_size");
  // An empty data set is fine: no batches.
  Minibatches empty(TensorD::zeros(Shape{0, 3}), Labels{}, 4, rng);
  CHECK(empty.batches_per_epoch() == 0);
  CHECK(epoch_ids(empty).empty());
}

// Speed is the benchmarks' business (a timed assertion fails on a loaded machine and proves
// nothing on a fast one); this checks that a full-size epoch visits every row exactly once.
TEST_CASE("nn data: an MNIST-sized epoch visits every row once, in batches of 128") {
  std::mt19937_64 rng(7);
  TensorF x = TensorF::empty(Shape{60000, 784});
  float* px = x.data();
  for (std::size_t r = 0; r < 60000; ++r) px[r * 784] = float(r);  // the row's id, exact in float
  Minibatches batches(x, iota_labels(60000), 128, rng);
  std::vector<int> seen(60000, 0);
  std::size_t batches_seen = 0, mismatched = 0;
  for (const auto& b : batches) {
    ++batches_seen;
    const float* pb = std::as_const(b.x).data();
    for (std::size_t i = 0; i < b.x.dim(0); ++i) {
      const auto id = std::size_t(pb[i * 784]);
      ++seen[id];
      if (b.y[i] != std::int64_t(id)) ++mismatched;
    }
  }
  CHECK(batches_seen == 469);  // ceil(60000 / 128)
  CHECK(mismatched == 0);      // each row travels with its own label
  CHECK(std::count(seen.begin(), seen.end(), 1) == 60000);
}

TEST_CASE("nn Minibatches: a batch size beyond the sample count gives one batch of every row") {
  const TensorD X = TensorD::matrix({{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}});
  const Labels y{0, 1, 2, 3, 4};
  for (const std::size_t batch_size : {std::size_t{5}, std::size_t{6}, SIZE_MAX, SIZE_MAX - 1}) {
    INFO("batch_size " << batch_size);
    std::mt19937_64 rng(3);
    Minibatches batches(X, y, batch_size, rng);
    CHECK(batches.batches_per_epoch() == 1);
    std::vector<std::int64_t> seen;
    std::size_t count = 0;
    for (const auto& b : batches) {
      ++count;
      CHECK(b.x.shape() == Shape{5, 2});
      seen.insert(seen.end(), b.y.begin(), b.y.end());
    }
    CHECK(count == 1);
    std::sort(seen.begin(), seen.end());
    CHECK(seen == y);
    // drop_last drops the only batch, which is smaller than batch_size (but not with 5).
    Minibatches dropping(X, y, batch_size, rng, {.drop_last = true});
    CHECK(dropping.batches_per_epoch() == (batch_size == 5 ? 1u : 0u));
  }
  std::mt19937_64 rng(3);
  Minibatches none(TensorD::zeros({0, 2}), Labels{}, SIZE_MAX, rng);
  CHECK(none.batches_per_epoch() == 0);
}

TEST_CASE("nn Minibatches: targets() and order() give each batch's labels to a loop of its own") {
  std::mt19937_64 rng(3);
  Minibatches batches(numbered(10), iota_labels(10), 4, rng);
  CHECK(batches.targets() == iota_labels(10));
  std::size_t k = 0;
  for (const auto& b : batches) {
    for (std::size_t j = 0; j < b.y.size(); ++j)
      CHECK(b.y[j] == batches.targets()[batches.order()[4 * k + j]]);
    ++k;
  }
  CHECK(k == 3);
}
