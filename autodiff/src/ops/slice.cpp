// slice: x[start:stop:step] along one axis, with Python's rules for negative and out-of-range
// bounds (a copy: tensors are contiguous). Adjoint: slice_backward(G, x.shape, ...), which writes
// G into zeros of x's shape. split and chunk are slices, one node per piece, and are checked
// through slice.
#include <limits>

#include "../shape_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SliceNode final : public Node<T> {
 public:
  int axis = 0;
  std::int64_t start = 0, stop = 0, step = 1;
  const char* name() const override { return "slice"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = slice_backward(g, this->input_shape(0), axis, start, stop, step);
  }
};

template <class T> std::vector<GradSample<T>> slice_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  struct Case {
    Shape shape;
    int axis;
    std::int64_t start, stop, step;
  };
  const Case cases[] = {{Shape{1, 1}, 0, 0, 1, 1},        {Shape{1, 5}, 1, 1, 4, 1},
                        {Shape{1, 5}, -1, 0, 5, 2},       {Shape{4, 1}, 0, -3, 100, 1},
                        {Shape{3, 4}, 1, -1, -5, 1},      {Shape{3, 4}, 0, 1, 3, 1},
                        {Shape{7}, 0, 1, -1, 3},          {Shape{2, 5, 3}, 1, -4, -1, 2},
                        {Shape{2, 3, 2, 4}, -2, 1, 2, 1}, {Shape{2, 3, 2, 4}, 3, -100, 3, 2}};
  for (const Case& c : cases)
    out.push_back({c.shape.str() + " axis " + std::to_string(c.axis) + " " +
                       std::to_string(c.start) + ":" + std::to_string(c.stop) + ":" +
                       std::to_string(c.step),
                   {samples::uniform<T>(c.shape, -1, 1, rng)},
                   [c](const std::vector<Tensor<T>>& in) {
                     return slice(in[0], c.axis, c.start, c.stop, c.step);
                   }});
  // A piece of split and of chunk: each piece is a slice node of its own.
  out.push_back({"[5,3] split {2,3} axis 0, piece 1",
                 {samples::uniform<T>(Shape{5, 3}, -1, 1, rng)},
                 [](const std::vector<Tensor<T>>& in) {
                   return split(in[0], {2, 3}, 0)[1];
                 }});
  out.push_back({"[2,7] chunk 3 axis -1, piece 2",
                 {samples::uniform<T>(Shape{2, 7}, -1, 1, rng)},
                 [](const std::vector<Tensor<T>>& in) { return chunk(in[0], 3, -1)[2]; }});
  return out;
}

// Worked out by hand with Python's list slicing on [0..9] (and on the rows of [[1,2,3],[4,5,6]]).
OpCases slice_cases() {
  auto ten = [] { return TensorD::from_vector(Shape{10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}); };
  auto m23 = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, 6}}); };
  OpCases cases = {
      .forward =
          {{"2:7:2", [ten] { return slice(ten(), 0, 2, 7, 2); }, Shape{3}, {2, 4, 6}},
           {"-3:100", [ten] { return slice(ten(), 0, -3, 100); }, Shape{3}, {7, 8, 9}},
           {"-100:2", [ten] { return slice(ten(), -1, -100, 2); }, Shape{2}, {0, 1}},
           {"5:2 empty", [ten] { return slice(ten(), 0, 5, 2); }, Shape{0}, {}},
           {"20:30 empty", [ten] { return slice(ten(), 0, 20, 30); }, Shape{0}, {}},
           {"0:10:4", [ten] { return slice(ten(), 0, 0, 10, 4); }, Shape{3}, {0, 4, 8}},
           {"5:10:INT64_MAX",
            [ten] { return slice(ten(), 0, 5, 10, std::numeric_limits<std::int64_t>::max()); },
            Shape{1},
            {5}},
           // The adjoint's stop must not overflow when the step is huge.
           {"gradient at 1:3:INT64_MAX",
            [] {
              TensorD x = TensorD::vector({1, 2, 3, 4}, true);
              const std::int64_t step = std::numeric_limits<std::int64_t>::max();
              return tg::grad(sum(slice(x, 0, 1, 3, step)), {x})[0];
            },
            Shape{4},
            {0, 1, 0, 0}},
           {"[2,3] axis 1 1:3", [m23] { return slice(m23(), 1, 1, 3); }, Shape{2, 2}, {2, 3, 5, 6}},
           {"[2,3] axis -2 -1:", [m23] { return slice(m23(), -2, -1, 2); }, Shape{1, 3}, {4, 5, 6}},
           {"[2,3] axis 1 ::2",
            [m23] { return slice(m23(), 1, 0, 3, 2); },
            Shape{2, 2},
            {1, 3, 4, 6}}},
      .errors = {
          {"step 0", ErrorKind::domain, "step 0", [ten] { slice(ten(), 0, 0, 5, 0); }},
          {"negative step", ErrorKind::domain, "step -1", [ten] { slice(ten(), 0, 5, 0, -1); }},
          {"axis out of range", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
           [m23] { slice(m23(), 2, 0, 1); }},
          {"0-d", ErrorKind::axis, "axis 0 out of range for shape []",
           [] { slice(TensorD::scalar(1), 0, 0, 1); }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T>
Tensor<T> slice(const Tensor<T>& x, int axis, std::int64_t start, std::int64_t stop,
                std::int64_t step) {
  const Shape& shape = x.shape();
  const std::size_t ax = detail::wrap_axis("slice", axis, shape);
  detail::require_positive_step("slice", step);
  const detail::SliceRange range = detail::slice_range(shape[ax], start, stop, step);
  Tensor<T> out = detail::new_output<T>("slice", detail::with_extent(shape, ax, range.length));
  if (out.size() != 0) {
    detail::launch([v = detail::axis_view(shape, ax), in = x.data(), o = out.data(), range,
                    stride = std::size_t(step)] {
      for (std::size_t a = 0; a < v.outer; ++a)
        for (std::size_t j = 0; j < range.length; ++j) {
          const T* from = in + (a * v.length + range.start + j * stride) * v.inner;
          std::copy(from, from + v.inner, o + (a * range.length + j) * v.inner);
        }
    });
  }
  if (auto* node = record<SliceNode<T>>(out, {&x})) {
    node->axis = int(ax);
    node->start = std::int64_t(range.start);
    node->stop = range.stop(step);
    node->step = step;
  }
  return out;
}

template <class T>
std::vector<Tensor<T>> split(const Tensor<T>& x, const std::vector<std::size_t>& sizes, int axis) {
  const Shape& shape = x.shape();
  const std::size_t ax = detail::wrap_axis("split", axis, shape);
  std::size_t total = 0;
  std::string listed = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (__builtin_add_overflow(total, sizes[i], &total))
      throw ShapeError("split: sizes overflow at position " + std::to_string(i) + " for shape " +
                       shape.str());
    if (i) listed += ',';
    listed += std::to_string(sizes[i]);
  }
  listed += "]";
  if (sizes.empty())
    throw ShapeError("split: no sizes for axis " + std::to_string(axis) + " of shape " +
                     shape.str() + " (needs at least one)");
  if (total != shape[ax])
    throw ShapeError("split: sizes " + listed + " add up to " + std::to_string(total) +
                     ", not to the extent " + std::to_string(shape[ax]) + " of axis " +
                     std::to_string(axis) + " of shape " + shape.str());
  std::vector<Tensor<T>> pieces;
  std::size_t offset = 0;
  for (const std::size_t size : sizes) {
    pieces.push_back(slice(x, int(ax), std::int64_t(offset), std::int64_t(offset + size)));
    offset += size;
  }
  return pieces;
}

template <class T> std::vector<Tensor<T>> chunk(const Tensor<T>& x, int n, int axis) {
  const Shape& shape = x.shape();
  const std::size_t ax = detail::wrap_axis("chunk", axis, shape);
  if (n < 1)
    throw DomainError("chunk: " + std::to_string(n) + " chunks of shape " + shape.str() +
                      " (needs at least 1)");
  const std::size_t extent = shape[ax], count = std::size_t(n);
  // PyTorch's rule: pieces of ceil(extent/n), as many as that takes; an empty axis still gives n
  // empty pieces.
  std::vector<std::size_t> sizes;
  if (extent == 0) {
    sizes.assign(count, 0);
  } else {
    const std::size_t each = (extent + count - 1) / count;
    for (std::size_t offset = 0; offset < extent; offset += each)
      sizes.push_back(std::min(each, extent - offset));
  }
  return split(x, sizes, int(ax));
}

template Tensor<float> slice(const Tensor<float>&, int, std::int64_t, std::int64_t, std::int64_t);
template Tensor<double> slice(const Tensor<double>&, int, std::int64_t, std::int64_t, std::int64_t);
template std::vector<Tensor<float>> split(const Tensor<float>&, const std::vector<std::size_t>&,
                                          int);
template std::vector<Tensor<double>> split(const Tensor<double>&, const std::vector<std::size_t>&,
                                           int);
template std::vector<Tensor<float>> chunk(const Tensor<float>&, int, int);
template std::vector<Tensor<double>> chunk(const Tensor<double>&, int, int);

TG_DEFINE_REPLAYABLE_OP(slice, "dx = slice_backward(G, x.shape, axis, start, stop, step)",
                        slice_samples, slice_cases);

}  // namespace tg
