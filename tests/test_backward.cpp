// The generic backward traversal: fan-out, diamonds, deep chains, accumulation, no-grad,
// non-scalar outputs, released graphs.
#include <doctest/doctest.h>

#include "tapegrad/tapegrad.hpp"

using tg::TensorD;

TEST_CASE("fan-out: a tensor used twice gets both contributions") {
  TensorD x = TensorD::vector({1.0, -2.0, 3.0}, true);
  TensorD y = tg::sum(x * x + x);  // dy/dx = 2x + 1
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{3.0, -3.0, 7.0});
}
