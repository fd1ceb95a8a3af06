// bce_with_logits: bce(sigmoid(z), y) evaluated stably as max(z,0) - z*y + log1p(e^-|z|), finite
// for any finite z, reduced as asked (mean over all N elements by default; N = 1 below for sum and
// none). Adjoint: dz = G*(sigmoid(z) - y)/N, dy = -G*z/N.
// With PyTorch's pos_weight pw (broadcast against z; [C] weighs each class of the last axis):
// (1-y)*z + w*softplus(-z), w = 1 + (pw-1)*y, softplus(-z) = log1p(e^-|z|) + max(-z,0). Adjoint:
// dz = G*(w*sigmoid(z) - pw*y)/N, dy = G*((pw-1)*softplus(-z) - z)/N, dpw = G*y*softplus(-z)/N.
// The adjoint composes existing ops (softplus(-z) as relu(-z) + log(1 + e^-(relu(z)+relu(-z)))),
// so it is differentiable again.
#include "../loss_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> T softplus_of_negative(T z) {
  return std::log1p(std::exp(-std::abs(z))) + std::max(-z, T(0));
}

template <class T> class BceWithLogitsNode final : public SavingNode<T, 3> {
 public:
  Reduction reduction = Reduction::mean;
  bool weighted = false;
  const char* name() const override { return "bce_with_logits"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> z = this->get(0), y = this->get(1);
    Tensor<T> scale = detail::term_upstream(g, reduction, z.size());
    if (!weighted) {
      if (this->needs_grad(0)) grads[0] = mul(sigmoid(z) - y, scale);
      if (this->needs_grad(1)) grads[1] = neg(mul(z, scale));
      return;
    }
    Tensor<T> pw = this->get(2);
    if (this->needs_grad(0))
      grads[0] = mul(mul(T(1) + mul(pw - T(1), y), sigmoid(z)) - mul(pw, y), scale);
    if (!this->needs_grad(1) && !this->needs_grad(2)) return;
    const Tensor<T> softplus = relu(-z) + log(T(1) + exp(-(relu(z) + relu(-z))));
    if (this->needs_grad(1)) grads[1] = mul(mul(pw - T(1), softplus) - z, scale);
    if (this->needs_grad(2)) grads[2] = mul(mul(y, softplus), scale);
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
    for (const Reduction r : {Reduction::sum, Reduction::none})
      out.push_back(
          {s.str() + "," + s.str() + " hard targets " + detail::reduction_name(r),
           {samples::uniform<T>(s, -4, 4, rng), samples::hard_targets<T>(s, rng)},
           [r](const std::vector<Tensor<T>>& in) { return bce_with_logits(in[0], in[1], r); }});
    // pos_weight along the last axis (a scalar for 0-d), z off 0 where softplus' pieces join.
    const Shape classes = s.rank() ? Shape{s.back()} : Shape{};
    for (const Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
      for (const bool hard : {false, true})
        out.push_back({s.str() + "," + s.str() + "," + classes.str() + " pos_weight" +
                           (hard ? " hard targets " : " ") + detail::reduction_name(r),
                       {samples::away_from_zero<T>(s, 0.2, 4, rng),
                        hard ? samples::hard_targets<T>(s, rng) : samples::uniform<T>(s, 0, 1, rng),
                        samples::uniform<T>(classes, 0.3, 3, rng)},
                       [r](const std::vector<Tensor<T>>& in) {
                         return bce_with_logits(in[0], in[1], in[2], r);
                       }});
  }
  return out;
}

template <class T>
Tensor<T> bce_with_logits_impl(const Tensor<T>& z, const Tensor<T>& y, const Tensor<T>* pos_weight,
                               Reduction reduction) {
  detail::require_loss_inputs("bce_with_logits", z, y, reduction);
  if (pos_weight) {
    if (!broadcastable_to(pos_weight->shape(), z.shape()))
      throw ShapeError("bce_with_logits: pos_weight" + pos_weight->shape().str() +
                       " does not broadcast to z" + z.shape().str());
  }
  const T* pz = z.data();
  const T* py = y.data();
  Tensor<T> out;
  if (pos_weight) {
    // pos_weight is read where it broadcasts, each run (a recording keeps only pointers).
    const T* pw = pos_weight->data();
    out = detail::reduce_terms<T>(
        "bce_with_logits", z.shape(), z.size(), reduction, T(z.size()),
        [pz, py, pw, shape = z.shape(),
         strides = detail::broadcast_strides(pos_weight->shape(), z.shape())](std::size_t i) {
          std::size_t iw = 0, rest = i;
          for (std::size_t d = shape.rank(); d-- > 0;) {
            iw += (rest % shape[d]) * strides[d];
            rest /= shape[d];
          }
          const T zi = pz[i], yi = py[i];
          return (T(1) - yi) * zi + (T(1) + (pw[iw] - T(1)) * yi) * softplus_of_negative(zi);
        },
        z, y, *pos_weight);
  } else {
    out = detail::reduce_terms<T>(
        "bce_with_logits", z.shape(), z.size(), reduction, T(z.size()),
        [pz, py](std::size_t i) {
          const T zi = pz[i], yi = py[i];
          return std::max(zi, T(0)) - zi * yi + std::log1p(std::exp(-std::abs(zi)));
        },
        z, y);
  }
  auto* node = pos_weight ? record<BceWithLogitsNode<T>>(out, {&z, &y, pos_weight})
                          : record<BceWithLogitsNode<T>>(out, {&z, &y});
  if (node) {
    node->reduction = reduction;
    node->weighted = pos_weight != nullptr;
    node->saved[0].save_input(z);
    node->saved[1].save_input(y);
    if (pos_weight) node->saved[2].save_input(*pos_weight);
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

template <class T>
Tensor<T> bce_with_logits(const Tensor<T>& z, const Tensor<T>& y, Reduction reduction) {
  return bce_with_logits_impl<T>(z, y, nullptr, reduction);
}

template <class T>
Tensor<T> bce_with_logits(const Tensor<T>& z, const Tensor<T>& y, const Tensor<T>& pos_weight,
                          Reduction reduction) {
  return bce_with_logits_impl<T>(z, y, &pos_weight, reduction);
}

template Tensor<float> bce_with_logits(const Tensor<float>&, const Tensor<float>&, Reduction);
template Tensor<double> bce_with_logits(const Tensor<double>&, const Tensor<double>&, Reduction);
template Tensor<float> bce_with_logits(const Tensor<float>&, const Tensor<float>&,
                                       const Tensor<float>&, Reduction);
template Tensor<double> bce_with_logits(const Tensor<double>&, const Tensor<double>&,
                                        const Tensor<double>&, Reduction);

TG_DEFINE_REPLAYABLE_OP(
    bce_with_logits,
    "dz = G*(sigmoid(z) - y)/N, dy = -G*z/N; with pos_weight pw, w = 1 + (pw-1)*y: "
    "dz = G*(w*sigmoid(z) - pw*y)/N, dy = G*((pw-1)*softplus(-z) - z)/N, "
    "dpw = G*y*softplus(-z)/N",
    bce_with_logits_samples, bce_with_logits_cases);

}  // namespace tg
