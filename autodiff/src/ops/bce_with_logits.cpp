// bce_with_logits: bce(sigmoid(z), y) evaluated stably as mean(max(z,0) - z*y + log1p(e^-|z|)),
// finite for any finite z. Adjoint: dz = G*(sigmoid(z) - y)/N, dy = -G*z/N.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class BceWithLogitsNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "bce_with_logits"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> z = this->get(0), y = this->get(1);
    Tensor<T> scale = g * (T(1) / T(z.size()));
    if (this->needs_grad(0)) grads[0] = mul(sigmoid(z) - y, scale);
    if (this->needs_grad(1)) grads[1] = neg(mul(z, scale));
  }
};

template <class T> std::vector<GradSample<T>> bce_with_logits_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : samples::loss_shapes()) {
    out.push_back({s.str() + "," + s.str(),
                   {samples::uniform<T>(s, -4, 4, rng), samples::uniform<T>(s, 0, 1, rng)},
                   [](const std::vector<Tensor<T>>& in) { return bce_with_logits(in[0], in[1]); }});
    out.push_back({s.str() + "," + s.str() + " hard targets",
                   {samples::uniform<T>(s, -4, 4, rng), samples::hard_targets<T>(s, rng)},
                   [](const std::vector<Tensor<T>>& in) { return bce_with_logits(in[0], in[1]); }});
  }
  return out;
}

}  // namespace

template <class T> Tensor<T> bce_with_logits(const Tensor<T>& z, const Tensor<T>& y) {
  require_same_shape("bce_with_logits", z, y);
  require_nonempty("bce_with_logits", z);
  T total = 0;
  for (std::size_t i = 0; i < z.size(); ++i) {
    const T zi = z.data()[i], yi = y.data()[i];
    total += std::max(zi, T(0)) - zi * yi + std::log1p(std::exp(-std::abs(zi)));
  }
  Tensor<T> out = detail::scalar_output<T>("bce_with_logits", total / T(z.size()));
  if (auto* node = record<BceWithLogitsNode<T>>(out, {&z, &y})) {
    node->saved[0].save_input(z);
    node->saved[1].save_input(y);
  }
  return out;
}

template Tensor<float> bce_with_logits(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> bce_with_logits(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(bce_with_logits, "dz = G*(sigmoid(z) - y)/N, dy = -G*z/N", bce_with_logits_samples);

}  // namespace tg
