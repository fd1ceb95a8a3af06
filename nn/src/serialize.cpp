// NumPy .npy / .npz reading and writing (see serialize.hpp). The formats:
//   .npy: "\x93NUMPY", major, minor, header length (uint16 LE for 1.0, uint32 LE for 2.0/3.0),
//         a Python dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
//         padded with spaces and '\n' so that the data starts at a multiple of 64, then the data.
//   .npz: a ZIP archive (PKWARE APPNOTE) of "<name>.npy" members, stored or deflated.
// Nothing read from a file is trusted: every length, count and offset is checked against the
// bytes actually present before it is used.
#include "tapegrad/nn/serialize.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <unordered_set>

#include "file_io.hpp"

namespace tg::nn {
namespace {

using Bytes = std::vector<unsigned char>;

constexpr bool kLittleEndian = std::endian::native == std::endian::little;

// ---- errors --------------------------------------------------------------------------------

// Where a problem is: the API function, the file and (inside an .npz) the member.
struct Where {
  const char* fn;
  const std::string& path;
  std::string member = {};

  // "load_npz: 'path': member 'name'": how every message starts.
  std::string who() const {
    std::string s = std::string(fn) + ": '" + path + "'";
    if (!member.empty()) s += ": member '" + member + "'";
    return s;
  }
  [[noreturn]] void fail(const std::string& problem) const {
    throw SerializeError(who() + ": " + problem);
  }
  detail::Fail failer() const {
    return [this](const std::string& problem) { fail(problem); };
  }
};

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// ---- little-endian integers ----------------------------------------------------------------

std::uint16_t rd16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t rd32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t rd64(const unsigned char* p) {
  return static_cast<std::uint64_t>(rd32(p)) | (static_cast<std::uint64_t>(rd32(p + 4)) << 32);
}

void put16(std::string& s, std::uint32_t v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}

// ---- element types -------------------------------------------------------------------------

enum class Dtype { f4, f8 };

std::size_t itemsize(Dtype d) {
  return d == Dtype::f4 ? 4 : 8;
}
const char* descr(Dtype d) {
  return d == Dtype::f4 ? "<f4" : "<f8";
}

template <class T> constexpr Dtype dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  static_assert(sizeof(float) == 4 && sizeof(double) == 8);
  return std::is_same_v<T, float> ? Dtype::f4 : Dtype::f8;
}

// Converts `count` little-endian elements of type `d` at `src` into T.
template <class T> void decode(const unsigned char* src, Dtype d, std::size_t count, T* dst) {
  if (kLittleEndian && d == dtype_of<T>()) {
    std::memcpy(dst, src, count * sizeof(T));
  } else if (d == Dtype::f8) {
    for (std::size_t i = 0; i < count; ++i)
      dst[i] = static_cast<T>(std::bit_cast<double>(rd64(src + 8 * i)));
  } else {
    for (std::size_t i = 0; i < count; ++i)
      dst[i] = static_cast<T>(std::bit_cast<float>(rd32(src + 4 * i)));
  }
}

// Calls sink(bytes, n) with the little-endian bytes of data[0..count), in one or more pieces.
template <class T, class Sink> void encode(const T* data, std::size_t count, Sink&& sink) {
  if constexpr (kLittleEndian) {
    if (count) sink(reinterpret_cast<const unsigned char*>(data), count * sizeof(T));
  } else {
    using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    constexpr std::size_t kChunk = 8192;
    unsigned char buf[kChunk * sizeof(T)];
    for (std::size_t done = 0; done < count;) {
      const std::size_t n = std::min(kChunk, count - done);
      for (std::size_t i = 0; i < n; ++i) {
        const U bits = std::bit_cast<U>(data[done + i]);
        for (std::size_t b = 0; b < sizeof(T); ++b)
          buf[i * sizeof(T) + b] = static_cast<unsigned char>(bits >> (8 * b));
      }
      sink(buf, n * sizeof(T));
      done += n;
    }
  }
}

std::uint32_t crc_update(std::uint32_t crc, const unsigned char* p, std::size_t n) {
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    crc = static_cast<std::uint32_t>(::crc32(crc, p, chunk));
    p += chunk;
    n -= chunk;
  }
  return crc;
}

// ---- .npy header: writing ------------------------------------------------------------------

constexpr unsigned char kNpyMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
constexpr std::size_t kNpyAlign = 64;
constexpr std::size_t kGrowthAxisMaxDigits = 21;  // numpy.lib.format.GROWTH_AXIS_MAX_DIGITS
// No valid header of ours comes close (numpy's own reader refuses headers over 10000 bytes by
// default); the limit only stops a garbled length from making us read a huge "header".
constexpr std::size_t kMaxHeaderLength = 1 << 20;

// Magic, version 1.0, header length and header: byte for byte what np.save writes for a
// C-contiguous array of this dtype and shape (numpy >= 1.24, which added the growth padding;
// older versions pad less but read these files the same).
std::string npy_preamble(Dtype d, const Shape& shape) {
  std::string dict = "{'descr': '";
  dict += descr(d);
  dict += "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.rank(); ++i) {
    if (i) dict += ", ";
    dict += std::to_string(shape[i]);
  }
  if (shape.rank() == 1) dict += ',';
  dict += "), }";
  if (shape.rank() > 0) {
    const std::size_t digits = std::to_string(shape[0]).size();
    if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  const std::size_t hlen = dict.size() + 1;                              // + '\n'
  const std::size_t pad = kNpyAlign - ((6 + 2 + 2 + hlen) % kNpyAlign);  // 1..64, as numpy
  std::string out(reinterpret_cast<const char*>(kNpyMagic), sizeof kNpyMagic);
  out += '\x01';
  out += '\x00';
  put16(out, static_cast<std::uint32_t>(hlen + pad));
  out += dict;
  out.append(pad, ' ');
  out += '\n';
  return out;
}

// ---- .npy header: reading ------------------------------------------------------------------

// A Python literal as it can appear in a header (what ast.literal_eval would accept, reduced to
// what a .npy header can hold).
struct PyValue {
  enum Kind { kStr, kBool, kNone, kInt, kTuple, kList, kDict } kind = kNone;
  std::string str;              // kStr
  bool boolean = false;         // kBool
  bool negative = false;        // kInt
  std::uint64_t magnitude = 0;  // kInt
  std::vector<PyValue> items;   // kTuple, kList; kDict: key, value, key, value...
};

class HeaderParser {
 public:
  HeaderParser(std::string_view text, const Where& where) : s_(text), where_(where) {}

  PyValue parse() {
    skip_space();
    PyValue v = value(0);
    skip_space();
    if (pos_ != s_.size()) garbled("unexpected text after the dictionary");
    if (v.kind != PyValue::kDict) garbled("the header is not a dictionary");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 16;

  [[noreturn]] void garbled(const std::string& why) const {
    std::string excerpt;
    for (char c : s_.substr(0, 120)) {
      if (c >= 0x20 && c < 0x7f) {
        excerpt += c;
      } else {
        static const char* hex = "0123456789abcdef";
        const auto u = static_cast<unsigned char>(c);
        excerpt += "\\x";
        excerpt += hex[u >> 4];
        excerpt += hex[u & 15];
      }
    }
    if (s_.size() > 120) excerpt += "...";
    where_.fail("garbled header (" + why + " at offset " + std::to_string(pos_) + "): \"" +
                excerpt + "\"");
  }

  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) garbled(std::string("expected '") + c + "'");
  }

  PyValue value(int depth) {
    if (depth > kMaxDepth) garbled("nested too deeply");
    skip_space();
    if (pos_ == s_.size()) garbled("unexpected end");
    const char c = s_[pos_];
    if (c == '\'' || c == '"') return string();
    if (c == '-' || (c >= '0' && c <= '9')) return integer();
    if (c == '(') return sequence(depth, ')', PyValue::kTuple);
    if (c == '[') return sequence(depth, ']', PyValue::kList);
    if (c == '{') return dict(depth);
    for (const auto& [word, kind, b] :
         {std::tuple{"True", PyValue::kBool, true}, std::tuple{"False", PyValue::kBool, false},
          std::tuple{"None", PyValue::kNone, false}}) {
      const std::string_view w(word);
      if (s_.substr(pos_, w.size()) == w) {
        pos_ += w.size();
        PyValue v;
        v.kind = kind;
        v.boolean = b;
        return v;
      }
    }
    garbled("unexpected character");
  }

  PyValue string() {
    const char quote = s_[pos_++];
    PyValue v;
    v.kind = PyValue::kStr;
    while (true) {
      if (pos_ >= s_.size()) garbled("unterminated string");
      char c = s_[pos_++];
      if (c == quote) break;
      if (c == '\\') {
        if (pos_ >= s_.size()) garbled("unterminated string");
        c = s_[pos_++];
      }
      v.str += c;
    }
    return v;
  }

  PyValue integer() {
    PyValue v;
    v.kind = PyValue::kInt;
    if (s_[pos_] == '-') {
      v.negative = true;
      ++pos_;
    }
    const std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      const auto digit = static_cast<std::uint64_t>(s_[pos_] - '0');
      if (v.magnitude > (UINT64_MAX - digit) / 10) garbled("integer too large");
      v.magnitude = v.magnitude * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) garbled("expected a digit");
    if (pos_ < s_.size() && (s_[pos_] == 'L' || s_[pos_] == 'l')) ++pos_;  // Python 2 long
    return v;
  }

  // "(a, b)", "(a,)", "()" and "[...]"; "(a)" is just a parenthesized a, as in Python.
  PyValue sequence(int depth, char close, PyValue::Kind kind) {
    ++pos_;
    PyValue v;
    v.kind = kind;
    bool comma = false;
    while (!eat(close)) {
      if (!v.items.empty() && !comma) garbled(std::string("expected ',' or '") + close + "'");
      v.items.push_back(value(depth + 1));
      comma = eat(',');
    }
    if (kind == PyValue::kTuple && v.items.size() == 1 && !comma) return std::move(v.items[0]);
    return v;
  }

  PyValue dict(int depth) {
    ++pos_;
    PyValue v;
    v.kind = PyValue::kDict;
    bool comma = false;
    while (!eat('}')) {
      if (!v.items.empty() && !comma) garbled("expected ',' or '}'");
      v.items.push_back(value(depth + 1));
      expect(':');
      v.items.push_back(value(depth + 1));
      comma = eat(',');
    }
    return v;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  const Where& where_;
};

struct NpyInfo {
  Dtype dtype = Dtype::f8;
  Shape shape;
  std::size_t numel = 0;
  std::size_t data_bytes = 0;
};

std::string shape_text(const std::vector<std::size_t>& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (dims.size() == 1 ? ",)" : ")");
}

// From the first min(file size, 12) bytes: checks the magic and version and returns the length
// of the preamble (magic, version, length field and header), which the caller must check
// against the bytes available. `header_offset` receives where the header text starts.
std::size_t npy_preamble_length(const unsigned char* p, std::size_t n, std::size_t& header_offset,
                                const Where& w) {
  if (n == 0) w.fail("empty file (not a .npy file)");
  if (n < sizeof kNpyMagic || std::memcmp(p, kNpyMagic, sizeof kNpyMagic) != 0) {
    if (n >= 2 && p[0] == 'P' && p[1] == 'K')
      w.fail("not a .npy file (wrong magic: this is a ZIP archive, use load_npz)");
    w.fail("not a .npy file (wrong magic: expected \"\\x93NUMPY\")");
  }
  if (n < 8) w.fail("truncated header: the file ends after " + std::to_string(n) + " bytes");
  const unsigned major = p[6], minor = p[7];
  std::size_t length_bytes = 0;
  if (major == 1 && minor == 0)
    length_bytes = 2;
  else if ((major == 2 || major == 3) && minor == 0)
    length_bytes = 4;
  else
    w.fail("unsupported .npy format version " + std::to_string(major) + "." +
           std::to_string(minor) + " (1.0, 2.0 and 3.0 are supported)");
  header_offset = 8 + length_bytes;
  if (n < header_offset)
    w.fail("truncated header: the file ends after " + std::to_string(n) + " bytes");
  const std::size_t hlen = length_bytes == 2 ? rd16(p + 8) : rd32(p + 8);
  if (hlen > kMaxHeaderLength)
    w.fail("header too long: " + std::to_string(hlen) + " bytes (the limit is " +
           std::to_string(kMaxHeaderLength) + ")");
  return header_offset + hlen;
}

NpyInfo parse_npy_header(std::string_view text, const Where& w) {
  const PyValue d = HeaderParser(text, w).parse();
  const PyValue* descr_v = nullptr;
  const PyValue* fortran_v = nullptr;
  const PyValue* shape_v = nullptr;
  for (std::size_t i = 0; i < d.items.size(); i += 2) {
    const PyValue& key = d.items[i];
    if (key.kind != PyValue::kStr) w.fail("garbled header: a key is not a string");
    const PyValue** slot = key.str == "descr"           ? &descr_v
                           : key.str == "fortran_order" ? &fortran_v
                           : key.str == "shape"         ? &shape_v
                                                        : nullptr;
    if (!slot) w.fail("garbled header: unexpected key '" + key.str + "'");
    if (*slot) w.fail("garbled header: duplicate key '" + key.str + "'");
    *slot = &d.items[i + 1];
  }
  if (!descr_v) w.fail("garbled header: no 'descr' key");
  if (!fortran_v) w.fail("garbled header: no 'fortran_order' key");
  if (!shape_v) w.fail("garbled header: no 'shape' key");

  NpyInfo info;
  if (descr_v->kind != PyValue::kStr)
    w.fail("unsupported dtype (a structured dtype; only '<f4' and '<f8' are supported)");
  if (descr_v->str == "<f8")
    info.dtype = Dtype::f8;
  else if (descr_v->str == "<f4")
    info.dtype = Dtype::f4;
  else
    w.fail("unsupported dtype '" + descr_v->str +
           "' (only little-endian float32 '<f4' and float64 '<f8' are supported)");

  if (fortran_v->kind != PyValue::kBool) w.fail("garbled header: 'fortran_order' is not a bool");
  if (fortran_v->boolean)
    w.fail(
        "Fortran-order array (fortran_order: True) is not supported; save a C-order array "
        "(np.ascontiguousarray)");

  if (shape_v->kind != PyValue::kTuple) w.fail("garbled header: 'shape' is not a tuple");
  std::vector<std::size_t> dims;
  for (const PyValue& e : shape_v->items) {
    if (e.kind != PyValue::kInt || (e.negative && e.magnitude != 0))
      w.fail("garbled header: 'shape' holds something other than non-negative integers");
    if (e.magnitude > SIZE_MAX) w.fail("garbled header: an extent is too large");
    dims.push_back(static_cast<std::size_t>(e.magnitude));
  }
  if (dims.size() > Shape::kMaxRank)
    w.fail("shape " + shape_text(dims) + " has rank " + std::to_string(dims.size()) +
           ", above the supported maximum of " + std::to_string(Shape::kMaxRank));
  info.shape = Shape(dims.begin(), dims.end());
  // ShapeError when no buffer could hold the shape, an empty one included: an extent of 0 must
  // not hide 2^61 elements per row that a reduction over the 0 would then materialize.
  info.data_bytes = info.shape.checked_bytes(itemsize(info.dtype), w.who().c_str());
  info.numel = info.shape.numel();
  return info;
}

std::string size_problem(const NpyInfo& info, std::size_t available) {
  std::string what = "shape " + info.shape.str() + " of " + descr(info.dtype) + " needs " +
                     std::to_string(info.data_bytes) + " bytes of data, ";
  if (available < info.data_bytes)
    return "truncated data: " + what + "only " + std::to_string(available) + " are present";
  return "unexpected trailing bytes: " + what + "but " + std::to_string(available) +
         " follow the header";
}

// A whole .npy held in memory (an .npz member).
template <class T> Tensor<T> parse_npy(const unsigned char* p, std::size_t n, const Where& w) {
  std::size_t header_offset = 0;
  const std::size_t pre = npy_preamble_length(p, std::min<std::size_t>(n, 12), header_offset, w);
  if (pre > n)
    w.fail("truncated header: it needs " + std::to_string(pre) + " bytes, the data has " +
           std::to_string(n));
  const NpyInfo info = parse_npy_header(
      std::string_view(reinterpret_cast<const char*>(p) + header_offset, pre - header_offset), w);
  info.shape.checked_bytes(sizeof(T), w.who().c_str());
  if (n - pre != info.data_bytes) w.fail(size_problem(info, n - pre));
  Tensor<T> t = Tensor<T>::empty(info.shape);
  decode(p + pre, info.dtype, info.numel, t.data());
  return t;
}

// ---- reading files -------------------------------------------------------------------------

class InFile {
 public:
  InFile(const std::string& path, const Where& w)
      : w_(w), file_(detail::open_regular_file(path, w.failer())), f_(file_.get()) {
    if (std::fseek(f_, 0, SEEK_END) != 0) w.fail("cannot seek: " + errno_text(errno));
    const long size = std::ftell(f_);
    if (size < 0) w.fail("cannot determine the file size: " + errno_text(errno));
    size_ = static_cast<std::size_t>(size);
    seek(0);
  }
  InFile(const InFile&) = delete;
  InFile& operator=(const InFile&) = delete;

  std::size_t size() const { return size_; }
  void seek(std::size_t offset) {
    if (offset > static_cast<std::size_t>(LONG_MAX) ||
        std::fseek(f_, static_cast<long>(offset), SEEK_SET) != 0)
      w_.fail("cannot seek: " + errno_text(errno));
  }
  // Exactly n bytes (the size was checked first; a short read means the file changed or failed).
  void read(void* dst, std::size_t n) {
    if (n && std::fread(dst, 1, n, f_) != n)
      w_.fail(std::ferror(f_) ? "read error: " + errno_text(errno)
                              : "unexpected end of file (was it truncated while reading?)");
  }

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  const Where& w_;
  std::unique_ptr<std::FILE, Closer> file_;  // closed even when the constructor throws
  std::FILE* f_;
  std::size_t size_ = 0;
};

// ---- atomic writing ------------------------------------------------------------------------

using AtomicFile = detail::AtomicFile;

// ---- ZIP -----------------------------------------------------------------------------------

constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEndSig = 0x06054b50;
constexpr std::uint32_t kEnd64Sig = 0x06064b50;
constexpr std::uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr std::size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22;
constexpr std::size_t kEnd64Size = 56, kEnd64LocatorSize = 20;
constexpr std::uint32_t kDosDate1980 = (0 << 9) | (1 << 5) | 1;  // 1980-01-01, 00:00:00
constexpr std::uint16_t kFlagUtf8 = 0x0800;
constexpr std::uint16_t kMethodStored = 0, kMethodDeflate = 8;
constexpr std::uint64_t kMax32 = 0xffffffff;

bool is_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 128; });
}

Bytes read_whole(const std::string& path, const Where& w) {
  InFile f(path, w);
  Bytes bytes(f.size());
  f.read(bytes.data(), bytes.size());
  return bytes;
}

// Raw deflate (no zlib header) of exactly `expected` output bytes.
Bytes inflate_raw(const unsigned char* in, std::size_t in_size, std::size_t expected,
                  const Where& w) {
  // Deflate cannot expand data more than ~1032:1; a larger declared size is a corrupt (or
  // hostile) entry, refused before allocating it.
  if (expected / 1032 > in_size + 64)
    w.fail("corrupt archive: declared uncompressed size " + std::to_string(expected) +
           " is impossible for " + std::to_string(in_size) + " compressed bytes");
  Bytes out(expected);
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) w.fail("zlib inflateInit2 failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  std::size_t in_left = in_size, out_left = expected;
  unsigned char* out_next = out.data();
  unsigned char dummy = 0;  // zlib refuses a null next_out even with no room
  zs.next_out = &dummy;
  constexpr std::size_t kChunk = 1u << 30;
  while (true) {
    if (zs.avail_in == 0 && in_left > 0) {
      zs.next_in = const_cast<Bytef*>(in);
      zs.avail_in = static_cast<uInt>(std::min(in_left, kChunk));
      in += zs.avail_in;
      in_left -= zs.avail_in;
    }
    if (zs.avail_out == 0 && out_left > 0) {
      zs.next_out = out_next;
      zs.avail_out = static_cast<uInt>(std::min(out_left, kChunk));
      out_next += zs.avail_out;
      out_left -= zs.avail_out;
    }
    const int ret = inflate(&zs, Z_NO_FLUSH);
    if (ret == Z_STREAM_END) break;
    if (ret == Z_BUF_ERROR) {  // no progress possible: out of output space or of input
      if (zs.avail_out == 0 && out_left == 0)
        w.fail("corrupt archive: the member decompresses to more than its declared " +
               std::to_string(expected) + " bytes");
      w.fail("corrupt archive: the compressed data is truncated");
    } else if (ret != Z_OK) {
      w.fail(std::string("corrupt archive: bad deflate data (") + (zs.msg ? zs.msg : "zlib error") +
             ")");
    }
  }
  if (zs.avail_out != 0 || out_left != 0)
    w.fail("corrupt archive: the member decompresses to fewer than its declared " +
           std::to_string(expected) + " bytes");
  return out;
}

struct ZipEntry {
  std::string name;
  std::uint16_t flags = 0, method = 0;
  std::uint32_t crc = 0;
  std::uint64_t csize = 0, usize = 0, offset = 0;
};

// Rejects anything that does not start like a ZIP archive, naming a .npy file for what it is.
void check_zip_magic(const Bytes& z, const Where& w) {
  const std::size_t n = z.size();
  const unsigned char* p = z.data();
  static constexpr unsigned char kPrefix[] = {'P', 'K', 3, 4}, kEmpty[] = {'P', 'K', 5, 6};
  if (n == 0) w.fail("empty file (not an .npz archive)");
  if (n < 4 || (std::memcmp(p, kPrefix, 4) != 0 && std::memcmp(p, kEmpty, 4) != 0)) {
    if (n >= sizeof kNpyMagic && std::memcmp(p, kNpyMagic, sizeof kNpyMagic) == 0)
      w.fail("not an .npz archive (wrong magic: this is a .npy file, use load_npy)");
    w.fail("not an .npz archive (wrong magic: expected a ZIP archive, \"PK\\x03\\x04\")");
  }
}

// Where the central directory is, from the end of central directory record (ZIP64 if present).
struct CentralDirectoryLocation {
  std::uint64_t disk = 0, cd_disk = 0, count = 0, cd_size = 0, cd_offset = 0;
  std::uint64_t limit = 0;  // the central directory lies before this
};

// The end of central directory record: 22 bytes and a comment of up to 65535 bytes at the end.
std::size_t find_end_record(const Bytes& z, const Where& w) {
  const std::size_t n = z.size();
  const unsigned char* p = z.data();
  if (n >= kEndSize) {
    const std::size_t lowest = n - kEndSize > 65535 ? n - kEndSize - 65535 : 0;
    for (std::size_t pos = n - kEndSize + 1; pos-- > lowest;) {
      if (rd32(p + pos) == kEndSig && pos + kEndSize + rd16(p + pos + 20) == n) return pos;
    }
  }
  w.fail("corrupt archive: no end of central directory record (truncated?)");
}

CentralDirectoryLocation locate_central_directory(const Bytes& z, const Where& w) {
  const unsigned char* p = z.data();
  const std::size_t end = find_end_record(z, w);
  const unsigned char* e = p + end;
  CentralDirectoryLocation at{rd16(e + 4),  rd16(e + 6),  rd16(e + 10),
                              rd32(e + 12), rd32(e + 16), end};
  if (end >= kEnd64LocatorSize && rd32(e - kEnd64LocatorSize) == kEnd64LocatorSig) {
    const unsigned char* loc = e - kEnd64LocatorSize;
    const std::uint64_t end64 = rd64(loc + 8);
    if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1)
      w.fail("multi-disk ZIP archives are not supported");
    if (end64 > end - kEnd64LocatorSize || end - kEnd64LocatorSize - end64 < kEnd64Size ||
        rd32(p + end64) != kEnd64Sig)
      w.fail("corrupt archive: bad ZIP64 end of central directory record");
    const unsigned char* r = p + end64;
    at = {rd32(r + 16), rd32(r + 20), rd64(r + 32), rd64(r + 40), rd64(r + 48), end64};
  }
  if (at.disk != 0 || at.cd_disk != 0) w.fail("multi-disk ZIP archives are not supported");
  if (at.cd_offset > at.limit || at.cd_size > at.limit - at.cd_offset)
    w.fail("corrupt archive: the central directory lies outside the file");
  if (at.count > at.cd_size / kCentralSize)
    w.fail("corrupt archive: " + std::to_string(at.count) +
           " entries cannot fit in a central directory of " + std::to_string(at.cd_size) +
           " bytes");
  return at;
}

// ZIP64 extended information: the 64-bit values of the fields set to 0xffffffff, in order.
void read_zip64_extra(const unsigned char* x, const unsigned char* x_end, ZipEntry& entry,
                      std::uint64_t& start_disk, const std::string& nth, const Where& w) {
  while (x_end - x >= 4) {
    const std::uint16_t id = rd16(x), size = rd16(x + 2);
    if (static_cast<std::size_t>(x_end - x - 4) < size)
      w.fail("corrupt archive: bad extra field in " + nth);
    if (id == 0x0001) {
      const unsigned char* f = x + 4;
      const unsigned char* f_end = f + size;
      auto take64 = [&](std::uint64_t& field) {
        if (f_end - f < 8) w.fail("corrupt archive: short ZIP64 extra field in " + nth);
        field = rd64(f);
        f += 8;
      };
      if (entry.usize == kMax32) take64(entry.usize);
      if (entry.csize == kMax32) take64(entry.csize);
      if (entry.offset == kMax32) take64(entry.offset);
      if (start_disk == 0xffff) {
        if (f_end - f < 4) w.fail("corrupt archive: short ZIP64 extra field in " + nth);
        start_disk = rd32(f);
      }
    }
    x += 4 + size;
  }
}

// Entry i of the central directory, which starts at pos; pos moves past it.
ZipEntry read_central_entry(const Bytes& z, std::size_t& pos, std::size_t cd_end, std::uint64_t i,
                            const Where& w) {
  const unsigned char* p = z.data();
  const std::string nth = "central directory entry " + std::to_string(i);
  if (cd_end - pos < kCentralSize || rd32(p + pos) != kCentralSig)
    w.fail("corrupt archive: bad " + nth);
  const unsigned char* c = p + pos;
  ZipEntry entry;
  entry.flags = rd16(c + 8);
  entry.method = rd16(c + 10);
  entry.crc = rd32(c + 16);
  entry.csize = rd32(c + 20);
  entry.usize = rd32(c + 24);
  const std::size_t name_len = rd16(c + 28), extra_len = rd16(c + 30), comment_len = rd16(c + 32);
  std::uint64_t start_disk = rd16(c + 34);
  entry.offset = rd32(c + 42);
  if (cd_end - pos - kCentralSize < name_len + extra_len + comment_len)
    w.fail("corrupt archive: " + nth + " overruns the central directory");
  entry.name.assign(reinterpret_cast<const char*>(c + kCentralSize), name_len);
  const unsigned char* extra = c + kCentralSize + name_len;
  read_zip64_extra(extra, extra + extra_len, entry, start_disk, nth, w);
  if (start_disk != 0) w.fail("multi-disk ZIP archives are not supported");
  pos += kCentralSize + name_len + extra_len + comment_len;
  return entry;
}

// The central directory of an in-memory archive, checked for bounds.
std::vector<ZipEntry> read_central_directory(const Bytes& z, std::uint64_t& data_limit,
                                             const Where& w) {
  check_zip_magic(z, w);
  const CentralDirectoryLocation at = locate_central_directory(z, w);
  data_limit = at.cd_offset;
  std::vector<ZipEntry> entries;
  entries.reserve(static_cast<std::size_t>(at.count));
  std::size_t pos = static_cast<std::size_t>(at.cd_offset);
  const std::size_t cd_end = static_cast<std::size_t>(at.cd_offset + at.cd_size);
  for (std::uint64_t i = 0; i < at.count; ++i)
    entries.push_back(read_central_entry(z, pos, cd_end, i, w));
  return entries;
}

// One array of an archive being written. Every header field is known before the first byte is
// written, so that an archive too large for plain ZIP fails before the file is created.
template <class T> struct NpzMember {
  std::string file_name, preamble;
  const Tensor<T>* tensor;
  std::uint64_t size = 0, offset = 0;
  std::uint32_t crc = 0;
  std::uint16_t flags = 0;
};

// Checks the names and lays the members out one after the other; data_size is where the last
// one ends.
template <class T>
std::vector<NpzMember<T>> plan_npz_members(
    const std::vector<std::pair<std::string, Tensor<T>>>& arrays, const Where& w,
    std::uint64_t& data_size) {
  if (arrays.size() >= 0xffff)
    w.fail(std::to_string(arrays.size()) +
           " arrays need a ZIP64 archive, which is not supported for writing (at most 65534)");
  std::vector<NpzMember<T>> members;
  std::unordered_set<std::string> seen;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : arrays) {
    if (name.empty()) w.fail("an array has an empty name");
    if (name.find('\0') != std::string::npos) w.fail("an array name contains a NUL byte");
    if (!seen.insert(name).second) w.fail("duplicate array name '" + name + "'");
    if (name.size() + 4 > 0xffff) w.fail("array name too long: '" + name.substr(0, 40) + "...'");
    if (!tensor.defined()) w.fail("array '" + name + "' is an undefined tensor");
    NpzMember<T> m{name + ".npy", npy_preamble(dtype_of<T>(), tensor.shape()), &tensor};
    m.flags = is_ascii(name) ? 0 : kFlagUtf8;
    m.size = m.preamble.size() + std::uint64_t{tensor.size()} * sizeof(T);
    m.offset = offset;
    offset += kLocalSize + m.file_name.size() + m.size;
    m.crc =
        crc_update(0, reinterpret_cast<const unsigned char*>(m.preamble.data()), m.preamble.size());
    encode(tensor.data(), tensor.size(),
           [&](const unsigned char* p, std::size_t n) { m.crc = crc_update(m.crc, p, n); });
    members.push_back(std::move(m));
  }
  data_size = offset;
  return members;
}

// A local file header followed by the .npy bytes, stored uncompressed.
template <class T> void write_npz_member(AtomicFile& out, const NpzMember<T>& m) {
  std::string h;
  put32(h, kLocalSig);
  put16(h, 20);  // version needed to extract: 2.0
  put16(h, m.flags);
  put16(h, kMethodStored);
  put16(h, 0);  // time
  put16(h, kDosDate1980);
  put32(h, m.crc);
  put32(h, static_cast<std::uint32_t>(m.size));  // compressed
  put32(h, static_cast<std::uint32_t>(m.size));  // uncompressed
  put16(h, static_cast<std::uint32_t>(m.file_name.size()));
  put16(h, 0);  // extra field length
  h += m.file_name;
  out.write(h);
  out.write(m.preamble);
  encode(m.tensor->data(), m.tensor->size(),
         [&](const unsigned char* p, std::size_t n) { out.write(p, n); });
}

// The central directory and its end record, for members whose data ends at cd_offset.
template <class T>
std::string npz_central_directory(const std::vector<NpzMember<T>>& members, std::uint64_t cd_offset,
                                  std::uint64_t cd_size) {
  std::string cd;
  for (const NpzMember<T>& m : members) {
    put32(cd, kCentralSig);
    put16(cd, (3 << 8) | 20);  // made by: Unix, 2.0
    put16(cd, 20);
    put16(cd, m.flags);
    put16(cd, kMethodStored);
    put16(cd, 0);
    put16(cd, kDosDate1980);
    put32(cd, m.crc);
    put32(cd, static_cast<std::uint32_t>(m.size));
    put32(cd, static_cast<std::uint32_t>(m.size));
    put16(cd, static_cast<std::uint32_t>(m.file_name.size()));
    put16(cd, 0);               // extra field length
    put16(cd, 0);               // comment length
    put16(cd, 0);               // disk number start
    put16(cd, 0);               // internal attributes
    put32(cd, 0100644u << 16);  // external attributes: regular file, rw-r--r--
    put32(cd, static_cast<std::uint32_t>(m.offset));
    cd += m.file_name;
  }
  put32(cd, kEndSig);
  put16(cd, 0);  // this disk
  put16(cd, 0);  // disk with the central directory
  put16(cd, static_cast<std::uint32_t>(members.size()));
  put16(cd, static_cast<std::uint32_t>(members.size()));
  put32(cd, static_cast<std::uint32_t>(cd_size));
  put32(cd, static_cast<std::uint32_t>(cd_offset));
  put16(cd, 0);  // comment length
  return cd;
}

}  // namespace

// ---- API -----------------------------------------------------------------------------------

template <class T> void save_npy(const std::string& path, const Tensor<T>& t) {
  const Where w{"save_npy", path};
  if (!t.defined()) w.fail("cannot save an undefined tensor");
  AtomicFile out(path, w.failer());
  out.write(npy_preamble(dtype_of<T>(), t.shape()));
  encode(t.data(), t.size(), [&](const unsigned char* p, std::size_t n) { out.write(p, n); });
  out.commit();
}

template <class T> Tensor<T> load_npy(const std::string& path) {
  const Where w{"load_npy", path};
  InFile f(path, w);
  const std::size_t n = f.size();
  unsigned char head[12];
  const std::size_t head_n = std::min<std::size_t>(n, sizeof head);
  f.read(head, head_n);
  std::size_t header_offset = 0;
  const std::size_t pre = npy_preamble_length(head, head_n, header_offset, w);
  if (pre > n)
    w.fail("truncated header: the header length says " + std::to_string(pre - header_offset) +
           " bytes, but the file has only " + std::to_string(n - header_offset) +
           " after the length field");
  std::string header(pre - header_offset, '\0');
  f.seek(header_offset);
  f.read(header.data(), header.size());
  const NpyInfo info = parse_npy_header(header, w);
  info.shape.checked_bytes(sizeof(T), w.who().c_str());
  if (n - pre != info.data_bytes) w.fail(size_problem(info, n - pre));

  Tensor<T> t = Tensor<T>::empty(info.shape);
  if (kLittleEndian && info.dtype == dtype_of<T>()) {
    f.read(t.data(), info.data_bytes);
  } else {
    constexpr std::size_t kChunk = 1 << 16;  // elements
    Bytes buf(kChunk * itemsize(info.dtype));
    for (std::size_t done = 0; done < info.numel;) {
      const std::size_t k = std::min(kChunk, info.numel - done);
      f.read(buf.data(), k * itemsize(info.dtype));
      decode(buf.data(), info.dtype, k, t.data() + done);
      done += k;
    }
  }
  return t;
}

template <class T>
void save_npz(const std::string& path,
              const std::vector<std::pair<std::string, Tensor<T>>>& arrays) {
  const Where w{"save_npz", path};
  std::uint64_t data_size = 0;
  const std::vector<NpzMember<T>> members = plan_npz_members(arrays, w, data_size);
  std::uint64_t cd_size = 0;
  for (const NpzMember<T>& m : members) cd_size += kCentralSize + m.file_name.size();
  if (data_size >= kMax32 || cd_size >= kMax32 - data_size)
    w.fail("the archive would exceed 4 GiB, which needs ZIP64, not supported for writing");

  AtomicFile out(path, w.failer());
  for (const NpzMember<T>& m : members) write_npz_member(out, m);
  out.write(npz_central_directory(members, out.offset(), cd_size));
  out.commit();
}

template <class T>
std::vector<std::pair<std::string, Tensor<T>>> load_npz(const std::string& path) {
  const Where w{"load_npz", path};
  const Bytes z = read_whole(path, w);
  std::uint64_t data_limit = 0;
  const std::vector<ZipEntry> entries = read_central_directory(z, data_limit, w);

  std::vector<std::pair<std::string, Tensor<T>>> out;
  out.reserve(entries.size());
  for (const ZipEntry& entry : entries) {
    const Where mw{"load_npz", path, entry.name};
    if (entry.flags & 1) mw.fail("encrypted members are not supported");
    if (entry.method != kMethodStored && entry.method != kMethodDeflate)
      mw.fail("unsupported compression method " + std::to_string(entry.method) +
              " (only stored and deflate)");
    if (entry.offset > data_limit || data_limit - entry.offset < kLocalSize ||
        rd32(z.data() + entry.offset) != kLocalSig)
      mw.fail("corrupt archive: bad local header");
    const unsigned char* local = z.data() + entry.offset;
    const std::uint64_t name_len = rd16(local + 26), extra_len = rd16(local + 28);
    const std::uint64_t data_offset = entry.offset + kLocalSize + name_len + extra_len;
    if (data_offset > data_limit || entry.csize > data_limit - data_offset)
      mw.fail("corrupt archive: the member's data overruns the archive");
    if (std::string_view(reinterpret_cast<const char*>(local + kLocalSize), name_len) != entry.name)
      mw.fail("corrupt archive: the local header names a different file");
    const unsigned char* data = z.data() + data_offset;
    Bytes inflated;
    const unsigned char* member = data;
    if (entry.method == kMethodDeflate) {
      inflated = inflate_raw(data, static_cast<std::size_t>(entry.csize),
                             static_cast<std::size_t>(entry.usize), mw);
      member = inflated.data();
    } else if (entry.usize != entry.csize) {
      mw.fail("corrupt archive: a stored member's sizes differ");
    }
    const std::size_t size = static_cast<std::size_t>(entry.usize);
    const std::uint32_t crc = crc_update(0, member, size);
    if (crc != entry.crc) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "CRC-32 mismatch (recorded %08x, computed %08x)",
                    static_cast<unsigned>(entry.crc), static_cast<unsigned>(crc));
      mw.fail(buf);
    }
    const std::string_view suffix = ".npy";
    if (entry.name.size() < suffix.size() ||
        std::string_view(entry.name).substr(entry.name.size() - suffix.size()) != suffix)
      mw.fail("not a .npy member");
    out.emplace_back(entry.name.substr(0, entry.name.size() - suffix.size()),
                     parse_npy<T>(member, size, mw));
  }
  return out;
}

template void save_npy<float>(const std::string&, const Tensor<float>&);
template void save_npy<double>(const std::string&, const Tensor<double>&);
template Tensor<float> load_npy<float>(const std::string&);
template Tensor<double> load_npy<double>(const std::string&);
template void save_npz<float>(const std::string&,
                              const std::vector<std::pair<std::string, Tensor<float>>>&);
template void save_npz<double>(const std::string&,
                               const std::vector<std::pair<std::string, Tensor<double>>>&);
template std::vector<std::pair<std::string, Tensor<float>>> load_npz<float>(const std::string&);
template std::vector<std::pair<std::string, Tensor<double>>> load_npz<double>(const std::string&);

}  // namespace tg::nn
