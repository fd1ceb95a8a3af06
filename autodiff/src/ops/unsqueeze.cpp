// unsqueeze: inserts an axis of extent 1 at `axis` in [-ndim-1, ndim] (a copy: tensors are
// contiguous). Adjoint: reshape(G, x.shape).
#include "../shape_kernels.hpp"

namespace tg {

namespace {

template <class T> class UnsqueezeNode final : public Node<T> {
 public:
  const char* name() const override { return "unsqueeze"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = reshape(g, this->input_shape(0));
  }
};

template <class T> std::vector<GradSample<T>> unsqueeze_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  const std::pair<Shape, int> cases[] = {
      {Shape{1, 1}, 0}, {Shape{1, 5}, 2}, {Shape{4, 1}, -1},    {Shape{3, 4}, 1},
      {Shape{}, 0},     {Shape{5}, -2},   {Shape{2, 3, 4}, -4}, {Shape{2, 3, 1, 2}, 2}};
  for (const auto& [shape, axis] : cases)
    out.push_back({shape.str() + " axis " + std::to_string(axis),
                   {samples::uniform<T>(shape, -1, 1, rng)},
                   [axis](const std::vector<Tensor<T>>& in) { return unsqueeze(in[0], axis); }});
  return out;
}

// The shapes by PyTorch's rule (axis a < 0 inserts at a + ndim + 1); values are x's, in order.
OpCases unsqueeze_cases() {
  OpCases cases = {
      .forward = {{"[3] axis 0",
                   [] {
                     return unsqueeze(TensorD::vector({1, 2, 3}), 0);
                   },
                   Shape{1, 3},
                   {1, 2, 3}},
                  {"[3] axis -1",
                   [] {
                     return unsqueeze(TensorD::vector({1, 2, 3}), -1);
                   },
                   Shape{3, 1},
                   {1, 2, 3}},
                  {"[2,2] axis 1",
                   [] {
                     return unsqueeze(TensorD::matrix({{1, 2}, {3, 4}}), 1);
                   },
                   Shape{2, 1, 2},
                   {1, 2, 3, 4}},
                  {"[2,2] axis -3",
                   [] {
                     return unsqueeze(TensorD::matrix({{1, 2}, {3, 4}}), -3);
                   },
                   Shape{1, 2, 2},
                   {1, 2, 3, 4}},
                  {"[] axis -1", [] { return unsqueeze(TensorD::scalar(4), -1); }, Shape{1}, {4}}},
      .errors = {{"axis above ndim", ErrorKind::axis, "axis 3 out of range for shape [2,2]",
                  [] {
                    unsqueeze(TensorD::zeros(Shape{2, 2}), 3);
                  }},
                 {"axis below -ndim-1", ErrorKind::axis, "axis -4 out of range for shape [2,2]",
                  [] {
                    unsqueeze(TensorD::zeros(Shape{2, 2}), -4);
                  }},
                 {"rank above the maximum", ErrorKind::shape, "[1,1,1,1,1,1]", [] {
                    unsqueeze(TensorD::zeros(Shape{1, 1, 1, 1, 1, 1}), 0);
                  }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> unsqueeze(const Tensor<T>& x, int axis) {
  const Shape& shape = x.shape();
  const std::size_t ax = detail::wrap_axis("unsqueeze", axis, shape.rank() + 1, shape);
  if (shape.rank() == Shape::kMaxRank)
    throw ShapeError("unsqueeze: x " + shape.str() + " already has the maximum rank " +
                     std::to_string(Shape::kMaxRank));
  Shape out_shape;
  for (std::size_t d = 0; d <= shape.rank(); ++d) {
    if (d == ax) out_shape.push_back(1);
    if (d < shape.rank()) out_shape.push_back(shape[d]);
  }
  Tensor<T> out = detail::new_output<T>("unsqueeze", out_shape);
  detail::copy_values(x, out);
  record<UnsqueezeNode<T>>(out, {&x});
  return out;
}

template Tensor<float> unsqueeze(const Tensor<float>&, int);
template Tensor<double> unsqueeze(const Tensor<double>&, int);

TG_DEFINE_REPLAYABLE_OP(unsqueeze, "dx = reshape(G, x.shape)", unsqueeze_samples, unsqueeze_cases);

}  // namespace tg
