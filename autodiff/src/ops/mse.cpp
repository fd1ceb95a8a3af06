// mse: (a-b)^2 reduced as asked (mean over all N elements by default); a and b must have the same
// shape (never broadcast: PyTorch broadcasts [4,1] against [4] to a [4,4] loss with a warning).
// Adjoint: da = G*2(a-b)/N (N = 1 for sum and none), db = -da. (The XOR tutorial's hand backprop
// drops the 2/N factor and gets a gradient twice the true one of its own cost.)
#include <limits>

#include "../loss_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class MseNode final : public SavingNode<T, 2> {
 public:
  Reduction reduction = Reduction::mean;
  const char* name() const override { return "mse"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const T scale = reduction == Reduction::mean ? T(2) / T(this->input_shape(0).numel()) : T(2);
    if (grad_enabled()) {  // recording (create_graph): the gradient must be made of ops
      const Tensor<T> a = this->get(0), b = this->get(1);
      Tensor<T> d = mul(a - b, g * scale);
      if (this->needs_grad(1)) grads[1] = neg(d);
      grads[0] = std::move(d);
      return;
    }
    // A plain backward: one pass for what the ops above compute (a - b, G * scale, their product,
    // its negation), in the same order, so the same bits, without their three or four
    // intermediate tensors (most of a small regression step's loss adjoint), on a's and b's saved
    // buffers (no handles made for them).
    const Shape& shape = this->input_shape(0);
    const std::size_t n = shape.numel();
    const T* pa = this->get_data(0);
    const T* pb = this->get_data(1);
    Tensor<T> da = detail::new_output<T>("mse", shape);
    const bool both = this->needs_grad(1);
    Tensor<T> db = both ? detail::new_output<T>("mse", shape) : Tensor<T>();
    detail::launch(
        [pa, pb, pg = g.data(), oa = da.data(), ob = both ? db.data() : nullptr, n,
         g_step = std::size_t(reduction == Reduction::none), scale] {
          for (std::size_t i = 0; i < n; ++i) {
            const T d = (pa[i] - pb[i]) * (pg[i * g_step] * scale);
            oa[i] = d;
            if (ob) ob[i] = -d;
          }
        },
        [&] {
          detail::Access access = detail::writes_from(da, g);
          access.reads.push_back(detail::region(pa, n));
          access.reads.push_back(detail::region(pb, n));
          if (both) access.writes.push_back(detail::region(std::as_const(db).data(), db.size()));
          return access;
        });
    if (both) grads[1] = std::move(db);
    grads[0] = std::move(da);
  }
};

template <class T> std::vector<GradSample<T>> mse_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : samples::loss_shapes()) {
    out.push_back({s.str() + "," + s.str(),
                   {samples::uniform<T>(s, -1, 1, rng), samples::uniform<T>(s, -1, 1, rng)},
                   [](const std::vector<Tensor<T>>& in) { return mse(in[0], in[1]); }});
    out.push_back({s.str() + "," + s.str() + " hard targets",
                   {samples::uniform<T>(s, -1, 1, rng), samples::hard_targets<T>(s, rng)},
                   [](const std::vector<Tensor<T>>& in) { return mse(in[0], in[1]); }});
    for (const Reduction r : {Reduction::sum, Reduction::none})
      out.push_back({s.str() + "," + s.str() + " " + detail::reduction_name(r),
                     {samples::uniform<T>(s, -1, 1, rng), samples::uniform<T>(s, -1, 1, rng)},
                     [r](const std::vector<Tensor<T>>& in) { return mse(in[0], in[1], r); }});
  }
  return out;
}

// (1^2 + 2^2 + 3^2 + 4^2) / 4 = 7.5; (0.5^2 + 1.5^2) / 2 = 1.25. The mean, not the sum: diffs
// [1, 0, -2, 3], squares [1, 0, 4, 9], sum 14, N = 4 -> 3.5, and d/da = 2 * [1, 0, -2, 3] / 4 =
// [0.5, 0, -1, 1.5] exactly ((a-b)/N would be half of it), d/db = -d/da. An upstream G = 0.5
// scales the adjoint: diffs [2, -2, 0], mse 8/3, d/da = 0.5 * 2 * diffs / 3. A NaN in a gives a NaN
// value and a NaN gradient at that entry only, 2(a-b)/3 = [2/3, NaN, 2] elsewhere.
OpCases mse_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  return {
      .forward =
          {{"[2,2]",
            [] {
              return mse(TensorD::matrix({{1, 2}, {3, 4}}), TensorD::zeros(Shape{2, 2}));
            },
            Shape{},
            {7.5}},
           {"[2]",
            [] {
              return mse(TensorD::vector({1, 2}), TensorD::vector({0.5, 0.5}));
            },
            Shape{},
            {1.25}},
           {"the mean of squared differences",
            [] {
              return mse(TensorD::matrix({{1, 2}, {3, 4}}), TensorD::matrix({{0, 2}, {5, 1}}));
            },
            Shape{},
            {3.5}},
           {"d/da = 2(a-b)/N",
            [] {
              TensorD a = TensorD::matrix({{1, 2}, {3, 4}}, true),
                      b = TensorD::matrix({{0, 2}, {5, 1}}, true);
              return grad(mse(a, b), {a, b})[0];
            },
            Shape{2, 2},
            {0.5, 0, -1, 1.5},
            1e-15},
           {"d/db = -d/da",
            [] {
              TensorD a = TensorD::matrix({{1, 2}, {3, 4}}, true),
                      b = TensorD::matrix({{0, 2}, {5, 1}}, true);
              return grad(mse(a, b), {a, b})[1];
            },
            Shape{2, 2},
            {-0.5, 0, 1, -1.5},
            1e-15},
           {"[3]",
            [] {
              return mse(TensorD::vector({3, -1, 2}), TensorD::vector({1, 1, 2}));
            },
            Shape{},
            {8.0 / 3.0}},
           {"an upstream gradient scales the adjoint",
            [] {
              TensorD a = TensorD::vector({3, -1, 2}, true);
              return grad(mse(a, TensorD::vector({1, 1, 2})), {a}, TensorD::scalar(0.5))[0];
            },
            Shape{3},
            {2.0 / 3, -2.0 / 3, 0}},
           {"a NaN in a",
            [] {
              return mse(TensorD::vector({1, nan, 3}), TensorD::vector({0, 0, 0}));
            },
            Shape{},
            {nan}},
           {"d/da NaN at the NaN only",
            [] {
              TensorD a = TensorD::vector({1, nan, 3}, true), b = TensorD::vector({0, 0, 0}, true);
              return grad(mse(a, b), {a, b})[0];
            },
            Shape{3},
            {2.0 / 3, nan, 2}},
           {"d/db NaN at the NaN only",
            [] {
              TensorD a = TensorD::vector({1, nan, 3}, true), b = TensorD::vector({0, 0, 0}, true);
              return grad(mse(a, b), {a, b})[1];
            },
            Shape{3},
            {-2.0 / 3, nan, -2}}},
      .errors = {{"shapes differ", ErrorKind::shape, "[2,3] and [3,2]",
                  [] {
                    mse(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{3, 2}));
                  }},
                 {"no broadcasting", ErrorKind::shape, "[4,1] and [4]",
                  [] {
                    mse(TensorD::zeros(Shape{4, 1}), TensorD::zeros(Shape{4}));
                  }},
                 {"no broadcasting the other way", ErrorKind::shape, "[4] and [4,1]",
                  [] {
                    mse(TensorD::zeros(Shape{4}), TensorD::zeros(Shape{4, 1}, true));
                  }},
                 {"empty", ErrorKind::shape, "empty input [0]",
                  [] { mse(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0})); }}}};
}

}  // namespace

template <class T> Tensor<T> mse(const Tensor<T>& a, const Tensor<T>& b, Reduction reduction) {
  detail::require_loss_inputs("mse", a, b, reduction);
  const T* pa = a.data();
  const T* pb = b.data();
  Tensor<T> out = detail::reduce_terms<T>(
      "mse", a.shape(), a.size(), reduction, T(a.size()),
      [pa, pb](std::size_t i) {
        const T d = pa[i] - pb[i];
        return d * d;
      },
      a, b);
  if (auto* node = record<MseNode<T>>(out, {&a, &b})) {
    node->reduction = reduction;
    node->saved[0].save_input(a);
    node->saved[1].save_input(b);
  }
  return out;
}

template Tensor<float> mse(const Tensor<float>&, const Tensor<float>&, Reduction);
template Tensor<double> mse(const Tensor<double>&, const Tensor<double>&, Reduction);

TG_DEFINE_REPLAYABLE_OP(mse, "da = G*2(a-b)/N (N = 1 for sum, none), db = -da", mse_samples,
                        mse_cases);

}  // namespace tg
