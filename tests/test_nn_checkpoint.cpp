// Saving and loading a model's parameters and buffers.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "check_error.hpp"
#include "tapegrad/nn/checkpoint.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/nn/parameters.hpp"

namespace nn = tg::nn;

namespace {
std::string scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "tapegrad_checkpoint_test";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}
}  // namespace

TEST_CASE("a saved model loads back into a fresh one with the same values") {
  std::mt19937_64 rng(1);
  auto a = nn::mlp<double>({3, 4, 2}, nn::Activation::tanh, nn::Activation::identity,
                           nn::Init::xavier_normal(), rng);
  auto b = nn::mlp<double>({3, 4, 2}, nn::Activation::tanh, nn::Activation::identity,
                           nn::Init::xavier_normal(), rng);
  CHECK(nn::flatten(a.parameters()) != nn::flatten(b.parameters()));
  const std::string path = scratch("model.npz");
  nn::save_parameters(a, path);
  nn::load_parameters(b, path);
  CHECK(nn::flatten(a.parameters()) == nn::flatten(b.parameters()));
  std::filesystem::remove(path);
}

TEST_CASE("loading into a model of another shape is a clear error and changes nothing") {
  std::mt19937_64 rng(2);
  auto small = nn::mlp<double>({3, 4, 2}, nn::Activation::tanh, nn::Activation::identity,
                               nn::Init::xavier_normal(), rng);
  auto wide = nn::mlp<double>({3, 5, 2}, nn::Activation::tanh, nn::Activation::identity,
                              nn::Init::xavier_normal(), rng);
  auto deep = nn::mlp<double>({3, 4, 4, 2}, nn::Activation::tanh, nn::Activation::identity,
                              nn::Init::xavier_normal(), rng);
  const std::string path = scratch("small.npz");
  nn::save_parameters(small, path);
  const auto before = nn::flatten(wide.parameters());
  try {
    nn::load_parameters(wide, path);
    FAIL("expected a SerializeError");
  } catch (const nn::SerializeError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("0.W") != std::string::npos);
    CHECK(msg.find("[3,4]") != std::string::npos);
    CHECK(msg.find("[3,5]") != std::string::npos);
  }
  CHECK(nn::flatten(wide.parameters()) == before);
  CHECK_THROWS_AS(nn::load_parameters(deep, path), nn::SerializeError);
  CHECK_THROWS_AS(nn::load_parameters(small, scratch("missing.npz")), nn::SerializeError);
  std::filesystem::remove(path);
}

namespace {
nn::Sequential<double> normalized_net(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  nn::Sequential<double> net;
  net.emplace<nn::Linear<double>>(3, 4, nn::Init::xavier_normal(), rng)
      .emplace<nn::BatchNorm1d<double>>(4)
      .emplace<nn::ActivationLayer<double>>(nn::Activation::relu)
      .emplace<nn::Linear<double>>(4, 2, nn::Init::xavier_normal(), rng);
  return net;
}

std::vector<double> buffer_values(const nn::Module<double>& m) {
  std::vector<double> out;
  for (const auto& b : m.named_buffers())
    for (double v : b.tensor.to_vector()) out.push_back(v);
  return out;
}
}  // namespace

TEST_CASE("buffers are saved and loaded with the parameters, under torch's state_dict names") {
  auto a = normalized_net(3);
  std::mt19937_64 rng(4);
  const tg::TensorD x = tg::TensorD::uniform({8, 3}, -1, 1, rng);
  a(x);
  a(x);  // running statistics away from their initial zeros and ones, two batches counted
  const std::string path = scratch("normalized.npz");
  nn::save_parameters(a, path);

  std::vector<std::string> names;
  for (const auto& [name, tensor] : nn::load_npz<double>(path)) names.push_back(name);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"0.W", "0.b", "1.bias", "1.num_batches_tracked",
                                          "1.running_mean", "1.running_var", "1.weight", "3.W",
                                          "3.b"});

  auto b = normalized_net(5);
  CHECK(buffer_values(b) != buffer_values(a));
  nn::load_parameters(b, path);
  CHECK(nn::flatten(b.parameters()) == nn::flatten(a.parameters()));
  CHECK(buffer_values(b) == buffer_values(a));
  CHECK(b.named_buffers()[2].tensor.item() == 2);
  a.eval();
  b.eval();
  CHECK(b(x).to_vector() == a(x).to_vector());
  std::filesystem::remove(path);
}

TEST_CASE("a file without a model's buffer, or with one of another shape, loads nothing") {
  auto model = normalized_net(6);
  std::mt19937_64 rng(7);
  model(tg::TensorD::uniform({4, 3}, -1, 1, rng));
  const auto params_before = nn::flatten(model.parameters());
  const auto buffers_before = buffer_values(model);

  // Every parameter, from another model of the same layout, but no running_var.
  std::vector<std::pair<std::string, tg::TensorD>> arrays;
  auto other = normalized_net(8);
  for (const auto& p : other.named_parameters()) arrays.emplace_back(p.name, p.tensor);
  for (const auto& b : other.named_buffers())
    if (b.name != "1.running_var") arrays.emplace_back(b.name, b.tensor);
  const std::string path = scratch("no_running_var.npz");
  nn::save_npz(path, arrays);
  check_error<nn::SerializeError>([&] { nn::load_parameters(model, path); },
                                  {"load_parameters", "buffer", "1.running_var"});
  CHECK(nn::flatten(model.parameters()) == params_before);
  CHECK(buffer_values(model) == buffers_before);

  arrays.emplace_back("1.running_var", tg::TensorD::ones({5}));
  nn::save_npz(path, arrays);
  check_error<nn::SerializeError>([&] { nn::load_parameters(model, path); },
                                  {"buffer 1.running_var", "[5]", "[4]"});
  CHECK(nn::flatten(model.parameters()) == params_before);
  CHECK(buffer_values(model) == buffers_before);
  std::filesystem::remove(path);
}
