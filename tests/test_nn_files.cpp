// What nn's file functions do with paths that are not plain files (symlinks, FIFOs, device
// nodes, other people's files), and sizes from headers or arguments whose byte count overflows.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "tapegrad/nn/checkpoint.hpp"
#include "tapegrad/nn/data.hpp"
#include "tapegrad/nn/parameters.hpp"
#include "tapegrad/nn/serialize.hpp"
#include "tapegrad/nn/train.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
namespace nn = tg::nn;
using tg::Labels;
using tg::Shape;
using tg::TensorD;
using tg::TensorF;

namespace {

// doctest::Contains takes a C string; it keeps a copy.
doctest::Contains has(const std::string& s) {
  return doctest::Contains(s.c_str());
}

using Bytes = std::string;

void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
  REQUIRE(f.good());
}

Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

mode_t lmode(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode;
}

// A version 1.0 .npy file with the given header dict and raw data bytes.
Bytes npy_file(const std::string& dict, const Bytes& data) {
  std::string header = dict;
  header.append(64 - ((10 + header.size() + 1) % 64), ' ');
  header += '\n';
  Bytes out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

std::uint32_t crc32(const Bytes& b) {
  std::uint32_t c = 0xffffffffu;
  for (unsigned char byte : b) {
    c ^= byte;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void put(Bytes& s, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// A ZIP archive holding one stored member.
Bytes zip_one(const std::string& name, const Bytes& data) {
  const std::uint32_t crc = crc32(data);
  Bytes z;
  put(z, 0x04034b50, 4);
  put(z, 20, 2);
  put(z, 0, 2);
  put(z, 0, 2);  // stored
  put(z, 0, 4);  // time, date
  put(z, crc, 4);
  put(z, data.size(), 4);
  put(z, data.size(), 4);
  put(z, name.size(), 2);
  put(z, 0, 2);
  z += name + data;
  const std::size_t cd_offset = z.size();
  put(z, 0x02014b50, 4);
  put(z, 20, 2);
  put(z, 20, 2);
  put(z, 0, 2);
  put(z, 0, 2);
  put(z, 0, 4);
  put(z, crc, 4);
  put(z, data.size(), 4);
  put(z, data.size(), 4);
  put(z, name.size(), 2);
  put(z, 0, 2);  // extra
  put(z, 0, 2);  // comment
  put(z, 0, 2);  // disk
  put(z, 0, 2);  // internal attributes
  put(z, 0, 4);  // external attributes
  put(z, 0, 4);  // local header offset
  z += name;
  const std::size_t cd_size = z.size() - cd_offset;
  put(z, 0x06054b50, 4);
  put(z, 0, 2);
  put(z, 0, 2);
  put(z, 1, 2);
  put(z, 1, 2);
  put(z, cd_size, 4);
  put(z, cd_offset, 4);
  put(z, 0, 2);
  return z;
}

// An IDX header (big-endian extents) with no data.
Bytes idx_header(unsigned char type, const std::vector<std::uint32_t>& dims) {
  Bytes b{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) b += static_cast<char>((d >> shift) & 0xff);
  return b;
}

nn::Sequential<double> small_model(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  return nn::mlp<double>({2, 3, 1}, nn::Activation::tanh, nn::Activation::identity,
                         nn::Init::xavier_uniform(), rng);
}

// Every function that saves a file, each with a way to tell what it wrote.
struct Saver {
  const char* name;
  std::function<void(const std::string&)> save;
  std::function<void(const std::string&)> check_saved;  // the file holds what `save` wrote
};

std::vector<Saver> savers() {
  return {
      {"save_npy",
       [](const std::string& p) {
         nn::save_npy(p, TensorD::vector({7, 8, 9}));
       },
       [](const std::string& p) {
         CHECK(nn::load_npy<double>(p).to_vector() == std::vector<double>{7, 8, 9});
       }},
      {"save_npz",
       [](const std::string& p) {
         nn::save_npz<double>(p, {{"a", TensorD::vector({7, 8})}});
       },
       [](const std::string& p) {
         const auto arrays = nn::load_npz<double>(p);
         REQUIRE(arrays.size() == 1);
         CHECK(arrays[0].first == "a");
         CHECK(arrays[0].second.to_vector() == std::vector<double>{7, 8});
       }},
      {"save_parameters", [](const std::string& p) { nn::save_parameters(small_model(1), p); },
       [](const std::string& p) {
         auto m = small_model(2);
         nn::load_parameters(m, p);
         CHECK(nn::flatten(m.parameters()) == nn::flatten(small_model(1).parameters()));
       }},
      {"write_csv",
       [](const std::string& p) {
         nn::ProgressLog log(1, nullptr);
         log.end_epoch(0.125, 10);
         log.write_csv(p);
       },
       [](const std::string& p) {
         const Bytes text = read_bytes(p);
         CHECK(text.rfind("epoch,loss,", 0) == 0);
         CHECK(text.find("\n1,0.125,") != std::string::npos);
       }},
  };
}

// Runs f on another thread. A reader that blocks on the FIFO is a failure; it is then released
// (a writer opens and closes the FIFO) so that the suite goes on. Returns what f threw.
std::exception_ptr run_without_blocking(const std::string& fifo, const std::function<void()>& f) {
  auto done = std::async(std::launch::async, [&]() -> std::exception_ptr {
    try {
      f();
    } catch (...) {
      return std::current_exception();
    }
    return nullptr;
  });
  if (done.wait_for(std::chrono::seconds(3)) != std::future_status::ready) {
    FAIL_CHECK("blocked on the FIFO " << fifo);
    while (done.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready) {
      const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
    }
  }
  return done.get();
}

}  // namespace

// ---- saves ---------------------------------------------------------------------------------

TEST_CASE("nn saves: a save through a symlink writes the link's target and keeps the link") {
  for (const Saver& s : savers()) {
    INFO(s.name);
    TempDir dir;
    fs::create_directory(dir.file("sub"));
    write_bytes(dir.file("sub/real"), "old contents");
    fs::create_symlink("sub/real", dir.file("relative"));         // relative to its directory
    fs::create_symlink(dir.file("relative"), dir.file("chain"));  // absolute, to another link
    fs::create_symlink("real", dir.file("sub/inner"));

    s.save(dir.file("relative"));
    CHECK(fs::is_symlink(dir.file("relative")));
    CHECK(fs::read_symlink(dir.file("relative")) == "sub/real");
    s.check_saved(dir.file("sub/real"));

    write_bytes(dir.file("sub/real"), "old contents");
    s.save(dir.file("chain"));
    CHECK(fs::is_symlink(dir.file("chain")));
    CHECK(fs::is_symlink(dir.file("relative")));
    s.check_saved(dir.file("sub/real"));

    write_bytes(dir.file("sub/real"), "old contents");
    s.save(dir.file("sub/inner"));
    CHECK(fs::is_symlink(dir.file("sub/inner")));
    s.check_saved(dir.file("sub/real"));

    // A dangling link: its target is created, as np.save does.
    fs::create_symlink("sub/new", dir.file("dangling"));
    s.save(dir.file("dangling"));
    CHECK(fs::is_symlink(dir.file("dangling")));
    s.check_saved(dir.file("sub/new"));

    // Nothing else appeared (no temporary file left in either directory).
    CHECK(dir.all_names() == std::vector<std::string>{"chain", "dangling", "relative", "sub",
                                                      "sub/inner", "sub/new", "sub/real"});
  }
}

TEST_CASE("nn saves: an existing file keeps its permission bits") {
  for (const Saver& s : savers()) {
    INFO(s.name);
    TempDir dir;
    for (const fs::perms perms :
         {fs::perms::owner_read | fs::perms::owner_write,
          fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read,
          fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_write}) {
      const std::string path = dir.file("f");
      write_bytes(path, "old");
      fs::permissions(path, perms);
      s.save(path);
      CHECK(fs::status(path).permissions() == perms);
      s.check_saved(path);
      // Through a symlink, the target's bits are kept.
      write_bytes(path, "old");
      fs::permissions(path, perms);
      fs::create_symlink("f", dir.file("link"));
      s.save(dir.file("link"));
      CHECK(fs::status(path).permissions() == perms);
      fs::remove(dir.file("link"));
    }
    CHECK(dir.all_names() == std::vector<std::string>{"f"});
  }
}

TEST_CASE("nn saves: a FIFO, directly or behind a symlink, is refused and left as it is") {
  for (const Saver& s : savers()) {
    INFO(s.name);
    TempDir dir;
    const std::string fifo = dir.file("fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    fs::create_symlink("fifo", dir.file("link"));
    for (const std::string& path : {fifo, dir.file("link")}) {
      INFO(path);
      CHECK_THROWS_WITH_AS(s.save(path), has("a FIFO, not a regular file"), tg::Error);
      CHECK_THROWS_WITH_AS(s.save(path), has(path), tg::Error);
    }
    CHECK(S_ISFIFO(lmode(fifo)));
    CHECK(fs::is_symlink(dir.file("link")));
    CHECK(dir.all_names() == std::vector<std::string>{"fifo", "link"});
  }
  // The npy/npz/parameter saves raise SerializeError.
  TempDir dir;
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0644) == 0);
  CHECK_THROWS_WITH_AS(nn::save_npy(dir.file("fifo"), TensorD::ones({2})), has("save_npy"),
                       nn::SerializeError);
  CHECK_THROWS_WITH_AS(nn::save_parameters(small_model(1), dir.file("fifo")), has(dir.file("fifo")),
                       nn::SerializeError);
}

TEST_CASE("nn saves: a directory is refused before any temporary file is made") {
  for (const Saver& s : savers()) {
    INFO(s.name);
    TempDir dir;
    fs::create_directory(dir.file("d"));
    CHECK_THROWS_WITH_AS(s.save(dir.file("d")), has("a directory, not a regular file"), tg::Error);
    CHECK(fs::is_directory(dir.file("d")));
    CHECK(dir.all_names() == std::vector<std::string>{"d"});
  }
}

// Creating a device node needs root; the node is made in a scratch directory (a copy of
// /dev/null's numbers), never in /dev, so that a wrong save cannot replace a real device.
TEST_CASE("nn saves: a device node is refused and left as it is" *
          doctest::skip(::geteuid() != 0)) {
  for (const Saver& s : savers()) {
    INFO(s.name);
    TempDir dir;
    const std::string dev = dir.file("null");
    REQUIRE(::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    CHECK_THROWS_WITH_AS(s.save(dev), has("a character device, not a regular file"), tg::Error);
    CHECK(S_ISCHR(lmode(dev)));
    CHECK(dir.all_names() == std::vector<std::string>{"null"});
  }
}

TEST_CASE("nn saves: write_csv never touches a file or symlink named like its old temporary") {
  TempDir dir;
  const std::string path = dir.file("history.csv");
  write_bytes(path + ".tmp", "a user's file");
  write_bytes(dir.file("victim"), "not yours");
  fs::create_symlink("victim", dir.file("other.csv.tmp"));
  nn::ProgressLog log(1, nullptr);
  log.end_epoch(0.5, 10);
  log.write_csv(path);
  log.write_csv(dir.file("other.csv"));
  CHECK(read_bytes(path + ".tmp") == "a user's file");
  CHECK(read_bytes(dir.file("victim")) == "not yours");
  CHECK(fs::is_symlink(dir.file("other.csv.tmp")));
  CHECK(read_bytes(path).rfind("epoch,loss,", 0) == 0);
  CHECK(read_bytes(dir.file("other.csv")).rfind("epoch,loss,", 0) == 0);
  CHECK(dir.all_names() == std::vector<std::string>{"history.csv", "history.csv.tmp", "other.csv",
                                                    "other.csv.tmp", "victim"});
}

// ---- loads ---------------------------------------------------------------------------------

TEST_CASE("nn loads: a FIFO is refused at once, never waited on") {
  TempDir dir;
  const std::string fifo = dir.file("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  const std::string link = dir.file("link");
  fs::create_symlink("fifo", link);
  auto model = small_model(1);
  const std::vector<std::pair<const char*, std::function<void(const std::string&)>>> loaders = {
      {"load_npy", [](const std::string& p) { (void)nn::load_npy<double>(p); }},
      {"load_npz", [](const std::string& p) { (void)nn::load_npz<float>(p); }},
      {"load_npz", [&](const std::string& p) { nn::load_parameters(model, p); }},
      {"read_idx", [](const std::string& p) { (void)nn::read_idx(p); }},
      {"read_csv", [](const std::string& p) { (void)nn::read_csv<double>(p); }},
  };
  for (const auto& [name, load] : loaders) {
    for (const std::string& path : {fifo, link}) {
      INFO(name << " " << path);
      const std::exception_ptr error = run_without_blocking(fifo, [&] { load(path); });
      REQUIRE(error);
      CHECK_THROWS_WITH_AS(std::rethrow_exception(error), has(name), tg::Error);
      CHECK_THROWS_WITH_AS(std::rethrow_exception(error), has(path), tg::Error);
      CHECK_THROWS_WITH_AS(std::rethrow_exception(error), has("a FIFO, not a regular file"),
                           tg::Error);
    }
  }
  CHECK(S_ISFIFO(lmode(fifo)));
}

TEST_CASE("nn loads: a device is refused with the same typed errors") {
  // /dev/null reads as an empty file: only opened for reading here, never written.
  CHECK_THROWS_WITH_AS(nn::load_npy<double>("/dev/null"),
                       has("load_npy: '/dev/null': cannot open: it is a character device"),
                       nn::SerializeError);
  CHECK_THROWS_WITH_AS(nn::load_npz<double>("/dev/null"), has("character device"),
                       nn::SerializeError);
  CHECK_THROWS_WITH_AS(nn::read_idx("/dev/null"),
                       has("read_idx: /dev/null: cannot open: it is a character device"),
                       nn::DataError);
  CHECK_THROWS_WITH_AS(nn::read_csv<float>("/dev/null"), has("character device"), nn::DataError);
}

// ---- byte counts ---------------------------------------------------------------------------

TEST_CASE("nn byte counts: load_npy and load_npz refuse a shape whose bytes overflow") {
  TempDir dir;
  struct Case {
    const char* header;
    const char* shape;
  };
  for (const Case& c : {
           // empty, but 2^61 doubles per row: an op reducing the 0 away would need 2^64 bytes
           Case{"{'descr': '<f8', 'fortran_order': False, 'shape': (0, 2305843009213693952), }",
                "[0,2305843009213693952]"},
           Case{"{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952, 0), }",
                "[2305843009213693952,0]"},
           Case{"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904), }",
                "[0,4611686018427387904]"},
           Case{"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, "
                "4294967296), }",
                "[4294967296,4294967296,4294967296]"},
       }) {
    INFO(c.header);
    const std::string npy = dir.file("x.npy");
    write_bytes(npy, npy_file(c.header, ""));
    REQUIRE(read_bytes(npy).size() == 128);
    for (int as_float = 0; as_float < 2; ++as_float) {
      auto load = [&] {
        if (as_float)
          (void)nn::load_npy<float>(npy);
        else
          (void)nn::load_npy<double>(npy);
      };
      CHECK_THROWS_WITH_AS(load(), has("load_npy: '" + npy + "': shape " + c.shape),
                           tg::ShapeError);
    }
    const std::string npz = dir.file("x.npz");
    write_bytes(npz, zip_one("big.npy", npy_file(c.header, "")));
    CHECK_THROWS_WITH_AS(nn::load_npz<double>(npz),
                         has("load_npz: '" + npz + "': member 'big.npy': shape " + c.shape),
                         tg::ShapeError);
  }
}

TEST_CASE("nn byte counts: read_idx and idx_images refuse a shape whose bytes overflow") {
  TempDir dir;
  const std::string path = dir.file("images.idx");
  // Empty (n = 0), but 2^96 bytes per image: the feature count would wrap to 12884901887.
  write_bytes(path, idx_header(0x08, {0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}));
  CHECK_THROWS_WITH_AS(
      nn::read_idx(path),
      has("read_idx: " + path + ": shape [0,4294967295,4294967295,4294967295] ubyte"),
      tg::ShapeError);

  // An IdxArray is a plain struct: idx_images checks what it is given, whatever made it.
  nn::IdxArray wide;
  wide.path = "made.idx";
  wide.shape = {0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF};
  CHECK_THROWS_WITH_AS(
      nn::idx_images<double>(wide),
      has("idx_images: made.idx: shape [0,4294967295,4294967295,4294967295] ubyte"),
      tg::ShapeError);
  nn::IdxArray wraps;  // 2^64 elements: the element count itself wraps to 0
  wraps.path = "made.idx";
  wraps.shape = {std::size_t{1} << 32, std::size_t{1} << 32};
  CHECK_THROWS_WITH_AS(nn::idx_images<float>(wraps),
                       has("idx_images: made.idx: shape [4294967296,4294967296] ubyte"),
                       tg::ShapeError);
  CHECK_THROWS_WITH_AS(wraps.to_vector<float>(), has("[4294967296,4294967296]"), tg::ShapeError);
  // A shape that fits in the file's bytes but not as doubles.
  nn::IdxArray doubles;
  doubles.path = "made.idx";
  doubles.shape = {0, std::size_t{1} << 61};
  CHECK_THROWS_WITH_AS(nn::idx_images<double>(doubles),
                       has("idx_images: made.idx: shape [0,2305843009213693952]"), tg::ShapeError);
}

TEST_CASE("nn byte counts: one_hot refuses a class count whose bytes overflow") {
  const std::size_t two61 = std::size_t{1} << 61;
  CHECK_THROWS_WITH_AS(nn::one_hot<double>(Labels{0}, two61),
                       has("one_hot: shape [1,2305843009213693952]"), tg::ShapeError);
  CHECK_THROWS_WITH_AS(nn::one_hot<double>(Labels{}, two61),
                       has("one_hot: shape [0,2305843009213693952]"), tg::ShapeError);
  CHECK_THROWS_WITH_AS(nn::one_hot<float>(Labels{1, 2}, std::size_t{1} << 62),
                       has("one_hot: shape [2,4611686018427387904]"), tg::ShapeError);
  // Within range it still works.
  CHECK(nn::one_hot<float>(Labels{1}, 3).to_vector() == std::vector<float>{0, 1, 0});
}
