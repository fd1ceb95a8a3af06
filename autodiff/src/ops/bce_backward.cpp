// bce_backward: bce's adjoint as one fused op, G*((1-y)/(1-p) - y/p)/N over the N elements of p
// (one kernel instead of six on the backward pass); N = 1 for bce's sum and none reductions. A term
// is 0 wherever its numerator is 0 (1-y = 0 or y = 0), even over 0 (p = 1 or p = 0): bce's zero
// terms (0 log 0 = 0) keep a finite gradient, as xdivy gave before. G broadcasts against p (bce's
// upstream is 0-d).
//
// Recorded when backward is (create_graph), with an adjoint of its own. The op is the order k = 1
// member of F_k = (k-1)! * ((1-y)/(1-p)^k + (-1)^k * y/p^k), the k-th derivative in p of one term
// -(y log p + (1-y) log(1-p)); a node of order k has the adjoint
//   dG = U*F_k/N                                  (this op, with U as G)
//   dp = U*G*F_(k+1)/N                            (this op at order k+1, with U*G as G)
//   dy = U*G*(k-1)!*(-(1-p)^-k + (-1)^k p^-k)/N   (plain ops)
// F_k is linear in y: its derivative in y is the same at y = 0 and 1 as anywhere else. The 0/0
// convention shapes values only; built from xdivy, whose derivative in its numerator is 0 at 0, the
// mixed derivative d2L/dy dp came out wrong at hard targets that require a gradient.
#include "../loss_kernels.hpp"

namespace tg {

namespace {

template <class T> T power(T v, unsigned k) {
  T r = v;
  for (unsigned i = 1; i < k; ++i) r *= v;
  return r;
}

double factorial(unsigned n) {
  double f = 1;
  for (unsigned i = 2; i <= n; ++i) f *= i;
  return f;
}

// F_k(p, y) * (G/N) for one element.
template <class T> struct BceDerivative {
  unsigned order;
  T factor;  // (k-1)!
  T inverse_n;
  T operator()(T g, T p, T y) const {
    const T a = detail::xdivy_value(T(1) - y, power(T(1) - p, order)),
            b = detail::xdivy_value(y, power(p, order));
    const T d = order % 2 ? a - b : a + b;
    // k = 1 keeps the rounding of bce's earlier adjoint: (a - b) * (G * (1/N)).
    return (order == 1 ? d : factor * d) * (g * inverse_n);
  }
};

template <class T> class BceBackwardNode final : public SavingNode<T, 3> {
 public:
  unsigned order = 1;
  Reduction reduction = Reduction::mean;
  const char* name() const override { return "bce_backward"; }
  void backward(const Tensor<T>& u, Grads<T>& grads) override {
    Tensor<T> p = this->get(1), y = this->get(2);
    if (this->needs_grad(0)) grads[0] = detail::bce_derivative(u, p, y, order, reduction);
    if (!this->needs_grad(1) && !this->needs_grad(2)) return;
    const Tensor<T> ug = mul(u, this->get(0));
    if (this->needs_grad(1)) grads[1] = detail::bce_derivative(ug, p, y, order + 1, reduction);
    if (this->needs_grad(2)) {
      const T k = T(order);
      const Tensor<T> inv_p = pow(p, -k), inv_q = pow(T(1) - p, -k);
      const Tensor<T> dd = order % 2 ? neg(inv_q) - inv_p : inv_p - inv_q;
      const double n = reduction == Reduction::mean ? double(p.size()) : 1.0;
      grads[2] = mul(ug, dd) * T(factorial(order - 1) / n);
    }
  }
};

template <class T> std::vector<GradSample<T>> bce_backward_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : samples::loss_shapes()) {
    // G as bce passes it (0-d) and elementwise (as this op's own adjoint passes U*G); targets
    // soft and hard (exactly 0 and 1), all differentiated; orders 1 to 3.
    for (unsigned order = 1; order <= 3; ++order) {
      const bool hard = order != 2;
      Tensor<T> g = order == 1 ? samples::uniform<T>(Shape{}, 0.5, 2, rng)
                               : samples::uniform<T>(s, -1, 1, rng);
      Tensor<T> p = samples::uniform<T>(s, 0.1, 0.9, rng);
      Tensor<T> y = hard ? samples::hard_targets<T>(s, rng) : samples::uniform<T>(s, 0, 1, rng);
      out.push_back({g.shape().str() + "," + s.str() + "," + s.str() + (hard ? " hard" : " soft") +
                         " order " + std::to_string(order),
                     {g, p, y},
                     [order](const std::vector<Tensor<T>>& in) {
                       return detail::bce_derivative(in[0], in[1], in[2], order);
                     }});
    }
    // bce's sum (G 0-d) and none (G of p's shape) reductions: no division by N.
    for (const Reduction r : {Reduction::sum, Reduction::none}) {
      Tensor<T> g = r == Reduction::sum ? samples::uniform<T>(Shape{}, 0.5, 2, rng)
                                        : samples::uniform<T>(s, -1, 1, rng);
      Tensor<T> p = samples::uniform<T>(s, 0.1, 0.9, rng);
      out.push_back(
          {g.shape().str() + "," + s.str() + "," + s.str() + " hard " + detail::reduction_name(r),
           {g, p, samples::hard_targets<T>(s, rng)},
           [r](const std::vector<Tensor<T>>& in) { return bce_backward(in[0], in[1], in[2], r); }});
    }
  }
  return out;
}

// By hand: G*((1-y)/(1-p) - y/p)/N, a term 0 where its numerator is 0. G = 3 (0-d), N = 4:
// p = 0.5, y = 1: (0 - 2)*3/4; p = 0.25, y = 0: (1/0.75 - 0)*3/4 = 1; p = 0, y = 0: (1 - 0)*3/4;
// p = 1, y = 1: (0 - 1)*3/4. G elementwise, N = 2: (0.5/0.8 - 0.5/0.2)*2/2 = -1.875 and
// (0 - 1/0.5)*(-4)/2 = 4.
OpCases bce_backward_cases() {
  return {
      .forward = {{"0-d G, p at 0 and 1",
                   [] {
                     return bce_backward(TensorD::scalar(3), TensorD::vector({0.5, 0.25, 0, 1}),
                                         TensorD::vector({1, 0, 0, 1}));
                   },
                   Shape{4},
                   {-1.5, 1, 0.75, -0.75}},
                  {"G elementwise",
                   [] {
                     return bce_backward(TensorD::vector({2, -4}), TensorD::vector({0.2, 0.5}),
                                         TensorD::vector({0.5, 1}));
                   },
                   Shape{2},
                   {-1.875, 4}}},
      .errors = {{"p and y differ", ErrorKind::shape, "p[2] and y[3]",
                  [] {
                    bce_backward(TensorD::scalar(1), TensorD::zeros(Shape{2}),
                                 TensorD::zeros(Shape{3}));
                  }},
                 {"G does not broadcast", ErrorKind::shape, "G[3] does not broadcast to p[2]", [] {
                    bce_backward(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{2}),
                                 TensorD::zeros(Shape{2}));
                  }}}};
}

}  // namespace

namespace detail {

template <class T>
Tensor<T> bce_derivative(const Tensor<T>& g, const Tensor<T>& p, const Tensor<T>& y,
                         unsigned order) {
  return bce_derivative(g, p, y, order, Reduction::mean);
}

template <class T>
Tensor<T> bce_derivative(const Tensor<T>& g, const Tensor<T>& p, const Tensor<T>& y, unsigned order,
                         Reduction reduction) {
  require_reduction("bce_backward", reduction);
  if (p.shape() != y.shape())
    throw ShapeError("bce_backward: p" + p.shape().str() + " and y" + y.shape().str() +
                     " must have the same shape");
  if (!broadcastable_to(g.shape(), p.shape()))
    throw ShapeError("bce_backward: the upstream gradient G" + g.shape().str() +
                     " does not broadcast to p" + p.shape().str());
  const BceDerivative<T> f{order, T(factorial(order - 1)),
                           reduction == Reduction::mean ? T(1) / T(p.size()) : T(1)};
  Tensor<T> out = new_output<T>("bce_backward", p.shape());
  const T* pg = g.data();
  const T* pp = p.data();
  const T* py = y.data();
  T* o = out.data();
  const std::size_t n = out.size();
  if (g.size() == n) {
    launch([=] {
      for (std::size_t i = 0; i < n; ++i) o[i] = f(pg[i], pp[i], py[i]);
    });
  } else if (g.size() == 1) {
    launch([=] {
      const T gv = pg[0];
      for (std::size_t i = 0; i < n; ++i) o[i] = f(gv, pp[i], py[i]);
    });
  } else {
    launch([=, shape = p.shape(), strides = broadcast_strides(g.shape(), p.shape())] {
      for_each_broadcast(
          shape, strides, Strides{},
          [&](std::size_t i, std::size_t ig, std::size_t) { o[i] = f(pg[ig], pp[i], py[i]); });
    });
  }
  if (auto* node = record<BceBackwardNode<T>>(out, {&g, &p, &y})) {
    node->order = order;
    node->reduction = reduction;
    if (node->needs_grad(1) || node->needs_grad(2)) node->saved[0].save_input(g);
    node->saved[1].save_input(p);
    node->saved[2].save_input(y);
  }
  return out;
}

template Tensor<float> bce_derivative(const Tensor<float>&, const Tensor<float>&,
                                      const Tensor<float>&, unsigned);
template Tensor<double> bce_derivative(const Tensor<double>&, const Tensor<double>&,
                                       const Tensor<double>&, unsigned);
template Tensor<float> bce_derivative(const Tensor<float>&, const Tensor<float>&,
                                      const Tensor<float>&, unsigned, Reduction);
template Tensor<double> bce_derivative(const Tensor<double>&, const Tensor<double>&,
                                       const Tensor<double>&, unsigned, Reduction);

}  // namespace detail

template <class T>
Tensor<T> bce_backward(const Tensor<T>& g, const Tensor<T>& p, const Tensor<T>& y) {
  return detail::bce_derivative(g, p, y, 1);
}

template Tensor<float> bce_backward(const Tensor<float>&, const Tensor<float>&,
                                    const Tensor<float>&);
template Tensor<double> bce_backward(const Tensor<double>&, const Tensor<double>&,
                                     const Tensor<double>&);

template <class T>
Tensor<T> bce_backward(const Tensor<T>& g, const Tensor<T>& p, const Tensor<T>& y,
                       Reduction reduction) {
  return detail::bce_derivative(g, p, y, 1, reduction);
}

template Tensor<float> bce_backward(const Tensor<float>&, const Tensor<float>&,
                                    const Tensor<float>&, Reduction);
template Tensor<double> bce_backward(const Tensor<double>&, const Tensor<double>&,
                                     const Tensor<double>&, Reduction);

TG_DEFINE_REPLAYABLE_OP(bce_backward,
                        "dG = U*F/N, dp = U*G*F'/N (F' = (1-y)/(1-p)^2 + y/p^2), "
                        "dy = -U*G/(p(1-p))/N; F = (1-y)/(1-p) - y/p",
                        bce_backward_samples, bce_backward_cases);

}  // namespace tg
