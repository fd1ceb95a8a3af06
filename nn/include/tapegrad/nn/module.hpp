// Layers: Linear, activations, Sequential, and mlp() to build a network from a list of sizes.
//
//   std::mt19937_64 rng(0);
//   auto net = tg::nn::mlp<double>({2, 2, 2, 1}, tg::nn::Activation::sigmoid,
//                                  tg::nn::Activation::sigmoid, tg::nn::Init::uniform(0.12), rng);
//   tg::TensorD yhat = net(X);           // X[n, 2] -> [n, 1]
//   for (auto& [name, p, is_bias] : net.named_parameters()) ...   // "0.W", "0.b", "2.W", ...
//
// A module of one's own registers its parameters, buffers and submodules in its constructor, and
// the names come out prefixed by the submodule's ("encoder.W"), as in torch.nn:
//
//   class Autoencoder : public tg::nn::Module<double> {
//    public:
//     explicit Autoencoder(std::mt19937_64& rng) {
//       const auto init = tg::nn::Init::xavier_uniform();
//       encoder_ = register_module("encoder", std::make_shared<Linear<double>>(4, 2, init, rng));
//       decoder_ = register_module("decoder", std::make_shared<Linear<double>>(2, 4, init, rng));
//     }
//     tg::TensorD forward(const tg::TensorD& x) override { return (*decoder_)((*encoder_)(x)); }
//     std::string describe() const override { return "Autoencoder"; }
//    private:
//     std::shared_ptr<Linear<double>> encoder_, decoder_;
//   };  // named_parameters(): "encoder.W", "encoder.b", "decoder.W", "decoder.b"
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/nn/init.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tensor.hpp"

namespace tg::nn {

// A registration the module machinery refuses: a name already taken within the module, an empty
// name or one with a '.' (which would make prefixed names ambiguous), a null submodule or tensor.
// The message names the module and the name.
class ModuleError : public tg::Error {
 public:
  using tg::Error::Error;
};

template <class T> struct NamedParameter {
  std::string name;
  Tensor<T> tensor;
  bool is_bias =
      false;  // biases are not regularized (the course notes' cost skips Theta's bias column 0)
};

// State that is saved with the model but not trained (BatchNorm1d's running statistics).
template <class T> struct NamedBuffer {
  std::string name;
  Tensor<T> tensor;
};

template <class T> class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor<T> forward(const Tensor<T>& x) = 0;
  Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }
  // Parameters with names unique within the module, in a fixed order: the module's own
  // registered parameters, then each registered submodule's, prefixed "<submodule name>.".
  virtual std::vector<NamedParameter<T>> named_parameters() const;
  // Buffers in the same order and with the same prefixes as named_parameters.
  virtual std::vector<NamedBuffer<T>> named_buffers() const;
  // A one-line description, e.g. "Linear(2 -> 5)".
  virtual std::string describe() const = 0;

  std::vector<Tensor<T>> parameters() const;
  void zero_grad();
  std::size_t parameter_count() const;

  // Training mode (the default) or evaluation mode, set on this module and every registered
  // submodule, as torch's train()/eval(): Dropout and BatchNorm1d behave differently in each.
  Module& train(bool mode = true);
  Module& eval() { return train(false); }
  bool is_training() const { return training_; }

  // Registered submodules with their names, in registration order.
  const std::vector<std::pair<std::string, std::shared_ptr<Module<T>>>>& named_children() const {
    return children_;
  }

 protected:
  Module() = default;
  Module(const Module&) = default;
  Module& operator=(const Module&) = default;

  // Each returns what it registered, so that a constructor can keep a typed handle. A name is
  // unique among the module's parameters, buffers and submodules (ModuleError otherwise).
  Tensor<T> register_parameter(const std::string& name, Tensor<T> tensor, bool is_bias = false);
  Tensor<T> register_buffer(const std::string& name, Tensor<T> tensor);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // The registered handle itself (assigning to it replaces the parameter or buffer that
  // named_parameters and named_buffers report); ModuleError for a name not registered.
  Tensor<T>& registered_parameter(const std::string& name);
  const Tensor<T>& registered_parameter(const std::string& name) const;
  Tensor<T>& registered_buffer(const std::string& name);
  const Tensor<T>& registered_buffer(const std::string& name) const;
  // The i-th parameter this module registered itself: no lookup by name, for a forward pass.
  Tensor<T>& registered_parameter(std::size_t i) { return parameters_.at(i).tensor; }
  const Tensor<T>& registered_parameter(std::size_t i) const { return parameters_.at(i).tensor; }

 private:
  void check_new_name(const char* what, const std::string& name) const;
  void add_child(const std::string& name, std::shared_ptr<Module<T>> module);

  std::vector<NamedParameter<T>> parameters_;
  std::vector<NamedBuffer<T>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module<T>>>> children_;
  bool training_ = true;
};

// y = x W + b with W[in, out], b[out] (the engine's linear op: one GEMM onto the broadcast bias).
// Parameters "W" and "b".
template <class T> class Linear final : public Module<T> {
 public:
  Linear(std::size_t in, std::size_t out, const Init& init, std::mt19937_64& rng);
  // From given tensors (copied in as leaves that require grad); W[in,out], b[out]. A temporary
  // that nothing else can see (a leaf, its handle and its storage held by no other handle) is
  // taken as it is instead: loading a model's weights then copies nothing, and leaves no copy of
  // them behind in the buffer cache.
  Linear(const Tensor<T>& weight, const Tensor<T>& bias);
  Linear(Tensor<T>&& weight, Tensor<T>&& bias);
  Tensor<T> forward(const Tensor<T>& x) override;
  std::string describe() const override;
  // W and b, registered in this order.
  Tensor<T>& weight() { return this->registered_parameter(std::size_t(0)); }
  Tensor<T>& bias() { return this->registered_parameter(std::size_t(1)); }
  const Tensor<T>& weight() const { return this->registered_parameter(std::size_t(0)); }
  const Tensor<T>& bias() const { return this->registered_parameter(std::size_t(1)); }
};

// leaky_relu has slope 0.01, gelu is the exact erf form, elu has alpha 1, softplus beta 1 and
// threshold 20: torch.nn's defaults.
enum class Activation { identity, sigmoid, tanh, relu, leaky_relu, gelu, elu, softplus };
const char* to_string(Activation a);

template <class T> Tensor<T> activate(Activation a, const Tensor<T>& x);

template <class T> class ActivationLayer final : public Module<T> {
 public:
  explicit ActivationLayer(Activation a) : activation_(a) {}
  Tensor<T> forward(const Tensor<T>& x) override { return activate(activation_, x); }
  std::string describe() const override { return to_string(activation_); }
  Activation activation() const { return activation_; }

 private:
  Activation activation_;
};

// Runs its layers in order. A Linear followed by a sigmoid, tanh or relu ActivationLayer runs as
// one op (linear_act: the same values and gradients, one node instead of two; bce after a fused
// sigmoid still takes its one-pass adjoint, (p - y)/N into the layer's linear part).
template <class T> class Sequential final : public Module<T> {
 public:
  Sequential() = default;
  // Registers the layer under its index.
  Sequential& add(std::shared_ptr<Module<T>> layer);
  template <class Layer, class... Args> Sequential& emplace(Args&&... args) {
    return add(std::make_shared<Layer>(std::forward<Args>(args)...));
  }
  Tensor<T> forward(const Tensor<T>& x) override;
  std::string describe() const override;
  const std::vector<std::shared_ptr<Module<T>>>& layers() const { return layers_; }

 private:
  std::vector<std::shared_ptr<Module<T>>> layers_;
  // fused_[i]: the activation of layer i + 1 when layers i and i + 1 are a Linear and an
  // ActivationLayer that linear_act can run as one op.
  std::vector<std::optional<FusedActivation>> fused_;
};

// A multilayer perceptron from layer sizes {in, hidden..., out}: Linear layers, `hidden` after
// each hidden layer and `output` after the last (identity to leave logits raw).
template <class T>
Sequential<T> mlp(const std::vector<std::size_t>& sizes, Activation hidden, Activation output,
                  const Init& init, std::mt19937_64& rng);

// A table of the model's layers (a Sequential's, one by one; any other module as one row) with
// each layer's output shape and parameter count, then the total and trainable parameter counts.
// The shapes come from running zeros of `input_shape` through the model in evaluation mode under
// tg::NoGradGuard: nothing is recorded, no running statistic changes, and every module's mode is
// restored afterwards.
template <class T> std::string summary(Module<T>& model, const Shape& input_shape);

}  // namespace tg::nn
