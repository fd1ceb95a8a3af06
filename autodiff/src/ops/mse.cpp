// mse: mean((a-b)^2) over all N elements; a and b must have the same shape (never broadcast:
// PyTorch broadcasts [4,1] against [4] to a [4,4] loss with a warning). Adjoint:
// da = G*2(a-b)/N, db = -da. (The XOR tutorial's hand backprop drops the 2/N factor and gets a
// gradient twice the true one of its own cost.)
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class MseNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "mse"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const T scale = T(2) / T(this->input_shape(0).numel());
    Tensor<T> d = mul(this->get(0) - this->get(1), g * scale);
    if (this->needs_grad(1)) grads[1] = neg(d);
    grads[0] = std::move(d);
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
  }
  return out;
}

// (1^2 + 2^2 + 3^2 + 4^2) / 4 = 7.5; (0.5^2 + 1.5^2) / 2 = 1.25.
OpCases mse_cases() {
  return {.forward = {{"[2,2]",
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
                       {1.25}}},
          .errors = {{"shapes differ", ErrorKind::shape, "[2,3] and [3,2]",
                      [] {
                        mse(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{3, 2}));
                      }},
                     {"no broadcasting", ErrorKind::shape, "[4,1] and [4]",
                      [] {
                        mse(TensorD::zeros(Shape{4, 1}), TensorD::zeros(Shape{4}));
                      }},
                     {"empty", ErrorKind::shape, "empty input [0]",
                      [] { mse(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0})); }}}};
}

}  // namespace

template <class T> Tensor<T> mse(const Tensor<T>& a, const Tensor<T>& b) {
  require_same_shape("mse", a, b);
  require_nonempty("mse", a);
  T total = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const T d = a.data()[i] - b.data()[i];
    total += d * d;
  }
  Tensor<T> out = detail::scalar_output<T>("mse", total / T(a.size()));
  if (auto* node = record<MseNode<T>>(out, {&a, &b})) {
    node->saved[0].save_input(a);
    node->saved[1].save_input(b);
  }
  return out;
}

template Tensor<float> mse(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> mse(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(mse, "da = G*2(a-b)/N, db = -da", mse_samples, mse_cases);

}  // namespace tg
