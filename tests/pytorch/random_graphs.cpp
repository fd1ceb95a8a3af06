// Runs the random graphs that random_graphs.py writes (float64) and prints, for each, every node's
// value, the gradient of L = sum over nodes of sum(node * W) with respect to every leaf that
// requires one, and the gradient of R = sum of those gradients squared (double backward).
// random_graphs.py computes the same with PyTorch and compares.
//
// Input, one graph after another:
//   graph K
//   leaf ID REQUIRES_GRAD RANK DIMS... VALUES...
//   op ID NAME N_INPUTS INPUT_IDS... N_ATTRS ATTRS...
//   weights VALUES... (W for every node, in order)
//   end
#include <array>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <tapegrad/grad.hpp>
#include <tapegrad/tapegrad.hpp>
#include <vector>

using tg::Reduction;
using tg::Shape;
using tg::TensorD;
using Inputs = std::vector<TensorD>;
using Attrs = std::vector<double>;
using OpFn = std::function<TensorD(const Inputs&, const Attrs&)>;

namespace {

int as_int(double v) {
  return static_cast<int>(v);
}
Reduction reduction(double v) {
  return std::array{Reduction::mean, Reduction::sum, Reduction::none}[as_int(v)];
}
std::vector<std::int64_t> tail(const Attrs& at, std::size_t from) {
  std::vector<std::int64_t> out;
  for (std::size_t i = from; i < at.size(); ++i) out.push_back(static_cast<std::int64_t>(at[i]));
  return out;
}

// A reduction's attributes: [0, _, _] over all elements, [1, axis, keepdim] along one axis.
OpFn reduction_op(TensorD (*all)(const TensorD&), TensorD (*axis)(const TensorD&, int, bool)) {
  return [all, axis](const Inputs& x, const Attrs& at) {
    return at[0] == 0 ? all(x[0]) : axis(x[0], as_int(at[1]), at[2] != 0);
  };
}

template <TensorD (*f)(const TensorD&)> OpFn unary() {
  return [](const Inputs& x, const Attrs&) { return f(x[0]); };
}

const std::map<std::string, OpFn>& ops() {
  static const std::map<std::string, OpFn> table = {
      {"neg", unary<tg::neg<double>>()},
      {"exp", unary<tg::exp<double>>()},
      {"log", unary<tg::log<double>>()},
      {"sigmoid", unary<tg::sigmoid<double>>()},
      {"tanh", unary<tg::tanh<double>>()},
      {"relu", unary<tg::relu<double>>()},
      {"abs", unary<tg::abs<double>>()},
      {"sqrt", unary<tg::sqrt<double>>()},
      {"square", unary<tg::square<double>>()},
      {"sin", unary<tg::sin<double>>()},
      {"cos", unary<tg::cos<double>>()},
      {"log1p", unary<tg::log1p<double>>()},
      {"expm1", unary<tg::expm1<double>>()},
      {"sign", unary<tg::sign<double>>()},
      {"flatten", unary<tg::flatten<double>>()},
      {"transpose", [](const Inputs& x, const Attrs&) { return tg::transpose(x[0]); }},
      {"softmax", unary<tg::softmax<double>>()},
      {"log_softmax", unary<tg::log_softmax<double>>()},
      {"gelu", [](const Inputs& x, const Attrs&) { return tg::gelu(x[0]); }},
      {"gelu_tanh",
       [](const Inputs& x, const Attrs&) {
         return tg::gelu(x[0], tg::GeluApproximation::tanh);
       }},
      {"softplus",
       [](const Inputs& x, const Attrs& at) { return tg::softplus(x[0], at[0], at[1]); }},
      {"leaky_relu", [](const Inputs& x, const Attrs& at) { return tg::leaky_relu(x[0], at[0]); }},
      {"elu", [](const Inputs& x, const Attrs& at) { return tg::elu(x[0], at[0]); }},
      {"clamp", [](const Inputs& x, const Attrs& at) { return tg::clamp(x[0], at[0], at[1]); }},
      {"scale", [](const Inputs& x, const Attrs& at) { return tg::scale(x[0], at[0]); }},
      {"pow", [](const Inputs& x, const Attrs& at) { return tg::pow(x[0], at[0]); }},
      {"pow_frac", [](const Inputs& x, const Attrs& at) { return tg::pow(x[0], at[0]); }},
      {"add", [](const Inputs& x, const Attrs&) { return x[0] + x[1]; }},
      {"sub", [](const Inputs& x, const Attrs&) { return x[0] - x[1]; }},
      {"mul", [](const Inputs& x, const Attrs&) { return x[0] * x[1]; }},
      {"div", [](const Inputs& x, const Attrs&) { return x[0] / x[1]; }},
      {"maximum", [](const Inputs& x, const Attrs&) { return tg::maximum(x[0], x[1]); }},
      {"minimum", [](const Inputs& x, const Attrs&) { return tg::minimum(x[0], x[1]); }},
      {"where_gt",
       [](const Inputs& x, const Attrs&) { return tg::where(tg::gt(x[0], x[1]), x[0], x[1]); }},
      {"pow_tensor", [](const Inputs& x, const Attrs&) { return tg::pow(x[1], x[0]); }},
      {"matmul",
       [](const Inputs& x, const Attrs& at) {
         return tg::matmul(x[0], x[1], at[0] != 0, at[1] != 0);
       }},
      {"add_bias", [](const Inputs& x, const Attrs&) { return tg::add_bias(x[0], x[1]); }},
      {"linear", [](const Inputs& x, const Attrs&) { return tg::linear(x[0], x[1], x[2]); }},
      {"sum", reduction_op(tg::sum<double>, tg::sum<double, int>)},
      {"mean", reduction_op(tg::mean<double>, tg::mean<double, int>)},
      {"max", reduction_op(tg::max<double>, tg::max<double, int>)},
      {"min", reduction_op(tg::min<double>, tg::min<double, int>)},
      {"logsumexp", reduction_op(tg::logsumexp<double>, tg::logsumexp<double, int>)},
      {"var",
       [](const Inputs& x, const Attrs& at) {
         return at[0] == 0 ? tg::var(x[0]) : tg::var(x[0], as_int(at[1]), at[2] != 0);
       }},
      {"std",
       [](const Inputs& x, const Attrs& at) {
         return at[0] == 0 ? tg::std(x[0]) : tg::std(x[0], as_int(at[1]), at[2] != 0);
       }},
      {"prod", reduction_op(tg::prod<double>, tg::prod<double, int>)},
      {"norm",
       [](const Inputs& x, const Attrs& at) {
         return at[0] == 0 ? tg::norm(x[0]) : tg::norm(x[0], 2.0, as_int(at[1]), at[2] != 0);
       }},
      {"reshape",
       [](const Inputs& x, const Attrs& at) {
         std::vector<std::size_t> dims;
         for (std::size_t i = 1; i < at.size(); ++i) dims.push_back(std::size_t(at[i]));
         return tg::reshape(x[0], Shape(dims.begin(), dims.end()));
       }},
      {"unsqueeze",
       [](const Inputs& x, const Attrs& at) { return tg::unsqueeze(x[0], as_int(at[0])); }},
      {"squeeze", [](const Inputs& x, const Attrs& at) { return tg::squeeze(x[0], as_int(at[0])); }},
      {"permute",
       [](const Inputs& x, const Attrs& at) {
         std::vector<int> dims;
         for (double d : at) dims.push_back(as_int(d));
         return tg::permute(x[0], dims);
       }},
      {"slice",
       [](const Inputs& x, const Attrs& at) {
         return tg::slice(x[0], as_int(at[0]), std::int64_t(at[1]), std::int64_t(at[2]),
                          std::int64_t(at[3]));
       }},
      {"index_select",
       [](const Inputs& x, const Attrs& at) {
         return tg::index_select(x[0], as_int(at[0]), tail(at, 2));
       }},
      {"concat",
       [](const Inputs& x, const Attrs& at) { return tg::concat({x[0], x[1]}, as_int(at[0])); }},
      {"mse",
       [](const Inputs& x, const Attrs& at) { return tg::mse(x[0], x[1], reduction(at[0])); }},
      {"l1_loss",
       [](const Inputs& x, const Attrs& at) { return tg::l1_loss(x[0], x[1], reduction(at[0])); }},
      {"huber_loss",
       [](const Inputs& x, const Attrs& at) {
         return tg::huber_loss(x[0], x[1], at[1], reduction(at[0]));
       }},
      {"smooth_l1_loss",
       [](const Inputs& x, const Attrs& at) {
         return tg::smooth_l1_loss(x[0], x[1], at[1], reduction(at[0]));
       }},
      {"bce",
       [](const Inputs& x, const Attrs& at) { return tg::bce(x[0], x[1], reduction(at[0])); }},
      {"bce_with_logits",
       [](const Inputs& x, const Attrs& at) {
         return tg::bce_with_logits(x[0], x[1], reduction(at[0]));
       }},
      {"softmax_ce",
       [](const Inputs& x, const Attrs& at) {
         return tg::softmax_ce(x[0], tg::Labels(tail(at, 2)), reduction(at[0]));
       }},
      {"nll_loss",
       [](const Inputs& x, const Attrs& at) {
         return tg::nll_loss(tg::log_softmax(x[0]), tg::Labels(tail(at, 2)), reduction(at[0]));
       }},
      {"softmax_ce_targets",
       [](const Inputs& x, const Attrs& at) {
         return tg::softmax_ce(x[0], x[1], reduction(at[0]));
       }},
      {"cosine_similarity",
       [](const Inputs& x, const Attrs& at) {
         return tg::cosine_similarity(x[0], x[1], as_int(at[0]));
       }},
  };
  return table;
}

// strtod, unlike operator>>, reads Python's nan, inf and -inf.
double read_number(std::istream& in) {
  std::string token;
  in >> token;
  return std::strtod(token.c_str(), nullptr);
}

void print(const char* what, std::size_t id, const TensorD& t) {
  std::printf("%s %zu", what, id);
  for (double v : t.to_vector()) std::printf(" %.17g", v);
  std::printf("\n");
}

// Runs one graph's lines; prints its nodes and gradients, or ERROR with the engine's message.
void run_graph(const std::vector<std::string>& lines) {
  std::vector<TensorD> nodes, leaves;
  std::vector<double> weights;
  for (const std::string& line : lines) {
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "leaf") {
      std::size_t id = 0, rank = 0;
      int requires_grad = 0;
      in >> id >> requires_grad >> rank;
      std::vector<std::size_t> dims(rank);
      for (auto& d : dims) in >> d;
      const Shape shape(dims.begin(), dims.end());
      std::vector<double> values(shape.numel());
      for (auto& v : values) v = read_number(in);
      nodes.push_back(TensorD::from_vector(shape, values, requires_grad != 0));
      if (requires_grad) leaves.push_back(nodes.back());
      print("node", id, nodes.back());
    } else if (kind == "op") {
      std::size_t id = 0, n = 0;
      std::string name;
      in >> id >> name >> n;
      Inputs inputs(n);
      for (auto& t : inputs) {
        std::size_t k = 0;
        in >> k;
        t = nodes.at(k);
      }
      in >> n;
      Attrs attrs(n);
      for (auto& a : attrs) a = read_number(in);
      try {
        nodes.push_back(ops().at(name)(inputs, attrs));
      } catch (const std::exception& e) {
        std::printf("node %zu ERROR %s: %s\n", id, name.c_str(), e.what());
        return;
      }
      print("node", id, nodes.back());
    } else if (kind == "weights") {
      for (std::string token; in >> token;) weights.push_back(std::strtod(token.c_str(), nullptr));
    }
  }
  try {
    TensorD total = TensorD::scalar(0.0);
    std::size_t offset = 0;
    for (const TensorD& node : nodes) {
      const std::vector<double> w(weights.begin() + std::ptrdiff_t(offset),
                                  weights.begin() + std::ptrdiff_t(offset + node.size()));
      offset += node.size();
      total = total + tg::sum(node * TensorD::from_vector(node.shape(), w));
    }
    const auto grads = tg::grad(total, leaves, {.create_graph = true});
    TensorD penalty = TensorD::scalar(0.0);
    for (const TensorD& g : grads) penalty = penalty + tg::sum(g * g);
    const auto grads2 = tg::grad(penalty, leaves);
    for (std::size_t k = 0; k < grads.size(); ++k) {
      print("grad", k, grads[k]);
      print("grad2", k, grads2[k]);
    }
  } catch (const std::exception& e) {
    std::printf("grad 0 ERROR %s\n", e.what());
  }
}

}  // namespace

int main() {
  std::vector<std::string> lines;
  for (std::string line; std::getline(std::cin, line);) {
    if (line.rfind("graph ", 0) == 0) {
      std::printf("%s\n", line.c_str());
      lines.clear();
    } else if (line == "end") {
      run_graph(lines);
    } else {
      lines.push_back(line);
    }
  }
}
