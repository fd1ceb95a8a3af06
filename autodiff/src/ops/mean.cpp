// mean: sum / count, of all elements (-> []) or along one axis (removed). An empty reduction has
// no mean: ShapeError. Adjoint: G / count broadcast back.
#include "../kernels.hpp"

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
             mean_samples);

}  // namespace tg
