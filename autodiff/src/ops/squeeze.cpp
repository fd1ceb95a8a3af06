// squeeze: removes `axis` when its extent is 1; an axis of another extent is left as it is
// (PyTorch's torch.squeeze(x, dim)), so the result is x's values either way (a copy: tensors are
// contiguous). Adjoint: reshape(G, x.shape).
#include "../shape_kernels.hpp"

namespace tg {

namespace {

template <class T> class SqueezeNode final : public Node<T> {
 public:
  const char* name() const override { return "squeeze"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = reshape(g, this->input_shape(0));
  }
};

template <class T> std::vector<GradSample<T>> squeeze_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  const std::pair<Shape, int> cases[] = {
      {Shape{1, 1}, 0}, {Shape{1, 5}, 0},    {Shape{4, 1}, -1},       {Shape{3, 4}, 1},
      {Shape{}, 0},     {Shape{2, 1, 3}, 1}, {Shape{2, 3, 4, 1}, -1}, {Shape{1, 2, 1, 3}, -2}};
  for (const auto& [shape, axis] : cases)
    out.push_back({shape.str() + " axis " + std::to_string(axis),
                   {samples::uniform<T>(shape, -1, 1, rng)},
                   [axis](const std::vector<Tensor<T>>& in) { return squeeze(in[0], axis); }});
  return out;
}

// The shapes by PyTorch's rule (drop the axis if its extent is 1); values are x's, in order.
OpCases squeeze_cases() {
  OpCases cases = {
      .forward = {{"[1,3] axis 0",
                   [] {
                     return squeeze(TensorD::matrix({{1, 2, 3}}), 0);
                   },
                   Shape{3},
                   {1, 2, 3}},
                  {"[3,1] axis -1",
                   [] {
                     return squeeze(TensorD::matrix({{1}, {2}, {3}}), -1);
                   },
                   Shape{3},
                   {1, 2, 3}},
                  {"[1,3] axis 1 (extent 3: unchanged)",
                   [] {
                     return squeeze(TensorD::matrix({{1, 2, 3}}), 1);
                   },
                   Shape{1, 3},
                   {1, 2, 3}},
                  {"[] axis -1", [] { return squeeze(TensorD::scalar(4), -1); }, Shape{}, {4}},
                  {"[1,0] axis 0",
                   [] {
                     return squeeze(TensorD::zeros(Shape{1, 0}), 0);
                   },
                   Shape{0},
                   {}}},
      .errors = {
          {"axis out of range", ErrorKind::axis, "axis 2 out of range for shape [1,3]",
           [] {
             squeeze(TensorD::zeros(Shape{1, 3}), 2);
           }},
          {"negative axis out of range", ErrorKind::axis, "axis -3 out of range for shape [1,3]",
           [] {
             squeeze(TensorD::zeros(Shape{1, 3}), -3);
           }},
          {"0-d axis 1", ErrorKind::axis, "axis 1 out of range for shape []",
           [] { squeeze(TensorD::scalar(1), 1); }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> squeeze(const Tensor<T>& x, int axis) {
  const Shape& shape = x.shape();
  // A 0-d tensor takes axis 0 or -1 and stays 0-d, as in PyTorch.
  const std::size_t rank = shape.rank() == 0 ? 1 : shape.rank();
  const std::size_t ax = detail::wrap_axis("squeeze", axis, rank, shape);
  Shape out_shape;
  for (std::size_t d = 0; d < shape.rank(); ++d)
    if (d != ax || shape[d] != 1) out_shape.push_back(shape[d]);
  Tensor<T> out = detail::new_output<T>("squeeze", out_shape);
  detail::copy_values(x, out);
  record<SqueezeNode<T>>(out, {&x});
  return out;
}

template Tensor<float> squeeze(const Tensor<float>&, int);
template Tensor<double> squeeze(const Tensor<double>&, int);

TG_DEFINE_REPLAYABLE_OP(squeeze, "dx = reshape(G, x.shape)", squeeze_samples, squeeze_cases);

}  // namespace tg
