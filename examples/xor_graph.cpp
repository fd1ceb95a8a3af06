// The graph of the XOR tutorial's network, seen two ways: the tape as text (one line per op) and
// the graph as Graphviz DOT, rendered to PNG and SVG when Debian's graphviz (`dot`) is installed.
//
//   build/examples/xor_graph [output-dir]     # writes xor_graph.dot (+ .png/.svg) there
//   build/examples/xor_graph docs             # from the repository root: docs/xor_graph.png
//
// The network is the XOR tutorial's (docs/tutorials.md): [2,2,2,1], sigmoid everywhere, MSE on
// the 4 XOR points, built with tg::nn::mlp exactly as examples/xor.cpp builds it.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tapegrad/graphviz.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return bool(out);
}

}  // namespace

int main(int argc, char** argv) {
  namespace nn = tg::nn;
  using tg::TensorD;
  const std::string dir = argc > 1 ? std::string(argv[1]) + "/" : "";

  const TensorD X = TensorD::matrix({{0, 0}, {0, 1}, {1, 0}, {1, 1}});
  const TensorD y = TensorD::matrix({{0}, {1}, {1}, {0}});
  std::mt19937_64 rng(0);
  auto net = nn::mlp<double>({2, 2, 2, 1}, nn::Activation::sigmoid, nn::Activation::sigmoid,
                             nn::Init::uniform(1.0), rng);

  // Names for the picture: the k-th Linear layer's W and b become Wk and bk.
  tg::TensorNames<double> names;
  int layer = 0;
  for (const auto& p : net.named_parameters()) {
    if (!p.is_bias) ++layer;
    std::string name(p.is_bias ? "b" : "W");
    name += std::to_string(layer);
    names.push_back({name, p.tensor});
  }

  const TensorD out = net(X);
  const TensorD loss = tg::mse(out, y);
  names.push_back({"yhat", out});
  names.push_back({"loss", loss});
  loss.backward({.retain_graph = true});  // gradients for the picture; the graph stays whole

  std::printf("the tape of loss = mse(net(X), y), %s:\n", net.describe().c_str());
  const std::string dump = tg::tape_dump(loss, names);
  std::printf("%s\n", dump.c_str());

  const std::string dot_path = dir + "xor_graph.dot";
  const std::string dot = tg::to_dot(
      loss, {.names = names,
             .title = "the XOR tutorial's network: loss = mse(sigmoid MLP [2,2,2,1] (X), y)\n"
                      "green: leaves that require a gradient; dashed: constants (X[4,2], y[4,1])"});
  const std::string values_path = dir + "xor_graph_values.dot";
  const std::string with_values =
      tg::to_dot(loss, {.names = names, .values = true, .gradients = true, .max_elements = 4});
  if (!write_file(dot_path, dot) || !write_file(values_path, with_values)) {
    std::printf("cannot write %s\n", dot_path.c_str());
    return 1;
  }
  std::printf("wrote %s (shapes) and %s (with values and gradients)\n", dot_path.c_str(),
              values_path.c_str());

  if (std::system("command -v dot > /dev/null 2>&1") == 0) {
    for (const char* format : {"png", "svg"}) {
      const std::string target = dir + "xor_graph." + format;
      const std::string command =
          std::string("dot -T") + format + " -Gdpi=96 '" + dot_path + "' -o '" + target + "'";
      if (std::system(command.c_str()) != 0) {
        std::printf("dot failed: %s\n", command.c_str());
        return 1;
      }
      std::printf("rendered %s\n", target.c_str());
    }
  } else {
    std::printf(
        "graphviz is not installed (apt-get install graphviz); render with\n"
        "  dot -Tpng %s -o xor_graph.png\n",
        dot_path.c_str());
  }

  // 4 ops: the three layers as linear_act each (linear and sigmoid as one op), and the mse.
  std::size_t lines = 0;
  for (const char c : dump) lines += c == '\n';
  return lines == 4 ? 0 : 1;
}
