// slice_backward: slice's adjoint as an op of its own, so that recorded backward (create_graph)
// stays differentiable: zeros of `shape` with g written at the positions slice(.., axis, start,
// stop, step) reads (the same bounds rules). Linear in g; adjoint: slice(G, axis, start, stop,
// step).
#include "../shape_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SliceBackwardNode final : public Node<T> {
 public:
  int axis = 0;
  std::int64_t start = 0, stop = 0, step = 1;
  const char* name() const override { return "slice_backward"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = slice(g, axis, start, stop, step);
  }
};

template <class T> std::vector<GradSample<T>> slice_backward_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  struct Case {
    Shape shape, g_shape;
    int axis;
    std::int64_t start, stop, step;
  };
  const Case cases[] = {{Shape{1, 1}, Shape{1, 1}, 0, 0, 1, 1},
                        {Shape{1, 5}, Shape{1, 3}, 1, 1, 4, 1},
                        {Shape{4, 1}, Shape{2, 1}, -2, 1, -1, 1},
                        {Shape{3, 4}, Shape{3, 2}, 1, 0, 100, 2},
                        {Shape{7}, Shape{2}, 0, -6, 7, 3},
                        {Shape{2, 5, 3}, Shape{2, 2, 3}, 1, -4, -1, 2},
                        {Shape{2, 3, 2, 4}, Shape{2, 3, 1, 4}, -2, 1, 2, 1}};
  for (const Case& c : cases)
    out.push_back({c.g_shape.str() + " into " + c.shape.str() + " axis " + std::to_string(c.axis) +
                       " " + std::to_string(c.start) + ":" + std::to_string(c.stop) + ":" +
                       std::to_string(c.step),
                   {samples::uniform<T>(c.g_shape, -1, 1, rng)},
                   [c](const std::vector<Tensor<T>>& in) {
                     return slice_backward(in[0], c.shape, c.axis, c.start, c.stop, c.step);
                   }});
  return out;
}

// Worked out by hand: the positions Python's range(10)[1:8:3] = [1, 4, 7] receive g's values.
OpCases slice_backward_cases() {
  OpCases cases = {
      .forward = {{"[3] into [10] 1:8:3",
                   [] {
                     return slice_backward(TensorD::vector({1, 2, 3}), Shape{10}, 0, 1, 8, 3);
                   },
                   Shape{10},
                   {0, 1, 0, 0, 2, 0, 0, 3, 0, 0}},
                  {"[2,1] into [2,3] axis -1 -1:",
                   [] {
                     return slice_backward(TensorD::matrix({{5}, {6}}), Shape{2, 3}, -1, -1, 3, 1);
                   },
                   Shape{2, 3},
                   {0, 0, 5, 0, 0, 6}},
                  {"gradient of slice twice over the same x adds up",
                   [] {
                     TensorD x = TensorD::vector({1, 2, 3, 4}, true);
                     TensorD y = sum(slice(x, 0, 0, 3)) + sum(slice(x, 0, 1, 4, 2));
                     return tg::grad(y, {x})[0];
                   },
                   Shape{4},
                   {1, 2, 1, 1}}},
      .errors = {{"g of the wrong shape", ErrorKind::shape, "g [2] for shape [10]",
                  [] {
                    slice_backward(TensorD::vector({1, 2}), Shape{10}, 0, 1, 8, 3);
                  }},
                 {"step 0", ErrorKind::domain, "step 0",
                  [] { slice_backward(TensorD::vector({1}), Shape{10}, 0, 1, 8, 0); }},
                 {"axis out of range", ErrorKind::axis, "axis -2 out of range for shape [10]",
                  [] { slice_backward(TensorD::vector({1}), Shape{10}, -2, 0, 1, 1); }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T>
Tensor<T> slice_backward(const Tensor<T>& g, const Shape& shape, int axis, std::int64_t start,
                         std::int64_t stop, std::int64_t step) {
  const std::size_t ax = detail::wrap_axis("slice_backward", axis, shape);
  detail::require_positive_step("slice_backward", step);
  const detail::SliceRange range = detail::slice_range(shape[ax], start, stop, step);
  const Shape expected = detail::with_extent(shape, ax, range.length);
  if (g.shape() != expected)
    throw ShapeError("slice_backward: g " + g.shape().str() + " for shape " + shape.str() +
                     " sliced along axis " + std::to_string(axis) + " " + std::to_string(start) +
                     ":" + std::to_string(stop) + ":" + std::to_string(step) + " (needs " +
                     expected.str() + ")");
  Tensor<T> out = detail::zeros_output<T>("slice_backward", shape);
  if (g.size() != 0) {
    detail::launch([v = detail::axis_view(shape, ax), in = g.data(), o = out.data(), range,
                    stride = std::size_t(step)] {
      for (std::size_t a = 0; a < v.outer; ++a)
        for (std::size_t j = 0; j < range.length; ++j) {
          const T* from = in + (a * range.length + j) * v.inner;
          std::copy(from, from + v.inner, o + (a * v.length + range.start + j * stride) * v.inner);
        }
    });
  }
  if (auto* node = record<SliceBackwardNode<T>>(out, {&g})) {
    node->axis = int(ax);
    node->start = std::int64_t(range.start);
    node->stop = range.stop(step);
    node->step = step;
  }
  return out;
}

template Tensor<float> slice_backward(const Tensor<float>&, const Shape&, int, std::int64_t,
                                      std::int64_t, std::int64_t);
template Tensor<double> slice_backward(const Tensor<double>&, const Shape&, int, std::int64_t,
                                       std::int64_t, std::int64_t);

TG_DEFINE_REPLAYABLE_OP(slice_backward, "dg = slice(G, axis, start, stop, step)",
                        slice_backward_samples, slice_backward_cases);

}  // namespace tg
