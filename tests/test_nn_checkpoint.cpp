// Saving and loading a model's parameters.
#include <doctest/doctest.h>

#include <filesystem>

#include "tapegrad/nn/checkpoint.hpp"
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
