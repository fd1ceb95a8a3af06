// sum: of all elements (-> []), or along one axis, which is removed ([n,m] axis 0 -> [m]).
// Adjoint: G broadcast back over the summed elements.
#include "../kernels.hpp"

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

TG_DEFINE_OP(sum, "dx = G broadcast back along the summed axis (all axes without one)",
             sum_samples);

}  // namespace tg
