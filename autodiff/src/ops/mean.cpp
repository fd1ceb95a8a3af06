// mean: sum / count, of all elements (-> []) or along one axis (removed). An empty reduction has
// no mean: ShapeError. Adjoint: G / count broadcast back.
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class MeanNode final : public Node<T> {
 public:
  static constexpr std::size_t kAll = std::size_t(-1);
  std::size_t axis = kAll;
  T inverse_count = 1;
  const char* name() const override { return "mean"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Shape& shape = this->input_shape(0);
    Tensor<T> scaled = g * inverse_count;
    grads[0] = axis == kAll ? broadcast_to(scaled, shape)
                            : broadcast_to(reshape(scaled, detail::keep_axis(shape, axis)), shape);
  }
};

template <class T> std::vector<GradSample<T>> mean_samples(std::uint64_t seed) {
  return samples::reduction<T>(
      seed, [](const Tensor<T>& x) { return mean(x); },
      [](const Tensor<T>& x, std::size_t axis) { return mean(x, axis); });
}

// [2,3,4] holding 0..23: x[a][l][i] = 12a + 4l + i.
TensorD mean_example_3d() {
  std::vector<double> v(24);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return TensorD::from_vector(Shape{2, 3, 4}, v);
}

// By hand, for x = [[1,2,3],[4,5,6]]: 21/6, [5,7,9]/2, [6,15]/3. For the [2,3,4] example
// x[a][l][i] = 12a + 4l + i: along axis 1 (36a + 12 + 3i)/3 = 12a + 4 + i, along axis 2
// (48a + 16l + 6)/4 = 12a + 4l + 1.5. The gradient is G/count repeated along the averaged axis:
// 1/6 each, and [3, -6]/3 along axis 1. An empty reduction has no mean.
OpCases mean_cases() {
  return {.forward = {{"[2,3]",
                       [] {
                         return mean(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}));
                       },
                       Shape{},
                       {3.5}},
                      {"[2,3] axis 0",
                       [] {
                         return mean(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), 0);
                       },
                       Shape{3},
                       {2.5, 3.5, 4.5}},
                      {"[2,3] axis 1",
                       [] {
                         return mean(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), 1);
                       },
                       Shape{2},
                       {2, 5}},
                      {"[2,3,4] axis 1",
                       [] { return mean(mean_example_3d(), 1); },
                       Shape{2, 4},
                       {4, 5, 6, 7, 16, 17, 18, 19}},
                      {"[2,3,4] axis 2",
                       [] { return mean(mean_example_3d(), 2); },
                       Shape{2, 3},
                       {1.5, 5.5, 9.5, 13.5, 17.5, 21.5}},
                      {"gradient of the mean of all",
                       [] {
                         TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
                         return grad(mean(x), {x})[0];
                       },
                       Shape{2, 3}, std::vector<double>(6, 1.0 / 6.0)},
                      {"gradient along axis 1",
                       [] {
                         TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
                         return grad(mean(x, 1), {x}, TensorD::vector({3, -6}))[0];
                       },
                       Shape{2, 3},
                       {1, 1, 1, -2, -2, -2}}},
          .errors = {{"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                      [] {
                        mean(TensorD::zeros(Shape{2, 3}, true), 2);
                      }},
                     {"empty [0]", ErrorKind::shape, "empty tensor [0]",
                      [] { mean(TensorD::zeros(Shape{0})); }},
                     {"empty [2,0]", ErrorKind::shape, "empty tensor [2,0]",
                      [] {
                        mean(TensorD::zeros(Shape{2, 0}));
                      }},
                     {"empty axis", ErrorKind::shape, "axis 1 of [2,0] is empty", [] {
                        mean(TensorD::zeros(Shape{2, 0}), 1);
                      }}}};
}

}  // namespace

template <class T> Tensor<T> mean(const Tensor<T>& x) {
  if (x.size() == 0) throw ShapeError("mean: empty tensor " + x.shape().str() + " has no mean");
  T total = 0;
  for (std::size_t i = 0; i < x.size(); ++i) total += x.data()[i];
  const T inverse = T(1) / T(x.size());
  Tensor<T> out = detail::scalar_output<T>("mean", total * inverse);
  if (auto* node = record<MeanNode<T>>(out, {&x})) node->inverse_count = inverse;
  return out;
}

template <class T> Tensor<T> mean(const Tensor<T>& x, std::size_t axis) {
  require_axis("mean", x.shape(), axis);
  if (x.dim(axis) == 0)
    throw ShapeError("mean: axis " + std::to_string(axis) + " of " + x.shape().str() +
                     " is empty and has no mean");
  const T inverse = T(1) / T(x.dim(axis));
  Tensor<T> out = detail::reduce_axis("mean", x, axis, inverse);
  if (auto* node = record<MeanNode<T>>(out, {&x})) {
    node->axis = axis;
    node->inverse_count = inverse;
  }
  return out;
}

template Tensor<float> mean(const Tensor<float>&);
template Tensor<double> mean(const Tensor<double>&);
template Tensor<float> mean(const Tensor<float>&, std::size_t);
template Tensor<double> mean(const Tensor<double>&, std::size_t);

TG_DEFINE_OP(mean, "dx = G / count broadcast back along the averaged axis (all without one)",
             mean_samples, mean_cases);

}  // namespace tg
