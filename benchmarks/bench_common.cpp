#include "bench_common.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "tapegrad/nn/data.hpp"

namespace bench {

const char* to_string(Act a) {
  switch (a) {
    case Act::identity:
      return "identity";
    case Act::sigmoid:
      return "sigmoid";
    case Act::relu:
      return "relu";
  }
  return "?";
}

const char* to_string(Loss l) {
  switch (l) {
    case Loss::mse:
      return "mse";
    case Loss::half_mse:
      return "half_mse";
    case Loss::regularized_ce:
      return "regularized_ce";
    case Loss::softmax_ce:
      return "softmax_ce";
  }
  return "?";
}

// ---- Spec -------------------------------------------------------------------------------------

Spec Spec::parse(const std::string& text) {
  Spec s;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw std::runtime_error("spec: '" + item + "' is not key=value");
    s.kv[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return s;
}

std::string Spec::str() const {
  std::string out;
  for (const auto& [k, v] : kv) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

std::string Spec::get(const std::string& key, const std::string& fallback) const {
  const auto it = kv.find(key);
  return it == kv.end() ? fallback : it->second;
}

std::size_t Spec::get_size(const std::string& key, std::size_t fallback) const {
  const auto it = kv.find(key);
  return it == kv.end() ? fallback : std::stoul(it->second);
}

// ---- the generator shared with bench_py.py ---------------------------------------------------

std::uint64_t mix(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = (seed << 32) + i;
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double unit_uniform(std::uint64_t seed, std::uint64_t i) {
  return double(mix(seed, i) >> 11) * 0x1.0p-53;
}

std::vector<double> uniform(std::uint64_t seed, std::size_t count, double low, double high) {
  std::vector<double> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = low + (high - low) * unit_uniform(seed, i);
  return v;
}

// ---- problems ---------------------------------------------------------------------------------

namespace {

constexpr std::uint64_t kSeedX = 1, kSeedLabels = 2, kSeedW = 100, kSeedB = 200;

std::vector<std::int64_t> random_labels(std::size_t n, std::int64_t classes) {
  std::vector<std::int64_t> labels(n);
  for (std::size_t i = 0; i < n; ++i)
    labels[i] = std::int64_t(mix(kSeedLabels, i) % std::uint64_t(classes));
  return labels;
}

std::vector<double> one_hot(const std::vector<std::int64_t>& labels, std::size_t classes) {
  std::vector<double> y(labels.size() * classes, 0.0);
  for (std::size_t i = 0; i < labels.size(); ++i) y[i * classes + std::size_t(labels[i])] = 1.0;
  return y;
}

// Weights U(-w, w) and biases U(-bias, bias); w = 0 means Glorot: sqrt(6 / (in + out)).
void init_weights(Problem& p, double w, double bias) {
  for (std::size_t l = 0; l < p.layers(); ++l) {
    const std::size_t in = p.sizes[l], out = p.sizes[l + 1];
    const double a = w > 0 ? w : std::sqrt(6.0 / double(in + out));
    p.W.push_back(uniform(kSeedW + l, in * out, -a, a));
    p.b.push_back(uniform(kSeedB + l, out, -bias, bias));
  }
}

// The synthetic classification data of W3, W4 and the sweep: pixels U(0,1), labels 0..9.
void classification_data(Problem& p, std::size_t n) {
  p.n = n;
  p.X = uniform(kSeedX, n * p.sizes[0], 0.0, 1.0);
  p.labels = random_labels(n, std::int64_t(p.sizes.back()));
}

Act parse_act(const std::string& s) {
  if (s == "sigmoid") return Act::sigmoid;
  if (s == "relu") return Act::relu;
  throw std::runtime_error("spec: unknown activation '" + s + "'");
}

}  // namespace

Problem Problem::without_data() const {
  Problem p;
  p.name = name;
  p.sizes = sizes;
  p.hidden = hidden;
  p.output = output;
  p.loss = loss;
  p.mode = mode;
  p.lr = lr;
  p.lambda = lambda;
  p.n = n;
  p.batch = batch;
  p.shuffle = shuffle;
  p.ops = ops;
  return p;
}

double Problem::flops() const {
  if (mode == Mode::chain) return 0;
  double per_row = 0;
  for (std::size_t l = 0; l < layers(); ++l) per_row += 2.0 * double(sizes[l] * sizes[l + 1]);
  const double rows = mode == Mode::epoch ? double(n) : double(batch);
  return 3.0 * per_row * rows;
}

std::string Problem::unit() const {
  switch (mode) {
    case Mode::step:
      return "step";
    case Mode::grad:
      return "gradient";
    case Mode::epoch:
      return "epoch";
    case Mode::chain:
      return "op";
  }
  return "?";
}

Problem make_problem(const Spec& spec, const std::string& fashion_dir) {
  Problem p;
  const std::string w = spec.get("w");
  p.name = w;
  if (w == "W1") {  // the XOR tutorial: [2,2,2,1], sigmoid everywhere, MSE, SGD eta 0.1
    p.sizes = {2, 2, 2, 1};
    p.hidden = p.output = Act::sigmoid;
    p.loss = Loss::mse;
    p.lr = 0.1;
    p.n = p.batch = 4;
    p.X = {0, 0, 0, 1, 1, 0, 1, 1};
    p.Y = {0, 1, 1, 0};
    init_weights(p, 1.0, 1.0);
  } else if (w == "W2") {  // the regression tutorial: 2-5-1, sigmoid/linear, 0.5 * MSE, 20 samples
    p.sizes = {2, 5, 1};
    p.hidden = Act::sigmoid;
    p.output = Act::identity;
    p.loss = Loss::half_mse;
    p.lr = 0.1;
    p.n = p.batch = 20;
    p.X = uniform(kSeedX, 40, -1.0, 1.0);
    for (std::size_t i = 0; i < 20; ++i)
      p.Y.push_back(p.X[2 * i] * p.X[2 * i] + p.X[2 * i + 1] * p.X[2 * i + 1]);
    init_weights(p, 1.0, 1.0);
  } else if (w == "W3") {  // the digit course notes: 5000 x 400, 400-25-10 sigmoid, lambda 1
    p.sizes = {400, 25, 10};
    p.hidden = p.output = Act::sigmoid;
    p.loss = Loss::regularized_ce;
    p.mode = Mode::grad;
    p.lambda = 1.0;
    classification_data(p, 5000);
    p.batch = p.n;
    p.Y = one_hot(p.labels, 10);
    init_weights(p, 0.12, 0.12);
  } else if (w == "W4" || w == "mlp") {  // 784-H-H-10, softmax cross-entropy, one SGD step
    const std::size_t width = w == "W4" ? 512 : spec.get_size("width", 512);
    const std::size_t batch = w == "W4" ? 256 : spec.get_size("batch", 256);
    p.sizes = {784, width, width, 10};
    p.hidden = parse_act(spec.get("act", "sigmoid"));
    p.output = Act::identity;
    p.loss = Loss::softmax_ce;
    p.lr = 0.01;
    classification_data(p, batch);
    p.batch = batch;
    init_weights(p, 0, 0.1);
  } else if (w == "W5") {  // one epoch of Fashion-MNIST, 784-256-128-10, minibatch 128, SGD
    p.sizes = {784, 256, 128, 10};
    p.hidden = Act::sigmoid;
    p.output = Act::identity;
    p.loss = Loss::softmax_ce;
    p.mode = Mode::epoch;
    p.lr = 0.1;
    p.batch = 128;
    if (spec.get("data", "fashion") == "synthetic") {
      // For verification: a small data set in order (no shuffle), so that every implementation
      // sees the same batches (the last one short).
      classification_data(p, spec.get_size("n", 300));
      p.shuffle = false;
    } else {
      const auto images = tg::nn::read_idx(fashion_dir + "/train-images-idx3-ubyte.gz");
      const auto labels = tg::nn::read_idx(fashion_dir + "/train-labels-idx1-ubyte.gz");
      p.n = labels.size();
      if (images.size() != p.n * 784)
        throw std::runtime_error("W5: " + images.path + " is " + images.shape_str() +
                                 ", expected [" + std::to_string(p.n) + ",28,28]");
      p.X.resize(images.size());
      for (std::size_t i = 0; i < images.size(); ++i) p.X[i] = double(images.bytes[i]) / 255.0;
      const auto l = tg::nn::idx_labels(labels);
      p.labels.assign(l.begin(), l.end());
      p.shuffle = true;
    }
    init_weights(p, 0, 0.1);
  } else if (w == "chain") {
    p.mode = Mode::chain;
    p.ops = spec.get_size("ops", 100);
    p.sizes = {1, 1};
  } else {
    throw std::runtime_error("spec: unknown workload '" + w + "'");
  }
  return p;
}

// ---- runners ----------------------------------------------------------------------------------

void Runner::warmup() {
  run();
  run();
}

void Runner::run_partial(std::size_t units) {
  for (std::size_t i = 0; i < units; ++i) run();
}

// ---- timing and memory ------------------------------------------------------------------------

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

Timing time_runner(Runner& runner, double min_seconds) {
  Timing t;
  std::size_t batch = 1;
  while (t.seconds < min_seconds) {
    const double start = now_seconds(), cpu_start = cpu_seconds();
    for (std::size_t i = 0; i < batch; ++i) runner.run();
    t.cpu_seconds += cpu_seconds() - cpu_start;
    t.seconds += now_seconds() - start;
    t.iterations += batch;
    // Aim the next batch at the remaining time (at most doubling), so that the clock is read
    // rarely on tiny units and the total overshoots little on big ones.
    const double per = t.seconds / double(t.iterations);
    const double left = min_seconds - t.seconds;
    std::size_t next = left > 0 ? std::size_t(left / per) + 1 : 1;
    batch = std::max<std::size_t>(1, std::min(next, 2 * batch));
  }
  return t;
}

long status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::size_t len = std::strlen(field);
  while (std::getline(status, line))
    if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':')
      return std::strtol(line.c_str() + len + 1, nullptr, 10);
  return -1;
}

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return bool(f);
}

// ---- OpenBLAS, looked up at run time ----------------------------------------------------------

namespace {
template <class F> F* blas_symbol(const char* name) {
  return reinterpret_cast<F*>(dlsym(RTLD_DEFAULT, name));
}
}  // namespace

std::string blas_corename() {
  auto* f = blas_symbol<char*()>("openblas_get_corename");
  if (!f) return "not OpenBLAS";
  std::string name(f());
  if (auto* parallel = blas_symbol<int()>("openblas_get_parallel")) {
    static const char* const kThreading[] = {"sequential", "pthreads", "OpenMP"};
    if (const int p = parallel(); p >= 0 && p <= 2) name += std::string("/") + kThreading[p];
  }
  return name;
}

int blas_threads() {
  auto* f = blas_symbol<int()>("openblas_get_num_threads");
  return f ? f() : 0;
}

void set_blas_threads(int threads) {
  if (auto* f = blas_symbol<void(int)>("openblas_set_num_threads")) f(threads);
}

// ---- worker -----------------------------------------------------------------------------------

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> words;
  std::stringstream in(line);
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

int worker_main(const std::string& impl_name, const std::string& version, const Factory& factory,
                int threads, const std::map<std::string, ExtraCommand>& extra) {
  std::map<std::string, std::unique_ptr<Runner>> runners;
  std::map<std::string, bool> warmed;
  std::string line;
  auto runner_for = [&](const std::string& spec_text) -> Runner& {
    const Spec spec = Spec::parse(spec_text);
    auto& r = runners[spec.str()];
    if (!r) r = factory(make_problem(spec), spec.f32());
    return *r;
  };
  while (std::getline(std::cin, line)) {
    const auto words = split_words(line);
    if (words.empty()) continue;
    std::string reply;
    try {
      const std::string& cmd = words[0];
      if (cmd == "quit") break;
      if (cmd == "hello") {
        reply = "ok name=" + impl_name + " corename=" + blas_corename() +
                " threads=" + std::to_string(threads) +
                " blas_threads=" + std::to_string(blas_threads()) + " version=" + version;
      } else if (cmd == "setup" && words.size() == 2) {
        runner_for(words[1]);
        reply = "ok";
      } else if (cmd == "time" && words.size() == 3) {
        Runner& r = runner_for(words[1]);
        const std::string key = Spec::parse(words[1]).str();
        if (!warmed[key]) {
          r.warmup();
          warmed[key] = true;
        }
        const Timing t = time_runner(r, std::stod(words[2]));
        char buf[128];
        std::snprintf(buf, sizeof buf, "ok %zu %.9g %.9g", t.iterations, t.seconds, t.cpu_seconds);
        reply = buf;
      } else if (cmd == "verify" && words.size() == 3) {
        const Spec spec = Spec::parse(words[1]);
        auto r = factory(make_problem(spec), spec.f32());
        const std::vector<double> values = r->dump();
        std::FILE* f = std::fopen(words[2].c_str(), "wb");
        if (!f) throw std::runtime_error("cannot write " + words[2]);
        std::fwrite(values.data(), sizeof(double), values.size(), f);
        std::fclose(f);
        reply = "ok " + std::to_string(values.size());
      } else if (cmd == "memory" && words.size() == 3) {
        // The baseline is the process with the shared problem (data and initial weights in
        // double) built; the figure covers the implementation's own copies of data and weights,
        // its buffers and the peak of the steps.
        const Spec spec = Spec::parse(words[1]);
        const Problem problem = make_problem(spec);
        if (!reset_peak_rss()) throw std::runtime_error("cannot reset the peak RSS");
        // The last figure is the growth of the file-backed pages (code, mostly: the libraries'
        // pages the steps touched, mapped 64 KiB around each fault), part of the peak.
        const long base = status_kib("VmRSS"), file_base = status_kib("RssFile");
        auto r = factory(problem, spec.f32());
        r->run_partial(std::stoul(words[2]));
        const long peak = status_kib("VmHWM");
        reply = "ok " + std::to_string(peak - base) + " " + std::to_string(base) + " " +
                std::to_string(status_kib("RssFile") - file_base);
      } else if (auto it = extra.find(cmd); it != extra.end()) {
        reply = it->second(words);
      } else {
        reply = "error unknown command: " + line;
      }
    } catch (const std::exception& e) {
      std::string msg = e.what();
      for (char& c : msg)
        if (c == '\n') c = ' ';
      reply = "error " + msg;
    }
    std::cout << reply << std::endl;
  }
  return 0;
}

}  // namespace bench
