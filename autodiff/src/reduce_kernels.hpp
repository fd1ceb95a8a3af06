// What the reductions (sum, mean, max, min, logsumexp, var, std, prod, norm, argmax) share: the
// checked list of reduced axes, a walk over the slices they reduce, and the adjoint pieces that
// broadcast a reduced gradient back over its slice. Internal to the autodiff library.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "kernels.hpp"

namespace tg::detail {

// The axes a reduction removes (or keeps as extent 1) and the shapes it goes between.
struct ReducePlan {
  Shape in;
  std::array<bool, Shape::kMaxRank> reduced{};
  Shape out;               // the result: reduced axes removed, or kept as 1 with keepdim
  Shape kept;              // reduced axes kept as 1, whatever keepdim: broadcasts against `in`
  std::size_t count = 1;   // elements in each reduced slice
  std::size_t slices = 1;  // results
};

inline std::string axes_str(const std::vector<int>& axes) {
  std::string s = "[";
  for (std::size_t i = 0; i < axes.size(); ++i) s += (i ? ", " : "") + std::to_string(axes[i]);
  return s + "]";
}

// Axes count from the end when negative; an empty list reduces every axis (PyTorch's dim=[]).
// A 0-d tensor has no axis to name (NumPy's rule; PyTorch would accept 0 and -1 there).
inline ReducePlan plan_reduction(const char* op, const Shape& shape, const int* axes_given,
                                 std::size_t axes_count, bool keepdim) {
  const std::span<const int> axes(axes_given, axes_count);
  ReducePlan p;
  p.in = shape;
  const int rank = int(shape.rank());
  std::array<int, Shape::kMaxRank> given{};
  for (int axis : axes) {
    if (axis < -rank || axis >= rank)
      throw AxisError(
          std::string(op) + ": axis " + std::to_string(axis) + " out of range for shape " +
          shape.str() +
          (rank ? " (valid: " + std::to_string(-rank) + ".." + std::to_string(rank - 1) + ")"
                : " (a 0-d tensor has no axes)"));
    const int d = axis < 0 ? axis + rank : axis;
    if (p.reduced[d])
      throw AxisError(std::string(op) + ": axis " + std::to_string(axis) + " repeats axis " +
                      std::to_string(given[d]) + " in " +
                      axes_str(std::vector<int>(axes.begin(), axes.end())) + " for shape " +
                      shape.str());
    p.reduced[d] = true;
    given[d] = axis;
  }
  if (axes.empty())
    for (int d = 0; d < rank; ++d) p.reduced[d] = true;
  for (int d = 0; d < rank; ++d) {
    if (p.reduced[d]) {
      p.count *= shape[d];
      p.kept.push_back(1);
      if (keepdim) p.out.push_back(1);
    } else {
      p.slices *= shape[d];
      p.kept.push_back(shape[d]);
      p.out.push_back(shape[d]);
    }
  }
  return p;
}

inline ReducePlan plan_reduction(const char* op, const Shape& shape, const std::vector<int>& axes,
                                 bool keepdim) {
  return plan_reduction(op, shape, axes.data(), axes.size(), keepdim);
}

// One reduced slice of x: its elements in row-major order of the reduced axes.
template <class T> struct Slice {
  const T* base;
  const std::size_t* offsets;  // null when the slice is contiguous
  std::size_t size;
  T operator[](std::size_t i) const { return offsets ? base[offsets[i]] : base[i]; }
};

// Offsets of every combination of the chosen axes' indices (row-major), given x's strides.
inline std::vector<std::size_t> axis_offsets(const ReducePlan& p, bool of_reduced) {
  const std::size_t rank = p.in.rank();
  std::array<std::size_t, Shape::kMaxRank> stride{};
  std::size_t s = 1;
  for (std::size_t d = rank; d-- > 0;) {
    stride[d] = s;
    s *= p.in[d];
  }
  std::vector<std::size_t> offsets{0};
  for (std::size_t d = 0; d < rank; ++d) {
    if (p.reduced[d] != of_reduced) continue;
    std::vector<std::size_t> next;
    next.reserve(offsets.size() * p.in[d]);
    for (std::size_t o : offsets)
      for (std::size_t i = 0; i < p.in[d]; ++i) next.push_back(o + i * stride[d]);
    offsets = std::move(next);
  }
  return offsets;
}

// Calls f(result_index, slice) for every slice of a non-empty x. The slices are contiguous when
// the reduced axes are the trailing ones (all of them, or the last), which needs no offset table;
// an axis of extent 1 changes no offset, so it does not count ([n,1] along axis 0 is one run: the
// bias gradient of a layer with one output).
// The offset tables are made once, outside the walk, so that a recorded kernel (launch) walks
// without allocating.
struct SliceWalk {
  std::size_t slices = 0, count = 0;
  std::vector<std::size_t> inner, outer;  // empty when the slices are contiguous

  explicit SliceWalk(const ReducePlan& p) : slices(p.slices), count(p.count) {
    bool trailing = true, seen_reduced = false;
    for (std::size_t d = 0; d < p.in.rank(); ++d) {
      if (p.in[d] == 1) continue;
      if (p.reduced[d])
        seen_reduced = true;
      else if (seen_reduced)
        trailing = false;
    }
    if (!trailing) {
      inner = axis_offsets(p, true);
      outer = axis_offsets(p, false);
    }
  }

  template <class T, class F> void operator()(const T* x, F f) const {
    if (outer.empty()) {
      for (std::size_t s = 0; s < slices; ++s) f(s, Slice<T>{x + s * count, nullptr, count});
      return;
    }
    for (std::size_t s = 0; s < slices; ++s) f(s, Slice<T>{x + outer[s], inner.data(), count});
  }
};

template <class T, class F> void for_each_slice(const ReducePlan& p, const T* x, F f) {
  const SliceWalk walk(p);
  walk(x, f);
}

// x viewed as [outer, length, inner] when the reduced axes are adjacent (one axis, all of them, a
// leading or trailing run): the results are then [outer, inner] in order.
struct Block {
  std::size_t outer = 1, length = 1, inner = 1;
};
inline bool as_block(const ReducePlan& p, Block& b) {
  std::size_t first = p.in.rank(), last = 0;
  for (std::size_t d = 0; d < p.in.rank(); ++d)
    if (p.reduced[d]) {
      first = std::min(first, d);
      last = d;
    }
  b = Block{};
  if (first == p.in.rank()) return true;  // nothing to reduce: every slice is one element
  for (std::size_t d = first; d <= last; ++d)
    if (!p.reduced[d]) return false;
  for (std::size_t d = 0; d < p.in.rank(); ++d) {
    if (d < first)
      b.outer *= p.in[d];
    else if (d > last)
      b.inner *= p.in[d];
    else
      b.length *= p.in[d];
  }
  return true;
}

// The sum of each slice times `scale`. Over adjacent axes, x is read once in memory order (a
// column sum of [n, m] walks rows, not columns), each result accumulating in the slice's order.
template <class T>
Tensor<T> sum_slices(const char* op, const Tensor<T>& x, const ReducePlan& p, T scale) {
  Block b;
  // Trailing axes (inner = 1) are contiguous slices, summed in a register instead.
  if (x.size() == 0 || !as_block(p, b) || b.inner == 1)
    return reduce_slices(op, x, p, T(0), [scale](const Slice<T>& s) {
      T total = 0;
      for (std::size_t i = 0; i < s.size; ++i) total += s[i];
      return total * scale;
    });
  Tensor<T> out = zeros_output<T>(op, p.out);
  launch(
      [in = x.data(), o = out.data(), n = out.size(), b, scale] {
        for (std::size_t a = 0; a < b.outer; ++a)
          for (std::size_t l = 0; l < b.length; ++l) {
            const T* row = in + (a * b.length + l) * b.inner;
            T* acc = o + a * b.inner;
            for (std::size_t i = 0; i < b.inner; ++i) acc[i] += row[i];
          }
        if (scale != T(1))
          for (std::size_t i = 0; i < n; ++i) o[i] *= scale;
      },
      [&] { return writes_from(out, x, out); });  // adds into out's zeros
  return out;
}

// The result of reducing each slice with f(slice) -> T; `empty` for the slices of an empty axis
// (x's other extents may be huge when it is empty: nothing is walked then). `f` is kept by a
// recording (launch): it captures by value.
template <class T, class F>
Tensor<T> reduce_slices(const char* op, const Tensor<T>& x, const ReducePlan& p, T empty, F f) {
  Tensor<T> out = new_output<T>(op, p.out);
  T* o = out.data();
  if (x.size() == 0) {
    launch([o, n = out.size(), empty] { std::fill_n(o, n, empty); },
           [&] { return writes_from(out); });
    return out;
  }
  launch([walk = SliceWalk(p), in = x.data(), o,
          f] { walk(in, [&](std::size_t s, const Slice<T>& slice) { o[s] = f(slice); }); },
         [&] { return writes_from(out, x); });
  return out;
}

// A constant (never recorded) tensor of x's shape: w(slice, i, result) for element i of each
// slice, given the slice's reduced value r[s] (kept shape or out shape: same order).
template <class T, class W>
Tensor<T> slice_weights(const char* op, const Tensor<T>& x, const ReducePlan& p,
                        const Tensor<T>& reduced, W w) {
  Tensor<T> out = zeros_output<T>(op, x.shape());
  if (x.size() == 0) return out;
  // Walk the output with the same offsets as x: write through a mutable view of the same layout.
  launch([walk = SliceWalk(p), base = x.data(), o = out.data(), r = reduced.data(), w] {
    walk(base, [&](std::size_t s, const Slice<T>& slice) {
      const std::size_t origin = std::size_t(slice.base - base);
      for (std::size_t i = 0; i < slice.size; ++i) {
        const std::size_t at = origin + (slice.offsets ? slice.offsets[i] : i);
        o[at] = w(slice, i, r[s]);
      }
    });
  });
  return out;
}

// g (the reduction's result shape) broadcast back over x's shape, through recorded ops so that
// an adjoint built on it stays differentiable.
template <class T> Tensor<T> expand_back(const Tensor<T>& g, const ReducePlan& p) {
  if (g.shape() == p.in) return g;
  return broadcast_to(g.shape() == p.kept ? g : reshape(g, p.kept), p.in);
}

// The reduced value kept as extent 1 along the reduced axes (to broadcast against x).
template <class T> Tensor<T> as_kept(const Tensor<T>& r, const ReducePlan& p) {
  return r.shape() == p.kept ? r : reshape(r, p.kept);
}

// The reduced axes as a list (for the adjoints that reduce again).
inline std::vector<int> reduced_axes(const ReducePlan& p) {
  std::vector<int> axes;
  for (std::size_t d = 0; d < p.in.rank(); ++d)
    if (p.reduced[d]) axes.push_back(int(d));
  return axes;
}

// Variance of one slice, two passes: the mean first, then the squared deviations with the
// compensating term -(sum d)^2/N, which removes the first pass's rounding error. N - correction
// <= 0 divides by 0: inf, or NaN where every deviation is 0 (PyTorch's max(0, N - correction)).
template <class T> T slice_variance(const Slice<T>& s, double correction) {
  T total = 0;
  for (std::size_t i = 0; i < s.size; ++i) total += s[i];
  const T mean = total / T(s.size);
  T squares = 0, deviations = 0;
  for (std::size_t i = 0; i < s.size; ++i) {
    const T d = s[i] - mean;
    squares += d * d;
    deviations += d;
  }
  const double dof = std::max(0.0, double(s.size) - correction);
  return (squares - deviations * deviations / T(s.size)) / T(dof);
}

// var's adjoint for G in var's result shape: 2 (x - mean) / (N - correction) G, differentiable
// in x and G. Where N - correction <= 0 there is no finite gradient: G*(x - mean)*inf, the limit
// as N - correction falls to 0 (PyTorch's 2/(N - correction) at N = correction): -inf below the
// mean, inf above, NaN at the mean or a NaN.
template <class T>
Tensor<T> var_adjoint(const char* op, const Tensor<T>& g, const Tensor<T>& x, const ReducePlan& p,
                      double correction) {
  if (x.size() == 0) return zeros_output<T>(op, x.shape());
  const double dof = double(p.count) - correction;
  if (dof <= 0) {
    const Tensor<T> means = reduce_slices(op, x, p, T(0), [](const Slice<T>& s) {
      T total = 0;
      for (std::size_t i = 0; i < s.size; ++i) total += s[i];
      return total / T(s.size);
    });
    const Tensor<T> w = slice_weights(op, x, p, means, [](const Slice<T>& s, std::size_t i, T m) {
      return (s[i] - m) * std::numeric_limits<T>::infinity();
    });
    return mul(expand_back(g, p), w);
  }
  const Tensor<T> centered = sub(x, mean(x, reduced_axes(p), true));
  return mul(expand_back(g, p), centered * T(2.0 / dof));
}

// For the reductions that pick an element (max, min, argmax, argmin): an empty slice has none to
// pick, IndexError (PyTorch's).
inline void require_nonempty_slices(const char* op, const Shape& shape,
                                    const std::vector<int>& axes, const ReducePlan& p) {
  if (p.count != 0) return;
  if (axes.empty())
    throw IndexError(std::string(op) + ": empty tensor " + shape.str() + " has no element to pick");
  throw IndexError(std::string(op) + ": " + (axes.size() == 1 ? "axis " : "axes ") +
                   (axes.size() == 1 ? std::to_string(axes[0]) : axes_str(axes)) + " of " +
                   shape.str() + " is empty: no element to pick");
}

// The slice's largest (or smallest) value; a NaN wins (PyTorch's amax/amin).
template <class T> T slice_extreme(const Slice<T>& s, bool largest) {
  T best = s[0];
  for (std::size_t i = 0; i < s.size; ++i) {
    const T v = s[i];
    if (v != v) return v;
    if (largest ? v > best : v < best) best = v;
  }
  return best;
}

// Where the slice's largest (or smallest) value first is; the first NaN wins (PyTorch's argmax).
template <class T> std::size_t slice_arg_extreme(const Slice<T>& s, bool largest) {
  std::size_t best = 0;
  for (std::size_t i = 0; i < s.size; ++i) {
    const T v = s[i];
    if (v != v) return i;
    if (largest ? v > s[best] : v < s[best]) best = i;
  }
  return best;
}

// The weights of G for a reduction that picks its value: 1/k on each of the k elements picked, 0
// elsewhere. Picked are the elements equal to the slice's result r (ties share G equally), and
// with nan_picked the NaNs too (the inf-norm's rule, whose weight sign(NaN) is NaN); otherwise a
// NaN result picks nothing and every weight is NaN, as PyTorch's G/count * mask with a count of 0
// (max and min). `key` maps an element to what was compared (|x| for the inf-norm), `sign` gives
// a picked element's sign (1 for max and min).
template <class T, class Key, class Sign>
Tensor<T> tie_weights(const char* op, const Tensor<T>& x, const ReducePlan& p,
                      const Tensor<T>& result, Key key, Sign sign, bool nan_picked = false) {
  Tensor<T> out = zeros_output<T>(op, x.shape());
  if (x.size() == 0) return out;
  launch([walk = SliceWalk(p), base = x.data(), o = out.data(), r = result.data(), key, sign,
          nan_picked] {
    walk(base, [&](std::size_t s, const Slice<T>& slice) {
      const std::size_t origin = std::size_t(slice.base - base);
      auto at = [&](std::size_t i) { return origin + (slice.offsets ? slice.offsets[i] : i); };
      auto picked = [&](T v) {
        const T k = key(v);
        return k == r[s] || (nan_picked && k != k);
      };
      std::size_t ties = 0;
      for (std::size_t i = 0; i < slice.size; ++i) ties += picked(slice[i]);
      const T share = ties ? T(1) / T(ties) : std::numeric_limits<T>::quiet_NaN();
      for (std::size_t i = 0; i < slice.size; ++i)
        o[at(i)] = ties == 0 ? share : picked(slice[i]) ? share * sign(slice[i]) : T(0);
    });
  });
  return out;
}

// argmax and argmin: the index along `axes` (a single axis, or all elements as a flat index).
template <class T>
Indices arg_extreme(const char* op, const Tensor<T>& x, const std::vector<int>& axes, bool keepdim,
                    bool largest) {
  const ReducePlan p = plan_reduction(op, x.shape(), axes, keepdim);
  require_nonempty_slices(op, x.shape(), axes, p);
  Indices out{p.out, std::vector<std::int64_t>(p.slices)};
  if (x.size() == 0) return out;
  for_each_slice(p, x.data(), [&](std::size_t s, const Slice<T>& slice) {
    out.values[s] = std::int64_t(slice_arg_extreme(slice, largest));
  });
  return out;
}

}  // namespace tg::detail

namespace tg::samples {

// A leaf requiring grad whose values lie in [low, high) at distinct, evenly spread levels (at least
// 0.6 (high - low) / n apart) in random order: no two elements are within a difference step of
// each other, so a max, a min or an inf-norm has no tie to cross.
template <class T>
Tensor<T> spread(const Shape& shape, double low, double high, std::mt19937_64& rng) {
  Tensor<T> t = Tensor<T>::zeros(shape, true);
  const std::size_t n = t.size();
  std::vector<std::size_t> level(n);
  for (std::size_t i = 0; i < n; ++i) level[i] = i;
  std::shuffle(level.begin(), level.end(), rng);
  std::uniform_real_distribution<double> jitter(0.2, 0.6);
  for (std::size_t i = 0; i < n; ++i)
    t.data()[i] = T(low + (high - low) * (double(level[i]) + jitter(rng)) / double(n));
  return t;
}

// How a reduction sample calls its op: over all elements, along one axis, or along a list.
struct AxisSpec {
  enum Kind { all, one, many } kind = all;
  int axis = 0;
  std::vector<int> axes = {};
  bool keepdim = false;
  std::size_t count = 0;  // elements in each reduced slice
  std::string str() const {
    if (kind == all) return "all";
    std::string s = kind == one ? "axis " + std::to_string(axis) : "axes " + detail::axes_str(axes);
    return keepdim ? s + " keepdim" : s;
  }
};

// The correction var and std are sampled with: 1 (the default), 0 with keepdim, 2 over several
// axes of more than 3 elements, and 0 where a slice has one element (1 would make it NaN).
inline double sample_correction(const AxisSpec& spec) {
  if (spec.count <= 1 || spec.keepdim) return 0;
  return spec.kind == AxisSpec::many && spec.count > 3 ? 2 : 1;
}

// Samples of a reduction: over all elements, along each axis (the odd ones counted from the end,
// the last kept as extent 1) and along lists of axes, on reduction_shapes() and a 0-d scalar.
// make(shape, rng) gives the input; fn(x, spec) calls the op.
// keep(spec) leaves out the forms where the op's second derivative is identically 0 although its
// adjoint reads x (there the checker's relative error compares two rounding noises).
template <class T, class Make, class Fn, class Keep = bool (*)(const AxisSpec&)>
std::vector<GradSample<T>> reduction_forms(
    std::uint64_t seed, Make make, Fn fn, Keep keep = [](const AxisSpec&) { return true; }) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  std::vector<Shape> shapes = reduction_shapes();
  shapes.push_back(Shape{});
  for (const Shape& s : shapes) {
    const int rank = int(s.rank());
    std::vector<AxisSpec> specs{{.kind = AxisSpec::all}};
    for (int d = 0; d < rank; ++d)
      specs.push_back(
          {.kind = AxisSpec::one, .axis = d % 2 ? d - rank : d, .keepdim = d == rank - 1});
    if (rank >= 2) specs.push_back({.kind = AxisSpec::many, .axes = {0, -1}});
    if (rank == 3) {
      specs.push_back({.kind = AxisSpec::many, .axes = {2, 0}, .keepdim = true});
      specs.push_back({.kind = AxisSpec::many, .axes = {1, 2}});
    }
    if (rank == 0) specs.push_back({.kind = AxisSpec::many, .axes = {}, .keepdim = true});
    for (AxisSpec& spec : specs) {
      const std::vector<int> axes =
          spec.kind == AxisSpec::one ? std::vector<int>{spec.axis} : spec.axes;
      spec.count = detail::plan_reduction("sample", s, axes, false).count;
      if (!keep(spec)) continue;
      out.push_back({s.str() + " " + spec.str(),
                     {make(s, rng)},
                     [fn, spec](const std::vector<Tensor<T>>& in) { return fn(in[0], spec); }});
    }
  }
  return out;
}

}  // namespace tg::samples
