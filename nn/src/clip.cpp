// Gradient clipping by total norm and by value (torch.nn.utils' clip_grad_norm_ and
// clip_grad_value_).
#include "tapegrad/nn/clip.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "tapegrad/errors.hpp"

namespace tg::nn {

namespace {

std::string num(double v) {
  return format_number(v);
}

// The parameters that hold a gradient, after checking that every handle is defined.
template <class T>
std::vector<Tensor<T>> with_gradient(const char* who, const std::vector<Tensor<T>>& params) {
  std::vector<Tensor<T>> out;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined())
      throw GraphError(std::string(who) + ": parameter " + std::to_string(i) +
                       " is an undefined tensor");
    if (params[i].has_grad()) out.push_back(params[i]);
  }
  return out;
}

// Replaces p's gradient by f applied to every element.
template <class T, class F> void transform_grad(Tensor<T>& p, F f) {
  const Tensor<T> g = p.grad();
  Tensor<T> clipped = Tensor<T>::empty(g.shape());
  const T* in = g.data();
  T* out = clipped.data();
  for (std::size_t j = 0; j < g.size(); ++j) out[j] = f(in[j]);
  p.set_grad(clipped);
}

}  // namespace

template <class T>
double clip_grad_norm_(const std::vector<Tensor<T>>& params, double max_norm, double norm_type) {
  if (!(norm_type > 0))
    throw DomainError("clip_grad_norm_: invalid norm_type " + num(norm_type) +
                      " (must be > 0, or infinity)");
  if (!(max_norm >= 0))
    throw DomainError("clip_grad_norm_: invalid max_norm " + num(max_norm) + " (must be >= 0)");
  std::vector<Tensor<T>> grads_of = with_gradient("clip_grad_norm_", params);
  if (grads_of.empty()) return 0;
  const bool inf_norm = std::isinf(norm_type);
  double total = 0;
  for (const Tensor<T>& p : grads_of) {
    const Tensor<T> g = p.grad();
    const T* d = g.data();
    for (std::size_t j = 0; j < g.size(); ++j) {
      const double a = std::abs(static_cast<double>(d[j]));
      if (inf_norm)
        total = std::isnan(a) || std::isnan(total) ? std::numeric_limits<double>::quiet_NaN()
                                                   : std::max(total, a);
      else if (norm_type == 2)
        total += a * a;
      else if (norm_type == 1)
        total += a;
      else
        total += std::pow(a, norm_type);
    }
  }
  if (!inf_norm) total = norm_type == 2 ? std::sqrt(total) : std::pow(total, 1 / norm_type);
  const double coefficient = max_norm / (total + 1e-6);
  // Multiplying by min(coefficient, 1) as torch does: a factor of 1 changes nothing, and a NaN
  // factor (from a NaN norm) must still reach the gradients.
  if (coefficient < 1 || std::isnan(coefficient))
    for (Tensor<T>& p : grads_of)
      transform_grad(p, [coefficient](T x) { return static_cast<T>(x * coefficient); });
  return total;
}

template <class T> void clip_grad_value_(const std::vector<Tensor<T>>& params, double clip_value) {
  if (!(clip_value >= 0))
    throw DomainError("clip_grad_value_: invalid clip_value " + num(clip_value) +
                      " (must be >= 0)");
  const T high = static_cast<T>(clip_value);
  for (Tensor<T>& p : with_gradient("clip_grad_value_", params))
    transform_grad(p, [high](T x) { return x > high ? high : x < -high ? -high : x; });
}

template double clip_grad_norm_(const std::vector<Tensor<float>>&, double, double);
template double clip_grad_norm_(const std::vector<Tensor<double>>&, double, double);
template void clip_grad_value_(const std::vector<Tensor<float>>&, double);
template void clip_grad_value_(const std::vector<Tensor<double>>&, double);

}  // namespace tg::nn
