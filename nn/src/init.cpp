#include "tapegrad/nn/init.hpp"

#include <cmath>

namespace tg::nn {

std::string Init::describe() const {
  switch (kind) {
    case Kind::uniform:
      return "uniform(+-" + std::to_string(epsilon) + ")";
    case Kind::xavier_uniform:
      return "xavier_uniform";
    case Kind::xavier_normal:
      return "xavier_normal";
    case Kind::he_uniform:
      return "he_uniform";
    case Kind::he_normal:
      return "he_normal";
    case Kind::zeros:
      return "zeros";
  }
  return "?";
}

template <class T> void initialize(Tensor<T>& t, const Init& init, std::mt19937_64& rng) {
  const double fan_in = t.ndim() > 0 ? double(t.dim(0)) : 1.0;
  const double fan_out = t.ndim() > 0 && t.dim(0) > 0 ? double(t.size()) / fan_in : 1.0;
  auto fill_uniform = [&](double a) {
    std::uniform_real_distribution<double> d(-a, a);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = T(d(rng));
  };
  auto fill_normal = [&](double sd) {
    std::normal_distribution<double> d(0.0, sd);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = T(d(rng));
  };
  switch (init.kind) {
    case Init::Kind::uniform:
      return fill_uniform(init.epsilon);
    case Init::Kind::xavier_uniform:
      return fill_uniform(std::sqrt(6.0 / (fan_in + fan_out)));
    case Init::Kind::xavier_normal:
      return fill_normal(std::sqrt(2.0 / (fan_in + fan_out)));
    case Init::Kind::he_uniform:
      return fill_uniform(std::sqrt(6.0 / fan_in));
    case Init::Kind::he_normal:
      return fill_normal(std::sqrt(2.0 / fan_in));
    case Init::Kind::zeros:
      for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = T(0);
      return;
  }
}

template void initialize(Tensor<float>&, const Init&, std::mt19937_64&);
template void initialize(Tensor<double>&, const Init&, std::mt19937_64&);

}  // namespace tg::nn
