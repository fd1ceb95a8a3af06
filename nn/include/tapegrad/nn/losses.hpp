// Losses for models. The elementwise losses are the engine's ops (tg::mse, tg::bce,
// tg::bce_with_logits, tg::softmax_ce); this adds the regularization terms.
#pragma once

#include "tapegrad/nn/module.hpp"
#include "tapegrad/ops.hpp"

namespace tg::nn {

// sum of W^2 over the model's weights, biases skipped: a 0-d tensor.
template <class T> Tensor<T> l2_penalty(const Module<T>& model);

// The digit-classifier course notes' J(Theta) for outputs h[m,K] (probabilities) and one-hot
// targets Y[m,K]:
//   -(1/m) sum_{i,k} [y log h + (1-y) log(1-h)] + lambda/(2m) sum of squared non-bias weights
// = K * bce(h, Y) + lambda/(2m) * l2_penalty(model), since bce averages over all m*K elements.
template <class T>
Tensor<T> regularized_cross_entropy(const Tensor<T>& h, const Tensor<T>& Y, const Module<T>& model,
                                    double lambda);

// The same J from the output layer's pre-activations z (h = sigmoid(z)), evaluated stably with
// bce_with_logits: finite even where a float sigmoid rounds to exactly 0 or 1.
template <class T>
Tensor<T> regularized_cross_entropy_with_logits(const Tensor<T>& z, const Tensor<T>& Y,
                                                const Module<T>& model, double lambda);

}  // namespace tg::nn
