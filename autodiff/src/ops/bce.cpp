// bce: -mean(y log p + (1-y) log(1-p)) over all N elements, p in [0,1] (DomainError otherwise;
// a NaN p propagates). No clamping: 0 log 0 = 0 (xlogy), so p = 0, y = 0 adds 0 with a finite
// gradient, while p = 0, y = 1 is honestly +inf.
// Adjoint: dp = G*((1-y)/(1-p) - y/p)/N, each term 0 where its numerator is 0 (the fused op
// bce_backward), which is G*(p-y)/(p(1-p))/N away from the edges. PyTorch clamps that denominator
// at 1e-12 and so is ~10x too small after sigmoid(30); here sigmoid's s(1-s) cancels it exactly.
// dy = G*(log(1-p) - log p)/N.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> T xlogy(T x, T y) {
  return x == T(0) && y == y ? T(0) : x * std::log(y);  // xlogy(0, NaN) = NaN, as PyTorch
}

template <class T> class BceNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "bce"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> p = this->get(0), y = this->get(1);
    if (this->needs_grad(0)) grads[0] = bce_backward(g, p, y);
    if (this->needs_grad(1)) grads[1] = mul(log(T(1) - p) - log(p), g * (T(1) / T(p.size())));
  }
};

template <class T> std::vector<GradSample<T>> bce_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : samples::loss_shapes()) {
    out.push_back({s.str() + "," + s.str(),
                   {samples::uniform<T>(s, 0.1, 0.9, rng), samples::uniform<T>(s, 0, 1, rng)},
                   [](const std::vector<Tensor<T>>& in) { return bce(in[0], in[1]); }});
    out.push_back({s.str() + "," + s.str() + " hard targets",
                   {samples::uniform<T>(s, 0.1, 0.9, rng), samples::hard_targets<T>(s, rng)},
                   [](const std::vector<Tensor<T>>& in) { return bce(in[0], in[1]); }});
  }
  return out;
}

}  // namespace

template <class T> Tensor<T> bce(const Tensor<T>& p, const Tensor<T>& y) {
  require_same_shape("bce", p, y);
  require_nonempty("bce", p);
  for (std::size_t i = 0; i < p.size(); ++i) {
    const T v = p.data()[i];
    if (v < T(0) || v > T(1))
      throw DomainError("bce: probabilities must lie in [0,1], got p = " +
                        format_number(double(v)) + " at flat index " + std::to_string(i) + " of p" +
                        p.shape().str() + " (use bce_with_logits for scores)");
  }
  T total = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const T pi = p.data()[i], yi = y.data()[i];
    total += xlogy(yi, pi) + xlogy(T(1) - yi, T(1) - pi);
  }
  Tensor<T> out = detail::scalar_output<T>("bce", -total / T(p.size()));
  if (auto* node = record<BceNode<T>>(out, {&p, &y})) {
    node->saved[0].save_input(p);
    node->saved[1].save_input(y);
  }
  return out;
}

template Tensor<float> bce(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> bce(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(bce,
             "dp = bce_backward(G, p, y) = G*(p-y)/(p(1-p))/N (finite at p=y=0), "
             "dy = G*log((1-p)/p)/N",
             bce_samples);

}  // namespace tg
