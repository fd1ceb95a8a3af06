// Layers: Linear, activations, Sequential, and mlp() to build a network from a list of sizes.
//
//   std::mt19937_64 rng(0);
//   auto net = tg::nn::mlp<double>({2, 2, 2, 1}, tg::nn::Activation::sigmoid,
//                                  tg::nn::Activation::sigmoid, tg::nn::Init::uniform(0.12), rng);
//   tg::TensorD yhat = net(X);           // X[n, 2] -> [n, 1]
//   for (auto& [name, p] : net.named_parameters()) ...   // "0.W", "0.b", "2.W", ...
#pragma once

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tapegrad/nn/init.hpp"
#include "tapegrad/tensor.hpp"

namespace tg::nn {

template <class T> struct NamedParameter {
  std::string name;
  Tensor<T> tensor;
  bool is_bias =
      false;  // biases are not regularized (the course notes' cost skips Theta's bias column 0)
};

template <class T> class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor<T> forward(const Tensor<T>& x) = 0;
  Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }
  // Parameters with names unique within the module, in a fixed order.
  virtual std::vector<NamedParameter<T>> named_parameters() const { return {}; }
  // A one-line description, e.g. "Linear(2 -> 5)".
  virtual std::string describe() const = 0;

  std::vector<Tensor<T>> parameters() const;
  void zero_grad();
  std::size_t parameter_count() const;
};

// y = x W + b with W[in, out], b[out] (the engine's linear op: one GEMM onto the broadcast bias).
template <class T> class Linear final : public Module<T> {
 public:
  Linear(std::size_t in, std::size_t out, const Init& init, std::mt19937_64& rng);
  // From given tensors (copied in as leaves that require grad); W[in,out], b[out].
  Linear(const Tensor<T>& weight, const Tensor<T>& bias);
  Tensor<T> forward(const Tensor<T>& x) override;
  std::vector<NamedParameter<T>> named_parameters() const override;
  std::string describe() const override;
  Tensor<T>& weight() { return weight_; }
  Tensor<T>& bias() { return bias_; }

 private:
  Tensor<T> weight_, bias_;
};

enum class Activation { identity, sigmoid, tanh, relu };
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

template <class T> class Sequential final : public Module<T> {
 public:
  Sequential() = default;
  Sequential& add(std::shared_ptr<Module<T>> layer);
  template <class Layer, class... Args> Sequential& emplace(Args&&... args) {
    return add(std::make_shared<Layer>(std::forward<Args>(args)...));
  }
  Tensor<T> forward(const Tensor<T>& x) override;
  // Names are "<layer index>.<name>": "0.W", "0.b", "2.W", ...
  std::vector<NamedParameter<T>> named_parameters() const override;
  std::string describe() const override;
  const std::vector<std::shared_ptr<Module<T>>>& layers() const { return layers_; }

 private:
  std::vector<std::shared_ptr<Module<T>>> layers_;
};

// A multilayer perceptron from layer sizes {in, hidden..., out}: Linear layers, `hidden` after
// each hidden layer and `output` after the last (identity to leave logits raw).
template <class T>
Sequential<T> mlp(const std::vector<std::size_t>& sizes, Activation hidden, Activation output,
                  const Init& init, std::mt19937_64& rng);

}  // namespace tg::nn
