// Runs the random graphs that random_graphs.py writes (in double, or float with --float) and
// prints, for each, every node's value, the gradient of L = sum over nodes of sum(node * W) with
// respect to every leaf that requires one, and the gradient of R = sum of those gradients squared
// (double backward). random_graphs.py computes the same with PyTorch and compares.
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
using tg::Tensor;
template <class T> using Inputs = std::vector<Tensor<T>>;
using Attrs = std::vector<double>;
template <class T> using OpFn = std::function<Tensor<T>(const Inputs<T>&, const Attrs&)>;

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
template <class T>
OpFn<T> reduction_op(Tensor<T> (*all)(const Tensor<T>&),
                     Tensor<T> (*axis)(const Tensor<T>&, int, bool)) {
  return [all, axis](const Inputs<T>& x, const Attrs& at) {
    return at[0] == 0 ? all(x[0]) : axis(x[0], as_int(at[1]), at[2] != 0);
  };
}

template <class T, Tensor<T> (*f)(const Tensor<T>&)> OpFn<T> unary() {
  return [](const Inputs<T>& x, const Attrs&) { return f(x[0]); };
}

template <class T> const std::map<std::string, OpFn<T>>& ops() {
  static const std::map<std::string, OpFn<T>> table = {
      {"neg", unary<T, tg::neg<T>>()},
      {"exp", unary<T, tg::exp<T>>()},
      {"log", unary<T, tg::log<T>>()},
      {"sigmoid", unary<T, tg::sigmoid<T>>()},
      {"tanh", unary<T, tg::tanh<T>>()},
      {"relu", unary<T, tg::relu<T>>()},
      {"abs", unary<T, tg::abs<T>>()},
      {"sqrt", unary<T, tg::sqrt<T>>()},
      {"square", unary<T, tg::square<T>>()},
      {"sin", unary<T, tg::sin<T>>()},
      {"cos", unary<T, tg::cos<T>>()},
      {"log1p", unary<T, tg::log1p<T>>()},
      {"expm1", unary<T, tg::expm1<T>>()},
      {"sign", unary<T, tg::sign<T>>()},
      {"flatten", unary<T, tg::flatten<T>>()},
      {"transpose", [](const Inputs<T>& x, const Attrs&) { return tg::transpose(x[0]); }},
      {"softmax", unary<T, tg::softmax<T>>()},
      {"log_softmax", unary<T, tg::log_softmax<T>>()},
      {"gelu", [](const Inputs<T>& x, const Attrs&) { return tg::gelu(x[0]); }},
      {"gelu_tanh",
       [](const Inputs<T>& x, const Attrs&) {
         return tg::gelu(x[0], tg::GeluApproximation::tanh);
       }},
      {"softplus",
       [](const Inputs<T>& x, const Attrs& at) { return tg::softplus(x[0], at[0], at[1]); }},
      {"leaky_relu", [](const Inputs<T>& x, const Attrs& at) { return tg::leaky_relu(x[0], at[0]); }},
      {"elu", [](const Inputs<T>& x, const Attrs& at) { return tg::elu(x[0], at[0]); }},
      {"clamp", [](const Inputs<T>& x, const Attrs& at) { return tg::clamp(x[0], at[0], at[1]); }},
      {"scale", [](const Inputs<T>& x, const Attrs& at) { return tg::scale(x[0], at[0]); }},
      {"pow", [](const Inputs<T>& x, const Attrs& at) { return tg::pow(x[0], T(at[0])); }},
      {"pow_frac", [](const Inputs<T>& x, const Attrs& at) { return tg::pow(x[0], T(at[0])); }},
      {"add", [](const Inputs<T>& x, const Attrs&) { return x[0] + x[1]; }},
      {"sub", [](const Inputs<T>& x, const Attrs&) { return x[0] - x[1]; }},
      {"mul", [](const Inputs<T>& x, const Attrs&) { return x[0] * x[1]; }},
      {"div", [](const Inputs<T>& x, const Attrs&) { return x[0] / x[1]; }},
      {"maximum", [](const Inputs<T>& x, const Attrs&) { return tg::maximum(x[0], x[1]); }},
      {"minimum", [](const Inputs<T>& x, const Attrs&) { return tg::minimum(x[0], x[1]); }},
      {"where_gt",
       [](const Inputs<T>& x, const Attrs&) { return tg::where(tg::gt(x[0], x[1]), x[0], x[1]); }},
      {"pow_tensor", [](const Inputs<T>& x, const Attrs&) { return tg::pow(x[1], x[0]); }},
      {"matmul",
       [](const Inputs<T>& x, const Attrs& at) {
         return tg::matmul(x[0], x[1], at[0] != 0, at[1] != 0);
       }},
      {"add_bias", [](const Inputs<T>& x, const Attrs&) { return tg::add_bias(x[0], x[1]); }},
      {"linear", [](const Inputs<T>& x, const Attrs&) { return tg::linear(x[0], x[1], x[2]); }},
      {"sum", reduction_op<T>(tg::sum<T>, tg::sum<T, int>)},
      {"mean", reduction_op<T>(tg::mean<T>, tg::mean<T, int>)},
      {"max", reduction_op<T>(tg::max<T>, tg::max<T, int>)},
      {"min", reduction_op<T>(tg::min<T>, tg::min<T, int>)},
      {"logsumexp", reduction_op<T>(tg::logsumexp<T>, tg::logsumexp<T, int>)},
      {"var",
       [](const Inputs<T>& x, const Attrs& at) {
         return at[0] == 0 ? tg::var(x[0]) : tg::var(x[0], as_int(at[1]), at[2] != 0);
       }},
      {"std",
       [](const Inputs<T>& x, const Attrs& at) {
         return at[0] == 0 ? tg::std(x[0]) : tg::std(x[0], as_int(at[1]), at[2] != 0);
       }},
      {"prod", reduction_op<T>(tg::prod<T>, tg::prod<T, int>)},
      {"norm",
       [](const Inputs<T>& x, const Attrs& at) {
         return at[0] == 0 ? tg::norm(x[0]) : tg::norm(x[0], 2.0, as_int(at[1]), at[2] != 0);
       }},
      {"reshape",
       [](const Inputs<T>& x, const Attrs& at) {
         std::vector<std::size_t> dims;
         for (std::size_t i = 1; i < at.size(); ++i) dims.push_back(std::size_t(at[i]));
         return tg::reshape(x[0], Shape(dims.begin(), dims.end()));
       }},
      {"unsqueeze",
       [](const Inputs<T>& x, const Attrs& at) { return tg::unsqueeze(x[0], as_int(at[0])); }},
      {"squeeze", [](const Inputs<T>& x, const Attrs& at) { return tg::squeeze(x[0], as_int(at[0])); }},
      {"permute",
       [](const Inputs<T>& x, const Attrs& at) {
         std::vector<int> dims;
         for (double d : at) dims.push_back(as_int(d));
         return tg::permute(x[0], dims);
       }},
      {"slice",
       [](const Inputs<T>& x, const Attrs& at) {
         return tg::slice(x[0], as_int(at[0]), std::int64_t(at[1]), std::int64_t(at[2]),
                          std::int64_t(at[3]));
       }},
      {"index_select",
       [](const Inputs<T>& x, const Attrs& at) {
         return tg::index_select(x[0], as_int(at[0]), tail(at, 2));
       }},
      {"concat",
       [](const Inputs<T>& x, const Attrs& at) { return tg::concat({x[0], x[1]}, as_int(at[0])); }},
      {"mse",
       [](const Inputs<T>& x, const Attrs& at) { return tg::mse(x[0], x[1], reduction(at[0])); }},
      {"l1_loss",
       [](const Inputs<T>& x, const Attrs& at) { return tg::l1_loss(x[0], x[1], reduction(at[0])); }},
      {"huber_loss",
       [](const Inputs<T>& x, const Attrs& at) {
         return tg::huber_loss(x[0], x[1], at[1], reduction(at[0]));
       }},
      {"smooth_l1_loss",
       [](const Inputs<T>& x, const Attrs& at) {
         return tg::smooth_l1_loss(x[0], x[1], at[1], reduction(at[0]));
       }},
      {"bce",
       [](const Inputs<T>& x, const Attrs& at) { return tg::bce(x[0], x[1], reduction(at[0])); }},
      {"bce_with_logits",
       [](const Inputs<T>& x, const Attrs& at) {
         return tg::bce_with_logits(x[0], x[1], reduction(at[0]));
       }},
      {"softmax_ce",
       [](const Inputs<T>& x, const Attrs& at) {
         return tg::softmax_ce(x[0], tg::Labels(tail(at, 2)), reduction(at[0]));
       }},
      {"nll_loss",
       [](const Inputs<T>& x, const Attrs& at) {
         return tg::nll_loss(tg::log_softmax(x[0]), tg::Labels(tail(at, 2)), reduction(at[0]));
       }},
      {"softmax_ce_targets",
       [](const Inputs<T>& x, const Attrs& at) {
         return tg::softmax_ce(x[0], x[1], reduction(at[0]));
       }},
      {"cosine_similarity",
       [](const Inputs<T>& x, const Attrs& at) {
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

template <class T> void print(const char* what, std::size_t id, const Tensor<T>& t) {
  std::printf("%s %zu", what, id);
  for (T v : t.to_vector()) std::printf(" %.17g", double(v));
  std::printf("\n");
}

// Runs one graph's lines; prints its nodes and gradients, or ERROR with the engine's message.
template <class T> void run_graph(const std::vector<std::string>& lines) {
  std::vector<Tensor<T>> nodes, leaves;
  std::vector<T> weights;
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
      std::vector<T> values(shape.numel());
      for (auto& v : values) v = T(read_number(in));
      nodes.push_back(Tensor<T>::from_vector(shape, values, requires_grad != 0));
      if (requires_grad) leaves.push_back(nodes.back());
      print("node", id, nodes.back());
    } else if (kind == "op") {
      std::size_t id = 0, n = 0;
      std::string name;
      in >> id >> name >> n;
      Inputs<T> inputs(n);
      for (auto& t : inputs) {
        std::size_t k = 0;
        in >> k;
        t = nodes.at(k);
      }
      in >> n;
      Attrs attrs(n);
      for (auto& a : attrs) a = read_number(in);
      try {
        nodes.push_back(ops<T>().at(name)(inputs, attrs));
      } catch (const std::exception& e) {
        std::printf("node %zu ERROR %s: %s\n", id, name.c_str(), e.what());
        return;
      }
      print("node", id, nodes.back());
    } else if (kind == "weights") {
      for (std::string token; in >> token;)
        weights.push_back(T(std::strtod(token.c_str(), nullptr)));
    }
  }
  try {
    Tensor<T> total = Tensor<T>::scalar(T(0));
    std::size_t offset = 0;
    for (const Tensor<T>& node : nodes) {
      const std::vector<T> w(weights.begin() + std::ptrdiff_t(offset),
                             weights.begin() + std::ptrdiff_t(offset + node.size()));
      offset += node.size();
      total = total + tg::sum(node * Tensor<T>::from_vector(node.shape(), w));
    }
    const auto grads = tg::grad(total, leaves, {.create_graph = true});
    Tensor<T> penalty = Tensor<T>::scalar(T(0));
    for (const Tensor<T>& g : grads) penalty = penalty + tg::sum(g * g);
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

int main(int argc, char** argv) {
  // --float: the engine in float (the values are rounded to float as they are read).
  const bool in_float = argc > 1 && std::string(argv[1]) == "--float";
  std::vector<std::string> lines;
  for (std::string line; std::getline(std::cin, line);) {
    if (line.rfind("graph ", 0) == 0) {
      std::printf("%s\n", line.c_str());
      lines.clear();
    } else if (line == "end") {
      in_float ? run_graph<float>(lines) : run_graph<double>(lines);
    } else {
      lines.push_back(line);
    }
  }
}
