// The module machinery (registered parameters, buffers and submodules with prefixed names,
// train/eval), the mode-dependent layers Dropout, LayerNorm and BatchNorm1d, and summary().
// Expected values are worked out by hand or with Python's math module (float64), as each case
// says; none is read back from this code's output.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "check_error.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/parameters.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::TensorD;
using tg::TensorF;
namespace nn = tg::nn;

namespace {

std::vector<std::string> parameter_names(const nn::Module<double>& m) {
  std::vector<std::string> names;
  for (const auto& p : m.named_parameters()) names.push_back(p.name);
  return names;
}

std::vector<std::string> buffer_names(const nn::Module<double>& m) {
  std::vector<std::string> names;
  for (const auto& b : m.named_buffers()) names.push_back(b.name);
  return names;
}

void check_values(const TensorD& t, const std::vector<double>& expected, double eps = 1e-12) {
  const std::vector<double> got = t.to_vector();
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == doctest::Approx(expected[i]).epsilon(eps));
  }
}

// Two submodules and a parameter and a buffer of its own, registered the way a user's module
// does: no name is spelled with a prefix here.
class Autoencoder final : public nn::Module<double> {
 public:
  explicit Autoencoder(std::mt19937_64& rng) {
    scale_ = register_parameter("scale", TensorD::full({1}, 2.0, true));
    encoder_ = register_module(
        "encoder", std::make_shared<nn::Linear<double>>(4, 2, nn::Init::xavier_uniform(), rng));
    decoder_ = register_module("decoder", std::make_shared<nn::Sequential<double>>());
    decoder_->emplace<nn::Linear<double>>(2, 4, nn::Init::xavier_uniform(), rng)
        .emplace<nn::BatchNorm1d<double>>(4);
    register_buffer("calls", TensorD::zeros({1}));
  }
  TensorD forward(const TensorD& x) override {
    registered_buffer("calls").data()[0] += 1;
    return (*decoder_)((*encoder_)(x)) * scale_;
  }
  std::string describe() const override { return "Autoencoder"; }
  std::shared_ptr<nn::Linear<double>> encoder_;
  std::shared_ptr<nn::Sequential<double>> decoder_;

 private:
  TensorD scale_;
};

// Registers whatever the test asks for, to provoke the registry's errors.
class Registrar final : public nn::Module<double> {
 public:
  TensorD forward(const TensorD& x) override { return x; }
  std::string describe() const override { return "Registrar"; }
  void parameter(const std::string& name) { register_parameter(name, TensorD::zeros({1}, true)); }
  void buffer(const std::string& name) { register_buffer(name, TensorD::zeros({1})); }
  void module(const std::string& name, std::shared_ptr<nn::Module<double>> m) {
    register_module(name, std::move(m));
  }
};

}  // namespace

TEST_CASE("a module's parameters and buffers are named after the submodules they sit in") {
  std::mt19937_64 rng(1);
  Autoencoder model(rng);
  // Own registrations first, then each submodule's in registration order, as torch lists them.
  CHECK(parameter_names(model) == std::vector<std::string>{"scale", "encoder.W", "encoder.b",
                                                           "decoder.0.W", "decoder.0.b",
                                                           "decoder.1.weight", "decoder.1.bias"});
  CHECK(buffer_names(model) == std::vector<std::string>{"calls", "decoder.1.running_mean",
                                                        "decoder.1.running_var",
                                                        "decoder.1.num_batches_tracked"});
  // 1 + (4*2 + 2) + (2*4 + 4) + (4 + 4)
  CHECK(model.parameter_count() == 31);
  const auto params = model.named_parameters();
  CHECK(params[2].is_bias);   // encoder.b
  CHECK(!params[1].is_bias);  // encoder.W
  // The registry holds the very tensors the layers compute with.
  CHECK(params[1].tensor.impl() == model.encoder_->weight().impl());

  // Every registered parameter gets a gradient, and the gradients are right.
  TensorD x = TensorD::uniform({5, 4}, -1, 1, rng);
  tg::sum(model(x) * model(x)).backward();
  for (const auto& p : model.named_parameters()) {
    INFO(p.name);
    CHECK(p.tensor.has_grad());
  }
  CHECK(model.named_buffers()[0].tensor.item() == 2.0);  // forward ran twice
  const auto report =
      nn::gradcheck_model<double>(model, [&] { return tg::sum(tg::tanh(model(x))); });
  CHECK_MESSAGE(report.passed, report);
}

TEST_CASE("Sequential keeps the index names, nested ones included") {
  std::mt19937_64 rng(2);
  auto inner = std::make_shared<nn::Sequential<double>>(nn::mlp<double>(
      {3, 2}, nn::Activation::relu, nn::Activation::identity, nn::Init::he_normal(), rng));
  nn::Sequential<double> outer;
  outer.emplace<nn::Linear<double>>(3, 3, nn::Init::he_normal(), rng)
      .emplace<nn::ActivationLayer<double>>(nn::Activation::relu)
      .add(inner);
  CHECK(parameter_names(outer) == std::vector<std::string>{"0.W", "0.b", "2.0.W", "2.0.b"});
  // A copy of a Sequential shares its layers, as a copy of the layer list always did.
  nn::Sequential<double> copy = outer;
  CHECK(parameter_names(copy) == parameter_names(outer));
  CHECK(copy.named_parameters()[0].tensor.impl() == outer.named_parameters()[0].tensor.impl());
  check_error<nn::ModuleError>([&] { outer.add(nullptr); }, {"Sequential", "null"});
}

TEST_CASE("Sequential runs its layers in order on its input, and with none returns the input") {
  std::mt19937_64 rng(3);
  nn::Sequential<double> net;
  const TensorD x = TensorD::uniform({2, 3}, -1, 1, rng);
  CHECK(net(x).impl() == x.impl());
  net.emplace<nn::Linear<double>>(3, 4, nn::Init::he_normal(), rng)
      .emplace<nn::ActivationLayer<double>>(nn::Activation::tanh)
      .emplace<nn::Linear<double>>(4, 2, nn::Init::he_normal(), rng);
  const auto p = net.named_parameters();
  const TensorD by_hand =
      tg::linear(tg::tanh(tg::linear(x, p[0].tensor, p[1].tensor)), p[2].tensor, p[3].tensor);
  CHECK(net(x).to_vector() == by_hand.to_vector());
  CHECK(x.shape() == tg::Shape{2, 3});  // the input is read, never replaced
}

TEST_CASE("a name registered twice in one module, or with a '.', is a ModuleError naming it") {
  Registrar r;
  r.parameter("W");
  check_error<nn::ModuleError>([&] { r.parameter("W"); }, {"register_parameter", "\"W\""});
  check_error<nn::ModuleError>([&] { r.buffer("W"); }, {"register_buffer", "\"W\"", "parameter"});
  check_error<nn::ModuleError>(
      [&] { r.module("W", std::make_shared<nn::ActivationLayer<double>>(nn::Activation::relu)); },
      {"register_module", "\"W\""});
  r.buffer("stats");
  check_error<nn::ModuleError>([&] { r.parameter("stats"); }, {"\"stats\"", "buffer"});
  r.module("child", std::make_shared<nn::ActivationLayer<double>>(nn::Activation::relu));
  check_error<nn::ModuleError>([&] { r.parameter("child"); }, {"\"child\"", "submodule"});
  check_error<nn::ModuleError>([&] { r.parameter("a.b"); }, {"\"a.b\"", "'.'"});
  check_error<nn::ModuleError>([&] { r.buffer(""); }, {"register_buffer", "empty"});
  check_error<nn::ModuleError>([&] { r.module("none", nullptr); }, {"\"none\"", "null"});
  // The refused registrations left nothing behind.
  CHECK(parameter_names(r) == std::vector<std::string>{"W"});
  CHECK(buffer_names(r) == std::vector<std::string>{"stats"});
  CHECK(r.named_children().size() == 1);
}

TEST_CASE("train() and eval() reach every registered submodule") {
  std::mt19937_64 rng(3);
  Autoencoder model(rng);
  CHECK(model.is_training());  // the default, as torch's
  model.eval();
  CHECK(!model.is_training());
  CHECK(!model.encoder_->is_training());
  CHECK(!model.decoder_->is_training());
  CHECK(!model.decoder_->layers()[1]->is_training());
  model.train();
  CHECK(model.decoder_->layers()[1]->is_training());
  model.train(false);
  CHECK(!model.decoder_->layers()[0]->is_training());
  // A submodule set on its own does not change its parent.
  model.decoder_->train();
  CHECK(!model.is_training());
  CHECK(model.decoder_->layers()[1]->is_training());
}

TEST_CASE("the added activations compute torch's defaults") {
  // Values from Python's math: gelu(x) = x/2 (1 + erf(x / sqrt 2)), elu(x) = e^x - 1 for x < 0,
  // softplus(x) = log(1 + e^x), linear above 20.
  const TensorD x = TensorD::vector({-2, -1, 1, 30});
  check_values(nn::activate(nn::Activation::leaky_relu, x), {-0.02, -0.01, 1, 30});
  check_values(nn::activate(nn::Activation::gelu, x),
               {-2 * 0.5 * (1 + std::erf(-2 / std::sqrt(2.0))), -0.15865525393145707,
                0.8413447460685429, 30});
  check_values(nn::activate(nn::Activation::elu, x),
               {std::exp(-2.0) - 1, -0.6321205588285577, 1, 30});
  check_values(nn::activate(nn::Activation::softplus, x),
               {0.1269280110429726, std::log(1 + std::exp(-1.0)), 1.3132616875182228, 30});
  CHECK(std::string(nn::to_string(nn::Activation::leaky_relu)) == "leaky_relu");
  CHECK(std::string(nn::to_string(nn::Activation::gelu)) == "gelu");
  CHECK(std::string(nn::to_string(nn::Activation::elu)) == "elu");
  CHECK(std::string(nn::to_string(nn::Activation::softplus)) == "softplus");
  nn::ActivationLayer<double> layer(nn::Activation::gelu);
  CHECK(layer.describe() == "gelu");
  // leaky_relu's gradient below zero is the slope.
  TensorD v = TensorD::vector({-3, 2}, true);
  tg::sum(nn::activate(nn::Activation::leaky_relu, v)).backward();
  CHECK(v.grad().to_vector()[0] == doctest::Approx(0.01));
}

TEST_CASE("Dropout zeroes with probability p and scales the rest by 1/(1-p) in training") {
  nn::Dropout<double> dropout(0.3, 11);
  const std::size_t n = 20000;
  std::mt19937_64 rng(4);
  TensorD x = TensorD::uniform({n / 100, 100}, 1, 2, rng, true);
  TensorD y = dropout(x);
  const auto xs = x.to_vector(), ys = y.to_vector();
  std::size_t zeros = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (ys[i] == 0) {
      ++zeros;
    } else {
      CHECK(ys[i] == doctest::Approx(xs[i] / 0.7).epsilon(1e-15));
    }
  }
  // Binomial(20000, 0.3): standard deviation of the fraction sqrt(0.3 * 0.7 / 20000) = 0.0032.
  CHECK(double(zeros) / double(n) == doctest::Approx(0.3).epsilon(0.05));
  // The gradient is the mask: 1/(1-p) where kept, 0 where dropped.
  tg::sum(y).backward();
  const auto g = x.grad().to_vector();
  for (std::size_t i = 0; i < n; ++i) CHECK(g[i] == (ys[i] == 0 ? 0.0 : 1 / 0.7));
  // A new mask on each call; the same seed gives the same masks.
  CHECK(dropout(x).to_vector() != ys);
  nn::Dropout<double> again(0.3, 11);
  CHECK(again(x).to_vector() == ys);
  CHECK(dropout.describe() == "Dropout(p=0.3)");
}

TEST_CASE("Dropout: evaluation is the identity, p = 1 gives zeros, p outside [0, 1] is refused") {
  TensorD x = TensorD::matrix({{1, -2}, {3, 4}}, true);
  nn::Dropout<double> dropout(0.5, 1);
  dropout.eval();
  const TensorD y = dropout(x);
  CHECK(y.impl() == x.impl());  // records nothing: no op between input and output
  nn::Dropout<double> all(1.0, 1);
  TensorD z = all(x);
  CHECK(z.to_vector() == std::vector<double>{0, 0, 0, 0});
  tg::sum(z).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0, 0});
  nn::Dropout<double> none(0.0, 1);
  CHECK(none(x).to_vector() == x.to_vector());
  check_error<tg::DomainError>([] { nn::Dropout<double>(-0.1); }, {"Dropout", "-0.1"});
  check_error<tg::DomainError>([] { nn::Dropout<double>(1.5); }, {"Dropout", "1.5"});
  check_error<tg::DomainError>(
      [] { nn::Dropout<double>(std::numeric_limits<double>::quiet_NaN()); }, {"Dropout", "nan"});
}

TEST_CASE("LayerNorm normalizes the last axis by the biased variance, then scales and shifts") {
  nn::LayerNorm<double> norm(4);
  CHECK(parameter_names(norm) == std::vector<std::string>{"weight", "bias"});
  CHECK(norm.named_parameters()[0].tensor.to_vector() == std::vector<double>{1, 1, 1, 1});
  CHECK(norm.named_parameters()[1].tensor.to_vector() == std::vector<double>{0, 0, 0, 0});
  // Row [1,2,3,4]: mean 2.5, biased variance 1.25, y = (x - 2.5) / sqrt(1.25 + 1e-5) (Python).
  const TensorD x = TensorD::matrix({{1, 2, 3, 4}, {2, 4, 6, 8}});
  const TensorD y = norm(x);
  check_values(tg::slice(y, 0, 0, 1),
               {-1.3416354199689269, -0.447211806656309, 0.447211806656309, 1.3416354199689269});
  // With weight [1,2,3,4] and bias [0.5,0,-0.5,1], row [2,4,6,8] (mean 5, variance 5) (Python).
  TensorD weight = norm.named_parameters()[0].tensor, bias = norm.named_parameters()[1].tensor;
  std::copy_n(std::vector<double>{1, 2, 3, 4}.begin(), 4, weight.data());
  std::copy_n(std::vector<double>{0.5, 0, -0.5, 1}.begin(), 4, bias.data());
  check_values(tg::slice(norm(x), 0, 1, 2),
               {-0.8416394448610998, -0.8944262965740666, 0.8416394448610998, 6.366557779444399});
  // Any leading shape; the same in evaluation.
  norm.eval();
  CHECK(norm(TensorD::zeros({2, 3, 4})).shape() == tg::Shape{2, 3, 4});
  check_error<tg::ShapeError>([&] { norm(TensorD::zeros({2, 3})); }, {"LayerNorm(4)", "[2,3]"});
  check_error<tg::ShapeError>([&] { norm(TensorD::scalar(1)); }, {"LayerNorm(4)", "[]"});
  nn::LayerNorm<double> plain(3, 1e-5, false);
  CHECK(plain.named_parameters().empty());
  CHECK(plain.describe() == "LayerNorm(3, eps=1e-05, elementwise_affine=false)");
}

TEST_CASE("LayerNorm's gradients pass the gradient check in double") {
  std::mt19937_64 rng(5);
  nn::LayerNorm<double> norm(5);
  TensorD weight = norm.named_parameters()[0].tensor, bias = norm.named_parameters()[1].tensor;
  const auto w = TensorD::uniform({5}, 0.5, 1.5, rng).to_vector();
  const auto b = TensorD::uniform({5}, -1, 1, rng).to_vector();
  std::copy(w.begin(), w.end(), weight.data());
  std::copy(b.begin(), b.end(), bias.data());
  TensorD x = TensorD::uniform({3, 5}, -2, 2, rng, true);
  const auto wrt_x = tg::gradcheck([&](const auto& in) { return norm(in[0]); }, {x});
  CHECK_MESSAGE(wrt_x.passed, wrt_x);
  const TensorD target = TensorD::uniform({3, 5}, -1, 1, rng);
  const auto wrt_params =
      nn::gradcheck_model<double>(norm, [&] { return tg::mse(norm(x), target); });
  CHECK_MESSAGE(wrt_params.passed, wrt_params);
}

TEST_CASE(
    "BatchNorm1d in training: batch statistics, running statistics from the unbiased "
    "variance") {
  nn::BatchNorm1d<double> bn(2);
  CHECK(parameter_names(bn) == std::vector<std::string>{"weight", "bias"});
  CHECK(buffer_names(bn) ==
        std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"});
  const auto buffers = bn.named_buffers();
  // Column 0 [1,2,3,4]: mean 2.5, biased variance 1.25, unbiased 5/3. Column 1 [0,0,2,6]: mean 2,
  // biased 6, unbiased 8. Outputs (x - mean) / sqrt(biased + 1e-5) (Python's math).
  const TensorD x = TensorD::matrix({{1, 0}, {2, 0}, {3, 2}, {4, 6}});
  check_values(bn(x),
               {-1.3416354199689269, -0.8164959005147592, -0.447211806656309, -0.8164959005147592,
                0.447211806656309, 0.0, 1.3416354199689269, 1.6329918010295184});
  // running = 0.9 running + 0.1 batch: mean 0.1 * [2.5, 2], var 0.9 + 0.1 * [5/3, 8].
  check_values(buffers[0].tensor, {0.25, 0.2});
  check_values(buffers[1].tensor, {0.9 + 0.1 * 5.0 / 3.0, 0.9 + 0.8});
  CHECK(buffers[2].tensor.item() == 1);
  bn(x);
  check_values(buffers[0].tensor, {0.9 * 0.25 + 0.25, 0.9 * 0.2 + 0.2});
  check_values(buffers[1].tensor, {1.1266666666666667, 2.33});
  CHECK(buffers[2].tensor.item() == 2);

  // Evaluation uses the running statistics and leaves them alone; one row is fine there.
  bn.eval();
  const TensorD row = TensorD::matrix({{2, 4}});
  check_values(bn(row), {(2 - 0.475) / std::sqrt(1.1266666666666667 + 1e-5),
                         (4 - 0.38) / std::sqrt(2.33 + 1e-5)});
  check_values(buffers[0].tensor, {0.475, 0.38});
  CHECK(buffers[2].tensor.item() == 2);

  // torch refuses one value per channel in training.
  bn.train();
  check_error<tg::ShapeError>([&] { bn(row); },
                              {"BatchNorm1d(2)", "more than 1 value per channel", "[1,2]"});
  check_error<tg::ShapeError>([&] { bn(TensorD::zeros({4, 3})); }, {"BatchNorm1d(2)", "[4,3]"});
  check_error<tg::ShapeError>([&] { bn(TensorD::zeros({4})); }, {"BatchNorm1d(2)", "[4]"});
  check_values(buffers[0].tensor, {0.475, 0.38});  // the refused inputs changed nothing
}

TEST_CASE("BatchNorm1d without running statistics or affine parameters") {
  nn::BatchNorm1d<double> bn(2, 1e-5, 0.1, false, false);
  CHECK(bn.named_parameters().empty());
  CHECK(bn.named_buffers().empty());
  CHECK(bn.describe() ==
        "BatchNorm1d(2, eps=1e-05, momentum=0.1, affine=false, "
        "track_running_stats=false)");
  // Without running statistics, evaluation normalizes by the batch's, as torch does.
  bn.eval();
  const TensorD x = TensorD::matrix({{1, 0}, {2, 0}, {3, 2}, {4, 6}});
  check_values(tg::slice(bn(x), 0, 0, 1), {-1.3416354199689269, -0.8164959005147592});
  // A different eps and momentum: momentum 0.5 halves the way to the batch mean.
  nn::BatchNorm1d<double> fast(2, 1e-3, 0.5);
  fast(x);
  check_values(fast.named_buffers()[0].tensor, {1.25, 1.0});
  check_values(fast.named_buffers()[1].tensor, {0.5 + 0.5 * 5.0 / 3.0, 0.5 + 4.0});
}

TEST_CASE("BatchNorm1d's gradients pass the gradient check in double, training and evaluation") {
  std::mt19937_64 rng(6);
  nn::BatchNorm1d<double> bn(3);
  TensorD weight = bn.named_parameters()[0].tensor, bias = bn.named_parameters()[1].tensor;
  const auto w = TensorD::uniform({3}, 0.5, 1.5, rng).to_vector();
  const auto b = TensorD::uniform({3}, -1, 1, rng).to_vector();
  std::copy(w.begin(), w.end(), weight.data());
  std::copy(b.begin(), b.end(), bias.data());
  TensorD x = TensorD::uniform({6, 3}, -2, 2, rng, true);
  const TensorD target = TensorD::uniform({6, 3}, -1, 1, rng);
  for (const bool training : {true, false}) {
    INFO("training " << training);
    bn.train(training);
    const auto wrt_x = tg::gradcheck([&](const auto& in) { return bn(in[0]); }, {x});
    CHECK_MESSAGE(wrt_x.passed, wrt_x);
    const auto wrt_params = nn::gradcheck_model<double>(bn, [&] { return tg::mse(bn(x), target); });
    CHECK_MESSAGE(wrt_params.passed, wrt_params);
  }
}

TEST_CASE("float LayerNorm and BatchNorm1d agree with double to float rounding") {
  const std::vector<double> values{1, 0, 2, 0, 3, 2, 4, 6};
  const TensorD xd = TensorD::from_vector({4, 2}, values);
  const TensorF xf = TensorF::from_vector({4, 2}, std::vector<float>(values.begin(), values.end()));
  nn::BatchNorm1d<double> bd(2);
  nn::BatchNorm1d<float> bf(2);
  nn::LayerNorm<double> ld(2);
  nn::LayerNorm<float> lf(2);
  const auto yd = bd(xd).to_vector(), zd = ld(xd).to_vector();
  const auto yf = bf(xf).to_vector(), zf = lf(xf).to_vector();
  for (std::size_t i = 0; i < values.size(); ++i) {
    CHECK(double(yf[i]) == doctest::Approx(yd[i]).epsilon(1e-5));
    CHECK(double(zf[i]) == doctest::Approx(zd[i]).epsilon(1e-5));
  }
}

namespace {
// Keeps what it computed, so that a test can look at what summary() ran.
class Recorder final : public nn::Module<double> {
 public:
  explicit Recorder(std::mt19937_64& rng)
      : linear_(register_module(
            "linear", std::make_shared<nn::Linear<double>>(3, 2, nn::Init::he_normal(), rng))) {}
  TensorD forward(const TensorD& x) override { return last = (*linear_)(x); }
  std::string describe() const override { return "Recorder"; }
  TensorD last;

 private:
  std::shared_ptr<nn::Linear<double>> linear_;
};
}  // namespace

TEST_CASE("summary lists each layer's output shape and parameters, and the totals") {
  std::mt19937_64 rng(7);
  nn::Sequential<double> net;
  net.emplace<nn::Linear<double>>(3, 4, nn::Init::he_normal(), rng)
      .emplace<nn::BatchNorm1d<double>>(4)
      .emplace<nn::ActivationLayer<double>>(nn::Activation::relu)
      .emplace<nn::Dropout<double>>(0.5, 1)
      .emplace<nn::Linear<double>>(4, 2, nn::Init::he_normal(), rng);
  net.named_parameters()[0].tensor.set_requires_grad(false);  // a frozen W: 12 not trainable
  const auto running_before = net.named_buffers()[0].tensor.to_vector();
  net.layers()[3]->eval();  // mixed modes, to be restored as they were
  // One row: BatchNorm1d would refuse it in training, so summary must run in evaluation.
  const std::string table = nn::summary(net, tg::Shape{1, 3});
  // Hand-counted: Linear 3*4 + 4 = 16, BatchNorm1d 4 + 4 = 8, Linear 4*2 + 2 = 10; total 34.
  CHECK(table.find("0 Linear(3 -> 4)") != std::string::npos);
  CHECK(table.find("[1,4]") != std::string::npos);
  CHECK(table.find("4 Linear(4 -> 2)") != std::string::npos);
  CHECK(table.find("[1,2]") != std::string::npos);
  CHECK(table.find("Total parameters: 34\n") != std::string::npos);
  CHECK(table.find("Trainable parameters: 22\n") != std::string::npos);
  CHECK(net.is_training());
  CHECK(net.layers()[1]->is_training());
  CHECK(!net.layers()[3]->is_training());
  CHECK(net.named_buffers()[0].tensor.to_vector() == running_before);
  CHECK(net.named_buffers()[2].tensor.item() == 0);
}

TEST_CASE("summary's table, laid out by hand for a small network") {
  std::mt19937_64 rng(9);
  auto net = nn::mlp<double>({3, 4, 2}, nn::Activation::relu, nn::Activation::identity,
                             nn::Init::he_normal(), rng);
  // Columns two spaces wider than their longest entry ("0 Linear(3 -> 4)", "Output shape").
  CHECK(nn::summary(net, tg::Shape{5, 3}) ==
        "Layer             Output shape  Parameters\n"
        "------------------------------------------\n"
        "input             [5,3]\n"
        "0 Linear(3 -> 4)  [5,4]         16\n"
        "1 relu            [5,4]         0\n"
        "2 Linear(4 -> 2)  [5,2]         10\n"
        "------------------------------------------\n"
        "Total parameters: 26\n"
        "Trainable parameters: 26\n");
}

TEST_CASE("summary records nothing on the graph") {
  std::mt19937_64 rng(8);
  Recorder model(rng);
  const std::string table = nn::summary(model, tg::Shape{5, 3});
  CHECK(table.find("Recorder") != std::string::npos);
  CHECK(table.find("[5,2]") != std::string::npos);
  CHECK(table.find("Total parameters: 8\n") != std::string::npos);
  REQUIRE(model.last.defined());
  CHECK(!model.last.requires_grad());
  CHECK(model.last.is_leaf());
  // Outside summary, the same forward records.
  model(TensorD::zeros({5, 3}));
  CHECK(model.last.requires_grad());
}
