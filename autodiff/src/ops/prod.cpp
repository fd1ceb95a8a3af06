// prod: the product of all elements (-> []), along one axis or a list of axes; 1 for an empty
// slice. Saves its input and output r. Adjoint: G times the product of the other elements of the
// slice, exact at zeros (PyTorch's): G*r/x in a slice without zeros; at a slice's only zero, G
// times the product of the rest (0 elsewhere in the slice); 0 over a slice with two zeros or more.
// Built from recorded ops whose values and derivatives are those of the product of the others,
// so second derivatives are exact too, at zeros included.
#include <limits>

#include "../reduce_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class ProdNode final : public SavingNode<T, 2> {
 public:
  detail::ReducePlan plan;
  const char* name() const override { return "prod"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> x = this->get(0);
    const Tensor<T> gx = detail::expand_back(g, plan);
    // A product of one element is that element: G exactly (G*r/x would round, and be NaN at 0).
    if (plan.count == 1) {
      grads[0] = gx;
      return;
    }
    // Under a recording, whether x holds a zero is known only when a run reads x: both forms are
    // recorded and a flag computed in a kernel picks one (where copies it: the same bits as the
    // form eager mode takes for those values).
    if (detail::active_capture() && x.size() > 0) {
      const Tensor<T> any_zero =
          detail::reduce_slices("prod", x, detail::plan_reduction("prod", x.shape(), {}, false),
                                T(0), [](const detail::Slice<T>& s) {
                                  for (std::size_t i = 0; i < s.size; ++i)
                                    if (s[i] == T(0)) return T(1);
                                  return T(0);
                                });
      grads[0] = where(any_zero, mul(gx, others_with_zeros(x)), without_zeros(gx, x));
      return;
    }
    bool any_zero = false;
    for (std::size_t i = 0; i < x.size() && !any_zero; ++i) any_zero = x.data()[i] == T(0);
    grads[0] = any_zero ? mul(gx, others_with_zeros(x)) : without_zeros(gx, x);
  }

 private:
  // G*r/x, the adjoint where x has no zero (PyTorch's form).
  Tensor<T> without_zeros(const Tensor<T>& gx, const Tensor<T>& x) {
    return mul(gx, detail::expand_back(this->get(1), plan)) / x;
  }

  // The product of the other elements of each slice, for an x with zeros, in terms of (z the
  // constant mask of the zeros, k the zeros in the slice):
  //   P = product of the slice's nonzero elements (x with its zeros replaced by a constant 1),
  //   S = sum of the slice's zero elements (0 in value; derivative 1 at each zero).
  // k = 0: P/x. k = 1: P at the zero, P*S/x elsewhere (0 in value, derivative P/x in the zero).
  // k = 2: P*(S - x) at a zero (the other zero, times P), 0 elsewhere (its first derivatives are
  // 0 there too). k >= 3: 0, whose derivatives are 0 as well.
  Tensor<T> others_with_zeros(const Tensor<T>& x) {
    const Tensor<T> z = detail::map_unary("prod", x, [](T v) { return T(v == T(0)); });
    const Tensor<T> nz = T(1) - z;
    const Tensor<T> x_safe = add(mul(x, nz), z);
    const std::vector<int> axes = detail::reduced_axes(plan);
    const Tensor<T> P = detail::expand_back(prod(x_safe, axes, true), plan);
    // Terms a mask rules out are selected away (where), never multiplied by 0: an infinite x
    // there would give inf * 0 = NaN and spread it over its whole slice.
    const Tensor<T> zero = Tensor<T>::scalar(T(0));
    const Tensor<T> S = detail::expand_back(sum(where(z, x, zero), axes, true), plan);
    const Tensor<T> zeros =
        detail::reduce_slices("prod", z, plan, T(0), [](const detail::Slice<T>& s) {
          T k = 0;
          for (std::size_t i = 0; i < s.size; ++i) k += s[i];
          return k;
        });
    const Tensor<T> k = detail::expand_back(zeros, plan);
    auto where_k = [&](T count) {
      return detail::map_unary("prod", k, [count](T v) { return T(v == count); });
    };
    const Tensor<T> term = where_k(0) * nz / x_safe + where_k(1) * (z + nz * S / x_safe) +
                           where(where_k(2) * z, S - x, zero);
    return mul(P, term);
  }
};

template <class T> std::vector<GradSample<T>> prod_samples(std::uint64_t seed) {
  return samples::reduction_forms<T>(
      seed,
      [](const Shape& s, std::mt19937_64& rng) {
        return samples::away_from_zero<T>(s, 0.5, 1.5, rng);
      },
      [](const Tensor<T>& x, const samples::AxisSpec& spec) {
        if (spec.kind == samples::AxisSpec::all) return prod(x);
        if (spec.kind == samples::AxisSpec::one) return prod(x, spec.axis, spec.keepdim);
        return prod(x, spec.axes, spec.keepdim);
      });
}

TensorD prod_gradient(const TensorD& x, const std::vector<int>& axes) {
  TensorD leaf = x.clone();
  leaf.set_requires_grad(true);
  TensorD out = prod(leaf, axes, false);
  out.backward(TensorD::ones(out.shape()));
  return leaf.grad();
}

// d/dx_k of the k-th gradient of prod(x) over all elements: the Hessian's row k, by hand (the
// product of the elements other than k and j at column j, 0 on the diagonal).
TensorD prod_hessian_row(const TensorD& x, std::size_t k) {
  TensorD leaf = x.clone();
  leaf.set_requires_grad(true);
  const TensorD g = tg::grad(prod(leaf), {leaf}, {.create_graph = true})[0];
  TensorD pick = TensorD::zeros(x.shape());
  pick.data()[k] = 1;
  return tg::grad(sum(mul(g, pick)), {leaf})[0];
}

// Values by hand. Gradients of prod over each row: the product of the row's other elements.
OpCases prod_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  auto x = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, -6}}); };
  return {
      .forward = {{"all", [x] { return prod(x()); }, Shape{}, {-720}},
                  {"axis 0", [x] { return prod(x(), 0); }, Shape{3}, {4, 10, -18}},
                  {"axis -1 keepdim", [x] { return prod(x(), -1, true); }, Shape{2, 1}, {6, -120}},
                  {"axes {0,1}",
                   [x] {
                     return prod(x(), {0, 1});
                   },
                   Shape{},
                   {-720}},
                  {"0-d", [] { return prod(TensorD::scalar(-3)); }, Shape{}, {-3}},
                  {"empty axis",
                   [] {
                     return prod(TensorD::zeros(Shape{2, 0}), 1);
                   },
                   Shape{2},
                   {1, 1}},
                  {"zero and inf",
                   [] {
                     return prod(TensorD::vector({0, inf}));
                   },
                   Shape{},
                   {nan}},
                  {"gradient without zeros",
                   [x] { return prod_gradient(x(), {1}); },
                   Shape{2, 3},
                   {6, 3, 2, -30, -24, 20}},
                  {"gradient at one zero",
                   [] {
                     return prod_gradient(TensorD::matrix({{2, 0, 3}, {0, 0, 5}}), {1});
                   },
                   Shape{2, 3},
                   {0, 6, 0, 0, 0, 0}},
                  {"gradient at zeros over all",
                   [] {
                     return prod_gradient(TensorD::matrix({{2, 0}, {3, 4}}), {});
                   },
                   Shape{2, 2},
                   {0, 24, 0, 0}},
                  {"gradient at zeros along axis 0",
                   [] {
                     return prod_gradient(TensorD::matrix({{0, 0, 1}, {3, 0, 2}}), {0});
                   },
                   Shape{2, 3},
                   {3, 0, 2, 0, 0, 1}},
                  // Another row's zero sends the whole tensor down the path for zeros; the row
                  // with an infinite entry gets r/x as it would without: inf, inf, and NaN
                  // (inf/inf) at the infinite entry, not a row of NaN.
                  {"gradient with an infinite entry, a zero in another row",
                   [] {
                     return prod_gradient(TensorD::matrix({{1.5, 2, inf}, {0, 3, 4}}), {1});
                   },
                   Shape{2, 3},
                   {inf, inf, nan, 12, 0, 0}},
                  {"second derivative at one zero",
                   [] {
                     return prod_hessian_row(TensorD::vector({2, 0, 3, 5}), 1);
                   },
                   Shape{4},
                   {15, 0, 10, 6}},
                  {"second derivative beside one zero",
                   [] {
                     return prod_hessian_row(TensorD::vector({2, 0, 3, 5}), 0);
                   },
                   Shape{4},
                   {0, 15, 0, 0}},
                  {"second derivative at two zeros",
                   [] {
                     return prod_hessian_row(TensorD::vector({2, 0, 3, 0}), 1);
                   },
                   Shape{4},
                   {0, 0, 0, 6}},
                  {"second derivative at three zeros",
                   [] {
                     return prod_hessian_row(TensorD::vector({0, 0, 3, 0}), 1);
                   },
                   Shape{4},
                   {0, 0, 0, 0}}},
      .errors = {{"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                  [] {
                    prod(TensorD::zeros(Shape{2, 3}), 2);
                  }},
                 {"duplicate axis", ErrorKind::axis, "axis 0 repeats axis 0", [] {
                    prod(TensorD::zeros(Shape{2, 3}), {0, 1, 0});
                  }}}};
}

}  // namespace

template <class T> Tensor<T> prod(const Tensor<T>& x) {
  return prod(x, std::vector<int>{}, false);
}

template <class T> Tensor<T> prod(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim) {
  const detail::ReducePlan plan = detail::plan_reduction("prod", x.shape(), axes, keepdim);
  Tensor<T> out = detail::reduce_slices("prod", x, plan, T(1), [](const detail::Slice<T>& s) {
    T product = 1;
    for (std::size_t i = 0; i < s.size; ++i) product *= s[i];
    return product;
  });
  if (auto* node = record<ProdNode<T>>(out, {&x})) {
    node->plan = plan;
    node->saved[0].save_input(x);
    node->saved[1].save_output(out);
  }
  return out;
}

template Tensor<float> prod(const Tensor<float>&);
template Tensor<double> prod(const Tensor<double>&);
template Tensor<float> prod(const Tensor<float>&, const std::vector<int>&, bool);
template Tensor<double> prod(const Tensor<double>&, const std::vector<int>&, bool);

TG_DEFINE_REPLAYABLE_OP(prod,
                        "dx = G * (product of the slice's other elements): G*r/x without zeros",
                        prod_samples, prod_cases);

}  // namespace tg
