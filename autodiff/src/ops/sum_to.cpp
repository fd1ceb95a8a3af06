// sum_to: sums x down to `shape`, a shape that broadcasts to x's (the inverse of broadcast_to).
// The engine calls it on every gradient whose shape is larger than its input's: this is the one
// place where broadcast gradients are reduced. Adjoint: broadcast_to(G, x.shape).
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SumToNode final : public Node<T> {
 public:
  const char* name() const override { return "sum_to"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = broadcast_to(g, this->input_shape(0));
  }
};

template <class T> std::vector<GradSample<T>> sum_to_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  const std::pair<Shape, Shape> cases[] = {
      {Shape{2, 3}, Shape{}},     {Shape{3, 2}, Shape{1, 1}}, {Shape{3, 4}, Shape{4}},
      {Shape{3, 5}, Shape{3, 1}}, {Shape{2, 4}, Shape{1, 4}}, {Shape{2, 4, 3}, Shape{2, 1, 3}}};
  for (const auto& [from, to] : cases)
    out.push_back({from.str() + "->" + to.str(),
                   {samples::uniform<T>(from, -1, 1, rng)},
                   [to](const std::vector<Tensor<T>>& in) { return sum_to(in[0], to); }});
  return out;
}

// By hand, for x = [[1,2,3],[4,5,6]]: column sums [5,7,9], row sums [6,15], 21 in all, and x
// itself for its own shape; the gradient is G repeated over the summed elements.
OpCases sum_to_cases() {
  OpCases cases = {
      .forward = {{"[2,3] -> [3]",
                   [] {
                     return sum_to(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), Shape{3});
                   },
                   Shape{3},
                   {5, 7, 9}},
                  {"[2,3] -> [1,3]",
                   [] {
                     return sum_to(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), Shape{1, 3});
                   },
                   Shape{1, 3},
                   {5, 7, 9}},
                  {"[2,3] -> [2,1]",
                   [] {
                     return sum_to(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), Shape{2, 1});
                   },
                   Shape{2, 1},
                   {6, 15}},
                  {"[2,3] -> []",
                   [] {
                     return sum_to(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), Shape{});
                   },
                   Shape{},
                   {21}},
                  {"[2,3] -> [2,3]",
                   [] {
                     return sum_to(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), Shape{2, 3});
                   },
                   Shape{2, 3},
                   {1, 2, 3, 4, 5, 6}},
                  {"gradient repeated back",
                   [] {
                     TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
                     return grad(sum_to(x, Shape{2, 1}), {x},
                                 TensorD::from_vector(Shape{2, 1}, {3, -1}))[0];
                   },
                   Shape{2, 3},
                   {3, 3, 3, -1, -1, -1}}},
      .errors = {{"[2,4] -> [3]", ErrorKind::shape, "cannot sum [2,4] down to [3]", [] {
                    sum_to(TensorD::zeros(Shape{2, 4}, true), Shape{3});
                  }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape) {
  shape.checked_bytes(sizeof(T), "sum_to");
  if (!broadcastable_to(shape, x.shape()))
    throw ShapeError("sum_to: cannot sum " + x.shape().str() + " down to " + shape.str() +
                     " (the target must broadcast to the source)");
  if (x.shape() == shape) return x;
  Tensor<T> out = detail::zeros_output<T>("sum_to", shape);
  detail::launch(
      [in = x.data(), o = out.data(), from = x.shape(),
       strides = detail::broadcast_strides(shape, x.shape())] {
        detail::for_each_broadcast(
            from, strides, detail::Strides{},
            [&](std::size_t i, std::size_t io, std::size_t) { o[io] += in[i]; });
      },
      [&] { return detail::writes_from(out, x, out); });  // adds into out's zeros
  record<SumToNode<T>>(out, {&x});
  return out;
}

template Tensor<float> sum_to(const Tensor<float>&, const Shape&);
template Tensor<double> sum_to(const Tensor<double>&, const Shape&);

TG_DEFINE_REPLAYABLE_OP(sum_to, "dx = broadcast_to(G, x.shape)", sum_to_samples, sum_to_cases);

}  // namespace tg
