// A dense layer Y = X W + b, its forward kernel and its adjoint, shared by linear and linear_act
// (which applies its activation after the kernel and takes the activation's adjoint first):
// dX = G W^T, dW = X^T G (GEMMs with transpose flags), db = column sums of G.
#pragma once

#include <algorithm>
#include <functional>

#include "blas.hpp"
#include "kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg::detail {

// y[n,m] := x[n,k] w[k,m] + b[m]: the bias into every row, then one GEMM onto it (beta = 1), so
// that Y is written once instead of twice. The bias goes in by doubling copies: log2(n) memcpy
// calls instead of one per row (a layer of one output over 20 samples made 20 calls of one
// element).
template <class T>
void dense_forward(T* y, const T* b, const T* x, const T* w, std::size_t n, std::size_t m,
                   std::size_t k) {
  std::copy(b, b + m, y);
  for (std::size_t rows = 1; rows < n;) {
    const std::size_t more = std::min(rows, n - rows);
    std::copy(y, y + more * m, y + rows * m);
    rows += more;
  }
  gemm<T>(false, false, n, m, k, T(1), x, k, w, m, T(1), y);
}

// A node over inputs (X, W, b) that keeps X in saved[0] (when W needs a gradient) and W in
// saved[1] (when X needs one); N - 2 more saved tensors are the subclass's.
template <class T, std::size_t N> class LinearAdjointNode : public SavingNode<T, N> {
 protected:
  void linear_backward(const Tensor<T>& g, Grads<T>& grads) {
    if (grad_enabled()) {  // recording (create_graph): the gradients must be made of ops
      if (this->needs_grad(0)) grads[0] = matmul(g, this->get(1), false, true);
      if (this->needs_grad(1)) grads[1] = matmul(this->get(0), g, true, false);
      if (this->needs_grad(2)) grads[2] = sum_rows(g);
      return;
    }
    // A plain backward: the GEMMs those matmuls run, with the same arguments (so the same bits),
    // without the op around each (its checks, its recording test) on a small layer's adjoint.
    const char* op = this->name();
    const std::size_t n = g.shape()[0], m = g.shape()[1];
    // X and W read through their saved buffers: no handles (a leaf W's would lock its weak
    // reference, an atomic operation, each backward).
    if (this->needs_grad(0)) {
      const T* pw = this->get_data(1);
      const std::size_t k = this->input_shape(1)[0];
      Tensor<T> dx = new_output<T>(op, Shape{n, k});
      launch([n, k, m, pg = g.data(), pw,
              o = dx.data()] { gemm<T>(false, true, n, k, m, T(1), pg, m, pw, m, T(0), o); },
             [&] { return writes_from(dx, g, this->get(1)); });
      grads[0] = std::move(dx);
    }
    if (this->needs_grad(1)) {
      const T* px = this->get_data(0);
      const std::size_t k = this->input_shape(0)[1];
      Tensor<T> dw = new_output<T>(op, Shape{k, m});
      launch([n, k, m, px, pg = g.data(),
              o = dw.data()] { gemm<T>(true, false, k, m, n, T(1), px, k, pg, m, T(0), o); },
             [&] {
               Access access = writes_from(dw, this->get(0), g);
               // A recorded SGD step may fold W's update into this GEMM: W += scale X^T G.
               access.add_into = [n, k, m, px, pg = g.data()](void* into, double scale) {
                 return std::function<void()>([=, o = static_cast<T*>(into), alpha = T(scale)] {
                   gemm<T>(true, false, k, m, n, alpha, px, k, pg, m, T(1), o);
                 });
               };
               return access;
             });
      grads[1] = std::move(dw);
    }
    if (this->needs_grad(2)) grads[2] = sum_rows(g);
  }
};

}  // namespace tg::detail
