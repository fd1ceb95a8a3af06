// Setting leaves' accumulated gradients aside for the duration of a scope: what grad() and the
// gradient checker do so that a caller's gradients are never touched.
#pragma once

#include <utility>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg::detail {

// Puts the leaves' accumulated gradients aside and restores them when it goes out of scope (also
// on an exception).
template <class T> class LeafGradsAside {
 public:
  explicit LeafGradsAside(std::vector<Tensor<T>> leaves) : leaves_(std::move(leaves)) {
    saved_.reserve(leaves_.size());
    for (auto& leaf : leaves_) saved_.push_back(leaf.take_grad());
  }
  ~LeafGradsAside() {
    for (std::size_t i = 0; i < leaves_.size(); ++i) leaves_[i].set_grad(saved_[i]);
  }
  LeafGradsAside(const LeafGradsAside&) = delete;
  LeafGradsAside& operator=(const LeafGradsAside&) = delete;

 private:
  std::vector<Tensor<T>> leaves_;
  std::vector<Tensor<T>> saved_;
};

}  // namespace tg::detail
