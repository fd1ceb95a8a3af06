// What every benchmark implementation shares: the workloads (as fully specified problems with
// deterministic data and weights, bit-identical in C++ and in bench_py.py), the timing loop, peak
// memory from /proc, and the line protocol between the coordinator and its worker processes.
//
// No xtensor, no cblas, no torch here: this header is included by the reference (cblas), the
// engine (tapegrad) and the libtorch worker alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bench {

// ---- workloads --------------------------------------------------------------------------------

enum class Act { identity, sigmoid, relu };
enum class Loss {
  mse,             // mean((h - y)^2) over all elements (the XOR tutorial's cost)
  half_mse,        // 0.5 * mean((h - y)^2) (the regression gradient-validation tutorial's)
  regularized_ce,  // the course notes' -(1/m) sum[y log h + (1-y) log(1-h)] + lambda/(2m) sum W^2,
                   // biases not regularized (docs/tutorials.md)
  softmax_ce,      // mean_i(logsumexp(z_i) - z_i[label_i])
};
enum class Mode {
  step,   // one SGD step on the whole batch: forward, backward, update
  grad,   // one gradient evaluation (forward + backward), no update
  epoch,  // one epoch of minibatch SGD (shuffled unless the data are the synthetic subset)
  chain,  // a chain of `ops` tiny multiplications, then backward: the per-op overhead
};

const char* to_string(Act a);
const char* to_string(Loss l);

// A workload as the coordinator names it: comma-separated key=value pairs, e.g.
// "w=W4,dtype=f64,act=relu" or "w=mlp,dtype=f64,batch=1024,width=512". Keys: w (W1..W5, mlp,
// chain), dtype (f64, f32), act (sigmoid, relu: W4/mlp hidden units), batch, width (mlp),
// data (W5: fashion or synthetic), n (W5 synthetic samples), ops (chain length).
struct Spec {
  std::map<std::string, std::string> kv;
  static Spec parse(const std::string& text);
  std::string str() const;  // canonical: keys sorted
  std::string get(const std::string& key, const std::string& fallback = "") const;
  std::size_t get_size(const std::string& key, std::size_t fallback) const;
  bool f32() const { return get("dtype", "f64") == "f32"; }
};

// A fully resolved problem. Data and weights are in double; an implementation converts them to
// its element type with static_cast (round to nearest), as numpy's astype does.
struct Problem {
  std::string name;  // "W4", "mlp", ...
  std::vector<std::size_t> sizes;
  Act hidden = Act::sigmoid, output = Act::identity;
  Loss loss = Loss::softmax_ce;
  Mode mode = Mode::step;
  double lr = 0.1, lambda = 0;
  std::size_t n = 0;      // samples (rows of X)
  std::size_t batch = 0;  // rows per step (n for full-batch workloads)
  bool shuffle = false;   // epoch: reshuffle the order (each implementation with its own RNG)
  std::size_t ops = 0;    // chain: number of multiplications
  std::vector<double> X;  // [n, sizes[0]]
  std::vector<double> Y;  // [n, sizes.back()]: targets (mse, half_mse) or one-hot (regularized_ce)
  std::vector<std::int64_t> labels;       // [n] (regularized_ce, softmax_ce)
  std::vector<std::vector<double>> W, b;  // W[l] is [sizes[l], sizes[l+1]] row-major
  std::size_t layers() const { return sizes.size() - 1; }
  // A copy with the sizes and settings only (X, Y, labels, W and b empty).
  Problem without_data() const;
  // GEMM work of one timed unit: forward 2*rows*in*out per layer, backward twice that.
  double flops() const;
  std::string unit() const;  // "step", "gradient", "epoch", "op"
};

// Fashion-MNIST directory for W5 (Debian's dataset-fashion-mnist).
inline const char* kDefaultFashionDir = "/usr/share/datasets/fashion-mnist";

// Builds the problem a spec names. Throws std::runtime_error for an unknown workload and
// tg::nn::DataError when W5's data cannot be read.
Problem make_problem(const Spec& spec, const std::string& fashion_dir = kDefaultFashionDir);

// The deterministic generator shared with bench_py.py: element i of stream `seed` is
// splitmix64(seed * 2^32 + i) >> 11, scaled by 2^-53 to [0, 1).
std::uint64_t mix(std::uint64_t seed, std::uint64_t i);
double unit_uniform(std::uint64_t seed, std::uint64_t i);
std::vector<double> uniform(std::uint64_t seed, std::size_t count, double low, double high);

template <class T> std::vector<T> convert(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// ---- implementations --------------------------------------------------------------------------

// One workload, set up and ready: run() is the timed unit (one step, one gradient evaluation, one
// epoch, one chain). Everything that is not the unit (data, weights, buffers a user would keep)
// is made in the constructor.
class Runner {
 public:
  virtual ~Runner() = default;
  virtual void run() = 0;
  // Warm-up before timing: by default two units; an epoch runs a few minibatches.
  virtual void warmup();
  // For peak memory: the first `units` minibatches of an epoch, or `units` steps otherwise.
  virtual void run_partial(std::size_t units);
  // Runs one unit from the initial weights and returns, as doubles: the loss of the (last) step,
  // the gradients of every parameter in order W1, b1, W2, b2, ..., then the parameters after the
  // unit. For a chain: the output value and dx.
  virtual std::vector<double> dump() = 0;
};

// Makes the runner for a problem: one per implementation (engine, reference, libtorch).
using Factory = std::function<std::unique_ptr<Runner>(const Problem&, bool f32)>;

// ---- timing and memory ------------------------------------------------------------------------

struct Timing {
  std::size_t iterations = 0;
  double seconds = 0;      // wall clock
  double cpu_seconds = 0;  // this process's CPU time over the same batches
  double per_unit() const { return seconds / double(iterations); }
};
// Repeats run() in batches of doubling size until the timed batches cover min_seconds (wall).
Timing time_runner(Runner& runner, double min_seconds);

double now_seconds();
double cpu_seconds();  // CLOCK_PROCESS_CPUTIME_ID: all threads of this process

long status_kib(const char* field);  // "VmHWM", "VmRSS" from /proc/self/status; -1 if absent
bool reset_peak_rss();               // writes 5 to /proc/self/clear_refs

// ---- threads and OpenBLAS (found at run time: the libtorch worker links it only indirectly) ---

// The OpenBLAS kernel in use and its build's threading, e.g. "SkylakeX/OpenMP"
// (openblas_get_corename, openblas_get_parallel), or "not OpenBLAS".
std::string blas_corename();
int blas_threads();  // openblas_get_num_threads, or 0
void set_blas_threads(int threads);

// ---- worker side of the protocol --------------------------------------------------------------
//
// The coordinator writes one command per line to a worker's stdin; the worker answers one line,
// "ok ..." or "error <message>", on stdout:
//   hello                      -> ok name=<impl> corename=<kernel> threads=<n> version=<v>
//   setup <spec>               -> ok            (builds and caches the runner)
//   time <spec> <min_seconds>  -> ok <iterations> <wall_seconds> <cpu_seconds>
//                                 (warms up on the first call)
//   verify <spec> <file>       -> ok <count>    (fresh runner; dump() as raw doubles into file)
//   memory <spec> <units>      -> ok <peak_kib> <baseline_kib> <code_kib>  (use a fresh
//                                 process: builds the problem, resets the peak RSS, builds the
//                                 runner, runs `units`, answers the peak RSS over the RSS before
//                                 the runner, and the growth of the file-backed RSS meanwhile)
//   gemm <f64|f32> <n> <min_s> -> ok <gflops>   (reference worker only)
//   quit
// Extra handlers (gemm) can be added by the caller.
using ExtraCommand = std::function<std::string(const std::vector<std::string>& words)>;
int worker_main(const std::string& impl_name, const std::string& version, const Factory& factory,
                int threads, const std::map<std::string, ExtraCommand>& extra = {});

std::vector<std::string> split_words(const std::string& line);

}  // namespace bench
