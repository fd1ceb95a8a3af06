// Builds a small graph through the public header and checks its gradient.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <tapegrad/registry.hpp>
#include <tapegrad/tapegrad.hpp>

int main() {
  tg::TensorD x = tg::TensorD::vector({1.0, 2.0}, true);
  tg::TensorD y = tg::sum(x * x);  // dy/dx = 2x
  if (y.item() != 5.0) {
    std::fprintf(stderr, "consumer: y = %g, want 5\n", y.item());
    return 1;
  }
  y.backward();
  const std::vector<double> grad = x.grad().to_vector();
  const std::vector<double> want{2.0, 4.0};
  if (grad.size() != want.size()) {
    std::fprintf(stderr, "consumer: gradient has %zu entries, want %zu\n", grad.size(),
                 want.size());
    return 1;
  }
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::abs(grad[i] - want[i]) > 1e-12) {
      std::fprintf(stderr, "consumer: grad[%zu] = %g, want %g\n", i, grad[i], want[i]);
      return 1;
    }
  }
  // Ops this program never calls must be registered too: a static link keeps only the object
  // files something references.
  const auto& ops = tg::registered_ops();
  for (const char* name : {"xdivy", "log_softmax", "bce_backward"}) {
    if (std::none_of(ops.begin(), ops.end(), [&](const tg::OpInfo& o) { return o.name == name; })) {
      std::fprintf(stderr, "consumer: op %s is not registered (%zu ops are)\n", name, ops.size());
      return 1;
    }
  }
  std::printf("consumer: y = %g, dy/dx = [%g, %g]: ok\n", y.item(), grad[0], grad[1]);
  return 0;
}
