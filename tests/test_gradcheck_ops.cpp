// The per-op gradient-check suite: finds every registered op by itself.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "check_error.hpp"
#include "library_ops.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/registry.hpp"

// The library's own ops are its op files, listed by the build (tapegrad_op_list.hpp).
TEST_CASE("the registry holds every op file's op, in the build's order, each with its samples") {
  const std::vector<std::string> table = library_op_names();
  const auto& ops = tg::registered_ops();
  REQUIRE(ops.size() >= table.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    CAPTURE(table[i]);
    CHECK(ops[i].name == table[i]);
    CHECK(static_cast<bool>(ops[i].samples_double));
    CHECK(static_cast<bool>(ops[i].samples_float));
  }
}

namespace {
template <class T> std::vector<tg::GradSample<T>> no_samples(std::uint64_t) {
  return {};
}
}  // namespace

TEST_CASE("register_op rejects an op without samples and a second op of an existing name") {
  const std::size_t before = tg::registered_ops().size();
  check_error<tg::Error>(
      [] {
        tg::register_op(tg::OpInfo{"user_op", "dx = G", nullptr, &no_samples<float>});
      },
      {"register_op", "user_op", "no gradient-check sample"});
  check_error<tg::Error>(
      [] {
        tg::register_op(tg::OpInfo{"relu", "dx = G", &no_samples<double>, &no_samples<float>});
      },
      {"register_op", "relu", "registered twice"});
  CHECK(tg::registered_ops().size() == before);
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
