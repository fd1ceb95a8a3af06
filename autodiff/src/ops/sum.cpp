// sum: of all elements (-> []), or along one axis, which is removed ([n,m] axis 0 -> [m]).
// Adjoint: G broadcast back over the summed elements.
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SumNode final : public Node<T> {
 public:
  static constexpr std::size_t kAll = std::size_t(-1);
  std::size_t axis = kAll;
  const char* name() const override { return "sum"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Shape& shape = this->input_shape(0);
    grads[0] = axis == kAll ? broadcast_to(g, shape)
                            : broadcast_to(reshape(g, detail::keep_axis(shape, axis)), shape);
  }
};

template <class T> std::vector<GradSample<T>> sum_samples(std::uint64_t seed) {
  return samples::reduction<T>(
      seed, [](const Tensor<T>& x) { return sum(x); },
      [](const Tensor<T>& x, std::size_t axis) { return sum(x, axis); });
}

// [2,3,4] holding 0..23: x[a][l][i] = 12a + 4l + i.
TensorD sum_example_3d() {
  std::vector<double> v(24);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return TensorD::from_vector(Shape{2, 3, 4}, v);
}

// By hand, for x = [[1,2,3],[4,5,6]]: 21 in all, column sums [5,7,9], row sums [6,15]. For the
// [2,3,4] example x[a][l][i] = 12a + 4l + i: along axis 0, 12 + 2(4l + i) = 12 + 2j for
// j = 0..11; along axis 1, 36a + 12 + 3i; along axis 2, 48a + 16l + 6; in all 23*24/2. The
// gradient is G repeated along the summed axis.
OpCases sum_cases() {
  std::vector<double> axis0(12), axis1(8), axis2(6);
  for (std::size_t j = 0; j < 12; ++j) axis0[j] = 12 + 2 * double(j);
  for (std::size_t a = 0; a < 2; ++a)
    for (std::size_t i = 0; i < 4; ++i) axis1[a * 4 + i] = 36 * double(a) + 12 + 3 * double(i);
  for (std::size_t a = 0; a < 2; ++a)
    for (std::size_t l = 0; l < 3; ++l) axis2[a * 3 + l] = 48 * double(a) + 16 * double(l) + 6;
  return {
      .forward = {{"[2,3]",
                   [] {
                     return sum(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}));
                   },
                   Shape{},
                   {21}},
                  {"[2,3] axis 0",
                   [] {
                     return sum(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), 0);
                   },
                   Shape{3},
                   {5, 7, 9}},
                  {"[2,3] axis 1",
                   [] {
                     return sum(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), 1);
                   },
                   Shape{2},
                   {6, 15}},
                  {"[2]",
                   [] {
                     return sum(TensorD::vector({1.5, 2.5}));
                   },
                   Shape{},
                   {4}},
                  {"[2] axis 0",
                   [] {
                     return sum(TensorD::vector({1.5, 2.5}), 0);
                   },
                   Shape{},
                   {4}},
                  {"[2,3,4] axis 0", [] { return sum(sum_example_3d(), 0); }, Shape{3, 4}, axis0},
                  {"[2,3,4] axis 1", [] { return sum(sum_example_3d(), 1); }, Shape{2, 4}, axis1},
                  {"[2,3,4] axis 2", [] { return sum(sum_example_3d(), 2); }, Shape{2, 3}, axis2},
                  {"[2,3,4]", [] { return sum(sum_example_3d()); }, Shape{}, {276}},
                  {"gradient along axis 0",
                   [] {
                     TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
                     return grad(sum(x, 0), {x}, TensorD::vector({1, 10, 100}))[0];
                   },
                   Shape{2, 3},
                   {1, 10, 100, 1, 10, 100}},
                  {"gradient along axis 1",
                   [] {
                     TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
                     return grad(sum(x, 1), {x}, TensorD::vector({2, -1}))[0];
                   },
                   Shape{2, 3},
                   {2, 2, 2, -1, -1, -1}}},
      .errors = {{"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                  [] {
                    sum(TensorD::zeros(Shape{2, 3}, true), 2);
                  }},
                 {"an axis of a 0-d tensor", ErrorKind::axis, "axis 0 out of range for shape []",
                  [] { sum(TensorD::scalar(1), 0); }}}};
}

}  // namespace

template <class T> Tensor<T> sum(const Tensor<T>& x) {
  T total = 0;
  for (std::size_t i = 0; i < x.size(); ++i) total += x.data()[i];
  Tensor<T> out = detail::scalar_output<T>("sum", total);
  record<SumNode<T>>(out, {&x});
  return out;
}

template <class T> Tensor<T> sum(const Tensor<T>& x, std::size_t axis) {
  require_axis("sum", x.shape(), axis);
  Tensor<T> out = detail::reduce_axis("sum", x, axis, T(1));
  if (auto* node = record<SumNode<T>>(out, {&x})) node->axis = axis;
  return out;
}

template Tensor<float> sum(const Tensor<float>&);
template Tensor<double> sum(const Tensor<double>&);
template Tensor<float> sum(const Tensor<float>&, std::size_t);
template Tensor<double> sum(const Tensor<double>&, std::size_t);

TG_DEFINE_OP(sum, "dx = G broadcast back along the summed axis (all axes without one)", sum_samples,
             sum_cases);

}  // namespace tg
