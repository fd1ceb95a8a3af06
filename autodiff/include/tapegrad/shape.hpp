// A tensor shape: a small fixed-capacity list of extents (no heap allocation), row-major.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "tapegrad/errors.hpp"

namespace tg {

class Shape {
 public:
  static constexpr std::size_t kMaxRank = 6;

  Shape() = default;  // rank 0: a scalar
  Shape(std::initializer_list<std::size_t> dims) : Shape(dims.begin(), dims.end()) {}
  template <class It> Shape(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<std::size_t>(*first));
  }

  std::size_t rank() const { return rank_; }
  std::size_t operator[](std::size_t i) const { return dims_[i]; }
  std::size_t& operator[](std::size_t i) { return dims_[i]; }
  const std::size_t* begin() const { return dims_.data(); }
  const std::size_t* end() const { return dims_.data() + rank_; }
  // The last extent; AxisError for a rank-0 shape, which has no axes.
  std::size_t back() const {
    if (rank_ == 0) [[unlikely]]
      throw AxisError("shape: back() of the rank-0 shape [] (a scalar has no axes)");
    return dims_[rank_ - 1];
  }

  // The element count; ShapeError when it overflows size_t (a shape no buffer could hold).
  std::size_t numel() const {
    std::size_t n = 1;
    for (std::size_t i = 0; i < rank_; ++i)
      if (__builtin_mul_overflow(n, dims_[i], &n))
        throw ShapeError("shape: the element count of " + str() + " overflows");
    return n;
  }

  // The bytes a buffer of this shape needs, for elements of `element_size` bytes. Throws
  // ShapeError naming `who` and the shape when no buffer could hold it: when the product of the
  // extents, an extent of 0 counted as 1, times element_size exceeds PTRDIFF_MAX. Counting a 0 as
  // 1 matters: an empty [0, 2^61] would otherwise pass, and an op that reduces its 0 away would
  // then describe 2^61 elements over an empty buffer.
  std::size_t checked_bytes(std::size_t element_size, const char* who) const {
    std::size_t count = 1, bytes = element_size;
    for (std::size_t i = 0; i < rank_; ++i) {
      if (__builtin_mul_overflow(count, dims_[i], &count))
        throw ShapeError(std::string(who) + ": shape " + str() +
                         " has more elements than size_t can count");
      if (__builtin_mul_overflow(bytes, dims_[i] ? dims_[i] : 1, &bytes) || bytes > kMaxBytes)
        throw ShapeError(std::string(who) + ": shape " + str() + " of " +
                         std::to_string(element_size) +
                         "-byte elements is too large for any buffer (more than 2^63 bytes)");
    }
    return count * element_size;
  }
  static constexpr std::size_t kMaxBytes = std::size_t(PTRDIFF_MAX);

  void push_back(std::size_t extent) {
    if (rank_ == kMaxRank)
      throw ShapeError("shape: rank above the supported maximum of " + std::to_string(kMaxRank));
    dims_[rank_++] = extent;
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (std::size_t i = 0; i < a.rank_; ++i)
      if (a.dims_[i] != b.dims_[i]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

  // "[2,3]"; "[]" for a scalar.
  std::string str() const { return dims_str(dims_.data(), rank_); }

  // Any list of extents written as shapes are ("[2,3]"): also those of a rank no Shape holds
  // (an IDX file's header may declare up to 255 dimensions).
  static std::string dims_str(const std::size_t* dims, std::size_t rank) {
    std::string s = "[";
    for (std::size_t i = 0; i < rank; ++i) {
      if (i) s += ',';
      s += std::to_string(dims[i]);
    }
    s += ']';
    return s;
  }

 private:
  std::array<std::size_t, kMaxRank> dims_{};
  std::uint8_t rank_ = 0;
};

// NumPy broadcasting: align trailing dimensions; each pair must be equal or contain a 1.
// Throws ShapeError naming `op` and both shapes when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Whether `from` can be broadcast to `to` (used to validate sum_to / broadcast_to).
bool broadcastable_to(const Shape& from, const Shape& to);

}  // namespace tg
