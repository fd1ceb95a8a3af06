// Whether two tensors hold the same shape and the same bits (NaN payloads and the sign of zero
// included): what "equals eager mode bit for bit" means in the tests.
#pragma once

#include <cstring>
#include <utility>

#include "tapegrad/tensor.hpp"

template <class T> bool same_bits(const tg::Tensor<T>& a, const tg::Tensor<T>& b) {
  return a.shape() == b.shape() &&
         std::memcmp(std::as_const(a).data(), std::as_const(b).data(), a.size() * sizeof(T)) == 0;
}
