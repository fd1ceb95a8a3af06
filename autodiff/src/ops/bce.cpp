// bce: -(y log p + (1-y) log(1-p)) reduced as asked (mean over all N elements by default; N = 1
// below for sum and none), p in [0,1] (DomainError otherwise;
// a NaN p propagates). No clamping: 0 log 0 = 0 (xlogy), so p = 0, y = 0 adds 0 with a finite
// gradient, while p = 0, y = 1 is honestly +inf.
// Adjoint: dp = G*((1-y)/(1-p) - y/p)/N, each term 0 where its numerator is 0 (the fused op
// bce_backward), which is G*(p-y)/(p(1-p))/N away from the edges. PyTorch clamps that denominator
// at 1e-12 and so is ~10x too small after sigmoid(30); here sigmoid's s(1-s) cancels it exactly.
// dy = G*(log(1-p) - log p)/N.
// After sigmoid (p = sigmoid(z), p sent no other gradient, a plain backward) the adjoint goes
// straight to z as G*(p - y)/N in one pass, sigmoid's node skipped (detail::sole_producer): what
// hand-written backprop computes for a sigmoid output layer, finite also where p rounds to 0 or 1.
// The same after linear_act's sigmoid: G*(p - y)/N goes to linear_act as its G_z.
#include <limits>

#include "../loss_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> T xlogy(T x, T y) {
  return x == T(0) && y == y ? T(0) : x * std::log(y);  // xlogy(0, NaN) = NaN, as PyTorch
}

template <class T> class BceNode final : public SavingNode<T, 2> {
 public:
  Reduction reduction = Reduction::mean;

  // p = sigmoid(z), nothing else sending p a gradient: dL/dz = G (p - y) / N in one pass, where
  // bce's adjoint G ((1-y)/(1-p) - y/p) / N times sigmoid's p(1-p) takes two, divides twice, and
  // is 0 * inf = NaN where p rounds to exactly 0 or 1 (|z| > 37 in double) with y on the other
  // side, although the gradient there is G/N.
  Tensor<T> logit_gradient(const Tensor<T>& g, const Tensor<T>& p, const Tensor<T>& y) const {
    Tensor<T> dz = detail::new_output<T>("bce", p.shape());
    const T inverse_n = reduction == Reduction::mean ? T(1) / T(p.size()) : T(1);
    detail::launch(
        [o = dz.data(), pp = p.data(), py = y.data(), pg = g.data(), n = p.size(),
         g_step = std::size_t(g.size() == p.size()), inverse_n] {
          for (std::size_t i = 0; i < n; ++i) o[i] = (pp[i] - py[i]) * (pg[i * g_step] * inverse_n);
        },
        [&] { return detail::writes_from(dz, p, y, g); });
    return dz;
  }

  const char* name() const override { return "bce"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> p = this->get(0), y = this->get(1);
    if (this->needs_grad(0)) {
      const Node<T>* producer = detail::sole_producer(*this, 0);
      if (producer && detail::is_sigmoid(*producer)) {
        grads[0] = logit_gradient(g, p, y);
        detail::pass_through(0);
      } else if (producer && detail::is_linear_sigmoid(*producer)) {
        grads[0] = logit_gradient(g, p, y);
        detail::pass_as_preactivation(0);
      } else {
        grads[0] = bce_backward(g, p, y, reduction);
      }
    }
    if (this->needs_grad(1))
      grads[1] = mul(log(T(1) - p) - log(p), detail::term_upstream(g, reduction, p.size()));
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
    for (const Reduction r : {Reduction::sum, Reduction::none})
      out.push_back({s.str() + "," + s.str() + " hard targets " + detail::reduction_name(r),
                     {samples::uniform<T>(s, 0.1, 0.9, rng), samples::hard_targets<T>(s, rng)},
                     [r](const std::vector<Tensor<T>>& in) { return bce(in[0], in[1], r); }});
  }
  return out;
}

// NumPy (float64): p=np.array([.9,.2,.6,.3]); y=np.array([1.,0,1,.5]);
// -np.mean(y*np.log(p)+(1-y)*np.log(1-p)), and the gradient (p-y)/(p*(1-p))/4. At the edges by
// hand (0 log 0 = 0): p = [0, 1, 0.5], y = [0, 1, 0.5] has terms 0 (0 log 0 + 1 log 1),
// 0 (1 log 1 + 0 log 0), -(0.5 log 0.5 + 0.5 log 0.5) = log 2, so log(2)/3; the gradient
// -y/p + (1-y)/(1-p) with 0/0 -> 0 is 1, -1 and -1 + 1 = 0, over N = 3. p = 0 with y = 1 is
// -(1 * log 0) = +inf, gradient -1/0 = -inf there and (-1 + 1)/2 = 0 at p = y = 0.5.
OpCases bce_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  return {
      .forward =
          {{"p inside (0,1), a soft label",
            [] {
              return bce(TensorD::vector({0.9, 0.2, 0.6, 0.3}), TensorD::vector({1, 0, 1, 0.5}));
            },
            Shape{},
            {0.40491339121759024}},
           {"gradient for p inside (0,1)",
            [] {
              TensorD p = TensorD::vector({0.9, 0.2, 0.6, 0.3}, true);
              return grad(bce(p, TensorD::vector({1, 0, 1, 0.5})), {p})[0];
            },
            Shape{4},
            {-0.2777777777777778, 0.31249999999999994, -0.4166666666666667, -0.2380952380952381}},
           {"p = y = 0 and p = y = 1 add 0",
            [] {
              return bce(TensorD::vector({0, 1, 0.5}), TensorD::vector({0, 1, 0.5}));
            },
            Shape{},
            {0.6931471805599453 / 3}},
           {"finite gradient at p = y = 0 and p = y = 1",
            [] {
              TensorD p = TensorD::vector({0, 1, 0.5}, true);
              return grad(bce(p, TensorD::vector({0, 1, 0.5})), {p})[0];
            },
            Shape{3},
            {1.0 / 3, -1.0 / 3, 0}},
           {"p = 0 with y = 1 is +inf, no clamping",
            [] {
              return bce(TensorD::vector({0, 0.5}), TensorD::vector({1, 0.5}));
            },
            Shape{},
            {inf}},
           {"gradient -inf at p = 0 with y = 1",
            [] {
              TensorD p = TensorD::vector({0, 0.5}, true);
              return grad(bce(p, TensorD::vector({1, 0.5})), {p})[0];
            },
            Shape{2},
            {-inf, 0}}},
      .errors = {{"p = 1.5", ErrorKind::domain, "p = 1.5",
                  [] {
                    bce(TensorD::vector({0.5, 1.5}, true), TensorD::vector({1, 0}));
                  }},
                 {"p = -0.5", ErrorKind::domain, "p = -0.5",
                  [] {
                    bce(TensorD::vector({-0.5, 0.5}, true), TensorD::vector({1, 0}));
                  }},
                 {"no broadcasting", ErrorKind::shape, "[4,1] and [4]",
                  [] {
                    bce(TensorD::full(Shape{4, 1}, 0.5), TensorD::zeros(Shape{4}));
                  }},
                 {"empty", ErrorKind::shape, "empty input [0]",
                  [] { bce(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0})); }}}};
}

}  // namespace

template <class T> Tensor<T> bce(const Tensor<T>& p, const Tensor<T>& y, Reduction reduction) {
  detail::require_loss_inputs("bce", p, y, reduction);
  const T* pp = p.data();
  const T* py = y.data();
  // A kernel of its own, so that a replay checks each run's probabilities as eager mode does.
  detail::launch([pp, n = p.size(), shape = p.shape()] {
    for (std::size_t i = 0; i < n; ++i) {
      const T v = pp[i];
      if (v < T(0) || v > T(1))
        throw DomainError("bce: probabilities must lie in [0,1], got p = " +
                          format_number(double(v)) + " at flat index " + std::to_string(i) +
                          " of p" + shape.str() + " (use bce_with_logits for scores)");
    }
  });
  Tensor<T> out = detail::reduce_terms<T>(
      "bce", p.shape(), p.size(), reduction, T(p.size()),
      [pp, py](std::size_t i) {
        return -(xlogy(py[i], pp[i]) + xlogy(T(1) - py[i], T(1) - pp[i]));
      },
      p, y);
  if (auto* node = record<BceNode<T>>(out, {&p, &y})) {
    node->reduction = reduction;
    node->saved[0].save_input(p);
    node->saved[1].save_input(y);
  }
  return out;
}

template Tensor<float> bce(const Tensor<float>&, const Tensor<float>&, Reduction);
template Tensor<double> bce(const Tensor<double>&, const Tensor<double>&, Reduction);

TG_DEFINE_REPLAYABLE_OP(bce,
                        "dp = bce_backward(G, p, y) = G*(p-y)/(p(1-p))/N (finite at p=y=0), "
                        "dy = G*log((1-p)/p)/N",
                        bce_samples, bce_cases);

}  // namespace tg
