// linear_act: act(X W + b) for X[n,k], W[k,m], b[m], act one of sigmoid, tanh and relu: a dense
// layer and its activation as one op, what nn::Sequential records for a Linear followed by one of
// these. The activation runs over Y in the kernel that wrote X W + b into it (while Y is in
// cache), with the values of the activation's own op, bit for bit; the graph holds one node and
// one tensor fewer than linear then the activation (the XOR network's step, its three layers
// fused, float64: 22.4k instructions unfused, 19.4k).
// Saves Y, as the activation does, besides X and W. Adjoint: G_z = G act'(Y) (sigmoid_backward,
// tanh_backward, relu_backward: the activation's own adjoint), then linear's: dX = G_z W^T,
// dW = X^T G_z, db = column sums of G_z. bce after the sigmoid sends G_z = G (p - y)/N itself
// (detail::upstream_is_preactivation), as it does past sigmoid's own node.
#include <cmath>
#include <typeinfo>

#include "../dense_layer.hpp"
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

const char* activation_name(FusedActivation a) {
  switch (a) {
    case FusedActivation::sigmoid:
      return "sigmoid";
    case FusedActivation::tanh:
      return "tanh";
    case FusedActivation::relu:
      return "relu";
  }
  return "?";
}

template <class T>
Tensor<T> activation_backward(FusedActivation a, const Tensor<T>& g, const Tensor<T>& y) {
  switch (a) {
    case FusedActivation::sigmoid:
      return sigmoid_backward(g, y);
    case FusedActivation::tanh:
      return tanh_backward(g, y);
    case FusedActivation::relu:
      return relu_backward(g, y);
  }
  return {};
}

template <class T> class LinearActNode final : public detail::LinearAdjointNode<T, 3> {
 public:
  FusedActivation activation = FusedActivation::sigmoid;

  const char* name() const override { return "linear_act"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    // G is G_z already when a loss sent it so (bce after sigmoid: (p - y)/N in one pass).
    if (detail::upstream_is_preactivation()) {
      if (detail::saved_released_after()) this->saved[2].reset();
      this->linear_backward(g, grads);
      return;
    }
    // G_z in G's buffer when the engine holds G's only handle (last_use), as the activation's own
    // node would write it.
    const Tensor<T> gz = grad_enabled()
                             ? activation_backward(activation, detail::last_use(g), this->get(2))
                             : activation_adjoint(g);
    // Y is read: let it go before the GEMMs make dX, as the activation's node would have been
    // released by then (one activation's size less at the backward's peak).
    if (detail::saved_released_after()) this->saved[2].reset();
    this->linear_backward(gz, grads);
  }

 private:
  // A plain backward's G_z: the activation's adjoint op's kernel, on Y's saved buffer (no handle
  // made for Y).
  Tensor<T> activation_adjoint(const Tensor<T>& g) {
    switch (activation) {
      case FusedActivation::sigmoid:
        return adjoint_kernel(g, [](T gv, T yv) { return detail::sigmoid_adjoint(gv, yv); });
      case FusedActivation::tanh:
        return adjoint_kernel(g, [](T gv, T yv) { return detail::tanh_adjoint(gv, yv); });
      case FusedActivation::relu:
        return adjoint_kernel(g, [](T gv, T yv) { return detail::relu_adjoint(gv, yv); });
    }
    return {};
  }

  template <class F> Tensor<T> adjoint_kernel(const Tensor<T>& g, F f) {
    const T* y = this->get_data(2);
    Tensor<T> gz = detail::take_spare(detail::last_use(g), g.shape())
                       ? g
                       : detail::new_output<T>(name(), g.shape());
    const std::size_t n = g.size();
    detail::launch_elementwise(
        n,
        [o = gz.data(), pg = g.data(), y, f](std::size_t b, std::size_t e) {
          for (std::size_t i = b; i < e; ++i) o[i] = f(pg[i], y[i]);
        },
        [&] {
          detail::Access access = detail::writes_from(gz, g);
          access.reads.push_back(detail::region(y, n));
          return access;
        });
    return gz;
  }
};

// Inputs kept off relu's kink: with X and W in [-0.4, 0.4] and k <= 3, |X W| < 0.5, and each
// bias is 0.6 to 1 away from 0 (signs alternating), so that no pre-activation comes near 0.
template <class T> std::vector<GradSample<T>> linear_act_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  struct Dims {
    std::size_t n, k, m;
  };
  for (const FusedActivation a :
       {FusedActivation::sigmoid, FusedActivation::tanh, FusedActivation::relu})
    for (const auto& [n, k, m] : {Dims{1, 1, 1}, Dims{1, 3, 2}, Dims{4, 1, 2}, Dims{3, 2, 3}}) {
      Tensor<T> b = samples::uniform<T>(Shape{m}, 0.6, 1.0, rng);
      for (std::size_t j = 1; j < m; j += 2) b.data()[j] = -b.data()[j];
      out.push_back(
          {std::string(activation_name(a)) + " " + Shape{n, k}.str() + "@" + Shape{k, m}.str() +
               "+" + Shape{m}.str(),
           {samples::uniform<T>(Shape{n, k}, -0.4, 0.4, rng),
            samples::uniform<T>(Shape{k, m}, -0.4, 0.4, rng), b},
           [a](const std::vector<Tensor<T>>& in) { return linear_act(in[0], in[1], in[2], a); }});
    }
  return out;
}

// X = [[1,2],[-1,0.5]], W = [[0.5,-1],[0.25,0.5]], b = [0,0.5]: X W + b = [[1,0.5],[-0.375,1.75]]
// by hand; the activations of those from Python's math module (1/(1+exp(-z)), tanh), relu by
// hand. Gradients of sum(act(X W + b)): db = column sums of act'(z) (s(1-s), 1-t^2, from the same
// values); for relu dW = X^T [z > 0] = [[1,0],[2,2.5]] by hand.
TensorD example_x() {
  return TensorD::matrix({{1, 2}, {-1, 0.5}}, true);
}
TensorD example_w() {
  return TensorD::matrix({{0.5, -1}, {0.25, 0.5}}, true);
}
TensorD example_b() {
  return TensorD::vector({0, 0.5}, true);
}
TensorD example(FusedActivation a) {
  return linear_act(example_x(), example_w(), example_b(), a);
}
TensorD example_grad(FusedActivation a, std::size_t input) {
  std::vector<TensorD> in = {example_x(), example_w(), example_b()};
  return grad(sum(linear_act(in[0], in[1], in[2], a)), {in[input]})[0];
}

OpCases linear_act_cases() {
  using A = FusedActivation;
  OpCases cases = {
      .forward =
          {{"sigmoid",
            [] { return example(A::sigmoid); },
            Shape{2, 2},
            {0.7310585786300049, 0.6224593312018546, 0.40733340004593027, 0.8519528019683106}},
           {"tanh",
            [] { return example(A::tanh); },
            Shape{2, 2},
            {0.7615941559557649, 0.46211715726000974, -0.35835739835078595, 0.9413755384972874}},
           {"relu", [] { return example(A::relu); }, Shape{2, 2}, {1, 0.5, 0, 1.75}},
           {"sigmoid: db = column sums of s(1-s)",
            [] { return example_grad(A::sigmoid, 2); },
            Shape{2},
            {0.43802483449443425, 0.36113293738824964}},
           {"tanh: db = column sums of 1-t^2",
            [] { return example_grad(A::tanh, 2); },
            Shape{2},
            {1.2915543166612822, 0.9002598284848696}},
           {"relu: dW = X^T [z > 0]",
            [] { return example_grad(A::relu, 1); },
            Shape{2, 2},
            {1, 0, 2, 2.5}},
           {"no inputs per row: every row is act(b)",
            [] {
              return linear_act(TensorD::zeros(Shape{2, 0}), TensorD::zeros(Shape{0, 2}),
                                TensorD::vector({-1, 2}), A::relu);
            },
            Shape{2, 2},
            {0, 2, 0, 2}}},
      .errors = {{"1-D X", ErrorKind::shape, "X[2], W[2,3] and b[3]",
                  [] {
                    linear_act(TensorD::zeros(Shape{2}), TensorD::zeros(Shape{2, 3}),
                               TensorD::zeros(Shape{3}), A::sigmoid);
                  }},
                 {"inner dimensions differ", ErrorKind::shape, "X[2,3], W[2,4] and b[4]",
                  [] {
                    linear_act(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{2, 4}, true),
                               TensorD::zeros(Shape{4}, true), A::tanh);
                  }},
                 {"bias of the wrong length", ErrorKind::shape, "X[2,2], W[2,4] and b[2]",
                  [] {
                    linear_act(TensorD::zeros(Shape{2, 2}), TensorD::zeros(Shape{2, 4}),
                               TensorD::zeros(Shape{2}), A::relu);
                  }},
                 {"an activation outside the enum", ErrorKind::domain, "activation 7", [] {
                    linear_act(TensorD::zeros(Shape{2, 2}), TensorD::zeros(Shape{2, 2}),
                               TensorD::zeros(Shape{2}), FusedActivation(7));
                  }}}};
  return cases;
}

}  // namespace

template <class T>
Tensor<T> linear_act(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias,
                     FusedActivation activation) {
  if (x.ndim() != 2 || weight.ndim() != 2 || bias.ndim() != 1 || weight.dim(0) != x.dim(1) ||
      bias.dim(0) != weight.dim(1))
    throw op_error<ShapeError>("linear_act", "needs X[n,k], W[k,m] and b[m], got X", x, ", W",
                               weight, " and b", bias);
  if (activation != FusedActivation::sigmoid && activation != FusedActivation::tanh &&
      activation != FusedActivation::relu)
    throw op_error<DomainError>("linear_act", "activation ", int(activation),
                                " is none of sigmoid, tanh and relu");
  const std::size_t n = x.dim(0), k = x.dim(1), m = weight.dim(1);
  Tensor<T> out = detail::new_output<T>("linear_act", Shape{n, m});
  if (out.size() != 0) {  // an empty Y may still have 2^40 rows: no loop over them
    detail::launch(
        [y = out.data(), b = bias.data(), xd = x.data(), w = weight.data(), n, m, k, activation] {
          detail::dense_forward(y, b, xd, w, n, m, k);
          const std::size_t size = n * m;
          switch (activation) {
            case FusedActivation::sigmoid:
              detail::sigmoid_values(y, y, 0, size);
              break;
            case FusedActivation::tanh:
              for (std::size_t i = 0; i < size; ++i) y[i] = std::tanh(y[i]);
              break;
            case FusedActivation::relu:
              for (std::size_t i = 0; i < size; ++i) y[i] = detail::relu_value(y[i]);
              break;
          }
        },
        [&] { return detail::writes_from(out, x, weight, bias); });
  }
  if (auto* node = record<LinearActNode<T>>(out, {&x, &weight, &bias})) {
    node->activation = activation;
    if (node->needs_grad(1)) node->saved[0].save_input(x);
    if (node->needs_grad(0)) node->saved[1].save_input(weight);
    node->saved[2].save_output(out);
  }
  return out;
}

namespace detail {

// By exact type, as is_sigmoid (LinearActNode is final).
template <class T> bool is_linear_sigmoid(const Node<T>& node) {
  return typeid(node) == typeid(LinearActNode<T>) &&
         static_cast<const LinearActNode<T>&>(node).activation == FusedActivation::sigmoid;
}

template bool is_linear_sigmoid(const Node<float>&);
template bool is_linear_sigmoid(const Node<double>&);

}  // namespace detail

template Tensor<float> linear_act(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&,
                                  FusedActivation);
template Tensor<double> linear_act(const Tensor<double>&, const Tensor<double>&,
                                   const Tensor<double>&, FusedActivation);

TG_DEFINE_REPLAYABLE_OP(linear_act,
                        "G_z = G*act'(Y) from the output Y, then dX = G_z W^T, dW = X^T G_z, "
                        "db = sum(G_z, axis 0)",
                        linear_act_samples, linear_act_cases);

}  // namespace tg
