// libFuzzer target: decodes its input bytes into a small program over the engine (random leaves of
// random shapes and values, valid and invalid, then a sequence of ops, then backward passes) and
// checks the engine's contract:
//
//  - every op and factory either returns an output of the documented shape (produced by the
//    documented node) or raises the documented tg::Error subclass whose message starts with its
//    name, exactly when the documented preconditions fail (shape rules, axes, labels, bce's [0,1]
//    domain); never another exception type, never a crash or a sanitizer report;
//  - gradient values: where the program is smooth at the drawn values (no kink or domain edge
//    within the differencing step), the engine's gradient agrees with central differences taken
//    in double; tg::grad with create_graph agrees with the plain pass to rounding; a float
//    program agrees with the same program replayed in double where its values are tame;
//    tg::gradcheck passes on small smooth programs; tg::hessian is symmetric and agrees with
//    tg::hvp and with differences of the gradient;
//  - backward on a valid root never throws; afterwards every leaf that requires a gradient has one
//    of its own shape, and no other leaf has one; backward through a released graph is a
//    GraphError; a retained graph's second pass computes bit-identical gradients; a recorded
//    backward (create_graph) can be differentiated again;
//  - a tensor written in place after an op saved it for its adjoint (an input, or the op's own
//    output) makes backward through that op a GraphError naming the versions; a tensor no op
//    recorded before the write reads may be written freely;
//  - the whole program is deterministic: run twice, every value and gradient is bit-identical.
//    Fresh heap memory is filled with a different pattern in each run (NaN bits, then a large
//    finite number; see operator new below), and the engine's buffer cache is emptied before
//    each, so a read of memory nobody wrote changes the bits and is reported;
//  - once the program's tensors are gone, the engine's live node and buffer counts are back where
//    they were (no reference cycles, no leaks).
//
// The same entry point is built twice: with clang++ -fsanitize=fuzzer,address,undefined as the
// fuzzer (scripts/fuzz.sh), and with the normal toolchain as the corpus regression test
// (fuzz/corpus_regression.cpp, run by ctest). The byte format is documented in decode order
// below; fuzz/make_corpus.py writes seeds in it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <new>
#include <random>
#include <string>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tapegrad/grad.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/node.hpp"
#include "tapegrad/tapegrad.hpp"

// ---- fresh memory ------------------------------------------------------------------------------
// Every allocation of this process is filled with g_fresh_fill, which the two runs of a program
// set differently: a value computed from memory nobody wrote then differs between the runs, and
// the determinism check reports it (under ASan as well, whose own fill pattern is the same in
// both runs). Replaces every throwing, nothrow and sized form; the aligned forms stay the
// runtime's (no engine buffer is over-aligned).
namespace {
unsigned char g_fresh_fill = 0xFF;
void* fresh(std::size_t n) noexcept {
  void* p = std::malloc(n ? n : 1);
  if (p) std::memset(p, g_fresh_fill, n);
  return p;
}
void* fresh_or_throw(std::size_t n) {
  void* p = fresh(n);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) {
  return fresh_or_throw(n);
}
void* operator new[](std::size_t n) {
  return fresh_or_throw(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return fresh(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return fresh(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace {

// Reads the input front to back; past the end every read is 0, so any byte string is a program.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool empty() const { return pos_ >= size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

[[noreturn]] void fail(const std::string& trace, const std::string& what) {
  std::fprintf(stderr, "ops_fuzzer: INVARIANT VIOLATED: %s\nprogram:\n%s\n", what.c_str(),
               trace.c_str());
  std::fflush(stderr);
  std::abort();
}

enum class Expect { ok, shape, axis, index, domain, graph };

const char* expect_name(Expect e) {
  switch (e) {
    case Expect::ok:
      return "success";
    case Expect::shape:
      return "ShapeError";
    case Expect::axis:
      return "AxisError";
    case Expect::index:
      return "IndexError";
    case Expect::domain:
      return "DomainError";
    case Expect::graph:
      return "GraphError";
  }
  return "?";
}

Expect kind_of(const tg::Error& e) {
  if (dynamic_cast<const tg::ShapeError*>(&e)) return Expect::shape;
  if (dynamic_cast<const tg::AxisError*>(&e)) return Expect::axis;
  if (dynamic_cast<const tg::IndexError*>(&e)) return Expect::index;
  if (dynamic_cast<const tg::DomainError*>(&e)) return Expect::domain;
  if (dynamic_cast<const tg::GraphError*>(&e)) return Expect::graph;
  return Expect::ok;  // a bare tg::Error: never expected
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// NumPy broadcasting, computed independently of the engine.
bool broadcast(const tg::Shape& a, const tg::Shape& b, tg::Shape& out) {
  const std::size_t rank = std::max(a.rank(), b.rank());
  out = tg::Shape();
  for (std::size_t i = 0; i < rank; ++i) {
    const std::size_t da = i + a.rank() >= rank ? a[i + a.rank() - rank] : 1;
    const std::size_t db = i + b.rank() >= rank ? b[i + b.rank() - rank] : 1;
    if (da != db && da != 1 && db != 1) return false;
    out.push_back(da == 1 ? db : da);
  }
  return true;
}

// The element count, or false when it overflows size_t (Shape::numel() throws then).
bool checked_numel(const tg::Shape& s, std::size_t& n) {
  n = 1;
  for (std::size_t d : s)
    if (__builtin_mul_overflow(n, d, &n)) return false;
  return true;
}

// Whether a buffer for s fits (the engine's rule: the byte count, with every 0 counted as 1, at
// most PTRDIFF_MAX; an empty shape may not hide an impossible extent).
bool fits_buffer(const tg::Shape& s, std::size_t element_size) {
  std::size_t n = element_size;
  for (std::size_t d : s)
    if (__builtin_mul_overflow(n, d ? d : 1, &n) || n > std::size_t(PTRDIFF_MAX)) return false;
  return true;
}

bool broadcasts_to(const tg::Shape& from, const tg::Shape& to) {
  tg::Shape out;
  return from.rank() <= to.rank() && broadcast(from, to, out) && out == to;
}

// Results up to this size are computed: enough for the engine's buffer cache (64 KiB and up) and
// the BLAS path of matmul (m*n*k above 512), small enough for milliseconds per program.
constexpr std::size_t kMaxElements = 20000;
constexpr std::size_t kMaxLeafElements = 16384;  // a 128 x 128 matrix
constexpr std::size_t kMaxOps = 32;
constexpr std::size_t kMaxPool = 24;

// A deterministic stream of numbers for large leaves and for choices that take no input bytes.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// ---- the double replay ---------------------------------------------------------------------
// Every op the program ran is kept as a closure over pool indices, so that the part of the
// program a root depends on can be recomputed in double from other leaf values: central
// differences, the float-vs-double comparison, gradcheck and the Hessian all evaluate that.
using EnvD = std::vector<tg::TensorD>;

// Where an op is not smooth or not well conditioned, as a property of one of its inputs: the
// sign of each element (relu's kink, pow's and log's domain edge at 0, div's pole), or also the
// sign of 1 - v (bce's probabilities, whose terms have poles at 0 and at 1).
enum class Edge { sign, unit };
struct EdgeArg {
  std::size_t arg;  // pool index
  Edge edge;
};

struct Step {
  std::function<tg::TensorD(const EnvD&)> redo = {};  // empty for leaves and factory results
  std::vector<std::size_t> args = {};                 // pool entries it reads
  std::vector<EdgeArg> kinks = {};  // branches: the gradient is only checked where none flips
  std::vector<EdgeArg> poles = {};  // ill-conditioned near 0: the float comparison stays away
  // Args certainly saved for the adjoint and read by it whenever backward runs through the node
  // (what each op's file saves, under the same needs-a-gradient conditions as its adjoint).
  std::vector<std::size_t> saved = {};
  bool saves_output = false;  // the op saves its own output (exp, sigmoid, tanh, relu, softmaxes)
  std::string op = {};
  // An op drawn from the registry, whose kinks and saved tensors the fuzzer does not model: a
  // write into its inputs or its output may raise the version check, and the gradient value
  // checks skip a root that depends on it (a kink between the differences' points would fail
  // them for no fault of the op's).
  bool opaque = false;
};

struct Meta {
  std::vector<std::size_t> args;
  std::vector<EdgeArg> kinks = {};
  std::vector<EdgeArg> poles = {};
  std::vector<std::size_t> saved = {};
  bool saves_output = false;
};

// What one replay saw: the classes of every kink input (to tell whether a perturbation crossed
// a kink), whether every value was finite and tame, and the magnitude of the computation (the
// sum of |v| over everything computed, which scales its rounding noise).
struct Probe {
  std::vector<std::uint8_t> classes;
  bool finite = true;
  bool tame = true;  // every |v| <= kTame, and pole inputs at least kPoleGap from 0 (and 1)
  // Some kink input sits exactly on its edge (relu(0), pow(0, 0.5), bce at p = 0): the gradient
  // there is a convention (or inf * 0), which differences cannot judge even when the input is
  // constant.
  bool at_edge = false;
  double magnitude = 0;
  double largest = 0;  // the largest |v| computed
  // The smallest distance of a pole input (log's, a denominator, bce's p and 1 - p, ...) from its
  // pole.
  double nearest_pole = std::numeric_limits<double>::infinity();
};
constexpr double kTame = 100;
constexpr double kPoleGap = 0.25;

template <class U> std::uint8_t sign_class(U v) {
  return v < 0 ? 0 : v == 0 ? 1 : v > 0 ? 2 : 3;
}

// Appends the classes of t's elements; returns whether any sits exactly on the edge, or on a
// subnormal next to it: there 1/x overflows, so an adjoint with 1/x in it is inf (the gradient of
// x/x, 0 in value, is inf - inf) however finite the forward values are.
template <class U>
bool classify(const tg::Tensor<U>& t, Edge edge, std::vector<std::uint8_t>& out) {
  const U* p = std::as_const(t).data();
  bool on_edge = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    out.push_back(sign_class(p[i]));
    on_edge = on_edge || out.back() == 1 || std::fabs(p[i]) < std::numeric_limits<U>::min();
    if (edge == Edge::unit) {
      out.push_back(sign_class(U(1) - p[i]));
      on_edge = on_edge || out.back() == 1;
    }
  }
  return on_edge;
}

template <class U> double pole_distance(const tg::Tensor<U>& t, Edge edge) {
  const U* p = std::as_const(t).data();
  double nearest = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < t.size(); ++i) {
    const double v = double(p[i]);
    if (v != v) return 0;
    nearest = std::min(nearest, std::fabs(v));
    if (edge == Edge::unit) nearest = std::min(nearest, std::fabs(1 - v));
  }
  return nearest;
}

template <class U> bool near_pole(const tg::Tensor<U>& t, Edge edge) {
  return !(pole_distance(t, edge) >= kPoleGap);
}

template <class U> void measure(const tg::Tensor<U>& t, Probe& probe) {
  const U* p = std::as_const(t).data();
  for (std::size_t i = 0; i < t.size(); ++i) {
    const double v = double(p[i]);
    if (!std::isfinite(v)) {
      probe.finite = false;
      probe.tame = false;
      continue;
    }
    probe.magnitude += std::fabs(v);
    probe.largest = std::max(probe.largest, std::fabs(v));
    if (std::fabs(v) > kTame) probe.tame = false;
  }
}

template <class U> tg::TensorD to_double(const tg::Tensor<U>& t) {
  tg::TensorD d = tg::TensorD::empty(t.shape());
  const U* p = std::as_const(t).data();
  for (std::size_t i = 0; i < t.size(); ++i) d.data()[i] = double(p[i]);
  return d;
}

template <class T> struct Program {
  Reader in;
  std::uint64_t hash;  // of the whole input: choices that take no bytes
  std::string trace;
  std::vector<tg::Tensor<T>> pool;    // every tensor made so far; operands are picked from here
  std::vector<Step> steps;            // how each pool entry was made
  std::vector<tg::Tensor<T>> leaves;  // the leaves among them
  std::vector<std::uint8_t> digest;   // every value and gradient, for the determinism check
  // Writes in place: the storage written, and the pool size then (the ops recorded before it
  // are the pool entries below that index).
  struct Write {
    const void* storage;
    std::size_t at;
  };
  std::vector<Write> mutated;
  std::uint8_t check_mode = 0;  // the low bits of the byte that ends the op list

  Program(const std::uint8_t* data, std::size_t size) : in(data, size) {
    hash = 1469598103934665603ull;
    for (std::size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 1099511628211ull;
  }

  void note(const std::string& line) { trace += "  " + line + "\n"; }
  [[noreturn]] void fail(const std::string& what) { ::fail(trace, what); }

  void record_values(const tg::Tensor<T>& t) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(t.data());
    digest.insert(digest.end(), p, p + t.size() * sizeof(T));
    digest.push_back(0xAB);
  }

  std::string name(std::size_t i) const {
    std::string s = "t";
    s += std::to_string(i);
    s += pool[i].shape().str();
    return s;
  }

  void push(const tg::Tensor<T>& t, Step step) {
    pool.push_back(t);
    steps.push_back(std::move(step));
  }

  // ---- decoding ----------------------------------------------------------------------------
  static double decode_value(std::uint8_t b) {
    if (b < 200) return (int(b) - 100) / 25.0;  // -4 .. 3.96 in steps of 0.04
    const double specials[] = {0.0,
                               -0.0,
                               1.0,
                               -1.0,
                               0.5,
                               1e-30,
                               1000.0,
                               -1000.0,
                               30.0,
                               -30.0,
                               800.0,
                               -800.0,
                               std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::quiet_NaN(),
                               1e300,
                               -1e300,
                               std::numeric_limits<double>::denorm_min(),
                               1e-300,
                               0.999999,
                               1e-7,
                               88.0,
                               -88.0,
                               710.0};
    return specials[(b - 200) % (sizeof specials / sizeof specials[0])];
  }
  T value() { return T(decode_value(in.byte())); }

  // Extents 0-4 as before for bytes whose low 3 bits select them (b % 16 < 8); the other half
  // reaches the sizes of the buffer cache and of BLAS.
  std::size_t extent() {
    static constexpr std::size_t table[] = {1, 2, 3, 4, 1, 2, 3, 0, 5, 8, 16, 32, 64, 100, 128, 7};
    return table[in.byte() % 16];
  }

  // A target shape for reshape/broadcast_to/sum_to: now and then an extent of 2^62, so that the
  // element count overflows and the op must refuse it.
  tg::Shape shape(std::size_t max_rank, bool target = false) {
    const std::size_t rank = in.byte() % (max_rank + 1);
    tg::Shape s;
    for (std::size_t i = 0; i < rank; ++i) {
      const std::uint8_t b = target ? in.byte() : 0;
      s.push_back(target && b % 16 == 15 ? std::size_t(1) << 62 : extent());
    }
    return s;
  }

  // A leaf's shape: large ones are halved (largest extent first) down to kMaxLeafElements.
  tg::Shape leaf_shape() {
    tg::Shape s = shape(3);
    for (;;) {
      std::size_t n = 1;
      for (std::size_t d : s) n *= d;
      if (n <= kMaxLeafElements) return s;
      std::size_t big = 0;
      for (std::size_t i = 1; i < s.rank(); ++i)
        if (s[i] > s[big]) big = i;
      tg::Shape t;
      for (std::size_t i = 0; i < s.rank(); ++i) t.push_back(i == big ? s[i] / 2 : s[i]);
      s = t;
    }
  }

  // Values for n elements: one byte each up to 64 elements (every value reachable), beyond that
  // a pattern from two bytes: ordinary values, and with mode 3 one special value somewhere.
  void fill(tg::Tensor<T>& t) {
    const std::size_t n = t.size();
    T* p = t.data();
    if (n <= 64) {
      for (std::size_t i = 0; i < n; ++i) p[i] = value();
      return;
    }
    const std::uint8_t seed = in.byte(), mode = in.byte();
    for (std::size_t i = 0; i < n; ++i) p[i] = T(decode_value(mix(seed * 1000003ull + i) % 200));
    if (mode % 4 == 3) p[mix(seed) % n] = T(decode_value(200 + mode / 4));
  }

  std::size_t pick() { return in.byte() % pool.size(); }

  void add_leaf() {
    const tg::Shape s = leaf_shape();
    tg::Tensor<T> t = tg::Tensor<T>::empty(s);
    fill(t);
    const bool requires_grad = in.byte() & 1;
    t.set_requires_grad(requires_grad);
    note(std::string("t") + std::to_string(pool.size()) + " = leaf" + s.str() +
         (requires_grad ? " requires_grad" : ""));
    record_values(t);
    push(t, Step{.op = "leaf"});
    leaves.push_back(t);
  }

  // ---- one op --------------------------------------------------------------------------------
  // Runs g (a generic lambda of the pool, which returns the op's output) and checks the output
  // against the expected outcome; keeps g for the double replay. A result shape no buffer could
  // hold is a ShapeError that names the op like any other.
  template <class G>
  void run(const std::string& op, const std::string& call, Expect expect, const tg::Shape& want,
           G g, Meta meta, const char* node_name = nullptr) {
    std::size_t want_elements = 0;
    if (expect == Expect::ok &&
        (!checked_numel(want, want_elements) || !fits_buffer(want, sizeof(T)))) {
      expect = Expect::shape;
    } else if (expect == Expect::ok && want_elements > kMaxElements) {
      note("skipped (result of " + std::to_string(want_elements) + " elements): " + call);
      return;
    }
    // Nor an empty result with a huge extent: the engine's loops run over extents.
    for (std::size_t d : want)
      if (expect == Expect::ok && d > kMaxElements) {
        note("skipped (an extent of " + std::to_string(d) + "): " + call);
        return;
      }
    note(std::string("t") + std::to_string(pool.size()) + " = " + call + "  -> expect " +
         (expect == Expect::ok ? want.str() : expect_name(expect)));
    const auto before = pool.size();
    tg::Tensor<T> out;
    try {
      out = g(pool);
    } catch (const tg::Error& e) {
      const std::string msg = e.what();
      if (expect == Expect::ok) fail(op + " raised unexpectedly: " + msg);
      if (kind_of(e) != expect)
        fail(op + " raised the wrong type (want " + expect_name(expect) + "): " + msg);
      if (!starts_with(msg, op + ":"))
        fail("error message does not start with '" + op + ":': " + msg);
      note("    raised: " + msg);
      return;
    } catch (const std::exception& e) {
      fail(op + " raised a non-tg exception " + typeid(e).name() + ": " + e.what());
    }
    if (pool.size() != before) fail("pool changed");
    if (expect != Expect::ok)
      fail(op + " accepted operands it must reject (want " + expect_name(expect) + ")");
    if (!out.defined()) fail(op + " returned an undefined tensor");
    if (out.shape() != want)
      fail(op + " returned shape " + out.shape().str() + ", want " + want.str());
    if (out.size() != want.numel()) fail(op + ": size() disagrees with the shape");
    // A recorded output comes from the op's own node (unless the op returned its input as is).
    bool is_input = false;
    for (const auto& t : pool) is_input = is_input || t.impl() == out.impl();
    if (!is_input && out.requires_grad() && !out.is_leaf()) {
      const std::string expected_node = node_name ? node_name : op.c_str();
      if (expected_node != out.op_name())
        fail(op + " output was recorded by node '" + out.op_name() + "'");
    }
    record_values(out);
    if (pool.size() < kMaxPool)
      push(out, Step{std::function<tg::TensorD(const EnvD&)>(g), std::move(meta.args),
                     std::move(meta.kinks), std::move(meta.poles), std::move(meta.saved),
                     meta.saves_output, op});
  }

  // The value type of an environment (the pool, or the double replay's).
  template <class E> using V = typename std::decay_t<E>::value_type::value_type;

  void unary(std::uint8_t which) {
    const std::size_t i = pick();
    const std::string a = name(i);
    const tg::Shape& s = pool[i].shape();
    switch (which % 6) {
      case 0:
        return run("neg", "neg(" + a + ")", Expect::ok, s,
                   [i](const auto& env) { return tg::neg(env[i]); }, {{i}});
      case 1:
        return run("exp", "exp(" + a + ")", Expect::ok, s,
                   [i](const auto& env) { return tg::exp(env[i]); }, {{i}, {}, {}, {}, true});
      case 2:
        return run("log", "log(" + a + ")", Expect::ok, s,
                   [i](const auto& env) { return tg::log(env[i]); },
                   {{i}, {{i, Edge::sign}}, {{i, Edge::sign}}, {i}});
      case 3:
        return run("sigmoid", "sigmoid(" + a + ")", Expect::ok, s,
                   [i](const auto& env) { return tg::sigmoid(env[i]); }, {{i}, {}, {}, {}, true});
      case 4:
        return run("tanh", "tanh(" + a + ")", Expect::ok, s,
                   [i](const auto& env) { return tg::tanh(env[i]); }, {{i}, {}, {}, {}, true});
      default:
        return run("relu", "relu(" + a + ")", Expect::ok, s,
                   [i](const auto& env) { return tg::relu(env[i]); },
                   {{i}, {{i, Edge::sign}}, {}, {}, true});
    }
  }

  void binary(std::uint8_t which) {
    // bce_backward takes three operands; the top eighth of the byte leaves which % 8 of every
    // other byte (and so the committed inputs) as it was.
    if (which >= 0xE0) return bce_backward();
    const std::size_t ia = pick(), ib = pick();
    static const char* names[] = {
        "add", "sub", "mul", "div", "xdivy", "sigmoid_backward", "tanh_backward", "relu_backward"};
    const std::string op = names[which % 8];
    tg::Shape want;
    const Expect e =
        broadcast(pool[ia].shape(), pool[ib].shape(), want) ? Expect::ok : Expect::shape;
    if (e == Expect::ok && want.numel() > kMaxElements) return;
    const std::string call = op + "(" + name(ia) + ", " + name(ib) + ")";
    const bool ga = pool[ia].requires_grad(), gb = pool[ib].requires_grad();
    // What the ops save for their adjoints: b always and a for b's gradient (div, and the fused
    // backward ops with their second operand), both (xdivy), y for G's gradient (relu_backward).
    std::vector<std::size_t> b_and_a_for_b{ib};
    if (gb) b_and_a_for_b.push_back(ia);
    switch (which % 8) {
      case 0:
        return run(op, call, e, want, [=](const auto& env) { return tg::add(env[ia], env[ib]); },
                   {{ia, ib}});
      case 1:
        return run(op, call, e, want, [=](const auto& env) { return tg::sub(env[ia], env[ib]); },
                   {{ia, ib}});
      case 2: {
        // mul saves a for b's gradient and b for a's.
        std::vector<std::size_t> saved;
        if (gb) saved.push_back(ia);
        if (ga) saved.push_back(ib);
        return run(op, call, e, want, [=](const auto& env) { return tg::mul(env[ia], env[ib]); },
                   {{ia, ib}, {}, {}, saved});
      }
      case 3:
        return run(op, call, e, want, [=](const auto& env) { return tg::div(env[ia], env[ib]); },
                   {{ia, ib}, {{ib, Edge::sign}}, {{ib, Edge::sign}}, b_and_a_for_b});
      case 4:
        return run(op, call, e, want, [=](const auto& env) { return tg::xdivy(env[ia], env[ib]); },
                   {{ia, ib}, {{ia, Edge::sign}, {ib, Edge::sign}}, {{ib, Edge::sign}}, {ia, ib}});
      case 5:
        return run(op, call, e, want,
                   [=](const auto& env) { return tg::sigmoid_backward(env[ia], env[ib]); },
                   {{ia, ib}, {}, {}, b_and_a_for_b});
      case 6:
        return run(op, call, e, want,
                   [=](const auto& env) { return tg::tanh_backward(env[ia], env[ib]); },
                   {{ia, ib}, {}, {}, b_and_a_for_b});
      default: {
        std::vector<std::size_t> saved;
        if (ga) saved.push_back(ib);
        return run(op, call, e, want,
                   [=](const auto& env) { return tg::relu_backward(env[ia], env[ib]); },
                   {{ia, ib}, {{ib, Edge::sign}}, {}, saved});
      }
    }
  }

  // bce_backward(G, p, y): G*((1-y)/(1-p) - y/p)/N, p and y of one shape, G broadcasting to it;
  // no domain check (it is bce's adjoint, whose p bce has checked). A term whose numerator is 0
  // is 0 even over 0, so p at exactly 0 or 1 is an edge (the value is a convention there), and
  // 1/p, 1/(1-p) are poles: p is a kink and pole input on both edges, like bce's p. y enters
  // linearly and G multiplies: smooth in both.
  void bce_backward() {
    const std::size_t ig = pick(), ip = pick(), iy = pick();
    const tg::Shape& ps = pool[ip].shape();
    const bool ok = ps == pool[iy].shape() && broadcasts_to(pool[ig].shape(), ps);
    // It saves p and y, and G for the gradients of p and y.
    std::vector<std::size_t> saved{ip, iy};
    if (pool[ip].requires_grad() || pool[iy].requires_grad()) saved.push_back(ig);
    run("bce_backward", "bce_backward(" + name(ig) + ", " + name(ip) + ", " + name(iy) + ")",
        ok ? Expect::ok : Expect::shape, ps,
        [=](const auto& env) { return tg::bce_backward(env[ig], env[ip], env[iy]); },
        {{ig, ip, iy}, {{ip, Edge::unit}}, {{ip, Edge::unit}}, saved});
  }

  void with_number(std::uint8_t which) {
    const std::size_t i = pick();
    const double c = double(value());
    const std::string a = name(i), n = std::to_string(c);
    const bool left = which & 4;
    const tg::Shape& s = pool[i].shape();
    switch (which % 4) {
      case 0:
        return run("add", left ? n + " + " + a : a + " + " + n, Expect::ok, s,
                   [=](const auto& env) {
                     using U = V<decltype(env)>;
                     return left ? U(c) + env[i] : env[i] + U(c);
                   },
                   {{i}});
      case 1:
        return run("sub", left ? n + " - " + a : a + " - " + n, Expect::ok, s,
                   [=](const auto& env) {
                     using U = V<decltype(env)>;
                     return left ? U(c) - env[i] : env[i] - U(c);
                   },
                   {{i}});
      case 2:  // a product with a number records scale (x * c and c * x alike)
        return run("scale", left ? n + " * " + a : a + " * " + n, Expect::ok, s,
                   [=](const auto& env) {
                     using U = V<decltype(env)>;
                     return left ? U(c) * env[i] : env[i] * U(c);
                   },
                   {{i}});
      default:
        return run(
            "div", left ? n + " / " + a : a + " / " + n, Expect::ok, s,
            [=](const auto& env) {
              using U = V<decltype(env)>;
              return left ? U(c) / env[i] : env[i] / U(c);
            },
            left ? Meta{{i}, {{i, Edge::sign}}, {{i, Edge::sign}}, {i}} : Meta{{i}});
    }
  }

  void matmul() {
    const std::size_t ia = pick(), ib = pick();
    const tg::Tensor<T>& a = pool[ia];
    const tg::Tensor<T>& b = pool[ib];
    const std::uint8_t flags = in.byte();
    const bool ta = flags & 1, tb = flags & 2;
    Expect e = Expect::ok;
    tg::Shape want;
    const std::size_t ra = a.ndim(), rb = b.ndim();
    if (ra == 0 || rb == 0 || (ta && ra == 1) || (tb && rb == 1)) {
      e = Expect::shape;
    } else {
      // PyTorch's matmul: a 1-D A is a row and a 1-D B a column, that 1 removed from the result;
      // the flags transpose the last two dimensions; the dimensions before those broadcast.
      const tg::Shape& sa = a.shape();
      const tg::Shape& sb = b.shape();
      const std::size_t m = ra == 1 ? 1 : ta ? sa[ra - 1] : sa[ra - 2];
      const std::size_t k = ra == 1 ? sa[0] : ta ? sa[ra - 2] : sa[ra - 1];
      const std::size_t kb = rb == 1 ? sb[0] : tb ? sb[rb - 1] : sb[rb - 2];
      const std::size_t n = rb == 1 ? 1 : tb ? sb[rb - 2] : sb[rb - 1];
      const tg::Shape batch_a(sa.begin(), sa.end() - std::min<std::size_t>(ra, 2));
      const tg::Shape batch_b(sb.begin(), sb.end() - std::min<std::size_t>(rb, 2));
      if (k != kb || !broadcast(batch_a, batch_b, want)) e = Expect::shape;
      if (ra != 1) want.push_back(m);
      if (rb != 1) want.push_back(n);
    }
    std::vector<std::size_t> saved;
    if (b.requires_grad()) saved.push_back(ia);
    if (a.requires_grad()) saved.push_back(ib);
    run("matmul",
        "matmul(" + name(ia) + (ta ? "^T" : "") + ", " + name(ib) + (tb ? "^T" : "") + ")", e, want,
        [=](const auto& env) { return tg::matmul(env[ia], env[ib], ta, tb); },
        {{ia, ib}, {}, {}, saved});
  }

  void add_bias() {
    const std::size_t ix = pick(), ib = pick();
    const tg::Tensor<T>& x = pool[ix];
    const tg::Tensor<T>& b = pool[ib];
    const bool ok = x.ndim() == 2 && b.ndim() == 1 && b.dim(0) == x.dim(1);
    run("add_bias", "add_bias(" + name(ix) + ", " + name(ib) + ")", ok ? Expect::ok : Expect::shape,
        x.shape(), [=](const auto& env) { return tg::add_bias(env[ix], env[ib]); }, {{ix, ib}});
  }

  void pow() {
    const std::size_t i = pick();
    static constexpr double exponents[] = {2, 3, -1, 0.5, 1.5, 0, 1, -2, -0.5, 0.25, 10, -3.5};
    const double p = exponents[in.byte() % (sizeof exponents / sizeof exponents[0])];
    // Integer exponents of at least 1 are smooth everywhere; the others have an edge at 0.
    const bool smooth = p >= 1 && p == std::floor(p);
    // x^0's adjoint needs no x; every other exponent saves it.
    const std::vector<std::size_t> saved = p == 0 ? std::vector<std::size_t>{} : std::vector{i};
    run(
        "pow", "pow(" + name(i) + ", " + std::to_string(p) + ")", Expect::ok, pool[i].shape(),
        [=](const auto& env) { return tg::pow(env[i], V<decltype(env)>(p)); },
        smooth ? Meta{{i}, {}, {}, saved} : Meta{{i}, {{i, Edge::sign}}, {{i, Edge::sign}}, saved});
  }

  void reduction(bool is_mean, bool with_axis) {
    const std::size_t i = pick();
    const tg::Tensor<T>& x = pool[i];
    const std::string op = is_mean ? "mean" : "sum";
    if (!with_axis) {
      const Expect e = is_mean && x.size() == 0 ? Expect::shape : Expect::ok;
      return run(op, op + "(" + name(i) + ")", e, tg::Shape{},
                 [=](const auto& env) { return is_mean ? tg::mean(env[i]) : tg::sum(env[i]); },
                 {{i}});
    }
    const std::size_t axis = in.byte() % 5;
    Expect e = Expect::ok;
    tg::Shape want;
    if (axis >= x.ndim()) {
      e = Expect::axis;
    } else {
      if (is_mean && x.dim(axis) == 0) e = Expect::shape;
      for (std::size_t d = 0; d < x.ndim(); ++d)
        if (d != axis) want.push_back(x.dim(d));
    }
    run(op, op + "(" + name(i) + ", axis " + std::to_string(axis) + ")", e, want,
        [=](const auto& env) { return is_mean ? tg::mean(env[i], axis) : tg::sum(env[i], axis); },
        {{i}});
  }

  void transpose() {
    const std::size_t i = pick();
    const tg::Tensor<T>& x = pool[i];
    const bool ok = x.ndim() == 2;
    run("transpose", "transpose(" + name(i) + ")", ok ? Expect::ok : Expect::shape,
        ok ? tg::Shape{x.dim(1), x.dim(0)} : tg::Shape{},
        [=](const auto& env) { return tg::transpose(env[i]); }, {{i}});
  }

  // A target shape for reshape: mostly one with the same element count, sometimes any shape.
  tg::Shape reshape_target(const tg::Tensor<T>& x) {
    const std::uint8_t mode = in.byte();
    const std::size_t n = x.size();
    switch (mode % 6) {
      case 0:
        return tg::Shape{n};
      case 1:
        return tg::Shape{1, n};
      case 2:
        return tg::Shape{n, 1};
      case 3: {
        std::size_t d = 2;
        while (d < n && n % d) ++d;
        return d <= n && n > 1 ? tg::Shape{d, n / d} : tg::Shape{n, 1, 1};
      }
      case 4:
        return n == 1 ? tg::Shape{} : tg::Shape{1, n, 1};
      default:
        return shape(4, true);
    }
  }

  void reshape() {
    const std::size_t i = pick();
    const tg::Shape to = reshape_target(pool[i]);
    std::size_t n = 0;
    const bool fits = checked_numel(to, n);
    run("reshape", "reshape(" + name(i) + ", " + to.str() + ")",
        fits && n == pool[i].size() ? Expect::ok : Expect::shape, to,
        [=](const auto& env) { return tg::reshape(env[i], to); }, {{i}});
  }

  void softmax(bool log_space) {
    const std::size_t i = pick();
    const std::string op = log_space ? "log_softmax" : "softmax";
    run(op, op + "(" + name(i) + ")", pool[i].ndim() == 0 ? Expect::shape : Expect::ok,
        pool[i].shape(),
        [=](const auto& env) { return log_space ? tg::log_softmax(env[i]) : tg::softmax(env[i]); },
        {{i}, {}, {}, {}, true});
  }

  void loss(std::uint8_t which) {
    const std::size_t ia = pick(), ib = pick();
    const tg::Tensor<T>& a = pool[ia];
    const tg::Tensor<T>& b = pool[ib];
    static const char* names[] = {"mse", "bce", "bce_with_logits"};
    const std::string op = names[which % 3];
    Expect e = Expect::ok;
    if (a.shape() != b.shape()) {
      e = Expect::shape;
    } else if (a.size() == 0) {
      e = Expect::shape;
    } else if (op == "bce") {
      for (std::size_t i = 0; i < a.size(); ++i)
        if (a.data()[i] < T(0) || a.data()[i] > T(1)) e = Expect::domain;
    }
    const std::string call = op + "(" + name(ia) + ", " + name(ib) + ")";
    switch (which % 3) {
      case 0:
        return run(op, call, e, tg::Shape{},
                   [=](const auto& env) { return tg::mse(env[ia], env[ib]); },
                   {{ia, ib}, {}, {}, {ia, ib}});
      case 1:
        return run(op, call, e, tg::Shape{},
                   [=](const auto& env) { return tg::bce(env[ia], env[ib]); },
                   {{ia, ib}, {{ia, Edge::unit}}, {{ia, Edge::unit}}, {ia, ib}});
      default:
        return run(op, call, e, tg::Shape{},
                   [=](const auto& env) { return tg::bce_with_logits(env[ia], env[ib]); },
                   {{ia, ib}, {}, {}, {ia, ib}});
    }
  }

  void softmax_ce_labels() {
    const std::size_t il = pick();
    const tg::Tensor<T>& logits = pool[il];
    const std::uint8_t mode = in.byte();
    const std::size_t rows = logits.ndim() == 2 ? logits.dim(0) : 1;
    const std::size_t classes = logits.ndim() == 2 ? logits.dim(1) : 1;
    const std::size_t count = mode & 1 ? in.byte() % 6 : std::min<std::size_t>(rows, 256);
    tg::Labels labels(count);
    for (std::size_t k = 0; k < count; ++k) {
      // Up to 8 label bytes; longer label lists repeat them.
      const std::uint8_t b = k < 8 ? in.byte() : std::uint8_t(mix(k) % 256);
      // Mostly valid; 1 in 8 anywhere in -2..C+1.
      labels[k] = b % 8 ? std::int64_t(b % std::max<std::size_t>(classes, 1))
                        : std::int64_t(b / 8 % (classes + 4)) - 2;
    }
    Expect e = Expect::ok;
    if (logits.ndim() != 2 || labels.size() != rows || rows == 0) {
      e = Expect::shape;
    } else {
      for (auto l : labels)
        if (l < 0 || std::size_t(l) >= classes) e = Expect::index;
    }
    std::string ls;
    for (std::size_t k = 0; k < labels.size() && k < 8; ++k) {
      if (!ls.empty()) ls += ',';
      ls += std::to_string(labels[k]);
    }
    if (labels.size() > 8) ls += ",...";
    run("softmax_ce", "softmax_ce(" + name(il) + ", labels {" + ls + "})", e, tg::Shape{},
        [=](const auto& env) { return tg::softmax_ce(env[il], labels); }, {{il}, {}, {}, {il}});
  }

  void softmax_ce_targets() {
    const std::size_t il = pick(), it = pick();
    const tg::Tensor<T>& logits = pool[il];
    Expect e = Expect::ok;
    if (logits.ndim() != 2 || pool[it].shape() != logits.shape() || logits.dim(0) == 0)
      e = Expect::shape;
    run("softmax_ce_onehot", "softmax_ce(" + name(il) + ", " + name(it) + ")", e, tg::Shape{},
        [=](const auto& env) { return tg::softmax_ce(env[il], env[it]); },
        {{il, it}, {}, {}, {il, it}});
  }

  // A broadcast target for x: x's shape with 1s expanded and leading dims added, or any shape.
  tg::Shape grown(const tg::Shape& s) {
    const std::uint8_t mode = in.byte();
    if (mode % 4 == 3) return shape(4, true);
    tg::Shape out;
    const std::size_t lead = mode % 4 == 0 ? 0 : in.byte() % 3;
    for (std::size_t i = 0; i < lead && out.rank() + s.rank() < tg::Shape::kMaxRank; ++i)
      out.push_back(extent());
    for (std::size_t d : s) out.push_back(d == 1 && (in.byte() & 1) ? extent() : d);
    return out;
  }

  // A sum_to target for x: x's shape with dims replaced by 1 and leading dims dropped, or any.
  tg::Shape shrunk(const tg::Shape& s) {
    const std::uint8_t mode = in.byte();
    if (mode % 4 == 3) return shape(3, true);
    const std::size_t drop = s.rank() ? in.byte() % (s.rank() + 1) : 0;
    tg::Shape out;
    for (std::size_t i = drop; i < s.rank(); ++i) out.push_back(in.byte() & 1 ? 1 : s[i]);
    return out;
  }

  void broadcast_to() {
    const std::size_t i = pick();
    const tg::Shape to = grown(pool[i].shape());
    std::size_t n = 0;
    const bool fits = checked_numel(to, n);
    const bool ok = broadcasts_to(pool[i].shape(), to) && fits;
    if (ok && n > kMaxElements) return;
    run("broadcast_to", "broadcast_to(" + name(i) + ", " + to.str() + ")",
        ok ? Expect::ok : Expect::shape, to,
        [=](const auto& env) { return tg::broadcast_to(env[i], to); }, {{i}});
  }

  void sum_to() {
    const std::size_t i = pick();
    const tg::Shape to = shrunk(pool[i].shape());
    run("sum_to", "sum_to(" + name(i) + ", " + to.str() + ")",
        broadcasts_to(to, pool[i].shape()) ? Expect::ok : Expect::shape, to,
        [=](const auto& env) { return tg::sum_to(env[i], to); }, {{i}});
  }

  // A new leaf from one of the factories (tg::Tensor<T>::zeros, ..., normal), valid or not.
  void factory(std::uint8_t which) {
    const bool requires_grad = which & 16;
    tg::Shape s = shape(3, true);
    std::size_t n = 0;
    const bool fits = checked_numel(s, n) && fits_buffer(s, sizeof(T)) && n <= kMaxLeafElements;
    if (!fits && checked_numel(s, n) && fits_buffer(s, sizeof(T))) return;  // merely too big
    static const char* names[] = {"zeros",  "ones",   "full",    "scalar", "from_vector",
                                  "vector", "matrix", "uniform", "normal"};
    const std::size_t kind = which % 9;
    std::string op = names[kind];
    const T c = value();
    const std::uint8_t seed = in.byte();
    Expect expect = fits ? Expect::ok : Expect::shape;
    std::vector<T> values;
    tg::Shape want = s;
    switch (kind) {
      case 3:
        want = tg::Shape{};
        expect = Expect::ok;
        break;
      case 4: {
        // Sometimes one value too many or too few.
        const std::size_t count =
            fits ? n + (seed % 8 == 7 ? 1 : 0) - (seed % 8 == 6 && n ? 1 : 0) : 1;
        for (std::size_t i = 0; i < count; ++i)
          values.push_back(T(decode_value(mix(seed + i * 7919ull) % 200)));
        if (fits && count != n) expect = Expect::shape;
        break;
      }
      case 5:
        want = tg::Shape{3};
        expect = Expect::ok;
        break;
      case 6:
        want = tg::Shape{2, 2};
        expect = seed & 1 ? Expect::shape : Expect::ok;  // ragged rows
        break;
      default:
        break;
    }
    note(std::string("t") + std::to_string(pool.size()) + " = " + op + want.str() +
         (requires_grad ? " requires_grad" : "") + "  -> expect " + expect_name(expect));
    tg::Tensor<T> t;
    std::mt19937_64 rng(seed);
    try {
      switch (kind) {
        case 0:
          t = tg::Tensor<T>::zeros(s, requires_grad);
          break;
        case 1:
          t = tg::Tensor<T>::ones(s, requires_grad);
          break;
        case 2:
          t = tg::Tensor<T>::full(s, c, requires_grad);
          break;
        case 3:
          t = tg::Tensor<T>::scalar(c, requires_grad);
          break;
        case 4:
          t = tg::Tensor<T>::from_vector(s, values, requires_grad);
          break;
        case 5:
          t = tg::Tensor<T>::vector({c, T(0.5), T(-c)}, requires_grad);
          break;
        case 6:
          t = seed & 1 ? tg::Tensor<T>::matrix({{c, T(1)}, {T(2)}}, requires_grad)
                       : tg::Tensor<T>::matrix({{c, T(1)}, {T(2), T(-c)}}, requires_grad);
          break;
        case 7:
          t = tg::Tensor<T>::uniform(s, T(-2), T(2), rng, requires_grad);
          break;
        default:
          t = tg::Tensor<T>::normal(s, T(0), T(1), rng, requires_grad);
          break;
      }
    } catch (const tg::Error& e) {
      const std::string msg = e.what();
      if (expect == Expect::ok) fail(op + " raised unexpectedly: " + msg);
      if (kind_of(e) != expect) fail(op + " raised the wrong type: " + msg);
      // A shape too large for any buffer is refused by the buffer sizing, which every factory
      // goes through ("empty: ..."); the element count overflow by Shape::numel ("shape: ...").
      if (!starts_with(msg, op + ":") && !starts_with(msg, "empty:") && !starts_with(msg, "shape:"))
        fail("error message does not start with '" + op + ":': " + msg);
      note("    raised: " + msg);
      return;
    } catch (const std::exception& e) {
      fail(op + " raised a non-tg exception " + typeid(e).name() + ": " + e.what());
    }
    if (expect != Expect::ok) fail(op + " accepted what it must reject");
    if (t.shape() != want) fail(op + " returned shape " + t.shape().str() + ", want " + want.str());
    if (t.requires_grad() != requires_grad || !t.is_leaf() || t.has_grad())
      fail(op + ": not a fresh leaf with the requested requires_grad");
    const T* p = std::as_const(t).data();
    for (std::size_t i = 0; i < t.size(); ++i) {
      const T v = p[i];
      bool right = true;
      switch (kind) {
        case 0:
          right = v == T(0) && !std::signbit(v);
          break;
        case 1:
          right = v == T(1);
          break;
        case 2:
        case 3:
          right = v == c || (v != v && c != c);
          break;
        case 4:
          right = v == values[i];
          break;
        case 7:
          right = v >= T(-2) && v < T(2);
          break;
        case 8:
          right = std::isfinite(v);
          break;
        default:
          break;
      }
      if (!right) fail(op + ": element " + std::to_string(i) + " is " + std::to_string(double(v)));
    }
    record_values(t);
    if (pool.size() < kMaxPool) {
      push(t, Step{.op = op});
      leaves.push_back(t);
    }
  }

  // Writes through the non-const data() after ops may have recorded the tensor: into a leaf, or
  // (a first byte of 128 and up) into any tensor of the pool, op outputs included.
  void write_in_place() {
    const std::uint8_t which = in.byte();
    if (leaves.empty() && which < 128) return;
    tg::Tensor<T> target = which < 128 ? leaves[which % leaves.size()] : pool[which % pool.size()];
    const std::uint8_t at = in.byte();
    const T v = value();
    if (target.size() == 0) return;
    std::size_t index = 0;
    for (std::size_t i = 0; i < pool.size(); ++i)
      if (pool[i].impl() == target.impl()) index = i;
    note("t" + std::to_string(index) + ".data()[" + std::to_string(at % target.size()) +
         "] = " + std::to_string(double(v)) + "  (in place, after recording)");
    target.data()[at % target.size()] = v;
    mutated.push_back({std::as_const(target).data(), pool.size()});
  }

  // Misuse of tg::grad: an input that is not a leaf, or that does not require a gradient.
  void grad_misuse() {
    const std::size_t io = pick(), ix = pick();
    const tg::Tensor<T>& out = pool[io];
    const tg::Tensor<T>& x = pool[ix];
    if (out.size() != 1 || (x.requires_grad() && x.is_leaf())) return;
    note("grad(" + name(io) + ", {" + name(ix) + "})  -> expect GraphError");
    try {
      (void)tg::grad(out, {x});
    } catch (const tg::GraphError& e) {
      if (!starts_with(e.what(), "grad:")) fail(std::string("grad misuse message: ") + e.what());
      return;
    } catch (const std::exception& e) {
      fail(std::string("grad misuse raised the wrong type: ") + e.what());
    }
    fail("grad accepted an input that is not a leaf requiring a gradient");
  }

  // Tensor API around the ops: detach, clone as a new leaf, no-grad scopes, misuse, factories,
  // tg::grad misuse, writes in place.
  void tensor_api(std::uint8_t which) {
    const std::size_t i = pick();
    const tg::Tensor<T>& x = pool[i];
    const std::string a = name(i);
    switch (which % 8) {
      case 0: {
        tg::Tensor<T> d = x.detach();
        note(std::string("t") + std::to_string(pool.size()) + " = " + a + ".detach()");
        if (d.requires_grad() || !d.is_leaf() || std::as_const(d).data() != x.data())
          fail("detach");
        if (pool.size() < kMaxPool) push(d, Step{.op = "detach"});
        return;
      }
      case 1: {
        tg::Tensor<T> c = x.clone();
        c.set_requires_grad(true);
        note(std::string("t") + std::to_string(pool.size()) + " = " + a + ".clone() requires_grad");
        if (c.shape() != x.shape() ||
            (x.size() && std::memcmp(std::as_const(c).data(), x.data(), x.size() * sizeof(T))))
          fail("clone");
        if (pool.size() < kMaxPool) {
          push(c, Step{.op = "clone"});
          leaves.push_back(c);
        }
        return;
      }
      case 2: {
        note("no-grad scope:");
        tg::NoGradGuard guard;
        const auto size = pool.size();
        unary(in.byte());
        if (pool.size() > size && pool.back().requires_grad())
          fail("an op under NoGradGuard recorded a node");
        return;
      }
      case 3: {
        note(a + ".set_requires_grad()");
        try {
          tg::Tensor<T> handle = x;
          handle.set_requires_grad(x.requires_grad());
          if (!x.is_leaf()) fail("set_requires_grad on a non-leaf did not raise");
        } catch (const tg::GraphError& e) {
          if (x.is_leaf()) fail(std::string("set_requires_grad on a leaf raised: ") + e.what());
          if (std::string(e.what()).rfind("set_requires_grad:", 0) != 0)
            fail(std::string("message: ") + e.what());
        }
        return;
      }
      case 4: {
        note(a + ".item()");
        try {
          (void)x.item();
          if (x.size() != 1)
            fail(std::string("item() on a tensor of ") + std::to_string(x.size()) + " elements");
        } catch (const tg::ShapeError& e) {
          if (x.size() == 1) fail(std::string("item() raised: ") + e.what());
        }
        return;
      }
      case 5:
        return factory(in.byte());
      case 6:
        return grad_misuse();
      default:
        return write_in_place();
    }
  }

  void op() {
    const std::uint8_t code = in.byte();
    switch (code % 20) {
      case 0:
        return matmul();
      case 1:
        return add_bias();
      case 2:
      case 3:
        return binary(in.byte());
      case 4:
      case 5:
        return unary(in.byte());
      case 6:
        return pow();
      case 7:
        return reduction(false, in.byte() & 1);
      case 8:
        return reduction(true, in.byte() & 1);
      case 9:
        return transpose();
      case 10:
        return reshape();
      case 11:
        return softmax(in.byte() & 1);
      case 12:
        return loss(in.byte());
      case 13:
        return softmax_ce_labels();
      case 14:
        return softmax_ce_targets();
      case 15:
        return broadcast_to();
      case 16:
        return sum_to();
      case 17:
        return with_number(in.byte());
      case 18:
        return tensor_api(in.byte());
      case 19:
        if (in.byte() & 1) return registered(in.byte());
        return add_leaf();
      default:
        return add_leaf();
    }
  }

  // ---- any registered op ----------------------------------------------------------------------
  // An op drawn from the registry: one of its gradient-check samples gives the call and the input
  // shapes, the fuzzer the values (kept from the sample or drawn, specials included) and which
  // inputs require a gradient. Every op, present and future, is drawn this way without code of
  // its own here. The outcome must match the same call without recording: the same shape, or
  // the same error; gradient values are not checked through it (see Step::opaque), but backward
  // passes, second order, writes in place, determinism and leaks are.
  void registered(std::uint8_t which) {
    const std::vector<tg::OpInfo>& ops = tg::registered_ops();
    const tg::OpInfo& op = ops[which % ops.size()];
    const std::uint64_t seed = in.byte();
    const auto factory = [&] {
      if constexpr (std::is_same_v<T, float>)
        return op.samples_float;
      else
        return op.samples_double;
    }();
    const std::vector<tg::GradSample<T>> samples = factory(seed);
    const std::vector<tg::GradSample<double>> samples_d = op.samples_double(seed);
    if (samples.empty() || samples.size() != samples_d.size()) return;
    const std::size_t k = in.byte() % samples.size();
    if (pool.size() + samples[k].inputs.size() >= kMaxPool) return;
    std::vector<std::size_t> args;
    for (const tg::Tensor<T>& x : samples[k].inputs) {
      tg::Tensor<T> t = x.detach().clone();
      if (in.byte() & 1) fill(t);
      t.set_requires_grad(in.byte() & 1);
      note(std::string("t") + std::to_string(pool.size()) + " = leaf" + t.shape().str() +
           (t.requires_grad() ? " requires_grad" : "") + " for " + op.name + " " +
           samples[k].label);
      record_values(t);
      push(t, Step{.op = "leaf"});
      leaves.push_back(t);
      args.push_back(pool.size() - 1);
    }
    const auto inputs_of = [args](const auto& env) {
      std::vector<std::decay_t<decltype(env[0])>> x;
      for (std::size_t a : args) x.push_back(env[a]);
      return x;
    };
    // The outcome without recording is the expectation (on copies, so nothing is shared).
    tg::Shape want;
    try {
      tg::NoGradGuard no_grad;
      std::vector<tg::Tensor<T>> copies;
      for (std::size_t a : args) copies.push_back(pool[a].detach().clone());
      want = samples[k].fn(copies).shape();
    } catch (const tg::Error& e) {
      note(std::string("    without recording it raises: ") + e.what());
      return;
    }
    std::string call = op.name + "(sample " + samples[k].label;
    for (std::size_t a : args) call += ", " + name(a);
    const auto fn = samples[k].fn;
    const auto fn_d = samples_d[k].fn;
    run(op.name, call + ")", Expect::ok, want,
        [fn, fn_d, inputs_of](const auto& env) {
          if constexpr (std::is_same_v<V<decltype(env)>, double>)
            return fn_d(inputs_of(env));
          else
            return fn(inputs_of(env));
        },
        {args});
    if (steps.size() == pool.size() && steps.back().op == op.name) steps.back().opaque = true;
  }

  // ---- the double replay -------------------------------------------------------------------
  // The gradient leaves: one pool entry per distinct leaf that requires a gradient.
  std::vector<std::size_t> slots;
  std::vector<int> slot_of;            // per pool entry: its slot, or -1
  std::vector<tg::TensorD> snapshots;  // lazily: the pool's values in double

  void find_slots() {
    slots.clear();
    slot_of.assign(pool.size(), -1);
    for (std::size_t i = 0; i < pool.size(); ++i) {
      if (!pool[i].requires_grad() || !pool[i].is_leaf()) continue;
      for (std::size_t s = 0; s < slots.size() && slot_of[i] < 0; ++s)
        if (pool[slots[s]].impl() == pool[i].impl()) slot_of[i] = int(s);
      if (slot_of[i] < 0) {
        slot_of[i] = int(slots.size());
        slots.push_back(i);
      }
    }
    snapshots.assign(pool.size(), tg::TensorD());
  }

  const tg::TensorD& snapshot(std::size_t i) {
    if (!snapshots[i].defined()) snapshots[i] = to_double(pool[i]);
    return snapshots[i];
  }

  // The pool entries `root` depends on, in pool order.
  std::vector<std::size_t> ancestry(std::size_t root) const {
    std::vector<bool> need(pool.size(), false);
    need[root] = true;
    for (std::size_t i = root + 1; i-- > 0;)
      if (need[i] && pool[i].requires_grad())
        for (std::size_t a : steps[i].args) need[a] = true;
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i <= root; ++i)
      if (need[i]) out.push_back(i);
    return out;
  }

  // Recomputes the entries of `order` in double into env, the gradient leaves taking xs[slot];
  // entries that do not require a gradient (constants, detached, no-grad results) keep their
  // values. False when an op refuses (a perturbation left its domain).
  bool replay(const std::vector<std::size_t>& order, const std::vector<tg::TensorD>& xs, EnvD& env,
              Probe* probe) {
    for (std::size_t i : order) {
      if (slot_of[i] >= 0) {
        env[i] = xs[std::size_t(slot_of[i])];
      } else if (pool[i].requires_grad() && steps[i].redo) {
        try {
          env[i] = steps[i].redo(env);
        } catch (const tg::Error&) {
          return false;
        }
      } else {
        env[i] = snapshot(i);
      }
      if (!probe) continue;
      measure(env[i], *probe);
      if (!pool[i].requires_grad()) continue;
      for (const EdgeArg& k : steps[i].kinks)
        if (classify(env[k.arg], k.edge, probe->classes)) probe->at_edge = true;
      for (const EdgeArg& p : steps[i].poles) {
        const double distance = pole_distance(env[p.arg], p.edge);
        if (!(distance >= kPoleGap)) probe->tame = false;
        probe->nearest_pole = std::min(probe->nearest_pole, distance);
      }
    }
    return true;
  }

  // The same probe over the program's own values (the float run, for the float comparison).
  Probe probe_pool(const std::vector<std::size_t>& order) const {
    Probe probe;
    for (std::size_t i : order) {
      measure(pool[i], probe);
      if (!pool[i].requires_grad()) continue;
      for (const EdgeArg& k : steps[i].kinks)
        if (classify(pool[k.arg], k.edge, probe.classes)) probe.at_edge = true;
      for (const EdgeArg& p : steps[i].poles)
        if (near_pole(pool[p.arg], p.edge)) probe.tame = false;
    }
    return probe;
  }

  static double objective(const tg::TensorD& r, const std::vector<double>& u) {
    double j = 0;
    const double* p = std::as_const(r).data();
    for (std::size_t i = 0; i < r.size(); ++i) j += p[i] * u[i];
    return j;
  }

  // ---- gradient values ---------------------------------------------------------------------
  // Compares two gradients of the same leaf to rounding: elementwise within `rtol` of the larger
  // magnitude, plus `rtol` of the tensor's largest element (additions in another order).
  template <class A, class B>
  void compare(const tg::Tensor<A>& a, const tg::Tensor<B>& b, double rtol, double atol,
               const std::string& what) {
    if (a.shape() != b.shape())
      fail(what + ": shapes " + a.shape().str() + " and " + b.shape().str());
    const A* pa = std::as_const(a).data();
    const B* pb = std::as_const(b).data();
    double scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::isfinite(double(pb[i]))) scale = std::max(scale, std::fabs(double(pb[i])));
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double x = double(pa[i]), y = double(pb[i]);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      const double tol = rtol * (scale + std::max(std::fabs(x), std::fabs(y))) + atol;
      if (!(std::fabs(x - y) <= tol))
        fail(what + ": element " + std::to_string(i) + ": " + std::to_string(x) + " vs " +
             std::to_string(y) + " (tolerance " + std::to_string(tol) + ")");
    }
  }

  // The value checks, from the last entry that requires a gradient, before any backward pass:
  //  - tg::grad with create_graph agrees with the plain pass;
  //  - where the program is smooth and finite, central differences in double agree with the
  //    gradient (the engine's in double; for a float program the same program's in double);
  //  - a float program agrees with its double replay where values are tame;
  //  - check_mode bit 0: tg::gradcheck passes on small smooth programs; bit 1: tg::hessian is
  //    symmetric and agrees with tg::hvp and with differences of the gradient; bit 2: the plain
  //    grad releases the graph (the backward passes then expect a GraphError).
  void check_values() {
    if (!mutated.empty()) return;  // the program's values are no longer what the graph recorded
    std::size_t root = pool.size();
    for (std::size_t i = pool.size(); i-- > 0;)
      if (pool[i].requires_grad()) {
        root = i;
        break;
      }
    if (root == pool.size()) return;
    find_slots();
    const std::vector<std::size_t> order = ancestry(root);
    for (std::size_t i : order)
      if (steps[i].opaque) {
        note("values: skipped, root " + name(root) + " depends on " + steps[i].op);
        return;
      }
    std::vector<std::size_t> used;  // the slots the root depends on
    for (std::size_t i : order)
      if (slot_of[i] >= 0) used.push_back(std::size_t(slot_of[i]));
    std::sort(used.begin(), used.end());
    used.erase(std::unique(used.begin(), used.end()), used.end());
    if (used.empty()) return;

    const tg::Tensor<T>& r = pool[root];
    std::vector<double> u(r.size());
    for (std::size_t i = 0; i < u.size(); ++i)  // multiples of 1/16: exact in float and double
      u[i] = double(int(mix(hash + i) % 49) - 24) / 16;
    tg::Tensor<T> upstream = tg::Tensor<T>::empty(r.shape());
    for (std::size_t i = 0; i < u.size(); ++i) upstream.data()[i] = T(u[i]);
    std::vector<tg::Tensor<T>> inputs;
    for (std::size_t s : used) inputs.push_back(pool[slots[s]]);
    note("values: root " + name(root) + ", " + std::to_string(used.size()) +
         " leaves, check mode " + std::to_string(check_mode));

    std::vector<tg::Tensor<T>> g, g_recorded;
    try {
      g_recorded = tg::grad(r, inputs, upstream, {.create_graph = true});
      g = tg::grad(r, inputs, upstream, {.retain_graph = !(check_mode & 4)});
    } catch (const std::exception& e) {
      fail(std::string("tg::grad raised: ") + e.what());
    }
    if (g.size() != inputs.size() || g_recorded.size() != inputs.size())
      fail("tg::grad returned the wrong number of gradients");
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      record_values(g[k]);
      compare(g_recorded[k], g[k], 1e4 * std::numeric_limits<T>::epsilon(), 0,
              "create_graph gradient vs plain gradient of " + name(slots[used[k]]));
    }
    g_recorded.clear();

    // The center in double.
    std::vector<tg::TensorD> xs(slots.size());
    for (std::size_t s = 0; s < slots.size(); ++s) xs[s] = snapshot(slots[s]);
    EnvD env(pool.size());
    Probe center;
    if (!replay(order, xs, env, &center)) fail("the replay of a valid program raised");
    if (!center.finite) return;
    if constexpr (sizeof(T) == 8) {
      if (std::memcmp(std::as_const(env[root]).data(), r.data(), r.size() * sizeof(double)))
        fail("the replay computed other bits than the program");
    }

    // The gradient to check against differences: the engine's in double.
    std::vector<tg::TensorD> gd;
    if constexpr (sizeof(T) == 8) {
      gd = g;
    } else {
      std::vector<tg::TensorD> leaves_d(slots.size());
      for (std::size_t s = 0; s < slots.size(); ++s) {
        leaves_d[s] = snapshot(slots[s]).clone();
        leaves_d[s].set_requires_grad(true);
      }
      EnvD env_d(pool.size());
      if (!replay(order, leaves_d, env_d, nullptr)) fail("the replay of a valid program raised");
      std::vector<tg::TensorD> in_d;
      for (std::size_t s : used) in_d.push_back(leaves_d[s]);
      tg::TensorD u_d = tg::TensorD::from_vector(r.shape(), u);
      try {
        gd = tg::grad(env_d[root], in_d, u_d);
      } catch (const std::exception& e) {
        fail(std::string("tg::grad in double raised: ") + e.what());
      }
      // Float against double where the values are tame and no kink is on another side.
      const Probe own = probe_pool(order);
      if (center.tame && own.tame && own.classes == center.classes) {
        const double atol = 1e-6 * center.magnitude;
        compare(r, env[root], 2e-3, atol, "float result vs the double replay");
        for (std::size_t k = 0; k < g.size(); ++k)
          compare(g[k], gd[k], 2e-3, atol,
                  "float gradient vs the double replay's, leaf " + name(slots[used[k]]));
      }
    }

    if (center.at_edge) return;
    // A pole input this close to its pole next to the program's largest values may be what is
    // left of a cancellation (log_softmax's largest entry, x - logsumexp(x), 1e-12 from logits
    // of 50): its relative error, and with it the objective's, is far above rounding, and
    // differences in double converge to another slope (8% off, where the engine's gradient is
    // within 3e-5 of the exact one).
    if (!(center.nearest_pole >= 1e-8 * center.largest)) return;
    finite_differences(order, root, used, xs, center, u, objective(env[root], u), gd);
    if (check_mode & 1) run_gradcheck(order, root, used, xs, center, u);
    if (check_mode & 2) run_hessian(order, root, used, xs, center, u);
  }

  // One central difference of the objective along element e of slot s, at steps h and h/2, and
  // the second differences at both steps (j0: the objective at the center); false when a
  // perturbed point crosses a kink, leaves a domain or is not finite.
  bool difference(const std::vector<std::size_t>& order, std::size_t root,
                  std::vector<tg::TensorD>& xs, std::size_t s, std::size_t e, double h,
                  const Probe& center, const std::vector<double>& u, double j0, double& d1,
                  double& d2, double& c1, double& c2, double& magnitude) {
    const tg::TensorD base = xs[s];
    const double x = std::as_const(base).data()[e];
    double j[4];
    const double steps_[4] = {h, -h, h / 2, -h / 2};
    magnitude = center.magnitude;
    EnvD env(pool.size());
    for (int k = 0; k < 4; ++k) {
      tg::TensorD moved = base.clone();
      moved.data()[e] = x + steps_[k];
      xs[s] = moved;
      Probe probe;
      const bool ok = replay(order, xs, env, &probe);
      xs[s] = base;
      if (!ok || !probe.finite || probe.classes != center.classes) return false;
      j[k] = objective(env[root], u);
      magnitude = std::max(magnitude, probe.magnitude);
      if (!std::isfinite(j[k])) return false;
    }
    const double h1 = (x + h) - (x - h), h2 = (x + h / 2) - (x - h / 2);  // the steps taken
    d1 = (j[0] - j[1]) / h1;
    d2 = (j[2] - j[3]) / h2;
    c1 = (j[0] - 2 * j0 + j[1]) / (h1 * h1 / 4);
    c2 = (j[2] - 2 * j0 + j[3]) / (h2 * h2 / 4);
    return true;
  }

  void finite_differences(const std::vector<std::size_t>& order, std::size_t root,
                          const std::vector<std::size_t>& used, std::vector<tg::TensorD>& xs,
                          const Probe& center, const std::vector<double>& u, double j0,
                          const std::vector<tg::TensorD>& gd) {
    std::size_t total = 0;
    for (std::size_t s : used) total += xs[s].size();
    if (total == 0) return;
    // A few elements per program: more when the program is small.
    std::size_t work = 0;
    for (std::size_t i : order) work += pool[i].size();
    const std::size_t picks = work > 50000 ? 2 : work > 5000 ? 4 : 8;
    double umax = 0;
    for (double v : u) umax = std::max(umax, std::fabs(v));
    for (std::size_t p = 0; p < picks; ++p) {
      std::size_t flat = mix(hash ^ (p * 0x51ED27ull)) % total, k = 0;
      while (flat >= xs[used[k]].size()) flat -= xs[used[k++]].size();
      const std::size_t s = used[k];
      const double x = std::as_const(xs[s]).data()[flat];
      if (!std::isfinite(x)) continue;
      const double h = 1e-3 * std::max(1.0, std::fabs(x));
      double d1 = 0, d2 = 0, c1 = 0, c2 = 0, magnitude = 0;
      if (!difference(order, root, xs, s, flat, h, center, u, j0, d1, d2, c1, c2, magnitude))
        continue;
      // Rounding noise of the objective: its terms' magnitudes times a generous count of
      // roundings, over the step. The two steps' disagreement bounds the truncation error;
      // where it is large against the difference itself, the differences cannot judge.
      const double noise =
          1e3 * std::numeric_limits<double>::epsilon() * magnitude * std::max(1.0, umax) / h;
      const double spread = std::fabs(d1 - d2);
      if (spread > 0.05 * std::fabs(d2) + noise) continue;
      // A bend sharper than the steps (a softmax between two logits that a step of x moves by
      // far more than 1): the objective is V-shaped at their scale, both differences give the
      // mean of the slopes on either side and agree, yet neither is the derivative at x. The
      // second differences tell: smooth, they agree to O(h^2); across such a bend, each is the
      // change of slope over its own step, so the shorter step's is about twice the longer's.
      const double bend = std::fabs(c1 - c2) * h;
      if (bend > 4 * spread + 8 * noise + 1e-5 * std::fabs(d2)) continue;
      const double a = std::as_const(gd[k]).data()[flat];
      const double tol = 4 * spread + noise + 1e-5 * (std::fabs(a) + std::fabs(d2));
      if (!(std::fabs(a - d2) <= tol))
        fail("gradient of " + name(slots[s]) + " element " + std::to_string(flat) + " at " +
             std::to_string(x) + ": the engine gives " + std::to_string(a) +
             ", central differences " + std::to_string(d2) + " (step " + std::to_string(h) + ": " +
             std::to_string(d1) + "; tolerance " + std::to_string(tol) + ")");
    }
  }

  // Whether the program is smooth and tame around the center for every element at step h.
  bool smooth_everywhere(const std::vector<std::size_t>& order,
                         const std::vector<std::size_t>& used, std::vector<tg::TensorD>& xs,
                         const Probe& center, double h) {
    if (!center.tame) return false;
    EnvD env(pool.size());
    for (std::size_t s : used) {
      const tg::TensorD base = xs[s];
      for (std::size_t e = 0; e < base.size(); ++e)
        for (double step : {h, -h}) {
          tg::TensorD moved = base.clone();
          moved.data()[e] += step * std::max(1.0, std::fabs(std::as_const(base).data()[e]));
          xs[s] = moved;
          Probe probe;
          const bool ok = replay(order, xs, env, &probe);
          xs[s] = base;
          if (!ok || !probe.tame || probe.classes != center.classes) return false;
        }
    }
    return true;
  }

  // gradcheck on the whole program as a function of its gradient leaves, in double, where it is
  // small and smooth (every element's differences stay on one side of every kink).
  void run_gradcheck(const std::vector<std::size_t>& order, std::size_t root,
                     const std::vector<std::size_t>& used, std::vector<tg::TensorD>& xs,
                     const Probe& center, const std::vector<double>& u) {
    // Inputs without elements are passed too: gradcheck must accept them (nothing to check).
    std::size_t total = 0;
    for (std::size_t s : used) total += xs[s].size();
    if (total == 0 || total > 16 || !smooth_everywhere(order, used, xs, center, 1e-5)) return;
    const tg::TensorD weights = tg::TensorD::from_vector(pool[root].shape(), u);
    auto f = [&](const std::vector<tg::TensorD>& in) {
      std::vector<tg::TensorD> all = xs;
      for (std::size_t k = 0; k < used.size(); ++k) all[used[k]] = in[k];
      EnvD env(pool.size());
      if (!replay(order, all, env, nullptr)) throw tg::DomainError("replay: left the domain");
      return tg::sum(tg::mul(env[root], weights));
    };
    std::vector<tg::TensorD> in;
    for (std::size_t s : used) in.push_back(xs[s]);
    note("gradcheck over " + std::to_string(total) + " elements");
    tg::GradCheckReport report;
    try {
      report = tg::gradcheck(f, in);
    } catch (const std::exception& e) {
      fail(std::string("gradcheck raised on a smooth program: ") + e.what());
    }
    if (!report.passed) fail("gradcheck failed on a smooth program:\n" + report.str());
  }

  // The Hessian of the objective in the first small gradient leaf (others held), in double.
  void run_hessian(const std::vector<std::size_t>& order, std::size_t root,
                   const std::vector<std::size_t>& used, std::vector<tg::TensorD>& xs,
                   const Probe& center, const std::vector<double>& u) {
    std::size_t s = xs.size();
    for (std::size_t c : used)
      if (xs[c].size() >= 1 && xs[c].size() <= 6) {
        s = c;
        break;
      }
    if (s == xs.size() || !smooth_everywhere(order, {s}, xs, center, 1e-4)) return;
    const std::size_t n = xs[s].size();
    const tg::TensorD weights = tg::TensorD::from_vector(pool[root].shape(), u);
    auto f = [&](const tg::TensorD& x) {
      std::vector<tg::TensorD> all = xs;
      all[s] = x;
      EnvD env(pool.size());
      if (!replay(order, all, env, nullptr)) throw tg::DomainError("replay: left the domain");
      return tg::sum(tg::mul(env[root], weights));
    };
    note("hessian over " + name(slots[s]));
    const tg::TensorD x0 = xs[s];
    tg::TensorD H;
    std::vector<tg::TensorD> hv;
    tg::TensorD v = tg::TensorD::empty(x0.shape());
    for (std::size_t i = 0; i < n; ++i) v.data()[i] = double(int(mix(hash + 77 * i) % 9) - 4) / 4;
    try {
      H = tg::hessian(f, x0);
      hv = tg::hvp([&](const std::vector<tg::TensorD>& in) { return f(in[0]); }, {x0}, {v});
    } catch (const std::exception& e) {
      fail(std::string("hessian/hvp raised on a smooth program: ") + e.what());
    }
    if (H.shape() != tg::Shape{n, n}) fail("hessian returned shape " + H.shape().str());
    if (hv.size() != 1 || hv[0].shape() != x0.shape()) fail("hvp returned the wrong shape");
    const double* h = std::as_const(H).data();
    double hmax = 0;
    for (std::size_t i = 0; i < n * n; ++i) {
      if (!std::isfinite(h[i])) return;  // a tame program can still have an infinite curvature
      hmax = std::max(hmax, std::fabs(h[i]));
    }
    const double noise = 1e4 * std::numeric_limits<double>::epsilon() * (hmax + center.magnitude);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (!(std::fabs(h[i * n + j] - h[j * n + i]) <= noise))
          fail("hessian not symmetric: H[" + std::to_string(i) + "," + std::to_string(j) +
               "] = " + std::to_string(h[i * n + j]) + ", H[" + std::to_string(j) + "," +
               std::to_string(i) + "] = " + std::to_string(h[j * n + i]));
    for (std::size_t i = 0; i < n; ++i) {
      double want = 0;
      for (std::size_t j = 0; j < n; ++j) want += h[i * n + j] * std::as_const(v).data()[j];
      const double got = std::as_const(hv[0]).data()[i];
      if (!(std::fabs(got - want) <= noise * n))
        fail("hvp disagrees with hessian * v at " + std::to_string(i) + ": " + std::to_string(got) +
             " vs " + std::to_string(want));
    }
    // Column j of H against central differences of the engine's gradient along x_j.
    auto gradient_at = [&](const tg::TensorD& x) {
      tg::TensorD leaf = x.clone();
      leaf.set_requires_grad(true);
      return tg::grad(f(leaf), {leaf})[0];
    };
    for (std::size_t j = 0; j < n; ++j) {
      const double xj = std::as_const(x0).data()[j];
      const double step = 1e-3 * std::max(1.0, std::fabs(xj));
      tg::TensorD g[4];
      const double steps_[4] = {step, -step, step / 2, -step / 2};
      for (int k = 0; k < 4; ++k) {
        tg::TensorD moved = x0.clone();
        moved.data()[j] = xj + steps_[k];
        g[k] = gradient_at(moved);
      }
      const double h1 = (xj + step) - (xj - step), h2 = (xj + step / 2) - (xj - step / 2);
      for (std::size_t i = 0; i < n; ++i) {
        const double d1 = (g[0].data()[i] - g[1].data()[i]) / h1;
        const double d2 = (g[2].data()[i] - g[3].data()[i]) / h2;
        const double fd_noise =
            1e3 * std::numeric_limits<double>::epsilon() * (center.magnitude + hmax) / step;
        const double spread = std::fabs(d1 - d2);
        if (!std::isfinite(d1) || !std::isfinite(d2) || spread > 0.05 * std::fabs(d2) + fd_noise)
          continue;
        const double a = h[i * n + j];
        const double tol = 4 * spread + fd_noise + 1e-5 * (std::fabs(a) + std::fabs(d2));
        if (!(std::fabs(a - d2) <= tol))
          fail("hessian H[" + std::to_string(i) + "," + std::to_string(j) + "] of " +
               name(slots[s]) + " is " + std::to_string(a) + ", differences of the gradient give " +
               std::to_string(d2) + " (tolerance " + std::to_string(tol) + ")");
      }
    }
  }

  // ---- backward ------------------------------------------------------------------------------
  void check_leaf_grads(const char* when) {
    for (std::size_t i = 0; i < leaves.size(); ++i) {
      const tg::Tensor<T>& leaf = leaves[i];
      if (!leaf.requires_grad()) {
        if (leaf.has_grad())
          fail(std::string(when) + ": a leaf without requires_grad has a gradient");
        // Asking for it is a misuse the engine names, not an undefined tensor handed back.
        try {
          (void)leaf.grad();
          fail(std::string(when) + ": grad() of a leaf without requires_grad did not raise");
        } catch (const tg::GraphError& e) {
          if (!starts_with(e.what(), "grad:"))
            fail(std::string("grad() message does not start with 'grad:': ") + e.what());
        }
        continue;
      }
      tg::Tensor<T> g = leaf.grad();
      if (!g.defined()) fail(std::string(when) + ": a leaf requiring grad has no gradient");
      if (g.shape() != leaf.shape())
        fail(std::string(when) + ": gradient " + g.shape().str() + " for leaf " +
             leaf.shape().str());
      record_values(g);
    }
  }

  // Expects f to raise a GraphError or ShapeError (per `expect`) whose message starts "backward:".
  template <class F> void expect_backward_error(Expect expect, const std::string& what, F f) {
    note(what + "  -> expect " + expect_name(expect));
    try {
      f();
    } catch (const tg::Error& e) {
      if (kind_of(e) != expect) fail(what + " raised the wrong type: " + e.what());
      if (std::string(e.what()).rfind("backward:", 0) != 0)
        fail(what + ": message does not start with 'backward:': " + e.what());
      return;
    } catch (const std::exception& e) {
      fail(what + " raised a non-tg exception: " + e.what());
    }
    fail(what + " did not raise");
  }

  // How backward from root may go after writes in place: `must` when an op on its path saved a
  // tensor for its adjoint (an input, or its own output; see Step::saved) whose storage was
  // written after the op was recorded; `may` when a storage written after recording is read on
  // the path at all (an op may save what the table above does not know of); neither otherwise:
  // a write before an op records its input, or into a storage no op on the path reads, is free.
  struct Mutation {
    bool must = false, may = false;
    std::string op;
  };
  Mutation mutation_effect(const tg::Tensor<T>& root) const {
    Mutation m;
    if (mutated.empty() || !root.requires_grad()) return m;
    std::size_t r = pool.size();
    for (std::size_t i = 0; i < pool.size(); ++i)
      if (pool[i].impl() == root.impl()) r = i;
    if (r == pool.size()) return m;
    // Whether entry a's storage was written after the op of entry i recorded it.
    auto written_after = [&](std::size_t a, std::size_t i) {
      const void* storage = pool[a].data();
      for (const Write& w : mutated)
        if (w.storage == storage && w.at > i) return true;
      return false;
    };
    // The nodes backward runs: those a gradient reaches. Backward skips a node that receives
    // none, and relu_backward passes none to y (its mask is piecewise constant).
    std::vector<bool> reached(pool.size(), false);
    reached[r] = true;
    for (std::size_t i = r + 1; i-- > 0;)
      if (reached[i] && pool[i].requires_grad() && !pool[i].is_leaf())
        for (std::size_t k = 0; k < steps[i].args.size(); ++k)
          if (!(steps[i].op == "relu_backward" && k == 1)) reached[steps[i].args[k]] = true;
    for (std::size_t i : ancestry(r)) {
      if (!pool[i].requires_grad() || pool[i].is_leaf()) continue;
      for (std::size_t a : steps[i].args)
        if (written_after(a, i)) m.may = true;
      if (steps[i].opaque && written_after(i, i)) m.may = true;
      if (!reached[i]) continue;
      bool stale = steps[i].saves_output && written_after(i, i);
      for (std::size_t a : steps[i].saved) stale = stale || written_after(a, i);
      if (stale) {
        m.must = m.may = true;
        m.op = steps[i].op;
      }
    }
    return m;
  }

  // Runs a backward that must succeed, or, after writes in place, may (or must) raise the
  // version check's GraphError. Returns whether it ran.
  template <class F> bool expect_backward_ok(const std::string& what, F f, const Mutation& m = {}) {
    note(what + (m.must ? "  -> expect GraphError (a saved tensor was written)" : ""));
    try {
      f();
    } catch (const tg::GraphError& e) {
      if (!m.may) fail(what + " raised: " + e.what());
      if (std::string(e.what()).find("version") == std::string::npos)
        fail(what + ": a write in place raised a GraphError that names no version: " + e.what());
      note(std::string("    raised: ") + e.what());
      return false;
    } catch (const std::exception& e) {
      fail(what + " raised: " + e.what());
    }
    if (m.must)
      fail(what + " ran although a tensor saved by " + m.op +
           " was written in place after recording (want a GraphError naming the versions)");
    return true;
  }

  // Whether backward from root would pass through a node an earlier backward released.
  static bool reaches_released(const tg::Tensor<T>& root) {
    if (!root.impl()->grad_fn) return false;
    std::vector<const tg::Node<T>*> stack{root.impl()->grad_fn.get()};
    std::unordered_set<const tg::Node<T>*> seen;
    while (!stack.empty()) {
      const tg::Node<T>* n = stack.back();
      stack.pop_back();
      if (!seen.insert(n).second) continue;
      if (n->released()) return true;
      for (std::size_t i = 0; i < n->num_inputs(); ++i)
        if (n->edge(i).node) stack.push_back(n->edge(i).node.get());
    }
    return false;
  }

  std::vector<std::vector<std::uint8_t>> grad_bits() const {
    std::vector<std::vector<std::uint8_t>> bits;
    for (const auto& leaf : leaves) {
      bits.emplace_back();
      if (!leaf.requires_grad()) continue;
      const tg::Tensor<T> g = leaf.grad();
      const auto* p = reinterpret_cast<const std::uint8_t*>(g.data());
      bits.back().assign(p, p + g.size() * sizeof(T));
    }
    return bits;
  }

  void backward() {
    const std::size_t ri = pick();
    const tg::Tensor<T> root = pool[ri];
    const std::uint8_t mode = in.byte();
    const std::string r = name(ri);
    tg::BackwardOptions options;
    options.retain_graph = mode & 2;
    options.create_graph = (mode & 12) == 12;
    const std::string opts = std::string(options.retain_graph ? " retain_graph" : "") +
                             (options.create_graph ? " create_graph" : "");
    if (!root.requires_grad()) {
      expect_backward_error(Expect::graph, r + ".backward()", [&] { root.backward(options); });
      return;
    }
    if (root.size() != 1 && (mode & 128))
      expect_backward_error(Expect::graph, r + ".backward() without G",
                            [&] { root.backward(options); });
    tg::Tensor<T> upstream;
    if (root.size() != 1 || (mode & 1)) {
      if (mode & 16) {  // an upstream gradient of another shape
        const tg::Shape wrong = shape(3);
        if (wrong != root.shape() && wrong.numel() <= kMaxElements)
          expect_backward_error(Expect::shape, r + ".backward(G" + wrong.str() + ")",
                                [&] { root.backward(tg::Tensor<T>::ones(wrong), options); });
      }
      upstream = tg::Tensor<T>::empty(root.shape());
      fill(upstream);
    }
    auto go = [&] {
      upstream.defined() ? root.backward(upstream, options) : root.backward(options);
    };
    const std::string call = r + ".backward(" + (upstream.defined() ? "G" : "") + ")" + opts;
    if (reaches_released(root)) {
      // An earlier backward released part of this graph: refused before anything is computed.
      const auto bits = grad_bits();
      expect_backward_error(Expect::graph, call + " through a released graph", go);
      if (grad_bits() != bits) fail("a refused backward changed leaf gradients");
      return;
    }
    const Mutation m = mutation_effect(root);
    if (!expect_backward_ok(call, go, m)) return;
    check_leaf_grads("after backward");

    if (options.create_graph && (mode & 32)) return second_order(m);
    if (!(mode & 64)) return;
    if (!options.retain_graph && !options.create_graph) {
      if (root.is_leaf()) return;  // a leaf has no graph to release
      expect_backward_error(Expect::graph, r + ".backward() again", go);
      return;
    }
    // A retained graph runs again and computes exactly the same gradients.
    const auto first = grad_bits();
    for (auto& leaf : leaves) leaf.zero_grad();
    if (!expect_backward_ok(r + ".backward() again, after zero_grad", go, m)) return;
    check_leaf_grads("after the second backward");
    if (grad_bits() != first)
      fail("a second backward through the retained graph computed different gradients");
  }

  // After a create_graph backward: differentiate sum(grad^2) over the leaves' gradients.
  void second_order(const Mutation& m) {
    tg::Tensor<T> penalty;
    for (const auto& leaf : leaves) {
      if (!leaf.requires_grad()) continue;
      tg::Tensor<T> g = leaf.grad();
      if (!g.requires_grad()) continue;
      tg::Tensor<T> term = tg::sum(g * g);
      penalty = penalty.defined() ? penalty + term : term;
    }
    for (auto& leaf : leaves) leaf.zero_grad();
    if (!penalty.defined()) return;
    record_values(penalty);
    if (expect_backward_ok(
            "penalty = sum over leaves of sum(grad^2); penalty.backward()",
            [&] { penalty.backward(); }, m))
      check_leaf_grads("after the second-order backward");
  }

  // Every accessor of an undefined handle (default-constructed) raises a GraphError naming the
  // accessor; none dereferences the missing data.
  void check_undefined_handle() {
    tg::Tensor<T> u;
    auto expect = [&](const char* what, auto f) {
      try {
        f();
      } catch (const tg::GraphError& e) {
        if (!starts_with(e.what(), std::string(what) + ":"))
          fail(std::string("undefined handle: message of ") + what + ": " + e.what());
        return;
      } catch (const std::exception& e) {
        fail(std::string("undefined handle: ") + what + " raised " + e.what());
      }
      fail(std::string("undefined handle: ") + what + " did not raise");
    };
    if (u.defined()) fail("a default-constructed tensor is defined");
    expect("shape", [&] { (void)u.shape(); });
    expect("size", [&] { (void)u.size(); });
    expect("data", [&] { (void)u.data(); });
    expect("data", [&] { (void)std::as_const(u).data(); });
    expect("grad", [&] { (void)u.grad(); });
    expect("requires_grad", [&] { (void)u.requires_grad(); });
    expect("backward", [&] { u.backward(); });
  }

  void execute() {
    check_undefined_handle();
    const std::size_t initial_leaves = 1 + in.byte() % 4;
    for (std::size_t i = 0; i < initial_leaves; ++i) add_leaf();
    for (std::size_t i = 0; i < kMaxOps && !in.empty(); ++i) {
      const std::uint8_t b = in.byte();
      if (b >= 0xF0) {  // end of the op list; its low bits choose the value checks
        check_mode = b & 0x0F;
        break;
      }
      op();
    }
    if (!(check_mode & 8)) check_values();
    const std::size_t passes = 1 + in.byte() % 2;
    for (std::size_t i = 0; i < passes; ++i) {
      backward();
      for (auto& leaf : leaves) leaf.zero_grad();
    }
  }
};

template <class T> void fuzz_one(const std::uint8_t* data, std::size_t size) {
  const tg::MemoryStats before = tg::memory_stats();
  std::vector<std::uint8_t> first_digest;
  std::string first_trace;
  for (int run = 0; run < 2; ++run) {
    // Fresh memory differs between the runs (NaN bits, then a large finite value); the cache
    // would hand out the first run's buffers instead.
    g_fresh_fill = run == 0 ? 0xFF : 0x7F;
    tg::release_buffer_cache();
    Program<T> p(data, size);
    p.trace = sizeof(T) == 4 ? "float program\n" : "double program\n";
    p.execute();
    if (run == 0) {
      // OPS_FUZZER_TRACE=1 prints each decoded program (to read a seed or a crasher).
      if (std::getenv("OPS_FUZZER_TRACE")) std::fprintf(stderr, "%s", p.trace.c_str());
      first_digest = std::move(p.digest);
      first_trace = std::move(p.trace);
    } else if (p.digest != first_digest) {
      fail(first_trace,
           "not deterministic: the second run of the same program computed different "
           "bits (a read of memory nobody wrote?)");
    }
  }
  g_fresh_fill = 0xFF;
  const tg::MemoryStats after = tg::memory_stats();
  if (after.live_nodes != before.live_nodes || after.live_buffers != before.live_buffers)
    fail(first_trace, "leak: live nodes " + std::to_string(before.live_nodes) + " -> " +
                          std::to_string(after.live_nodes) + ", live buffers " +
                          std::to_string(before.live_buffers) + " -> " +
                          std::to_string(after.live_buffers));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1)
    fuzz_one<float>(data + 1, size - 1);
  else
    fuzz_one<double>(data + 1, size - 1);
  return 0;
}
