// bce_with_logits: bce(sigmoid(z), y) evaluated stably as mean(max(z,0) - z*y + log1p(e^-|z|)),
// finite for any finite z. Adjoint: dz = G*(sigmoid(z) - y)/N, dy = -G*z/N.
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

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

// NumPy (float64): the terms max(z,0) - z*y + log1p(e^-|z|) are [0, 0, log 2, 2 + log1p(e^-2),
// 3 + log1p(e^-3), 1000, 1000]; z=np.array([-1000.,1000,0,2,-3,1000,-1000]);
// y=np.array([0.,1,1,0,1,0,1]); np.mean(np.maximum(z,0)-z*y+np.log1p(np.exp(-np.abs(z)))), finite
// at +-1000; the gradient (s-y)/7 with s the sigmoid of z evaluated without overflow.
OpCases bce_with_logits_cases() {
  return {.forward =
              {{"z of +-1000",
                [] {
                  return bce_with_logits(TensorD::vector({-1000, 1000, 0, 2, -3, 1000, -1000}),
                                         TensorD::vector({0, 1, 1, 0, 1, 0, 1}));
                },
                Shape{},
                {286.55266607759665}},
               {"gradient (sigmoid(z) - y)/N",
                [] {
                  TensorD z = TensorD::vector({-1000, 1000, 0, 2, -3, 1000, -1000}, true);
                  return grad(bce_with_logits(z, TensorD::vector({0, 1, 1, 0, 1, 0, 1})), {z})[0];
                },
                Shape{7},
                {0.0, 0.0, -0.07142857142857142, 0.12582815399684036, -0.13608201811749046,
                 0.14285714285714285, -0.14285714285714285}}},
          .errors = {{"no broadcasting", ErrorKind::shape, "[4,1] and [4]",
                      [] {
                        bce_with_logits(TensorD::zeros(Shape{4, 1}), TensorD::zeros(Shape{4}));
                      }},
                     {"empty", ErrorKind::shape, "empty input [0]", [] {
                        bce_with_logits(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0}));
                      }}}};
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

TG_DEFINE_OP(bce_with_logits, "dz = G*(sigmoid(z) - y)/N, dy = -G*z/N", bce_with_logits_samples,
             bce_with_logits_cases);

}  // namespace tg
