// Seeing the graph: tape_dump (one line per op) and to_dot (Graphviz).
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "tapegrad/grad.hpp"
#include "tapegrad/graphviz.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/ops.hpp"

using tg::TensorD;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("tape_dump of the XOR tutorial's network: one line per op, in tape order") {
  const TensorD X = TensorD::matrix({{0, 0}, {0, 1}, {1, 0}, {1, 1}});
  const TensorD y = TensorD::matrix({{0}, {1}, {1}, {0}});
  std::mt19937_64 rng(0);
  auto net = tg::nn::mlp<double>({2, 2, 2, 1}, tg::nn::Activation::sigmoid,
                                 tg::nn::Activation::sigmoid, tg::nn::Init::uniform(1.0), rng);
  const auto params = net.named_parameters();
  REQUIRE(params.size() == 6);
  const tg::TensorNames<double> names = {{"W1", params[0].tensor}, {"b1", params[1].tensor},
                                         {"W2", params[2].tensor}, {"b2", params[3].tensor},
                                         {"W3", params[4].tensor}, {"b3", params[5].tensor}};
  const TensorD loss = tg::mse(net(X), y);

  const std::string expected =
      // Each layer's Linear and sigmoid run as one op.
      "#0 linear_act(const[4,2], W1[2,2], b1[2]) -> [4,2]\n"
      "#1 linear_act(#0, W2[2,2], b2[2]) -> [4,2]\n"
      "#2 linear_act(#1, W3[2,1], b3[1]) -> [4,1]\n"
      "#3 mse(#2, const[4,1]) -> []\n";
  CHECK(tg::tape_dump(loss, names) == expected);

  // Unnamed leaves are numbered in order of first use.
  const std::string unnamed = tg::tape_dump(loss);
  CHECK(unnamed.find("#0 linear_act(const[4,2], leaf0[2,2], leaf1[2]) -> [4,2]\n") == 0);
  CHECK(unnamed.find("#2 linear_act(#1, leaf4[2,1], leaf5[1]) -> [4,1]\n") != std::string::npos);

  // After a backward pass (not retained) every node says it was released.
  loss.backward();
  CHECK(count(tg::tape_dump(loss, names), "  (released)\n") == 4);
}

TEST_CASE("to_dot: ops with shapes, edges from inputs, leaves distinct from constants") {
  const TensorD X = TensorD::matrix({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {1, 0, 1}});
  TensorD W = TensorD::zeros({3, 2}, true);
  TensorD b = TensorD::zeros({2}, true);
  const TensorD h = tg::sigmoid(tg::add_bias(tg::matmul(X, W), b));
  const TensorD loss = tg::sum(h);
  const std::string dot = tg::to_dot(loss, {.names = {{"W", W}, {"hidden", h}}});

  CHECK(dot.rfind("digraph tapegrad {\n", 0) == 0);
  CHECK(dot.substr(dot.size() - 2) == "}\n");
  // Nodes: leaves (green ellipses; a named one and an unnamed one), a constant (dashed), ops.
  CHECK(dot.find("leaf0 [label=\"W\\n[3,2]\", shape=ellipse") != std::string::npos);
  CHECK(dot.find("leaf1 [label=\"leaf1\\n[2]\", shape=ellipse") != std::string::npos);
  CHECK(dot.find("const0 [label=\"const\\n[4,3]\", shape=box, style=dashed") != std::string::npos);
  CHECK(dot.find("op0 [label=\"#0 matmul\\n[4,2]\", shape=box") != std::string::npos);
  CHECK(dot.find("op1 [label=\"#1 add_bias\\n[4,2]\"") != std::string::npos);
  CHECK(dot.find("op2 [label=\"#2 sigmoid\\nhidden\\n[4,2]\"") != std::string::npos);
  CHECK(dot.find("op3 [label=\"#3 sum\\n[]\"") != std::string::npos);
  CHECK(count(dot, "peripheries=2") == 1);  // the output
  CHECK(dot.find("op3 [label=\"#3 sum\\n[]\", shape=box, style=\"rounded,filled\", "
                 "fillcolor=\"#fdd0a2\", peripheries=2") != std::string::npos);
  // Edges, input -> op, with the input's position for ops of several inputs.
  CHECK(dot.find("const0 -> op0 [label=\"0\"];") != std::string::npos);
  CHECK(dot.find("leaf0 -> op0 [label=\"1\"];") != std::string::npos);
  CHECK(dot.find("op0 -> op1 [label=\"0\"];") != std::string::npos);
  CHECK(dot.find("leaf1 -> op1 [label=\"1\"];") != std::string::npos);
  CHECK(dot.find("op1 -> op2;") != std::string::npos);
  CHECK(dot.find("op2 -> op3;") != std::string::npos);
  CHECK(count(dot, " -> ") == 6);
  CHECK(dot.find("value") == std::string::npos);
}

TEST_CASE("to_dot: optional values and gradients, a title, escaped names") {
  TensorD a = TensorD::vector({1.5, -2.0}, true);
  TensorD c = TensorD::vector({0.5, 0.25, 1, 2, 3, 4, 5, 6}, true);
  const TensorD loss = tg::sum(a * a) + tg::sum(c);
  loss.backward({.retain_graph = true});
  const std::string dot = tg::to_dot(loss, {.names = {{"a \"quoted\"", a}},
                                            .values = true,
                                            .gradients = true,
                                            .max_elements = 3,
                                            .title = "a title"});
  CHECK(dot.find("label=\"a title\", labelloc=t") != std::string::npos);
  CHECK(dot.find("label=\"a \\\"quoted\\\"\\n[2]\\nvalue [1.5, -2]\\ngrad [3, -4]\"") !=
        std::string::npos);
  CHECK(dot.find("value [0.5, 0.25, 1, ...]\\ngrad [1, 1, 1, ...]") != std::string::npos);
  CHECK(dot.find("\\nvalue [28]") != std::string::npos);  // the output's value
  const std::string lr = tg::to_dot(loss, {.rankdir = "LR"});
  CHECK(lr.find("rankdir=LR") != std::string::npos);
}

TEST_CASE("a shared subexpression is one node, and a lone leaf or a constant has no ops") {
  TensorD x = TensorD::vector({0.1, 0.2, 0.3}, true);
  const TensorD e = tg::exp(x);
  const TensorD y = tg::sum(e * e + e);
  const std::string dump = tg::tape_dump(y, {{"x", x}, {"e", e}});
  CHECK(dump ==
        "#0 exp(x[3]) -> [3]  e\n"
        "#1 mul(#0, #0) -> [3]\n"
        "#2 add(#1, #0) -> [3]\n"
        "#3 sum(#2) -> []\n");
  CHECK(count(tg::to_dot(y), "[label=\"#0 exp") == 1);

  CHECK(tg::tape_dump(x).empty());
  const std::string lone = tg::to_dot(x, {.names = {{"x", x}}});
  CHECK(lone.find("leaf0 [label=\"x\\n[3]\"") != std::string::npos);
  CHECK(count(lone, " -> ") == 0);
  CHECK(tg::tape_dump(TensorD::ones({2})).empty());
  CHECK(count(tg::to_dot(TensorD::ones({2})), "label=") == 0);
}

TEST_CASE("the recorded backward pass (create_graph) can be dumped and drawn too") {
  TensorD x = TensorD::vector({0.3, -0.4}, true);
  const TensorD y = tg::sum(tg::sigmoid(x));
  const TensorD g = tg::grad(y, {x}, {.create_graph = true})[0];
  const std::string dump = tg::tape_dump(g, {{"x", x}});
  // dy/dx = sigmoid_backward(broadcast of the seed, s), s re-attached to sigmoid's node.
  CHECK(dump ==
        "#0 sigmoid(x[2]) -> [2]\n"
        "#1 sigmoid_backward(const[2], #0) -> [2]\n");
  CHECK(tg::to_dot(g).find("sigmoid_backward") != std::string::npos);
}

TEST_CASE("tape_dump and to_dot walk deep graphs without recursion") {
  TensorD x = TensorD::scalar(0.5, true);
  TensorD h = x;
  const std::size_t depth = 20000;
  for (std::size_t i = 0; i < depth; ++i) h = tg::neg(h);
  const std::string dump = tg::tape_dump(h);
  CHECK(count(dump, "\n") == depth);
  CHECK(dump.find("#19999 neg(#19998) -> []\n") != std::string::npos);
  CHECK(count(tg::to_dot(h), " -> ") == depth);
}
