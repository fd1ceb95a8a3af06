// IDX and CSV readers, one-hot targets and the minibatch iterator (see data.hpp).
#include "tapegrad/nn/data.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include <sys/stat.h>

#include "file_io.hpp"
#include "label_checks.hpp"
#include "tapegrad/replay.hpp"

namespace tg::nn {

namespace {

[[noreturn]] void fail(const char* fn, const std::string& path, const std::string& what) {
  throw DataError(std::string(fn) + ": " + path + ": " + what);
}

std::string hex_byte(unsigned v) {
  static const char* digits = "0123456789abcdef";
  std::string s = "0x";
  s += digits[(v >> 4) & 0xF];
  s += digits[v & 0xF];
  return s;
}

bool valid_type_code(unsigned code) {
  return code == 0x08 || code == 0x09 || code == 0x0B || code == 0x0C || code == 0x0D ||
         code == 0x0E;
}

// A byte source over a plain file or a gzip'd one (inflated incrementally with zlib: the
// decompressed size is never trusted before the bytes have arrived). Only a regular file is
// read (a FIFO or a device could block or never end). A gzip file may hold several members (as `cat
// a.gz b.gz` makes); bytes after the last member that do not start another one are ignored, as gzip
// and zlib's gzread do. Every I/O or decompression error throws DataError naming the file.
class ByteSource {
 public:
  ByteSource(const char* fn, std::string path) : fn_(fn), path_(std::move(path)) {
    file_.reset(detail::open_regular_file(
        path_, [this](const std::string& problem) { fail(fn_, path_, problem); }));
    struct stat st {};
    if (::fstat(fileno(file_.get()), &st) == 0) file_size_ = static_cast<std::uint64_t>(st.st_size);
    in_.resize(1 << 18);
    const std::size_t got = fill(in_.data(), 2);
    pending_ = got;  // the bytes looked at are served first (plain) or inflated (gzip)
    if (got == 2 && in_[0] == 0x1f && in_[1] == 0x8b) {
      if (inflateInit2(&zs_, 15 + 16) != Z_OK)  // gzip wrapper only
        fail(fn_, path_, "cannot start zlib's inflate");
      inflating_ = true;
      zs_.next_in = in_.data();
      zs_.avail_in = static_cast<uInt>(got);
    }
  }
  ~ByteSource() {
    if (inflating_) inflateEnd(&zs_);
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  bool gzipped() const { return inflating_; }
  const std::string& path() const { return path_; }
  // The size of a plain file (unknown for gzip'd files).
  std::optional<std::uint64_t> plain_size() const {
    if (inflating_) return std::nullopt;
    return file_size_;
  }
  // The size of the file on disk, compressed or not.
  std::optional<std::uint64_t> file_size() const { return file_size_; }

  // Reads up to n bytes (decompressed for gzip); fewer only at the end of the data.
  std::size_t read(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    if (!inflating_) {
      const std::size_t first = std::min(n, pending_ - served_);
      std::memcpy(out, in_.data() + served_, first);
      served_ += first;
      return first + fill(out + first, n - first);
    }
    std::size_t total = 0;
    while (total < n && !done_) {
      const std::size_t want = std::min<std::size_t>(n - total, std::size_t{1} << 30);
      zs_.next_out = out + total;
      zs_.avail_out = static_cast<uInt>(want);
      while (zs_.avail_out > 0 && !done_) {
        if (zs_.avail_in == 0) {
          const std::size_t got = fill(in_.data(), in_.size());
          if (got == 0) fail(fn_, path_, "truncated gzip stream (unexpected end of file)");
          zs_.next_in = in_.data();
          zs_.avail_in = static_cast<uInt>(got);
        }
        const int ret = inflate(&zs_, Z_NO_FLUSH);
        if (ret == Z_STREAM_END) {
          done_ = !next_member();
        } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
          fail(
              fn_, path_,
              std::string("corrupt gzip stream (zlib: ") + (zs_.msg ? zs_.msg : zError(ret)) + ")");
        }
      }
      total += want - zs_.avail_out;
    }
    return total;
  }

 private:
  // fread that retries until n bytes or the end of the file; throws on a read error.
  std::size_t fill(unsigned char* dst, std::size_t n) {
    std::size_t total = 0;
    while (total < n) {
      const std::size_t got = std::fread(dst + total, 1, n - total, file_.get());
      total += got;
      if (got == 0) {
        if (std::ferror(file_.get()))
          fail(fn_, path_, std::string("read error: ") + std::strerror(errno));
        break;
      }
    }
    return total;
  }

  // After a gzip member: whether another member follows (then inflate is reset for it).
  bool next_member() {
    if (zs_.avail_in < 2) {
      const std::size_t have = zs_.avail_in;
      std::memmove(in_.data(), zs_.next_in, have);
      const std::size_t got = fill(in_.data() + have, in_.size() - have);
      zs_.next_in = in_.data();
      zs_.avail_in = static_cast<uInt>(have + got);
    }
    if (zs_.avail_in < 2 || zs_.next_in[0] != 0x1f || zs_.next_in[1] != 0x8b) return false;
    inflateReset(&zs_);
    return true;
  }

  const char* fn_;
  std::string path_;
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file_;  // closed even when the constructor throws
  std::vector<unsigned char> in_;         // input buffer (compressed bytes, or the peeked prefix)
  std::size_t pending_ = 0, served_ = 0;  // plain files: the peeked prefix and how much is served
  z_stream zs_{};
  bool inflating_ = false;
  bool done_ = false;  // gzip: the last member has ended
  std::optional<std::uint64_t> file_size_;
};

template <class U> U load(const std::uint8_t* p) {
  U v;
  std::memcpy(&v, p, sizeof(U));
  return v;
}

// Big-endian elements of `size` bytes -> host order, in place.
void to_host_order(std::vector<std::uint8_t>& bytes, std::size_t size) {
  if constexpr (std::endian::native == std::endian::big) return;
  if (size == 1) return;
  std::uint8_t* p = bytes.data();
  const std::size_t n = bytes.size() / size;
  for (std::size_t i = 0; i < n; ++i, p += size) std::reverse(p, p + size);
}

// Calls f(value) for every element of `a`, converted to double, in order.
template <class F> void for_each_value(const IdxArray& a, F&& f) {
  const std::uint8_t* p = a.bytes.data();
  const std::size_t n = a.size();
  switch (a.type) {
    case IdxType::u8:
      for (std::size_t i = 0; i < n; ++i) f(static_cast<double>(p[i]));
      break;
    case IdxType::i8:
      for (std::size_t i = 0; i < n; ++i) f(static_cast<double>(static_cast<std::int8_t>(p[i])));
      break;
    case IdxType::i16:
      for (std::size_t i = 0; i < n; ++i) f(static_cast<double>(load<std::int16_t>(p + 2 * i)));
      break;
    case IdxType::i32:
      for (std::size_t i = 0; i < n; ++i) f(static_cast<double>(load<std::int32_t>(p + 4 * i)));
      break;
    case IdxType::f32:
      for (std::size_t i = 0; i < n; ++i) f(static_cast<double>(load<float>(p + 4 * i)));
      break;
    case IdxType::f64:
      for (std::size_t i = 0; i < n; ++i) f(load<double>(p + 8 * i));
      break;
  }
}

// Throws ShapeError naming `fn`, the file and the shape when no buffer of elements of
// `element_size` bytes could hold `a.shape` (more than PTRDIFF_MAX bytes). An extent of 0 counts as
// 1: an empty [0, 2^32-1, 2^32-1, 2^32-1] still describes rows no buffer could hold, and the
// product of the other extents would wrap.
void check_shape(const IdxArray& a, std::size_t element_size, const char* fn) {
  std::size_t n = element_size;
  for (std::size_t d : a.shape)
    if (__builtin_mul_overflow(n, d ? d : 1, &n) || n > std::size_t(PTRDIFF_MAX))
      throw ShapeError(std::string(fn) + ": " + a.path + ": shape " + a.shape_str() + " " +
                       idx_type_name(a.type) + " is too large for any buffer of " +
                       std::to_string(element_size) + "-byte elements (more than 2^63 bytes)");
}

void check_consistent(const IdxArray& a, const char* fn) {
  if (a.bytes.size() != a.size() * idx_element_size(a.type))
    throw DataError(std::string(fn) + ": " + a.path + ": " + std::to_string(a.bytes.size()) +
                    " bytes do not hold " + a.shape_str() + " " + idx_type_name(a.type));
}

// "decompressed file has " or "file has ", for messages about how much data there was.
const char* idx_has(const ByteSource& src) {
  return src.gzipped() ? "decompressed file has " : "file has ";
}

// The magic and the extents; header_bytes is how many bytes they took.
IdxArray read_idx_header(ByteSource& src, const char* fn, const std::string& path,
                         std::size_t& header_bytes) {
  std::uint8_t magic[4];
  const std::size_t got_magic = src.read(magic, 4);
  if (got_magic == 0) fail(fn, path, "empty file (no IDX magic)");
  if (got_magic < 4)
    fail(fn, path,
         "truncated: file ends inside the 4-byte magic (" + std::to_string(got_magic) + " bytes)");
  if (magic[0] != 0 || magic[1] != 0)
    fail(fn, path,
         "bad magic " + hex_byte(magic[0]) + " " + hex_byte(magic[1]) + " " + hex_byte(magic[2]) +
             " " + hex_byte(magic[3]) +
             ": not an IDX file (expected 0x00 0x00 <type code> <ndims>)");
  if (!valid_type_code(magic[2]))
    fail(fn, path,
         "unknown type code " + hex_byte(magic[2]) +
             " (valid: 0x08 ubyte, 0x09 sbyte, 0x0b short, 0x0c int, 0x0d float, 0x0e double)");

  IdxArray a;
  a.path = path;
  a.type = static_cast<IdxType>(magic[2]);
  const std::size_t ndims = magic[3];
  header_bytes = 4 + 4 * ndims;

  std::uint8_t dims[4 * 255];
  const std::size_t got_dims = src.read(dims, 4 * ndims);
  if (got_dims < 4 * ndims)
    fail(fn, path,
         "truncated: the header has " + std::to_string(ndims) + " dimensions (" +
             std::to_string(4 * ndims) + " bytes of extents) but the " + idx_has(src) +
             std::to_string(got_dims) + " after the magic");

  a.shape.resize(ndims);
  for (std::size_t d = 0; d < ndims; ++d) {
    const std::uint8_t* p = dims + 4 * d;
    a.shape[d] = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                 (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
  }
  return a;
}

// A plain regular file: check its size against the header before allocating anything.
void check_idx_file_size(const ByteSource& src, const char* fn, std::size_t header_bytes,
                         std::uint64_t promised, const std::string& what) {
  const auto size = src.plain_size();
  if (!size) return;
  const std::uint64_t available = *size >= header_bytes ? *size - header_bytes : 0;
  if (available < promised)
    fail(fn, src.path(),
         "truncated: header promises " + std::to_string(promised) + " bytes of data (" + what +
             "), file has " + std::to_string(available));
  if (available > promised)
    fail(fn, src.path(),
         "trailing garbage: " + std::to_string(available - promised) + " bytes after the " +
             std::to_string(promised) + " bytes of data the header promises (" + what + ")");
}

// Read incrementally: the buffer grows with the data actually delivered, so a corrupt header
// cannot make us allocate more than a small multiple of what the file really holds.
// A checked plain file reserves exactly; otherwise a small multiple of the compressed size.
void read_idx_payload(ByteSource& src, const char* fn, std::uint64_t promised,
                      const std::string& what, std::vector<std::uint8_t>& bytes) {
  std::size_t reserve = static_cast<std::size_t>(promised);
  if (!src.plain_size()) {
    const std::uint64_t hint =
        src.gzipped() && src.file_size() ? 8 * *src.file_size() + (1 << 16) : (1 << 20);
    reserve = static_cast<std::size_t>(std::min<std::uint64_t>(promised, hint));
  }
  bytes.reserve(reserve);
  std::size_t got = 0;
  while (got < promised) {
    // Each read asks for at most as many bytes as have arrived so far (64 KiB to start, 16 MiB
    // at most): sized by the promise alone, the first read of a gzip stream allocated 16 MiB for
    // a header that a 40-byte file could make.
    const std::size_t step = std::min(std::max(got, std::size_t{1} << 16), std::size_t{1} << 24);
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(promised - got, step));
    bytes.resize(got + want);
    const std::size_t n = src.read(bytes.data() + got, want);
    got += n;
    if (n < want) break;
  }
  bytes.resize(got);
  if (got < promised)
    fail(fn, src.path(),
         "truncated: header promises " + std::to_string(promised) + " bytes of data (" + what +
             "), " + idx_has(src) + std::to_string(got));
}

// Trailing bytes (counted up to a cap, without storing them).
void check_idx_end(ByteSource& src, const char* fn, std::uint64_t promised,
                   const std::string& what) {
  std::array<std::uint8_t, 1 << 16> scratch;
  std::size_t extra = 0;
  const std::size_t cap = std::size_t{1} << 26;
  while (extra < cap) {
    const std::size_t n = src.read(scratch.data(), scratch.size());
    extra += n;
    if (n < scratch.size()) break;
  }
  if (extra > 0)
    fail(fn, src.path(),
         "trailing garbage: " + std::string(extra >= cap ? "more than " : "") +
             std::to_string(extra) + " bytes after the " + std::to_string(promised) +
             " bytes of data the header promises (" + what + ")");
}

}  // namespace

// ---- IDX ------------------------------------------------------------------------------------

std::size_t idx_element_size(IdxType type) {
  switch (type) {
    case IdxType::u8:
    case IdxType::i8:
      return 1;
    case IdxType::i16:
      return 2;
    case IdxType::i32:
    case IdxType::f32:
      return 4;
    case IdxType::f64:
      return 8;
  }
  return 1;
}

const char* idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::u8:
      return "ubyte";
    case IdxType::i8:
      return "sbyte";
    case IdxType::i16:
      return "short";
    case IdxType::i32:
      return "int";
    case IdxType::f32:
      return "float";
    case IdxType::f64:
      return "double";
  }
  return "unknown";
}

std::size_t IdxArray::size() const {
  check_shape(*this, 1, "IdxArray::size");
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

std::string IdxArray::shape_str() const {
  return Shape::dims_str(shape.data(), shape.size());
}

double IdxArray::value(std::size_t i) const {
  const std::size_t es = idx_element_size(type);
  if (i >= size() || (i + 1) * es > bytes.size())
    throw IndexError("IdxArray::value: index " + std::to_string(i) + " out of range for " +
                     shape_str());
  const std::uint8_t* p = bytes.data() + i * es;
  switch (type) {
    case IdxType::u8:
      return *p;
    case IdxType::i8:
      return static_cast<std::int8_t>(*p);
    case IdxType::i16:
      return load<std::int16_t>(p);
    case IdxType::i32:
      return load<std::int32_t>(p);
    case IdxType::f32:
      return load<float>(p);
    case IdxType::f64:
      return load<double>(p);
  }
  return 0;
}

template <class T> std::vector<T> IdxArray::to_vector() const {
  check_consistent(*this, "IdxArray::to_vector");
  std::vector<T> out;
  out.reserve(size());
  for_each_value(*this, [&](double v) { out.push_back(static_cast<T>(v)); });
  return out;
}

template std::vector<float> IdxArray::to_vector<float>() const;
template std::vector<double> IdxArray::to_vector<double>() const;

IdxArray read_idx(const std::string& path) {
  static const char* fn = "read_idx";
  ByteSource src(fn, path);
  std::size_t header_bytes = 0;
  IdxArray a = read_idx_header(src, fn, path, header_bytes);
  const std::size_t es = idx_element_size(a.type);
  check_shape(a, es, fn);
  const std::uint64_t promised = std::uint64_t{a.size()} * es;
  const std::string what = a.shape_str() + " " + idx_type_name(a.type);
  check_idx_file_size(src, fn, header_bytes, promised, what);
  read_idx_payload(src, fn, promised, what, a.bytes);
  check_idx_end(src, fn, promised, what);
  to_host_order(a.bytes, es);
  return a;
}

template <class T> Tensor<T> idx_images(const IdxArray& images, T scale) {
  if (images.shape.size() < 2)
    throw ShapeError("idx_images: " + images.path + ": expected [n, rows, cols] (rank >= 2), got " +
                     images.shape_str() + " " + idx_type_name(images.type));
  // Both the file's elements and the T elements made from them must be addressable.
  check_shape(images, std::max(idx_element_size(images.type), sizeof(T)), "idx_images");
  check_consistent(images, "idx_images");
  const std::size_t n = images.shape[0];
  std::size_t features = 1;
  for (std::size_t d = 1; d < images.shape.size(); ++d) features *= images.shape[d];
  Tensor<T> out = Tensor<T>::empty(Shape{n, features});
  T* dst = out.data();
  if (images.type == IdxType::u8) {  // pixels: one table lookup each
    std::array<T, 256> table;
    for (int v = 0; v < 256; ++v) table[v] = static_cast<T>(v) * scale;
    const std::uint8_t* src = images.bytes.data();
    const std::size_t count = images.size();
    for (std::size_t i = 0; i < count; ++i) dst[i] = table[src[i]];
  } else {
    std::size_t i = 0;
    for_each_value(images, [&](double v) { dst[i++] = static_cast<T>(v) * scale; });
  }
  return out;
}

Labels idx_labels(const IdxArray& labels) {
  if (labels.shape.size() != 1)
    throw ShapeError("idx_labels: " + labels.path + ": expected a 1-d array [n], got " +
                     labels.shape_str());
  if (labels.type == IdxType::f32 || labels.type == IdxType::f64)
    throw DataError("idx_labels: " + labels.path + ": labels must have an integer type, got " +
                    idx_type_name(labels.type));
  check_shape(labels, sizeof(std::int64_t), "idx_labels");
  check_consistent(labels, "idx_labels");
  Labels out;
  out.reserve(labels.size());
  for_each_value(labels, [&](double v) { out.push_back(static_cast<std::int64_t>(v)); });
  return out;
}

// ---- CSV ------------------------------------------------------------------------------------

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits a line into fields. A blank delimiter (space or tab) treats any run of blanks as one
// separator; another delimiter separates exactly, and the fields are trimmed.
void split(std::string_view line, char delimiter, std::vector<std::string_view>& fields) {
  fields.clear();
  if (delimiter == ' ' || delimiter == '\t') {
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && is_blank(line[i])) ++i;
      if (i == line.size()) break;
      std::size_t j = i;
      while (j < line.size() && !is_blank(line[j])) ++j;
      fields.push_back(line.substr(i, j - i));
      i = j;
    }
    return;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t pos = line.find(delimiter, start);
    if (pos == std::string_view::npos) {
      fields.push_back(trim(line.substr(start)));
      return;
    }
    fields.push_back(trim(line.substr(start, pos - start)));
    start = pos + 1;
  }
}

std::string quoted(std::string_view field) {
  std::string s(field.substr(0, 40));
  if (field.size() > 40) s += "...";
  return "'" + s + "'";
}

}  // namespace

template <class T> Tensor<T> read_csv(const std::string& path, bool has_header, char delimiter) {
  static const char* fn = "read_csv";
  std::FILE* f =
      detail::open_regular_file(path, [&](const std::string& problem) { fail(fn, path, problem); });
  std::string text;
  {
    std::array<char, 1 << 16> chunk;
    std::size_t n;
    while ((n = std::fread(chunk.data(), 1, chunk.size(), f)) > 0) text.append(chunk.data(), n);
    const bool error = std::ferror(f);
    const int err = errno;
    std::fclose(f);
    if (error) fail(fn, path, std::string("read error: ") + std::strerror(err));
  }
  std::string_view rest(text);
  if (rest.starts_with("\xEF\xBB\xBF")) rest.remove_prefix(3);

  std::vector<T> values;
  std::vector<std::string_view> fields;
  std::size_t cols = 0, rows = 0, first_row_line = 0, line_no = 0;
  while (!rest.empty()) {
    const std::size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    ++line_no;
    if (has_header && line_no == 1) continue;
    if (trim(line).empty()) continue;
    split(line, delimiter, fields);
    if (rows == 0) {
      cols = fields.size();
      first_row_line = line_no;
    } else if (fields.size() != cols) {
      fail(fn, path,
           "line " + std::to_string(line_no) + " has " + std::to_string(fields.size()) +
               " fields, expected " + std::to_string(cols) + " (as on line " +
               std::to_string(first_row_line) + ")");
    }
    for (std::size_t c = 0; c < fields.size(); ++c) {
      std::string_view field = fields[c];
      if (field.size() >= 2 && field.front() == '"' && field.back() == '"')
        field = trim(field.substr(1, field.size() - 2));
      std::string_view digits = field;
      if (digits.size() > 1 && digits.front() == '+' && digits[1] != '-') digits.remove_prefix(1);
      double v = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      const std::string where =
          "line " + std::to_string(line_no) + ", column " + std::to_string(c + 1) + ": ";
      if (field.empty()) fail(fn, path, where + "empty field, expected a number");
      if (ec == std::errc::result_out_of_range)
        fail(fn, path, where + quoted(field) + " is out of range for double");
      if (ec != std::errc() || end != digits.data() + digits.size())
        fail(fn, path, where + quoted(field) + " is not a number");
      const T t = static_cast<T>(v);
      if (std::isfinite(v) && !std::isfinite(t))
        fail(fn, path, where + quoted(field) + " is out of range for float");
      values.push_back(t);
    }
    ++rows;
  }
  if (rows == 0)
    fail(fn, path,
         has_header && line_no > 0 ? "no data rows after the header" : "empty file (no data rows)");
  const Shape shape{rows, cols};
  shape.checked_bytes(sizeof(T), "read_csv");
  Tensor<T> out = Tensor<T>::empty(shape);
  std::copy(values.begin(), values.end(), out.data());
  return out;
}

// ---- taking a table apart --------------------------------------------------------------------

namespace {

template <class T> void require_table(const char* fn, const Tensor<T>& table) {
  if (!table.defined()) throw ShapeError(std::string(fn) + ": the table is undefined");
  if (table.ndim() != 2)
    throw ShapeError(std::string(fn) + ": " + describe("table", table) +
                     " is not 2-d; expected [rows, columns]");
}

// A Python-style column index (negative counts from the end) as an offset into a row.
template <class T>
std::size_t resolve_column(const char* fn, const Tensor<T>& table, std::int64_t column) {
  const std::size_t cols = table.dim(1);
  const bool negative = column < 0;
  // The magnitude as unsigned, so that INT64_MIN does not overflow on negation.
  const std::uint64_t magnitude =
      negative ? std::uint64_t(0) - static_cast<std::uint64_t>(column) : std::uint64_t(column);
  if (negative ? magnitude > cols : magnitude >= cols)
    throw IndexError(
        std::string(fn) + ": column " + std::to_string(column) + " is out of range for " +
        describe("table", table) +
        (cols ? " (valid -" + std::to_string(cols) + ".." + std::to_string(cols - 1) + ")"
              : " (no columns)"));
  return negative ? cols - magnitude : magnitude;
}

// Copies the given columns of a 2-d table into a fresh [rows, columns.size()] tensor.
template <class T>
Tensor<T> copy_columns(const Tensor<T>& table, const std::vector<std::size_t>& columns) {
  const std::size_t rows = table.dim(0), cols = table.dim(1), picked = columns.size();
  Tensor<T> out = Tensor<T>::empty(Shape{rows, picked});
  const T* from = table.data();
  T* to = out.data();
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < picked; ++j) to[r * picked + j] = from[r * cols + columns[j]];
  return out;
}

// The shortest text that reads back as v ("1.5", "1e+20", "nan", "-inf").
template <class T> std::string shortest(T v) {
  std::array<char, 64> buf;
  const auto result = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return std::string(buf.data(), result.ptr);
}

}  // namespace

template <class T>
Tensor<T> select_columns(const Tensor<T>& table, const std::vector<std::int64_t>& columns) {
  static const char* fn = "select_columns";
  require_table(fn, table);
  std::vector<std::size_t> offsets;
  offsets.reserve(columns.size());
  for (std::int64_t c : columns) offsets.push_back(resolve_column(fn, table, c));
  Shape{table.dim(0), offsets.size()}.checked_bytes(sizeof(T), fn);
  return copy_columns(table, offsets);
}

template <class T>
FeaturesAndLabels<T> split_features_labels(const Tensor<T>& table, std::int64_t label_column) {
  static const char* fn = "split_features_labels";
  require_table(fn, table);
  const std::size_t rows = table.dim(0), cols = table.dim(1);
  if (cols < 2)
    throw ShapeError(std::string(fn) + ": " + describe("table", table) + " has " +
                     (cols ? "one column" : "no columns") +
                     "; needs the label column and at least one feature column");
  const std::size_t label = resolve_column(fn, table, label_column);

  // 2^63 is a power of two, so exact in float and double: every value below it that is an
  // integer converts to int64 exactly.
  const T limit = T(9223372036854775808.0);
  FeaturesAndLabels<T> out;
  out.labels.resize(rows);
  const T* values = table.data();
  for (std::size_t r = 0; r < rows; ++r) {
    const T v = values[r * cols + label];
    // Written so that a NaN fails every comparison and lands in the error.
    if (!(std::isfinite(v) && v >= T(0) && v < limit && v == std::floor(v)))
      throw DomainError(std::string(fn) + ": row " + std::to_string(r) + ", column " +
                        std::to_string(label) + " holds " + shortest(v) +
                        ", not a class label (a whole number from 0 to 2^63-1)");
    out.labels[r] = static_cast<std::int64_t>(v);
  }
  std::vector<std::size_t> features;
  features.reserve(cols - 1);
  for (std::size_t c = 0; c < cols; ++c)
    if (c != label) features.push_back(c);
  out.features = copy_columns(table, features);
  return out;
}

// ---- targets --------------------------------------------------------------------------------

template <class T> Tensor<T> one_hot(const Labels& labels, std::size_t classes) {
  const std::size_t n = labels.size();
  const Shape shape{n, classes};
  shape.checked_bytes(sizeof(T), "one_hot");
  detail::check_labels("one_hot", "label", labels, classes);
  // The ones are written through data(), which a replayable tape does not capture: replays would
  // see zeros.
  if (recording())
    throw ReplayError(
        "one_hot: builds its targets through data(), which cannot be replayed; make "
        "them outside the recorded function (an input the step reads, refilled per "
        "batch) or pass the labels to softmax_ce / nll_loss");
  Tensor<T> out = Tensor<T>::zeros(shape);
  T* p = out.data();
  for (std::size_t i = 0; i < n; ++i) p[i * classes + static_cast<std::size_t>(labels[i])] = T(1);
  return out;
}

// ---- minibatches ----------------------------------------------------------------------------

namespace {

// Uniform in [0, range), unbiased (rejects the 2^64 mod range lowest outputs). Written out
// rather than std::uniform_int_distribution so that the order is the same with any library.
std::uint64_t bounded(std::mt19937_64& rng, std::uint64_t range) {
  const std::uint64_t threshold = (0 - range) % range;
  while (true) {
    const std::uint64_t r = rng();
    if (r >= threshold) return r % range;
  }
}

template <class T> Shape batch_shape(const Tensor<T>& src, std::size_t b) {
  Shape shape;
  shape.push_back(b);
  for (std::size_t d = 1; d < src.ndim(); ++d) shape.push_back(src.dim(d));
  return shape;
}

// Whether `t` can be overwritten with a batch of `shape` without anyone else noticing: it has that
// shape, no copy of the handle, detach() or tensor saved by a graph shares it, and it is no leaf a
// gradient is wanted for nor an op's output (a caller's own tensor passed to batch(k, out)).
template <class T> bool reusable(const Tensor<T>& t, const Shape& shape) {
  if (!t.defined() || t.shape() != shape) return false;
  const auto& impl = t.impl();
  return impl.use_count() == 1 && impl->storage.use_count() == 1 && !impl->requires_grad &&
         !impl->grad_fn;
}

// Gathers rows[0..b) of src into `out`, in place when reusable, else into a fresh tensor.
template <class T>
void gather_rows(const Tensor<T>& src, const std::size_t* rows, std::size_t b, Tensor<T>& out) {
  const Shape shape = batch_shape(src, b);
  if (!reusable(out, shape)) out = Tensor<T>::empty(shape);
  const std::size_t n = src.dim(0);
  const std::size_t row = n ? src.size() / n : 0;
  const T* from = src.data();
  T* to = out.data();  // the mutable access advances the version, as any rewrite does
  if (row == 0) return;
  for (std::size_t j = 0; j < b;) {  // copy runs of consecutive rows with one memcpy
    std::size_t k = j + 1;
    while (k < b && rows[k] == rows[k - 1] + 1) ++k;
    std::memcpy(to + j * row, from + rows[j] * row, (k - j) * row * sizeof(T));
    j = k;
  }
}

}  // namespace

template <class T, class Y>
Minibatches<T, Y>::Minibatches(const Tensor<T>& X, Y y, std::size_t batch_size,
                               std::mt19937_64& rng, MinibatchOptions options)
    : batch_size_(batch_size), rng_(&rng), options_(options) {
  if (!X.defined()) throw ShapeError("Minibatches: X is undefined");
  if (X.ndim() == 0)
    throw ShapeError("Minibatches: X[] is 0-d; the samples are the rows (axis 0) of X");
  n_ = X.dim(0);
  if constexpr (std::is_same_v<Y, Labels>) {
    if (y.size() != n_)
      throw ShapeError("Minibatches: " + describe("X", X) + " has " + std::to_string(n_) +
                       " samples but y has " + std::to_string(y.size()) + " labels");
    y_ = std::move(y);
  } else {
    if (!y.defined()) throw ShapeError("Minibatches: Y is undefined");
    if (y.ndim() == 0 || y.dim(0) != n_)
      throw ShapeError("Minibatches: " + describe("X", X) + " has " + std::to_string(n_) +
                       " samples but " + describe("Y", y) + " has " +
                       (y.ndim() ? std::to_string(y.dim(0)) + " rows" : "none (0-d)"));
    y_ = y.detach();
  }
  if (batch_size == 0) throw DomainError("Minibatches: batch_size must be at least 1, got 0");
  x_ = X.detach();
  order_.resize(n_);
  for (std::size_t i = 0; i < n_; ++i) order_[i] = i;
}

template <class T, class Y> std::size_t Minibatches<T, Y>::batches_per_epoch() const {
  // ceil(n / b) written so that it cannot wrap: n + b - 1 does for b near SIZE_MAX.
  if (options_.drop_last) return n_ / batch_size_;
  return n_ == 0 ? 0 : (n_ - 1) / batch_size_ + 1;
}

template <class T, class Y> void Minibatches<T, Y>::new_epoch() {
  ++epochs_;
  if (!options_.shuffle) return;
  for (std::size_t i = 0; i < n_; ++i) order_[i] = i;
  for (std::size_t i = n_; i > 1; --i) {  // Fisher-Yates
    const std::size_t j = static_cast<std::size_t>(bounded(*rng_, i));
    std::swap(order_[i - 1], order_[j]);
  }
}

template <class T, class Y>
typename Minibatches<T, Y>::Batch Minibatches<T, Y>::batch(std::size_t k) const {
  Batch out;
  batch(k, out);
  return out;
}

template <class T, class Y> void Minibatches<T, Y>::batch(std::size_t k, Batch& out) const {
  if (k >= batches_per_epoch())
    throw IndexError("Minibatches: batch " + std::to_string(k) + " is out of range (" +
                     std::to_string(batches_per_epoch()) + " batches per epoch)");
  const std::size_t start = k * batch_size_;
  const std::size_t b = std::min(batch_size_, n_ - start);
  const std::size_t* rows = order_.data() + start;
  gather_rows(x_, rows, b, out.x);
  if constexpr (std::is_same_v<Y, Labels>) {
    out.y.resize(b);
    for (std::size_t j = 0; j < b; ++j) out.y[j] = y_[rows[j]];
  } else {
    gather_rows(y_, rows, b, out.y);
  }
}

// ---- instantiations -------------------------------------------------------------------------

#define TG_DATA_INSTANTIATE(T)                                                              \
  template Tensor<T> idx_images<T>(const IdxArray&, T);                                     \
  template Tensor<T> read_csv<T>(const std::string&, bool, char);                           \
  template Tensor<T> one_hot<T>(const Labels&, std::size_t);                                \
  template Tensor<T> select_columns<T>(const Tensor<T>&, const std::vector<std::int64_t>&); \
  template FeaturesAndLabels<T> split_features_labels<T>(const Tensor<T>&, std::int64_t);   \
  template class Minibatches<T, Labels>;                                                    \
  template class Minibatches<T, Tensor<T>>;

TG_DATA_INSTANTIATE(float)
TG_DATA_INSTANTIATE(double)

#undef TG_DATA_INSTANTIATE

}  // namespace tg::nn
