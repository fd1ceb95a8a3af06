// Gradient clipping between backward() and an optimizer's step(), as torch.nn.utils does it:
//
//   loss.backward();
//   const double norm = tg::nn::clip_grad_norm_(opt.parameters(), 1.0);
//   opt.step();
//
// Both work on the parameters' accumulated gradients and skip a parameter without one (no
// backward reached it since its last zero_grad). A clipped gradient is replaced by a new tensor
// (set_grad) rather than written over, so a handle taken earlier with grad() keeps the unclipped
// values. Both are instantiated for float and double.
#pragma once

#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg::nn {

// Returns the norm of all the gradients together, as if concatenated into one vector:
// (sum |g|^p)^(1/p), the largest |g| for norm_type = infinity; computed in double. When
// max_norm / (norm + 1e-6) < 1 every gradient is multiplied by it. A non-finite norm is not an
// error (torch's default, error_if_nonfinite = false): the gradients are scaled all the same (by
// NaN for a NaN norm, by 0 for an infinite one). With no gradient at all it returns 0.
// Throws DomainError for norm_type <= 0 or NaN and for max_norm < 0 or NaN, and GraphError for an
// undefined tensor in the list.
template <class T>
double clip_grad_norm_(const std::vector<Tensor<T>>& params, double max_norm,
                       double norm_type = 2.0);

// Clamps every gradient element into [-clip_value, clip_value] (NaN stays NaN). Throws
// DomainError for clip_value < 0 or NaN, GraphError for an undefined tensor in the list.
template <class T> void clip_grad_value_(const std::vector<Tensor<T>>& params, double clip_value);

}  // namespace tg::nn
