// Layers, initializers, unrolled parameters, regularized losses and whole-model gradient checks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "same_bits.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/graphviz.hpp"
#include "tapegrad/nn/losses.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/parameters.hpp"
#include "tapegrad/replay.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::TensorD;
using tg::TensorF;
namespace nn = tg::nn;

TEST_CASE("Linear computes x W + b") {
  nn::Linear<double> layer(TensorD::matrix({{1, 2}, {3, 4}, {5, 6}}), TensorD::vector({0.5, -1}));
  TensorD y = layer(TensorD::matrix({{1, 0, -1}}));
  // [1,0,-1] @ W = [1-5, 2-6] = [-4, -4]; + b = [-3.5, -5]
  CHECK(y.to_vector() == std::vector<double>{-3.5, -5.0});
  CHECK(layer.describe() == "Linear(3 -> 2)");
  CHECK_THROWS_AS(nn::Linear<double>(TensorD::zeros({3, 2}), TensorD::zeros({3})), tg::ShapeError);
}

TEST_CASE("Linear takes a temporary no one else sees as it is, and copies every other tensor") {
  TensorD w = TensorD::matrix({{1, 2}, {3, 4}});
  const double* w_data = std::as_const(w).data();
  TensorD b = TensorD::vector({0.5, -1});
  const double* b_data = std::as_const(b).data();
  nn::Linear<double> adopted(std::move(w), std::move(b));
  CHECK(std::as_const(adopted.weight()).data() == w_data);
  CHECK(std::as_const(adopted.bias()).data() == b_data);
  CHECK(adopted.weight().requires_grad());
  CHECK(adopted.bias().is_leaf());

  // A handle someone else holds, a storage shared with a detached handle, a result of an op and
  // a leaf that holds a gradient are copied, or start with no gradient: the module's parameters
  // never alias what the caller can still see.
  const TensorD kept = TensorD::matrix({{1, 2}, {3, 4}});
  TensorD shared = kept;
  TensorD source = TensorD::vector({0.5, -1});
  const TensorD view = source.detach();
  nn::Linear<double> copied(std::move(shared), std::move(source));
  CHECK(std::as_const(copied.weight()).data() != std::as_const(kept).data());
  CHECK(std::as_const(copied.bias()).data() != std::as_const(view).data());
  copied.weight().data()[0] = 7;
  CHECK(kept.to_vector() == std::vector<double>{1, 2, 3, 4});

  TensorD x = TensorD::matrix({{1, 2}, {3, 4}}, true);
  nn::Linear<double> from_op(x * 2.0, TensorD::vector({0, 0}));
  CHECK(from_op.weight().is_leaf());
  CHECK(from_op.weight().to_vector() == std::vector<double>{2, 4, 6, 8});

  TensorD with_grad = TensorD::vector({1, 1}, true);
  tg::sum(with_grad * with_grad).backward();
  REQUIRE(with_grad.has_grad());
  nn::Linear<double> fresh(TensorD::zeros({3, 2}), std::move(with_grad));
  CHECK_FALSE(fresh.bias().has_grad());
  CHECK_THROWS_AS(nn::Linear<double>(TensorD::zeros({3, 2}), TensorD::zeros({3})), tg::ShapeError);
}

TEST_CASE("mlp builds Linear and activation layers from sizes, with named parameters") {
  std::mt19937_64 rng(1);
  auto net = nn::mlp<double>({2, 2, 2, 1}, nn::Activation::sigmoid, nn::Activation::sigmoid,
                             nn::Init::uniform(1.0), rng);
  CHECK(net.describe() ==
        "Sequential(Linear(2 -> 2), sigmoid, Linear(2 -> 2), sigmoid, Linear(2 -> 1), sigmoid)");
  const auto params = net.named_parameters();
  REQUIRE(params.size() == 6);
  CHECK(params[0].name == "0.W");
  CHECK(params[1].name == "0.b");
  CHECK(params[1].is_bias);
  CHECK(params[4].name == "4.W");
  CHECK(params[4].tensor.shape() == tg::Shape{2, 1});
  CHECK(net.parameter_count() == 6 + 6 + 3);
  TensorD y = net(TensorD::matrix({{0, 0}, {0, 1}, {1, 0}, {1, 1}}));
  CHECK(y.shape() == tg::Shape{4, 1});
  for (double v : y.to_vector()) CHECK((v > 0 && v < 1));
  // An identity output leaves logits raw: no activation layer after the last Linear.
  auto logits = nn::mlp<double>({3, 4, 2}, nn::Activation::relu, nn::Activation::identity,
                                nn::Init::he_normal(), rng);
  CHECK(logits.layers().size() == 3);
  CHECK_THROWS_AS(nn::mlp<double>({3}, nn::Activation::relu, nn::Activation::identity,
                                  nn::Init::he_normal(), rng),
                  tg::ShapeError);
}

TEST_CASE("initializers have the documented ranges and spreads") {
  std::mt19937_64 rng(5);
  auto stats = [](const TensorD& t) {
    double mean = 0, sq = 0, lo = 1e9, hi = -1e9;
    for (double v : t.to_vector()) {
      mean += v;
      sq += v * v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    mean /= double(t.size());
    return std::array<double, 4>{mean, std::sqrt(sq / double(t.size()) - mean * mean), lo, hi};
  };
  TensorD w = TensorD::empty({200, 300});
  nn::initialize(w, nn::Init::uniform(0.12), rng);
  auto s = stats(w);
  CHECK(s[2] >= -0.12);
  CHECK(s[3] <= 0.12);
  CHECK(s[1] == doctest::Approx(0.12 / std::sqrt(3.0)).epsilon(0.02));
  nn::initialize(w, nn::Init::xavier_normal(), rng);
  CHECK(stats(w)[1] == doctest::Approx(std::sqrt(2.0 / 500)).epsilon(0.02));
  nn::initialize(w, nn::Init::xavier_uniform(), rng);
  CHECK(stats(w)[3] <= std::sqrt(6.0 / 500));
  CHECK(stats(w)[1] == doctest::Approx(std::sqrt(6.0 / 500) / std::sqrt(3.0)).epsilon(0.02));
  nn::initialize(w, nn::Init::he_normal(), rng);
  CHECK(stats(w)[1] == doctest::Approx(std::sqrt(2.0 / 200)).epsilon(0.02));
  nn::initialize(w, nn::Init::he_uniform(), rng);
  CHECK(stats(w)[3] <= std::sqrt(6.0 / 200));
  // The same seed gives the same weights.
  std::mt19937_64 a(9), b(9);
  TensorD wa = TensorD::empty({3, 3}), wb = TensorD::empty({3, 3});
  nn::initialize(wa, nn::Init::xavier_uniform(), a);
  nn::initialize(wb, nn::Init::xavier_uniform(), b);
  CHECK(wa.to_vector() == wb.to_vector());
}

TEST_CASE("flatten and unflatten round-trip every parameter, in order") {
  std::mt19937_64 rng(2);
  auto net = nn::mlp<double>({3, 4, 2}, nn::Activation::tanh, nn::Activation::identity,
                             nn::Init::xavier_uniform(), rng);
  const auto params = net.parameters();
  const auto flat = nn::flatten(params);
  CHECK(flat.size() == net.parameter_count());
  CHECK(flat[0] == params[0].data()[0]);
  CHECK(flat[12] == params[1].data()[0]);  // W[3,4] first, then b[4]
  std::vector<double> doubled = flat;
  for (double& v : doubled) v *= 2;
  nn::unflatten(doubled, params);
  CHECK(nn::flatten(net.parameters()) == doubled);
  nn::unflatten(flat, params);
  CHECK(nn::flatten(net.parameters()) == flat);
  CHECK_THROWS_AS(nn::unflatten(std::vector<double>(flat.size() - 1), params), tg::ShapeError);
}

TEST_CASE("flatten_gradients follows the same order, zeros where there is no gradient") {
  nn::Linear<double> layer(TensorD::matrix({{1.0}, {2.0}}), TensorD::vector({0.0}));
  tg::sum(layer(TensorD::matrix({{3.0, 4.0}}))).backward();
  CHECK(nn::flatten_gradients(layer.parameters()) == std::vector<double>{3.0, 4.0, 1.0});
  layer.zero_grad();
  CHECK(nn::flatten_gradients(layer.parameters()) == std::vector<double>{0.0, 0.0, 0.0});
}

TEST_CASE("l2_penalty sums squared weights and skips biases") {
  nn::Linear<double> layer(TensorD::matrix({{1, -2}, {3, 0.5}}), TensorD::vector({10, 20}));
  CHECK(nn::l2_penalty(layer).item() == doctest::Approx(1 + 4 + 9 + 0.25));
}

TEST_CASE("regularized_cross_entropy is the course notes' J(Theta), computed here by loops") {
  std::mt19937_64 rng(3);
  auto net = nn::mlp<double>({4, 3, 2}, nn::Activation::sigmoid, nn::Activation::sigmoid,
                             nn::Init::uniform(0.5), rng);
  TensorD X = TensorD::uniform({5, 4}, -1, 1, rng);
  TensorD Y = TensorD::matrix({{1, 0}, {0, 1}, {0, 1}, {1, 0}, {0, 1}});
  const double lambda = 1.0;
  TensorD h = net(X);
  const double J = nn::regularized_cross_entropy(h, Y, net, lambda).item();
  // J = -(1/m) sum_{i,k} [y log h + (1-y) log(1-h)] + lambda/(2m) sum of squared non-bias weights
  const double m = 5;
  double data = 0;
  for (std::size_t i = 0; i < h.size(); ++i) {
    const double y = Y.data()[i], p = h.data()[i];
    data += y * std::log(p) + (1 - y) * std::log(1 - p);
  }
  double reg = 0;
  for (const auto& p : net.named_parameters())
    if (!p.is_bias)
      for (double w : p.tensor.to_vector()) reg += w * w;
  CHECK(J == doctest::Approx(-data / m + lambda / (2 * m) * reg).epsilon(1e-13));
}

TEST_CASE("whole-model gradient checks pass in double for the three tutorials' networks") {
  std::mt19937_64 rng(4);
  SUBCASE("the XOR tutorial: [2,2,2,1] sigmoid, MSE on XOR") {
    auto net = nn::mlp<double>({2, 2, 2, 1}, nn::Activation::sigmoid, nn::Activation::sigmoid,
                               nn::Init::uniform(1.0), rng);
    TensorD X = TensorD::matrix({{0, 0}, {0, 1}, {1, 0}, {1, 1}});
    TensorD y = TensorD::matrix({{0}, {1}, {1}, {0}});
    const auto report = nn::gradcheck_model<double>(net, [&] { return tg::mse(net(X), y); });
    CHECK_MESSAGE(report.passed, report);
    CHECK(report.inputs.size() == 6);
    CHECK(report.inputs[0].name == "0.W");
  }
  SUBCASE(
      "the digit-classifier course notes: sigmoid network, regularized cross-entropy, lambda = 1") {
    auto net = nn::mlp<double>({20, 8, 4}, nn::Activation::sigmoid, nn::Activation::sigmoid,
                               nn::Init::uniform(0.12), rng);
    TensorD X = TensorD::uniform({10, 20}, 0, 1, rng);
    TensorD Y = TensorD::zeros({10, 4});
    for (std::size_t i = 0; i < 10; ++i) Y.data()[i * 4 + i % 4] = 1;
    const auto report = nn::gradcheck_model<double>(
        net, [&] { return nn::regularized_cross_entropy(net(X), Y, net, 1.0); });
    CHECK_MESSAGE(report.passed, report);
  }
  SUBCASE(
      "the regression gradient-validation tutorial: 2-5-1, sigmoid hidden, linear output, 0.5 * "
      "mean squared error") {
    auto net = nn::mlp<double>({2, 5, 1}, nn::Activation::sigmoid, nn::Activation::identity,
                               nn::Init::xavier_normal(), rng);
    TensorD X = TensorD::uniform({20, 2}, -1, 1, rng);
    TensorD y = tg::sum(X * X, 1);
    TensorD y_col = tg::reshape(y, {20, 1});
    const auto report =
        nn::gradcheck_model<double>(net, [&] { return tg::mse(net(X), y_col) * 0.5; });
    CHECK_MESSAGE(report.passed, report);
  }
}

TEST_CASE("a model's parameter gradients are untouched by gradcheck_model") {
  std::mt19937_64 rng(6);
  nn::Linear<double> layer(2, 1, nn::Init::xavier_uniform(), rng);
  TensorD X = TensorD::matrix({{1, 2}});
  tg::sum(layer(X)).backward();
  const auto before = nn::flatten_gradients(layer.parameters());
  const auto values = nn::flatten(layer.parameters());
  CHECK(nn::gradcheck_model<double>(layer, [&] { return tg::sum(layer(X) * layer(X)); }).passed);
  CHECK(nn::flatten_gradients(layer.parameters()) == before);
  CHECK(nn::flatten(layer.parameters()) == values);
}

TEST_CASE("float models work") {
  // A float model computes what the same model in double computes, to float rounding: outputs,
  // loss and every parameter's gradient.
  std::mt19937_64 rng(7);
  auto net = nn::mlp<float>({3, 4, 1}, nn::Activation::tanh, nn::Activation::identity,
                            nn::Init::he_uniform(), rng);
  auto reference = nn::mlp<double>({3, 4, 1}, nn::Activation::tanh, nn::Activation::identity,
                                   nn::Init::he_uniform(), rng);
  nn::unflatten(nn::flatten(net.parameters()), reference.parameters());  // exact: float -> double
  TensorF X = TensorF::uniform({6, 3}, -1, 1, rng);
  const std::vector<float> xf = X.to_vector();
  TensorD Xd = TensorD::from_vector(tg::Shape{6, 3}, std::vector<double>(xf.begin(), xf.end()));

  TensorF y = net(X);
  TensorD yd = reference(Xd);
  REQUIRE(y.shape() == tg::Shape{6, 1});
  const std::vector<float> out = y.to_vector();
  const std::vector<double> out_d = yd.to_vector();
  for (std::size_t i = 0; i < out.size(); ++i)
    CHECK(double(out[i]) == doctest::Approx(out_d[i]).epsilon(1e-5));

  TensorF loss = tg::mean(y * y);
  TensorD loss_d = tg::mean(yd * yd);
  CHECK(double(loss.item()) == doctest::Approx(loss_d.item()).epsilon(1e-5));
  loss.backward();
  loss_d.backward();
  const std::vector<double> g = nn::flatten_gradients(net.parameters());
  const std::vector<double> g_d = nn::flatten_gradients(reference.parameters());
  REQUIRE(g.size() == net.parameter_count());
  REQUIRE(g_d.size() == g.size());
  double largest = 0;
  for (double v : g_d) largest = std::max(largest, std::abs(v));
  REQUIRE(largest > 1e-3);  // the comparison below is not between zeros
  for (std::size_t i = 0; i < g.size(); ++i) {
    INFO("gradient element " << i);
    CHECK(std::abs(g[i] - g_d[i]) <= 1e-5 * largest);
  }
}

// A parameter that does not require a gradient has none: flatten_gradients gives zeros for it
// (asking such a tensor for grad() is an error).
TEST_CASE("flatten_gradients: zeros for a parameter that does not require a gradient") {
  tg::TensorD w = tg::TensorD::vector({1, 2}, true);
  const tg::TensorD frozen = tg::TensorD::vector({3, 4, 5});
  tg::sum(w * w).backward();
  CHECK(tg::nn::flatten_gradients<double>({w, frozen}) == std::vector<double>{2, 4, 0, 0, 0});
}

TEST_CASE("mlp takes the added activations, and their networks pass the gradient check") {
  std::mt19937_64 rng(8);
  TensorD X = TensorD::uniform({6, 3}, -2, 2, rng);
  TensorD target = TensorD::uniform({6, 2}, -1, 1, rng);
  for (const auto a : {nn::Activation::leaky_relu, nn::Activation::gelu, nn::Activation::elu,
                       nn::Activation::softplus}) {
    INFO(nn::to_string(a));
    auto net =
        nn::mlp<double>({3, 5, 2}, a, nn::Activation::identity, nn::Init::xavier_normal(), rng);
    CHECK(net.describe() ==
          std::string("Sequential(Linear(3 -> 5), ") + nn::to_string(a) + ", Linear(5 -> 2))");
    const auto report = nn::gradcheck_model<double>(net, [&] { return tg::mse(net(X), target); });
    CHECK_MESSAGE(report.passed, report);
  }
}

TEST_CASE("Linear's weight() and bias() are the tensors named_parameters reports") {
  nn::Linear<double> layer(TensorD::matrix({{1, 2}}), TensorD::vector({3, 4}));
  const auto params = layer.named_parameters();
  CHECK(params[0].tensor.impl() == layer.weight().impl());
  CHECK(params[1].tensor.impl() == layer.bias().impl());
  // Replacing the weight through the handle replaces what the model reports and computes with.
  layer.weight() = TensorD::matrix({{10, 20}}, true);
  CHECK(layer.named_parameters()[0].tensor.to_vector() == std::vector<double>{10, 20});
  CHECK(layer(TensorD::matrix({{1}})).to_vector() == std::vector<double>{13, 24});
}

std::size_t count_of(const std::string& text, const std::string& word) {
  std::size_t count = 0;
  for (std::size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1))
    ++count;
  return count;
}

TEST_CASE_TEMPLATE("Sequential runs a Linear and its activation as one op, with the same bits", T,
                   float, double) {
  // Each fusable activation, and one that is not (leaky_relu), in the hidden layers; the output
  // layer's sigmoid fused in every case, bce's one-pass adjoint going into it.
  for (const nn::Activation a : {nn::Activation::sigmoid, nn::Activation::tanh,
                                 nn::Activation::relu, nn::Activation::leaky_relu}) {
    CAPTURE(nn::to_string(a));
    std::mt19937_64 rng(17);
    auto net = nn::mlp<T>({3, 5, 4, 2}, a, nn::Activation::sigmoid, nn::Init::uniform(1.0), rng);
    const tg::Tensor<T> x = tg::Tensor<T>::uniform(tg::Shape{6, 3}, -2, 2, rng);
    const tg::Tensor<T> y = tg::Tensor<T>::uniform(tg::Shape{6, 2}, 0, 1, rng);
    // The same network, layer by layer through linear and the activation's own op.
    const auto by_layers = [&] {
      tg::Tensor<T> h = x;
      for (const auto& layer : net.layers()) h = layer->forward(h);
      return h;
    };
    const tg::Tensor<T> fused_loss = tg::bce(net(x), y);
    const std::string tape = tg::tape_dump(fused_loss);
    const bool fusable = a != nn::Activation::leaky_relu;
    CHECK(count_of(tape, "linear_act(") == (fusable ? 3 : 1));
    CHECK(tape.find("sigmoid(") == std::string::npos);
    fused_loss.backward();
    std::vector<tg::Tensor<T>> fused_grads;
    for (auto& p : net.parameters()) {
      fused_grads.push_back(p.grad().clone());
      p.zero_grad();
    }
    const tg::Tensor<T> layers_loss = tg::bce(by_layers(), y);
    CHECK(tg::tape_dump(layers_loss).find("linear_act") == std::string::npos);
    layers_loss.backward();
    CHECK(same_bits(fused_loss, layers_loss));
    for (std::size_t i = 0; i < fused_grads.size(); ++i) {
      CAPTURE(i);
      CHECK(same_bits(fused_grads[i], net.parameters()[i].grad()));
    }
  }
}

TEST_CASE("bce after a fused sigmoid output layer takes its one-pass adjoint") {
  // Logits of +-60: p rounds to exactly 1 or 0 (double). With y on the other side, bce's adjoint
  // times sigmoid's is 0 * inf = NaN; the one-pass adjoint (p - y)/N is finite, for the fused
  // output layer as for linear then sigmoid.
  nn::Sequential<double> net;
  net.emplace<nn::Linear<double>>(TensorD::matrix({{30}, {-30}}, true), TensorD::vector({0}, true));
  net.emplace<nn::ActivationLayer<double>>(nn::Activation::sigmoid);
  const TensorD x = TensorD::matrix({{2, 0}, {0, 2}});
  const TensorD y = TensorD::matrix({{0}, {1}});
  const TensorD loss = tg::bce(net(x), y);
  CHECK(tg::tape_dump(loss).find("linear_act(") != std::string::npos);
  loss.backward();
  // dz = (p - y)/2 = [0.5, -0.5]: dW = X^T dz = [[1], [-1]], db = 0.
  CHECK(net.parameters()[0].grad().to_vector() == std::vector<double>{1, -1});
  CHECK(net.parameters()[1].grad().to_vector() == std::vector<double>{0});
}

TEST_CASE("bce's one-pass adjoint into linear_act's sigmoid agrees with finite differences") {
  // gradcheck's analytic gradient is a plain backward: bce sends (p - y)/N to linear_act as its
  // G_z. Soft targets, pre-activations within +-3.
  std::mt19937_64 rng(37);
  const TensorD x = TensorD::uniform(tg::Shape{4, 3}, -1, 1, rng);
  const TensorD w = TensorD::uniform(tg::Shape{3, 2}, -1, 1, rng);
  const TensorD b = TensorD::uniform(tg::Shape{2}, -1, 1, rng);
  const TensorD y = TensorD::uniform(tg::Shape{4, 2}, 0, 1, rng);
  const auto report = tg::gradcheck(
      [&y](const std::vector<TensorD>& in) {
        return tg::bce(tg::linear_act(in[0], in[1], in[2], tg::FusedActivation::sigmoid), y);
      },
      {x, w, b});
  CHECK_MESSAGE(report.passed, report);
}

TEST_CASE("a hidden Linear and its activation as one op hold no more memory than the two ops") {
  // Recorded steps hold the memory of the buffers of their step, reused as eager mode frees them:
  // the fused node frees its output (read by the activation's adjoint) before it makes dX, as the
  // activation's own node would have been released by then.
  std::mt19937_64 rng(23);
  auto net = nn::mlp<double>({32, 128, 128, 128, 4}, nn::Activation::sigmoid,
                             nn::Activation::identity, nn::Init::uniform(0.1), rng);
  const TensorD x = TensorD::uniform(tg::Shape{256, 32}, -1, 1, rng);
  const TensorD y = TensorD::uniform(tg::Shape{256, 4}, -1, 1, rng);
  auto fused = tg::record_step([&] { return tg::mse(net(x), y); }, net.parameters(), {x, y});
  auto by_layers = tg::record_step(
      [&] {
        TensorD h = x;
        for (const auto& layer : net.layers()) h = layer->forward(h);
        return tg::mse(h, y);
      },
      net.parameters(), {x, y});
  CHECK(fused.kernels() < by_layers.kernels());  // the activations ran in linear_act's kernels
  CAPTURE(fused.bytes());
  CAPTURE(by_layers.bytes());
  CHECK(fused.bytes() <= by_layers.bytes());
}

TEST_CASE("a hidden Linear and its activation as one op keep their output for a retained graph") {
  std::mt19937_64 rng(29);
  auto net = nn::mlp<double>({3, 4, 4, 2}, nn::Activation::tanh, nn::Activation::identity,
                             nn::Init::uniform(1.0), rng);
  const TensorD x = TensorD::uniform(tg::Shape{5, 3}, -1, 1, rng);
  const TensorD loss = tg::sum(net(x));
  loss.backward({.retain_graph = true});
  const TensorD once = net.parameters()[0].grad().clone();
  loss.backward();  // the fused node's output is still there to read
  const TensorD twice = net.parameters()[0].grad();
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(twice.data()[i] == 2 * once.data()[i]);
}
