// Weight initializers, always drawn from the caller's seeded generator.
//
// fan_in and fan_out are a weight W[in, out]'s dimensions. Biases start at zero.
#pragma once

#include <random>
#include <string>

#include "tapegrad/tensor.hpp"

namespace tg::nn {

struct Init {
  enum class Kind { uniform, xavier_uniform, xavier_normal, he_uniform, he_normal, zeros };
  Kind kind = Kind::xavier_uniform;
  double epsilon = 0.12;  // for uniform: U(-epsilon, epsilon)

  // U(-eps, eps): the digit-classifier course notes' symmetry breaking, eps = 0.12.
  static Init uniform(double epsilon) { return {Kind::uniform, epsilon}; }
  // Glorot: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
  static Init xavier_uniform() { return {Kind::xavier_uniform}; }
  // Glorot: N(0, 2 / (fan_in + fan_out)).
  static Init xavier_normal() { return {Kind::xavier_normal}; }
  // He (for relu): U(-a, a), a = sqrt(6 / fan_in).
  static Init he_uniform() { return {Kind::he_uniform}; }
  // He (for relu): N(0, 2 / fan_in).
  static Init he_normal() { return {Kind::he_normal}; }
  static Init zeros() { return {Kind::zeros}; }

  std::string describe() const;
};

// Fills t (a weight of shape [fan_in, fan_out], or any shape whose first dimension is fan_in and
// the rest multiply to fan_out) in place.
template <class T> void initialize(Tensor<T>& t, const Init& init, std::mt19937_64& rng);

}  // namespace tg::nn
