// Helpers of the shape and indexing ops: axis arguments counted from either end, the
// [outer, length, inner] view of a tensor around one axis, and row-major strides. Internal to the
// autodiff library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels.hpp"

namespace tg::detail {

// `axis` in [-rank, rank) as an index into the shape (negative counts from the end); AxisError
// naming the op, the axis and the shape otherwise. `rank` may exceed shape.rank() by one for ops
// that insert an axis (unsqueeze, stack).
inline std::size_t wrap_axis(const char* op, std::int64_t axis, std::size_t rank,
                             const Shape& shape) {
  const std::int64_t r = std::int64_t(rank);
  if (r == 0)
    throw AxisError(std::string(op) + ": axis " + std::to_string(axis) +
                    " out of range for shape " + shape.str() + " (a 0-d tensor has no axes)");
  if (axis < -r || axis >= r)
    throw AxisError(std::string(op) + ": axis " + std::to_string(axis) +
                    " out of range for shape " + shape.str() + " (valid: " + std::to_string(-r) +
                    ".." + std::to_string(r - 1) + ")");
  return std::size_t(axis < 0 ? axis + r : axis);
}

inline std::size_t wrap_axis(const char* op, std::int64_t axis, const Shape& shape) {
  return wrap_axis(op, axis, shape.rank(), shape);
}

// A tensor seen around `axis` as [outer, length, inner] (row-major).
struct AxisView {
  std::size_t outer = 1;
  std::size_t length = 0;
  std::size_t inner = 1;
};

inline AxisView axis_view(const Shape& shape, std::size_t axis) {
  AxisView v;
  v.length = shape[axis];
  for (std::size_t d = 0; d < axis; ++d) v.outer *= shape[d];
  for (std::size_t d = axis + 1; d < shape.rank(); ++d) v.inner *= shape[d];
  return v;
}

// Element strides of a contiguous row-major tensor of `shape`.
inline Strides row_major_strides(const Shape& shape) {
  Strides s{};
  std::size_t step = 1;
  for (std::size_t d = shape.rank(); d-- > 0;) {
    s[d] = step;
    step *= shape[d];
  }
  return s;
}

// `shape` with the extent of `axis` replaced.
inline Shape with_extent(const Shape& shape, std::size_t axis, std::size_t extent) {
  Shape s = shape;
  s[axis] = extent;
  return s;
}

inline std::string list_str(const std::vector<std::int64_t>& values) {
  std::string s = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(values[i]);
  }
  return s + "]";
}

// Python's slice rules on an axis of extent n: negative bounds count from the end, bounds out of
// range are clamped, and stop <= start gives nothing. step >= 1 (checked by the caller).
struct SliceRange {
  std::size_t start = 0;
  std::size_t length = 0;
  // One past the last position taken (start when none): a stop that selects the same positions
  // and, unlike start + length * step, cannot overflow for a step as large as INT64_MAX.
  std::int64_t stop(std::int64_t step) const {
    return std::int64_t(length == 0 ? start : start + (length - 1) * std::size_t(step) + 1);
  }
};

inline SliceRange slice_range(std::size_t n, std::int64_t start, std::int64_t stop,
                              std::int64_t step) {
  const std::int64_t extent = std::int64_t(n);
  auto clamp = [extent](std::int64_t b) {
    if (b < 0) b = b < -extent ? 0 : b + extent;
    return b > extent ? extent : b;
  };
  const std::int64_t lo = clamp(start), hi = clamp(stop);
  if (hi <= lo) return {std::size_t(lo), 0};
  return {std::size_t(lo), std::size_t((hi - lo - 1) / step + 1)};
}

inline void require_positive_step(const char* op, std::int64_t step) {
  if (step < 1)
    throw DomainError(std::string(op) + ": step " + std::to_string(step) +
                      " must be positive (>= 1)");
}

// IndexError naming `op`, the first index outside [0, extent) (negative ones too), its position,
// the axis and the shape.
inline void require_indices(const char* op, const std::vector<std::int64_t>& indices,
                            std::size_t axis, const Shape& shape) {
  for (std::size_t i = 0; i < indices.size(); ++i)
    if (indices[i] < 0 || std::uint64_t(indices[i]) >= shape[axis])
      throw IndexError(std::string(op) + ": index " + std::to_string(indices[i]) + " (position " +
                       std::to_string(i) + ") out of range for axis " + std::to_string(axis) +
                       " of extent " + std::to_string(shape[axis]) + " of shape " + shape.str() +
                       " (valid 0.." + std::to_string(std::int64_t(shape[axis]) - 1) + ")");
}

// Visits every position of `shape` in row-major order, with its multi-index: f(flat, index).
template <class F> void for_each_index(const Shape& shape, F f) {
  const std::size_t n = shape.numel();
  if (n == 0) return;
  std::array<std::size_t, Shape::kMaxRank> idx{};
  const std::size_t rank = shape.rank();
  for (std::size_t flat = 0; flat < n; ++flat) {
    f(flat, idx);
    for (std::size_t d = rank; d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

// The checks of gather and scatter_add on their index against x: as many values as its shape
// holds (ShapeError), x's rank, no larger than x off `axis` (ShapeError), values in [0, extent of
// `axis`) (IndexError naming the value, its position and the extent).
inline void require_index_tensor(const char* op, const Indices& index, std::size_t axis,
                                 const Shape& shape) {
  const std::string who = std::string(op) + ": index " + index.shape.str();
  if (index.values.size() != index.shape.numel())
    throw ShapeError(who + " holds " + std::to_string(index.values.size()) + " values (needs " +
                     std::to_string(index.shape.numel()) + ")");
  if (index.shape.rank() != shape.rank())
    throw ShapeError(who + " and x " + shape.str() + " differ in rank (they must have the same)");
  for (std::size_t d = 0; d < shape.rank(); ++d)
    if (d != axis && index.shape[d] > shape[d])
      throw ShapeError(who + " is larger than x " + shape.str() + " along axis " +
                       std::to_string(d) + " (only axis " + std::to_string(axis) + " may be)");
  for_each_index(index.shape, [&](std::size_t flat, const auto& idx) {
    const std::int64_t v = index.values[flat];
    if (v >= 0 && std::uint64_t(v) < shape[axis]) return;
    std::string at = "[";
    for (std::size_t d = 0; d < index.shape.rank(); ++d) {
      if (d) at += ',';
      at += std::to_string(idx[d]);
    }
    throw IndexError(std::string(op) + ": index " + std::to_string(v) + " at position " + at +
                     "] out of range for axis " + std::to_string(axis) + " of extent " +
                     std::to_string(shape[axis]) + " of x " + shape.str() + " (valid 0.." +
                     std::to_string(std::int64_t(shape[axis]) - 1) + ")");
  });
}

// Calls f(flat position in index, offset in x) for every entry of index: the offset of x's element
// at the entry's position with its `axis` coordinate replaced by the entry's value.
template <class F>
void for_each_indexed(const Indices& index, std::size_t axis, const Shape& shape, F f) {
  const Strides strides = row_major_strides(shape);
  for_each_index(index.shape, [&](std::size_t flat, const auto& idx) {
    std::size_t offset = std::size_t(index.values[flat]) * strides[axis];
    for (std::size_t d = 0; d < shape.rank(); ++d)
      if (d != axis) offset += idx[d] * strides[d];
    f(flat, offset);
  });
}

}  // namespace tg::detail
