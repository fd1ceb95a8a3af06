#include "tapegrad/nn/module.hpp"

#include "tapegrad/nn/losses.hpp"
#include "tapegrad/ops.hpp"

namespace tg::nn {

// ---- Module -------------------------------------------------------------------------------

template <class T> std::vector<Tensor<T>> Module<T>::parameters() const {
  std::vector<Tensor<T>> out;
  for (auto& p : named_parameters()) out.push_back(p.tensor);
  return out;
}

template <class T> void Module<T>::zero_grad() {
  for (auto& p : named_parameters()) p.tensor.zero_grad();
}

template <class T> std::size_t Module<T>::parameter_count() const {
  std::size_t n = 0;
  for (auto& p : named_parameters()) n += p.tensor.size();
  return n;
}

// ---- Linear -------------------------------------------------------------------------------

template <class T>
Linear<T>::Linear(std::size_t in, std::size_t out, const Init& init, std::mt19937_64& rng)
    : weight_(Tensor<T>::empty(Shape{in, out})), bias_(Tensor<T>::zeros(Shape{out})) {
  initialize(weight_, init, rng);
  weight_.set_requires_grad(true);
  bias_.set_requires_grad(true);
}

template <class T>
Linear<T>::Linear(const Tensor<T>& weight, const Tensor<T>& bias)
    : weight_(weight.clone()), bias_(bias.clone()) {
  if (weight.ndim() != 2 || bias.ndim() != 1 || bias.dim(0) != weight.dim(1))
    throw ShapeError("Linear: needs W[in,out] and b[out], got W" + weight.shape().str() + " and b" +
                     bias.shape().str());
  weight_.set_requires_grad(true);
  bias_.set_requires_grad(true);
}

template <class T> Tensor<T> Linear<T>::forward(const Tensor<T>& x) {
  return linear(x, weight_, bias_);
}

template <class T> std::vector<NamedParameter<T>> Linear<T>::named_parameters() const {
  return {{"W", weight_, false}, {"b", bias_, true}};
}

template <class T> std::string Linear<T>::describe() const {
  return "Linear(" + std::to_string(weight_.dim(0)) + " -> " + std::to_string(weight_.dim(1)) + ")";
}

// ---- activations --------------------------------------------------------------------------

const char* to_string(Activation a) {
  switch (a) {
    case Activation::identity:
      return "identity";
    case Activation::sigmoid:
      return "sigmoid";
    case Activation::tanh:
      return "tanh";
    case Activation::relu:
      return "relu";
  }
  return "?";
}

template <class T> Tensor<T> activate(Activation a, const Tensor<T>& x) {
  switch (a) {
    case Activation::identity:
      return x;
    case Activation::sigmoid:
      return sigmoid(x);
    case Activation::tanh:
      return tanh(x);
    case Activation::relu:
      return relu(x);
  }
  return x;
}

// ---- Sequential ---------------------------------------------------------------------------

template <class T> Sequential<T>& Sequential<T>::add(std::shared_ptr<Module<T>> layer) {
  if (!layer) throw Error("Sequential: cannot add a null layer");
  layers_.push_back(std::move(layer));
  return *this;
}

template <class T> Tensor<T> Sequential<T>::forward(const Tensor<T>& x) {
  Tensor<T> h = x;
  for (auto& layer : layers_) h = layer->forward(h);
  return h;
}

template <class T> std::vector<NamedParameter<T>> Sequential<T>::named_parameters() const {
  std::vector<NamedParameter<T>> out;
  for (std::size_t i = 0; i < layers_.size(); ++i)
    for (auto& p : layers_[i]->named_parameters())
      out.push_back({std::to_string(i) + "." + p.name, p.tensor, p.is_bias});
  return out;
}

template <class T> std::string Sequential<T>::describe() const {
  std::string s = "Sequential(";
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (i) s += ", ";
    s += layers_[i]->describe();
  }
  s += ")";
  return s;
}

template <class T>
Sequential<T> mlp(const std::vector<std::size_t>& sizes, Activation hidden, Activation output,
                  const Init& init, std::mt19937_64& rng) {
  if (sizes.size() < 2)
    throw ShapeError("mlp: needs at least an input and an output size, got " +
                     std::to_string(sizes.size()) + " sizes");
  Sequential<T> net;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    net.template emplace<Linear<T>>(sizes[i], sizes[i + 1], init, rng);
    const Activation a = i + 2 == sizes.size() ? output : hidden;
    if (a != Activation::identity) net.template emplace<ActivationLayer<T>>(a);
  }
  return net;
}

// ---- regularized losses -------------------------------------------------------------------

template <class T> Tensor<T> l2_penalty(const Module<T>& model) {
  Tensor<T> total = Tensor<T>::scalar(T(0));
  for (auto& p : model.named_parameters())
    if (!p.is_bias) total = total + sum(p.tensor * p.tensor);
  return total;
}

namespace {

// K * data_term + lambda/(2m) * l2_penalty, with data_term an elementwise mean over [m, K].
template <class T>
Tensor<T> regularized_cost(const char* op, const Tensor<T>& data_term_input,
                           const Tensor<T>& data_term, const Module<T>& model, double lambda) {
  if (data_term_input.ndim() != 2)
    throw ShapeError(std::string(op) + ": outputs must be [m,K], got " +
                     data_term_input.shape().str());
  const double m = double(data_term_input.dim(0));
  Tensor<T> cost = data_term * T(data_term_input.dim(1));
  if (lambda == 0) return cost;
  return cost + l2_penalty(model) * T(lambda / (2 * m));
}

}  // namespace

template <class T>
Tensor<T> regularized_cross_entropy(const Tensor<T>& h, const Tensor<T>& Y, const Module<T>& model,
                                    double lambda) {
  return regularized_cost("regularized_cross_entropy", h, bce(h, Y), model, lambda);
}

template <class T>
Tensor<T> regularized_cross_entropy_with_logits(const Tensor<T>& z, const Tensor<T>& Y,
                                                const Module<T>& model, double lambda) {
  return regularized_cost("regularized_cross_entropy_with_logits", z, bce_with_logits(z, Y), model,
                          lambda);
}

#define TG_NN_INSTANTIATE(T)                                                                       \
  template class Module<T>;                                                                        \
  template class Linear<T>;                                                                        \
  template class Sequential<T>;                                                                    \
  template Tensor<T> activate(Activation, const Tensor<T>&);                                       \
  template Sequential<T> mlp(const std::vector<std::size_t>&, Activation, Activation, const Init&, \
                             std::mt19937_64&);                                                    \
  template Tensor<T> l2_penalty(const Module<T>&);                                                 \
  template Tensor<T> regularized_cross_entropy(const Tensor<T>&, const Tensor<T>&,                 \
                                               const Module<T>&, double);                          \
  template Tensor<T> regularized_cross_entropy_with_logits(const Tensor<T>&, const Tensor<T>&,     \
                                                           const Module<T>&, double);
TG_NN_INSTANTIATE(float)
TG_NN_INSTANTIATE(double)

}  // namespace tg::nn
