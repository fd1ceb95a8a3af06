// The library's ops, once: the registry (registry.cpp) registers exactly these, in this order, by
// calling the function each op file defines with TG_DEFINE_OP beside its op, and the tests take
// their list of expected ops from here. Adding an op is its file autodiff/src/ops/<name>.cpp plus
// one X(<name>) line; the build refuses an op file missing here, and the link a line without file.
#pragma once

// clang-format off
#define TG_OPS(X) \
  X(add) \
  X(add_bias) \
  X(bce) \
  X(bce_backward) \
  X(bce_with_logits) \
  X(broadcast_to) \
  X(div) \
  X(exp) \
  X(log) \
  X(log_softmax) \
  X(matmul) \
  X(mean) \
  X(mse) \
  X(mul) \
  X(neg) \
  X(pow) \
  X(relu) \
  X(relu_backward) \
  X(reshape) \
  X(sigmoid) \
  X(sigmoid_backward) \
  X(softmax) \
  X(softmax_ce) \
  X(softmax_ce_onehot) \
  X(sub) \
  X(sum) \
  X(sum_to) \
  X(tanh) \
  X(tanh_backward) \
  X(transpose) \
  X(xdivy)
// clang-format on
