// reshape: the same elements (row-major order) in a new shape of equal element count.
// Adjoint: reshape(G, x.shape).
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class ReshapeNode final : public Node<T> {
 public:
  const char* name() const override { return "reshape"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = reshape(g, this->input_shape(0));
  }
};

template <class T> std::vector<GradSample<T>> reshape_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  const std::pair<Shape, Shape> cases[] = {{Shape{1, 1}, Shape{}},  {Shape{3, 4}, Shape{4, 3}},
                                           {Shape{6}, Shape{2, 3}}, {Shape{2, 3}, Shape{6, 1}},
                                           {Shape{1, 5}, Shape{5}}, {Shape{2, 2, 3}, Shape{3, 4}}};
  for (const auto& [from, to] : cases)
    out.push_back({from.str() + "->" + to.str(),
                   {samples::uniform<T>(from, -1, 1, rng)},
                   [to](const std::vector<Tensor<T>>& in) { return reshape(in[0], to); }});
  return out;
}

// By hand: the same row-major elements in the new shape; the gradient is G in x's shape.
OpCases reshape_cases() {
  OpCases cases = {
      .forward =
          {{"[2,3] -> [3,2]",
            [] {
              return reshape(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), Shape{3, 2});
            },
            Shape{3, 2},
            {1, 2, 3, 4, 5, 6}},
           {"[2,3] -> [6]",
            [] {
              return reshape(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), Shape{6});
            },
            Shape{6},
            {1, 2, 3, 4, 5, 6}},
           {"[1] -> []", [] { return reshape(TensorD::vector({4}), Shape{}); }, Shape{}, {4}},
           {"gradient in x's shape",
            [] {
              TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
              return grad(reshape(x, Shape{3, 2}), {x},
                          TensorD::matrix({{1, 2}, {3, 4}, {5, 6}}))[0];
            },
            Shape{2, 3},
            {1, 2, 3, 4, 5, 6}}},
      .errors = {{"6 elements to 8", ErrorKind::shape,
                  "cannot reshape [2,3] (6 elements) to [4,2] (8 elements)", [] {
                    reshape(TensorD::zeros(Shape{2, 3}, true), Shape{4, 2});
                  }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> reshape(const Tensor<T>& x, const Shape& shape) {
  // Before the element counts are compared: a target whose count overflows, or an empty one no
  // buffer could describe, is refused under this op's name.
  shape.checked_bytes(sizeof(T), "reshape");
  if (shape.numel() != x.size())
    throw ShapeError("reshape: cannot reshape " + x.shape().str() + " (" +
                     std::to_string(x.size()) + " elements) to " + shape.str() + " (" +
                     std::to_string(shape.numel()) + " elements)");
  Tensor<T> out = detail::new_output<T>("reshape", shape);
  detail::copy_values(x, out);
  record<ReshapeNode<T>>(out, {&x});
  return out;
}

template Tensor<float> reshape(const Tensor<float>&, const Shape&);
template Tensor<double> reshape(const Tensor<double>&, const Shape&);

TG_DEFINE_REPLAYABLE_OP(reshape, "dx = reshape(G, x.shape)", reshape_samples, reshape_cases);

}  // namespace tg
