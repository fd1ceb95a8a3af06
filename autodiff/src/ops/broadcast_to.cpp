// broadcast_to: repeats x along broadcast dimensions (NumPy rules). Adjoint: G, which the engine
// sums back to x's shape with sum_to, the same as for every broadcasting op.
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class BroadcastToNode final : public Node<T> {
 public:
  const char* name() const override { return "broadcast_to"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override { grads[0] = g; }
};

template <class T> std::vector<GradSample<T>> broadcast_to_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  const std::pair<Shape, Shape> cases[] = {
      {Shape{}, Shape{2, 3}},     {Shape{1, 1}, Shape{3, 2}}, {Shape{4}, Shape{3, 4}},
      {Shape{3, 1}, Shape{3, 5}}, {Shape{1, 4}, Shape{2, 4}}, {Shape{2, 1, 3}, Shape{2, 4, 3}}};
  for (const auto& [from, to] : cases)
    out.push_back({from.str() + "->" + to.str(),
                   {samples::uniform<T>(from, -1, 1, rng)},
                   [to](const std::vector<Tensor<T>>& in) { return broadcast_to(in[0], to); }});
  return out;
}

// By hand: x repeated along the new and the extent-1 dimensions; the gradient sums G back over
// the copies: [1+10, 2+20, 3+30].
OpCases broadcast_to_cases() {
  OpCases cases = {
      .forward = {{"[3] -> [2,3]",
                   [] {
                     return broadcast_to(TensorD::vector({1, 2, 3}), Shape{2, 3});
                   },
                   Shape{2, 3},
                   {1, 2, 3, 1, 2, 3}},
                  {"[3,1] -> [3,2]",
                   [] {
                     return broadcast_to(TensorD::from_vector(Shape{3, 1}, {1, 2, 3}), Shape{3, 2});
                   },
                   Shape{3, 2},
                   {1, 1, 2, 2, 3, 3}},
                  {"[] -> [2,2]",
                   [] {
                     return broadcast_to(TensorD::scalar(7), Shape{2, 2});
                   },
                   Shape{2, 2},
                   {7, 7, 7, 7}},
                  {"gradient summed back",
                   [] {
                     TensorD v = TensorD::vector({1, 2, 3}, true);
                     return grad(broadcast_to(v, Shape{2, 3}), {v},
                                 TensorD::matrix({{1, 2, 3}, {10, 20, 30}}))[0];
                   },
                   Shape{3},
                   {11, 22, 33}}},
      .errors = {{"[3] -> [2,4]", ErrorKind::shape, "cannot broadcast [3] to [2,4]", [] {
                    broadcast_to(TensorD::zeros(Shape{3}, true), Shape{2, 4});
                  }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape) {
  if (!broadcastable_to(x.shape(), shape))
    throw ShapeError("broadcast_to: cannot broadcast " + x.shape().str() + " to " + shape.str());
  if (x.shape() == shape) return x;
  Tensor<T> out = detail::new_output<T>("broadcast_to", shape);
  detail::launch(
      [in = x.data(), o = out.data(), shape,
       strides = detail::broadcast_strides(x.shape(), shape)] {
        detail::for_each_broadcast(
            shape, strides, detail::Strides{},
            [&](std::size_t i, std::size_t ix, std::size_t) { o[i] = in[ix]; });
      },
      [&] { return detail::writes_from(out, x); });
  record<BroadcastToNode<T>>(out, {&x});
  return out;
}

template Tensor<float> broadcast_to(const Tensor<float>&, const Shape&);
template Tensor<double> broadcast_to(const Tensor<double>&, const Shape&);

TG_DEFINE_REPLAYABLE_OP(broadcast_to, "dx = sum_to(G, x.shape)", broadcast_to_samples,
                        broadcast_to_cases);

}  // namespace tg
