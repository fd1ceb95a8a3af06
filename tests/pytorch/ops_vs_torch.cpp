// The op vocabulary against PyTorch (float64): each line prints an op's value on fixed inputs and
// the gradient of sum(out * w) for w = 0.1, 0.2, ... with respect to every input;
// ops_vs_torch.py computes the same with PyTorch and compares (scripts/compare-pytorch.sh runs
// both). The inputs hold ties (maximum at 0.5 and 0.5, clamp at its bound, norm inf's two 3s) and
// zeros (prod, abs, sign), where the conventions are PyTorch's.
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <tapegrad/grad.hpp>
#include <tapegrad/tapegrad.hpp>
#include <vector>
using tg::Shape;
using tg::TensorD;
static void emit(const std::string& name, std::vector<TensorD> in,
                 const std::function<TensorD(const std::vector<TensorD>&)>& f) {
  for (auto& t : in) t.set_requires_grad(true);
  TensorD out;
  try {
    out = f(in);
  } catch (const std::exception& e) {
    std::printf("%s ERROR %s\n", name.c_str(), e.what());
    return;
  }
  TensorD w = TensorD::empty(out.shape());
  for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] = 0.1 * double(i + 1);
  auto g = tg::grad(tg::sum(out * w), in);
  std::printf("%s V", name.c_str());
  for (double v : out.to_vector()) std::printf(" %.17g", v);
  for (std::size_t k = 0; k < g.size(); ++k) {
    std::printf(" G%zu", k);
    for (double v : g[k].to_vector()) std::printf(" %.17g", v);
  }
  std::printf("\n");
}
int main() {
  TensorD x =
      TensorD::matrix({{-1.5, -0.5, 0.0, 0.5}, {1.0, 2.0, -2.0, 0.25}, {3.0, -3.0, 0.75, -0.75}});
  TensorD xp =
      TensorD::matrix({{0.5, 1.5, 2.0, 0.1}, {1.0, 3.0, 0.7, 0.25}, {2.5, 0.3, 0.75, 1.25}});
  TensorD y =
      TensorD::matrix({{-1.0, -0.5, 0.5, 0.5}, {1.0, 1.0, -2.0, 1.25}, {2.0, -3.5, 0.75, 0.0}});
  auto u = [&](const char* n, auto f) { emit(n, {x}, [f](const auto& in) { return f(in[0]); }); };
  u("abs", [](const TensorD& a) { return tg::abs(a); });
  emit("sqrt", {xp}, [](const auto& in) { return tg::sqrt(in[0]); });
  u("square", [](const TensorD& a) { return tg::square(a); });
  u("sin", [](const TensorD& a) { return tg::sin(a); });
  u("cos", [](const TensorD& a) { return tg::cos(a); });
  emit("log1p", {xp}, [](const auto& in) { return tg::log1p(in[0]); });
  u("expm1", [](const TensorD& a) { return tg::expm1(a); });
  u("softplus", [](const TensorD& a) { return tg::softplus(a, 2.0, 3.0); });
  u("leaky_relu", [](const TensorD& a) { return tg::leaky_relu(a, 0.1); });
  u("elu", [](const TensorD& a) { return tg::elu(a, 1.5); });
  u("gelu", [](const TensorD& a) { return tg::gelu(a); });
  u("gelu_tanh", [](const TensorD& a) { return tg::gelu(a, tg::GeluApproximation::tanh); });
  u("clamp", [](const TensorD& a) { return tg::clamp(a, -0.5, 0.75); });
  u("sign", [](const TensorD& a) { return tg::sign(a); });
  auto b = [&](const char* n, auto f) {
    emit(n, {x, y}, [f](const auto& in) { return f(in[0], in[1]); });
  };
  b("maximum", [](const TensorD& a, const TensorD& c) { return tg::maximum(a, c); });
  b("minimum", [](const TensorD& a, const TensorD& c) { return tg::minimum(a, c); });
  emit("pow_tensor", {xp, y}, [](const auto& in) { return tg::pow(in[0], in[1]); });
  b("where", [](const TensorD& a, const TensorD& c) { return tg::where(tg::gt(a, c), a, c); });
  u("sum_ax0k", [](const TensorD& a) { return tg::sum(a, 0, true); });
  u("mean_ax-1", [](const TensorD& a) { return tg::mean(a, -1); });
  u("max_all", [](const TensorD& a) { return tg::max(a); });
  u("max_ax1", [](const TensorD& a) { return tg::max(a, 1); });
  u("min_ax0", [](const TensorD& a) { return tg::min(a, 0); });
  u("logsumexp_ax1", [](const TensorD& a) { return tg::logsumexp(a, 1); });
  u("var_ax1", [](const TensorD& a) { return tg::var(a, 1); });
  u("var_all_c0", [](const TensorD& a) { return tg::var(a, std::vector<int>{}, false, 0); });
  u("std_ax0k", [](const TensorD& a) { return tg::std(a, 0, true); });
  u("prod_ax1", [](const TensorD& a) { return tg::prod(a, 1); });
  u("norm1", [](const TensorD& a) { return tg::norm(a, 1.0); });
  u("norm2", [](const TensorD& a) { return tg::norm(a); });
  u("norminf",
    [](const TensorD& a) { return tg::norm(a, std::numeric_limits<double>::infinity()); });
  u("slice", [](const TensorD& a) { return tg::slice(a, 1, -3, 10, 2); });
  u("index_select", [](const TensorD& a) { return tg::index_select(a, 1, {3, 0, 3}); });
  u("gather", [](const TensorD& a) {
    return tg::gather(a, 1, tg::Indices{Shape{3, 2}, {0, 3, 1, 1, 2, 0}});
  });
  b("concat", [](const TensorD& a, const TensorD& c) { return tg::concat({a, c}, 1); });
  b("stack", [](const TensorD& a, const TensorD& c) { return tg::stack({a, c}, 0); });
  u("permute", [](const TensorD& a) {
    return tg::permute(tg::reshape(a, Shape{3, 2, 2}), {2, 0, 1});
  });
  b("bmm", [](const TensorD& a, const TensorD& c) {
    return tg::matmul(tg::reshape(a, Shape{3, 2, 2}), tg::reshape(c, Shape{3, 2, 2}));
  });
  b("bmm_bcast", [](const TensorD& a, const TensorD& c) {
    return tg::matmul(tg::reshape(a, Shape{3, 1, 4}), tg::transpose(c));
  });
  b("outer", [](const TensorD& a, const TensorD& c) {
    return tg::outer(tg::reshape(a, Shape{12}), tg::slice(tg::reshape(c, Shape{12}), 0, 0, 3));
  });
  b("l1_mean", [](const TensorD& a, const TensorD& c) { return tg::l1_loss(a, c); });
  b("l1_none",
    [](const TensorD& a, const TensorD& c) { return tg::l1_loss(a, c, tg::Reduction::none); });
  b("huber", [](const TensorD& a, const TensorD& c) { return tg::huber_loss(a, c, 0.8); });
  b("smooth_l1", [](const TensorD& a, const TensorD& c) {
    return tg::smooth_l1_loss(a, c, 0.8, tg::Reduction::sum);
  });
  b("mse_none",
    [](const TensorD& a, const TensorD& c) { return tg::mse(a, c, tg::Reduction::none); });
  b("cos_sim", [](const TensorD& a, const TensorD& c) { return tg::cosine_similarity(a, c, 1); });
  b("cos_sim0", [](const TensorD& a, const TensorD& c) { return tg::cosine_similarity(a, c, 0); });
  u("ce", [](const TensorD& a) { return tg::softmax_ce(a, tg::Labels{1, 3, 0}); });
  u("ce_ignore_smooth", [](const TensorD& a) {
    return tg::softmax_ce(a, tg::Labels{1, -100, 0}, {.label_smoothing = 0.2});
  });
  u("ce_sum", [](const TensorD& a) {
    return tg::softmax_ce(a, tg::Labels{2, 3, 0},
                          {.label_smoothing = 0.1, .reduction = tg::Reduction::sum});
  });
  u("nll", [](const TensorD& a) { return tg::nll_loss(tg::log_softmax(a), tg::Labels{1, 3, 0}); });
  emit("bcel_pw",
       {x, TensorD::matrix({{0, 1, 1, 0}, {1, 0, 0.5, 1}, {0, 0, 1, 1}}),
        TensorD::vector({0.5, 2.0, 1.0, 3.0})},
       [](const auto& in) { return tg::bce_with_logits(in[0], in[1], in[2]); });
  emit("bce_sum", {TensorD::matrix({{0.1, 0.9}, {0.4, 0.7}}), TensorD::matrix({{0, 1}, {1, 0}})},
       [](const auto& in) { return tg::bce(in[0], in[1], tg::Reduction::sum); });
}
