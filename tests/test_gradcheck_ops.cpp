// The per-op gradient-check suite: finds every registered op by itself.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "tapegrad/gradcheck.hpp"
#include "tapegrad/registry.hpp"

TEST_CASE("every op the engine promises is registered with a sample") {
  const char* promised[] = {"matmul",        "add_bias",
                            "add",           "sub",
                            "mul",           "div",
                            "neg",           "exp",
                            "log",           "sigmoid",
                            "tanh",          "relu",
                            "pow",           "sum",
                            "mean",          "transpose",
                            "reshape",       "softmax",
                            "log_softmax",   "mse",
                            "bce",           "bce_with_logits",
                            "softmax_ce",    "softmax_ce_onehot",
                            "broadcast_to",  "sum_to",
                            "xdivy",         "sigmoid_backward",
                            "tanh_backward", "relu_backward",
                            "bce_backward"};
  const auto& ops = tg::registered_ops();
  for (const char* name : promised) {
    CAPTURE(name);
    CHECK(std::any_of(ops.begin(), ops.end(), [&](const tg::OpInfo& o) { return o.name == name; }));
  }
}

TEST_CASE("every registered op passes the gradient check in double and float on every sample") {
  const auto rows = tg::check_registered_ops({1, 2, 3}, true);
  CHECK(rows.size() == 2 * tg::registered_ops().size());
  for (const auto& row : rows) {
    CAPTURE(row.op);
    CAPTURE(row.dtype);
    CHECK_MESSAGE(row.passed, row.failure);
    CHECK(row.samples_run > 0);
    if (row.dtype == "f64") CHECK(row.worst_relative_error < 1e-7);
  }
}

TEST_CASE("recording the backward pass (create_graph) gives the same first-order gradients") {
  for (const auto& op : tg::registered_ops()) {
    for (const auto& sample : op.samples_double(11)) {
      CAPTURE(op.name);
      CAPTURE(sample.label);
      std::vector<std::vector<double>> grads[2];
      for (int recorded = 0; recorded < 2; ++recorded) {
        std::vector<tg::TensorD> inputs;
        for (const auto& t : sample.inputs) inputs.push_back(t.clone().set_requires_grad(true));
        tg::TensorD out = sample.fn(inputs);
        out.backward(tg::TensorD::ones(out.shape()), {.create_graph = recorded == 1});
        for (auto& x : inputs) {
          grads[recorded].push_back(x.grad().to_vector());
          x.zero_grad();  // a recorded gradient refers back to its leaf: break the cycle
        }
      }
      REQUIRE(grads[0].size() == grads[1].size());
      for (std::size_t i = 0; i < grads[0].size(); ++i)
        for (std::size_t j = 0; j < grads[0][i].size(); ++j)
          CHECK(grads[1][i][j] == doctest::Approx(grads[0][i][j]).epsilon(1e-12));
    }
  }
}
