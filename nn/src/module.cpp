#include "tapegrad/nn/module.hpp"

#include <algorithm>

#include "tapegrad/nn/losses.hpp"
#include "tapegrad/ops.hpp"

namespace tg::nn {

// ---- Module -------------------------------------------------------------------------------

template <class T> std::vector<NamedParameter<T>> Module<T>::named_parameters() const {
  std::vector<NamedParameter<T>> out = parameters_;
  for (const auto& [child_name, child] : children_)
    for (auto& p : child->named_parameters())
      out.push_back({child_name + "." + p.name, p.tensor, p.is_bias});
  return out;
}

template <class T> std::vector<NamedBuffer<T>> Module<T>::named_buffers() const {
  std::vector<NamedBuffer<T>> out = buffers_;
  for (const auto& [child_name, child] : children_)
    for (auto& b : child->named_buffers()) out.push_back({child_name + "." + b.name, b.tensor});
  return out;
}

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

template <class T> Module<T>& Module<T>::train(bool mode) {
  training_ = mode;
  for (auto& [name, child] : children_) child->train(mode);
  return *this;
}

template <class T> void Module<T>::check_new_name(const char* what, const std::string& name) const {
  // No describe(): it may run inside a derived constructor, before what it describes exists.
  const std::string where = std::string(what) + ": ";
  if (name.empty()) throw ModuleError(where + "an empty name");
  if (name.find('.') != std::string::npos)
    throw ModuleError(where + "name \"" + name + "\" contains '.', which separates submodules");
  auto taken = [&](const char* kind) {
    throw ModuleError(where + "name \"" + name + "\" is already taken by a " + kind +
                      " of this module");
  };
  for (const auto& p : parameters_)
    if (p.name == name) taken("parameter");
  for (const auto& b : buffers_)
    if (b.name == name) taken("buffer");
  for (const auto& c : children_)
    if (c.first == name) taken("submodule");
}

template <class T>
Tensor<T> Module<T>::register_parameter(const std::string& name, Tensor<T> tensor, bool is_bias) {
  if (!tensor.defined())
    throw ModuleError("register_parameter: parameter \"" + name + "\" is an undefined tensor");
  check_new_name("register_parameter", name);
  parameters_.push_back({name, tensor, is_bias});
  return tensor;
}

template <class T> Tensor<T> Module<T>::register_buffer(const std::string& name, Tensor<T> tensor) {
  if (!tensor.defined())
    throw ModuleError("register_buffer: buffer \"" + name + "\" is an undefined tensor");
  check_new_name("register_buffer", name);
  buffers_.push_back({name, tensor});
  return tensor;
}

template <class T>
void Module<T>::add_child(const std::string& name, std::shared_ptr<Module<T>> module) {
  if (!module) throw ModuleError("register_module: submodule \"" + name + "\" is null");
  check_new_name("register_module", name);
  children_.emplace_back(name, std::move(module));
}

namespace {
template <class Entries>
auto& find_registered(Entries& entries, const std::string& name, const char* what) {
  for (auto& e : entries)
    if (e.name == name) return e.tensor;
  throw ModuleError(std::string("registered_") + what + ": no " + what + " named \"" + name +
                    "\" in this module");
}
}  // namespace

template <class T> Tensor<T>& Module<T>::registered_parameter(const std::string& name) {
  return find_registered(parameters_, name, "parameter");
}
template <class T> const Tensor<T>& Module<T>::registered_parameter(const std::string& name) const {
  return find_registered(parameters_, name, "parameter");
}
template <class T> Tensor<T>& Module<T>::registered_buffer(const std::string& name) {
  return find_registered(buffers_, name, "buffer");
}
template <class T> const Tensor<T>& Module<T>::registered_buffer(const std::string& name) const {
  return find_registered(buffers_, name, "buffer");
}

// ---- Linear -------------------------------------------------------------------------------

template <class T>
Linear<T>::Linear(std::size_t in, std::size_t out, const Init& init, std::mt19937_64& rng) {
  Tensor<T> weight = Tensor<T>::empty(Shape{in, out});
  initialize(weight, init, rng);
  this->register_parameter("W", weight.set_requires_grad(true), false);
  this->register_parameter("b", Tensor<T>::zeros(Shape{out}, true), true);
}

namespace {

template <class T> void check_linear_shapes(const Tensor<T>& weight, const Tensor<T>& bias) {
  if (weight.ndim() != 2 || bias.ndim() != 1 || bias.dim(0) != weight.dim(1))
    throw ShapeError("Linear: needs W[in,out] and b[out], got W" + weight.shape().str() + " and b" +
                     bias.shape().str());
}

// `t` itself when no one else can see it (see Linear), else a copy; a leaf that requires grad,
// with no gradient.
template <class T> Tensor<T> adopt(Tensor<T>&& t) {
  const auto& impl = t.impl();
  if (!t.is_leaf() || impl.use_count() != 1 || impl->storage.use_count() != 1)
    return t.clone().set_requires_grad(true);
  Tensor<T> own = std::move(t);
  own.zero_grad();
  own.set_requires_grad(true);
  return own;
}

}  // namespace

template <class T> Linear<T>::Linear(const Tensor<T>& weight, const Tensor<T>& bias) {
  check_linear_shapes(weight, bias);
  this->register_parameter("W", weight.clone().set_requires_grad(true), false);
  this->register_parameter("b", bias.clone().set_requires_grad(true), true);
}

template <class T> Linear<T>::Linear(Tensor<T>&& weight, Tensor<T>&& bias) {
  check_linear_shapes(weight, bias);
  this->register_parameter("W", adopt(std::move(weight)), false);
  this->register_parameter("b", adopt(std::move(bias)), true);
}

template <class T> Tensor<T> Linear<T>::forward(const Tensor<T>& x) {
  return linear(x, weight(), bias());
}

template <class T> std::string Linear<T>::describe() const {
  return "Linear(" + std::to_string(weight().dim(0)) + " -> " + std::to_string(weight().dim(1)) +
         ")";
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
    case Activation::leaky_relu:
      return "leaky_relu";
    case Activation::gelu:
      return "gelu";
    case Activation::elu:
      return "elu";
    case Activation::softplus:
      return "softplus";
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
    case Activation::leaky_relu:
      return leaky_relu(x, T(0.01));
    case Activation::gelu:
      return gelu(x, GeluApproximation::none);
    case Activation::elu:
      return elu(x, T(1));
    case Activation::softplus:
      return softplus(x, T(1), T(20));
  }
  return x;
}

// ---- Sequential ---------------------------------------------------------------------------

template <class T> Sequential<T>& Sequential<T>::add(std::shared_ptr<Module<T>> layer) {
  if (!layer) throw ModuleError("Sequential: cannot add a null layer");
  this->register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
  fused_.emplace_back();
  if (const std::size_t n = layers_.size(); n >= 2) {
    const auto* activation = dynamic_cast<const ActivationLayer<T>*>(layers_[n - 1].get());
    if (activation && dynamic_cast<const Linear<T>*>(layers_[n - 2].get())) {
      switch (activation->activation()) {
        case Activation::sigmoid:
          fused_[n - 2] = FusedActivation::sigmoid;
          break;
        case Activation::tanh:
          fused_[n - 2] = FusedActivation::tanh;
          break;
        case Activation::relu:
          fused_[n - 2] = FusedActivation::relu;
          break;
        default:
          break;
      }
    }
  }
  return *this;
}

template <class T> Tensor<T> Sequential<T>::forward(const Tensor<T>& x) {
  // The input is read where it is, not copied into h: no reference count up and down per call.
  const Tensor<T>* in = &x;
  Tensor<T> h;
  const std::size_t n = layers_.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (fused_[i]) {
      auto& layer = static_cast<Linear<T>&>(*layers_[i]);
      h = linear_act(*in, layer.weight(), layer.bias(), *fused_[i]);
      ++i;  // its activation layer too
    } else {
      h = layers_[i]->forward(*in);
    }
    in = &h;
  }
  if (in == &x) return x;  // no layers
  return h;
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

// ---- summary ------------------------------------------------------------------------------

namespace {

template <class T> void collect_modes(Module<T>& m, std::vector<std::pair<Module<T>*, bool>>& out) {
  out.emplace_back(&m, m.is_training());
  for (auto& [name, child] : m.named_children()) collect_modes(*child, out);
}

// Puts every module back in the mode it had, also when a layer throws: eval() on the root alone
// would not restore a model whose submodules were in mixed modes.
template <class T> class ModeRestorer {
 public:
  explicit ModeRestorer(Module<T>& root) { collect_modes(root, modes_); }
  ~ModeRestorer() {
    // Parents before their submodules: train() on a module resets its whole subtree.
    for (auto& [module, mode] : modes_) module->train(mode);
  }
  ModeRestorer(const ModeRestorer&) = delete;
  ModeRestorer& operator=(const ModeRestorer&) = delete;

 private:
  std::vector<std::pair<Module<T>*, bool>> modes_;
};

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

template <class T> std::string summary(Module<T>& model, const Shape& input_shape) {
  struct Row {
    std::string layer, shape, count;
  };
  std::vector<Row> rows;
  {
    ModeRestorer<T> restore(model);
    model.eval();
    NoGradGuard no_grad;
    Tensor<T> h = Tensor<T>::zeros(input_shape);
    rows.push_back({"input", h.shape().str(), ""});
    if (auto* seq = dynamic_cast<Sequential<T>*>(&model)) {
      for (std::size_t i = 0; i < seq->layers().size(); ++i) {
        Module<T>& layer = *seq->layers()[i];
        h = layer(h);
        rows.push_back({std::to_string(i) + " " + layer.describe(), h.shape().str(),
                        std::to_string(layer.parameter_count())});
      }
    } else {
      h = model(h);
      rows.push_back({model.describe(), h.shape().str(), std::to_string(model.parameter_count())});
    }
  }
  std::size_t trainable = 0;
  for (const auto& p : model.named_parameters())
    if (p.tensor.requires_grad()) trainable += p.tensor.size();

  const Row header{"Layer", "Output shape", "Parameters"};
  std::size_t w0 = header.layer.size(), w1 = header.shape.size();
  for (const auto& r : rows) {
    w0 = std::max(w0, r.layer.size());
    w1 = std::max(w1, r.shape.size());
  }
  auto line = [&](const Row& r) {
    std::string s = pad(r.layer, w0 + 2) + pad(r.shape, w1 + 2) + r.count;
    s.erase(s.find_last_not_of(' ') + 1);
    return s;
  };
  std::string table = line(header) + "\n";
  const std::size_t rule_width = table.size() - 1;
  table += std::string(rule_width, '-') + "\n";
  for (const auto& r : rows) table += line(r) + "\n";
  table += std::string(rule_width, '-') + "\n";
  table += "Total parameters: " + std::to_string(model.parameter_count()) + "\n";
  table += "Trainable parameters: " + std::to_string(trainable) + "\n";
  return table;
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
  template std::string summary(Module<T>&, const Shape&);                                          \
  template Tensor<T> l2_penalty(const Module<T>&);                                                 \
  template Tensor<T> regularized_cross_entropy(const Tensor<T>&, const Tensor<T>&,                 \
                                               const Module<T>&, double);                          \
  template Tensor<T> regularized_cross_entropy_with_logits(const Tensor<T>&, const Tensor<T>&,     \
                                                           const Module<T>&, double);
TG_NN_INSTANTIATE(float)
TG_NN_INSTANTIATE(double)

}  // namespace tg::nn
