// Unrolled parameters (as in the digit-classifier course notes, docs/tutorials.md): every parameter
// flattened into one vector and back, so that any vector optimizer (L-BFGS) can drive a model, and
// whole-model gradient checks.
#pragma once

#include <functional>
#include <vector>

#include "tapegrad/gradcheck.hpp"
#include "tapegrad/nn/module.hpp"

namespace tg::nn {

// Concatenates the parameters' values (each row-major) into one vector of doubles.
template <class T> std::vector<double> flatten(const std::vector<Tensor<T>>& params);
// Concatenates the parameters' gradients (zeros where a parameter got none).
template <class T> std::vector<double> flatten_gradients(const std::vector<Tensor<T>>& params);
// Writes `values` back into the parameters' buffers; the length must equal the total element
// count (ShapeError otherwise).
template <class T>
void unflatten(const std::vector<double>& values, const std::vector<Tensor<T>>& params);

// The objective for a vector optimizer: sets the parameters to x, zeroes their gradients,
// evaluates loss() and backpropagates, and returns the loss with the gradient in `gradient`.
template <class T>
std::function<double(const std::vector<double>&, std::vector<double>&)> vector_objective(
    std::vector<Tensor<T>> params, std::function<Tensor<T>()> loss);

// Gradient-checks a whole model parameter by parameter: `loss` computes the model's loss from its
// parameters (as they are in the model). Inputs are named after the parameters ("0.W", ...).
template <class T>
GradCheckReport gradcheck_model(const Module<T>& model, const std::function<Tensor<T>()>& loss,
                                const GradCheckOptions& options = {});

}  // namespace tg::nn
