// tapegrad_bench: times the engine beside a hand-written cblas reference, libtorch C++, PyTorch
// and NumPy in one run, on the same machine, and writes benchmarks/results/latest.{md,tsv,png}.
//
//   tapegrad_bench [--threads 1,2] [--rounds 3] [--min-time 0.5] [--only W1,W4,sweep,...]
//                  [--impls engine,reference,libtorch,pytorch,numpy] [--quick | --full]
//                  [--out DIR] [--fashion DIR] [--no-memory] [--no-plot]
//   tapegrad_bench --verify-only      engine gradients == reference gradients (double, 1e-10)
//   tapegrad_bench --run IMPL SPEC SECONDS   one workload in this process, for perf/callgrind
//
// Every implementation runs in its own worker process (this binary with --worker, the libtorch
// worker, bench_py.py), started with the thread count fixed (OPENBLAS_NUM_THREADS,
// OMP_NUM_THREADS, openblas_set_num_threads, torch.set_num_threads). This coordinator sends them
// one measurement at a time, round-robin: each round times every implementation once per
// workload, in a rotated order, so that a noisy neighbour hits them alike. Peak memory is measured
// in a fresh process per implementation and workload.
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench_common.hpp"
#include "engine_impl.hpp"
#include "reference.hpp"

extern char** environ;

#ifndef TAPEGRAD_BENCH_SOURCE_DIR
#define TAPEGRAD_BENCH_SOURCE_DIR "."
#endif
#ifndef TAPEGRAD_BENCH_TORCH_WORKER
#define TAPEGRAD_BENCH_TORCH_WORKER ""
#endif

namespace fs = std::filesystem;
using namespace bench;

namespace {

// ---- options ----------------------------------------------------------------------------------

struct Options {
  std::vector<int> threads{1, 2};
  int rounds = 3;
  int epoch_rounds = 3;
  int judged_rounds = 5;  // 1 thread, W1-W5: the cells the targets table judges
  double min_time = 0.5;
  std::set<std::string> only;  // workload groups: W1..W5, sweep, chain; empty = all
  std::vector<std::string> impls{"reference", "engine", "replay", "libtorch", "pytorch", "numpy"};
  std::string out = std::string(TAPEGRAD_BENCH_SOURCE_DIR) + "/results";
  std::string fashion = kDefaultFashionDir;
  bool memory = true, plot = true, quick = false, float32 = true;
  bool full = false;  // 2 threads: float32 and W5 too; sweep: Python too; memory: float32 too
  std::string python = "/usr/bin/python3";
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// ---- workers ----------------------------------------------------------------------------------

const std::map<std::string, std::string> kDisplay = {
    {"reference", "hand-written"}, {"engine", "tapegrad"}, {"replay", "tapegrad replay"},
    {"libtorch", "libtorch C++"},  {"pytorch", "PyTorch"}, {"numpy", "NumPy"}};

std::string self_path() {
  return fs::read_symlink("/proc/self/exe").string();
}

class Worker {
 public:
  Worker(const std::string& impl, int threads, const Options& opt) : impl_(impl) {
    std::vector<std::string> argv;
    if (impl == "engine" || impl == "replay" || impl == "reference") {
      argv = {self_path(), "--worker", impl, "--threads", std::to_string(threads)};
    } else if (impl == "libtorch") {
      if (std::string(TAPEGRAD_BENCH_TORCH_WORKER).empty()) {
        error_ = "not built (CMake did not find libtorch: apt-get install libtorch-dev)";
        return;
      }
      if (!fs::exists(TAPEGRAD_BENCH_TORCH_WORKER)) {
        error_ =
            "bench_torch_worker is not built (cmake --build <build dir> --target "
            "tapegrad_bench_all, as scripts/bench.sh does)";
        return;
      }
      argv = {TAPEGRAD_BENCH_TORCH_WORKER, "--threads", std::to_string(threads)};
    } else {
      std::string python = fs::exists(opt.python) ? opt.python : "python3";
      argv = {python,      std::string(TAPEGRAD_BENCH_SOURCE_DIR) + "/bench_py.py",
              "--impl",    impl == "pytorch" ? "torch" : "numpy",
              "--threads", std::to_string(threads)};
    }
    // The environment with the thread counts fixed for every library.
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      const std::string s = *e;
      if (s.rfind("OPENBLAS_NUM_THREADS=", 0) == 0 || s.rfind("OMP_NUM_THREADS=", 0) == 0 ||
          s.rfind("MKL_NUM_THREADS=", 0) == 0)
        continue;
      env.push_back(s);
    }
    for (const char* k : {"OPENBLAS_NUM_THREADS=", "OMP_NUM_THREADS=", "MKL_NUM_THREADS="})
      env.push_back(k + std::to_string(threads));
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) {
      error_ = "pipe failed";
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]})
      posix_spawn_file_actions_addclose(&actions, fd);
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    close(to_child[0]);
    close(from_child[1]);
    if (rc != 0) {
      close(to_child[1]);
      close(from_child[0]);
      error_ = std::string("cannot start ") + argv[0] + ": " + std::strerror(rc);
      pid_ = -1;
      return;
    }
    to_ = fdopen(to_child[1], "w");
    from_ = fdopen(from_child[0], "r");
    const auto hello = request("hello");
    if (hello.rfind("ok", 0) != 0) {
      error_ = "did not start: " + hello;
      return;
    }
    for (const auto& w : split_words(hello.substr(2))) {
      const auto eq = w.find('=');
      if (eq != std::string::npos) info_[w.substr(0, eq)] = w.substr(eq + 1);
    }
  }

  ~Worker() {
    if (to_) {
      std::fputs("quit\n", to_);
      std::fflush(to_);
      std::fclose(to_);
    }
    if (from_) std::fclose(from_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& impl() const { return impl_; }
  std::string info(const std::string& key) const {
    const auto it = info_.find(key);
    return it == info_.end() ? "?" : it->second;
  }

  // One command, one answer line; "error ..." when the worker failed or died.
  std::string request(const std::string& line) {
    if (!to_ || !from_) return "error worker not running";
    std::fputs((line + "\n").c_str(), to_);
    std::fflush(to_);
    std::string reply;
    int c;
    while ((c = std::fgetc(from_)) != EOF && c != '\n') reply += char(c);
    if (c == EOF && reply.empty()) {
      error_ = "worker exited";
      return "error worker exited";
    }
    return reply;
  }

 private:
  std::string impl_, error_;
  pid_t pid_ = -1;
  std::FILE* to_ = nullptr;
  std::FILE* from_ = nullptr;
  std::map<std::string, std::string> info_;
};

// ---- verification -----------------------------------------------------------------------------

// Normwise relative difference ||a - r||_inf / ||r||_inf per block (loss, each gradient, each
// parameter), the worst block; +inf when the sizes differ or a value is not finite.
double compare(const std::vector<double>& a, const std::vector<double>& r,
               const std::vector<std::size_t>& blocks) {
  if (a.size() != r.size()) return INFINITY;
  double worst = 0;
  std::size_t start = 0;
  for (std::size_t len : blocks) {
    double diff = 0, norm = 0;
    for (std::size_t i = start; i < start + len && i < a.size(); ++i) {
      if (!std::isfinite(a[i]) || !std::isfinite(r[i])) return INFINITY;
      diff = std::max(diff, std::fabs(a[i] - r[i]));
      norm = std::max(norm, std::fabs(r[i]));
    }
    worst = std::max(worst, norm > 0 ? diff / norm : diff);
    start += len;
  }
  return worst;
}

std::vector<std::size_t> blocks_of(const Spec& spec) {
  const Problem p = make_problem(spec);
  if (p.mode == Mode::chain) return {1, 1};
  std::vector<std::size_t> blocks{1};
  for (int pass = 0; pass < 2; ++pass)
    for (std::size_t l = 0; l < p.layers(); ++l) {
      blocks.push_back(p.sizes[l] * p.sizes[l + 1]);
      blocks.push_back(p.sizes[l + 1]);
    }
  return blocks;
}

struct VerifyCase {
  std::string label, spec;
};

std::vector<VerifyCase> verify_cases(const std::string& dtype) {
  const std::string d = ",dtype=" + dtype;
  return {{"W1", "w=W1" + d},
          {"W2", "w=W2" + d},
          {"W3", "w=W3" + d},
          {"W4 sigmoid", "w=W4,act=sigmoid" + d},
          {"W4 relu", "w=W4,act=relu" + d},
          {"W5 (300 synthetic samples, 3 batches)", "w=W5,data=synthetic,n=300" + d},
          {"chain", "w=chain,ops=100" + d}};
}

std::vector<double> read_doubles(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<double> v;
  double x;
  while (f.read(reinterpret_cast<char*>(&x), sizeof x)) v.push_back(x);
  return v;
}

// In this process: the engine, eager and replayed, against the reference, for the CTest test.
int verify_only() {
  int failures = 0;
  for (const char* dtype : {"f64", "f32"}) {
    const bool f64 = std::string(dtype) == "f64";
    const double tol = f64 ? 1e-10 : 1e-4;
    std::printf("engine vs hand-written reference, %s (tolerance %.0e%s):\n",
                f64 ? "float64" : "float32", tol, f64 ? "" : ", informational");
    for (const auto& c : verify_cases(dtype)) {
      const Spec spec = Spec::parse(c.spec);
      const Problem p = make_problem(spec);
      const auto ref = make_reference(p, spec.f32())->dump();
      const auto eng = make_engine(p, spec.f32())->dump();
      const double err = compare(eng, ref, blocks_of(spec));
      const bool pass = err <= tol;
      if (f64 && !pass) ++failures;
      std::printf("  %-40s max relative difference %.3g  %s\n", c.label.c_str(), err,
                  pass ? "ok" : "DIFFERS");
      const double replay_err = compare(make_replay(p, spec.f32())->dump(), ref, blocks_of(spec));
      const bool replay_pass = replay_err <= tol;
      if (f64 && !replay_pass) ++failures;
      std::printf("  %-40s max relative difference %.3g  %s\n", (c.label + ", replayed").c_str(),
                  replay_err, replay_pass ? "ok" : "DIFFERS");
    }
  }
  std::printf("%s\n", failures ? "FAILED: the engine's gradients differ from the reference's"
                               : "gradients match");
  return failures ? 1 : 0;
}

// ---- measurements -----------------------------------------------------------------------------

struct Item {
  std::string group;  // W1..W5, sweep, chain
  std::string label;  // "W4 mlp (relu)"
  std::string spec;
  bool epoch = false;
  std::set<std::string> impls;  // the implementations timed on it; empty: all
  int rounds = 0;               // 0: the options' rounds (epoch_rounds for W5)
};

Item item(std::string group, std::string label, std::string spec, bool epoch = false,
          std::set<std::string> impls = {}) {
  return Item{std::move(group), std::move(label), std::move(spec), epoch, std::move(impls), 0};
}

struct Stats {
  std::vector<double> samples;  // wall-clock seconds per unit, one per round
  std::vector<double> cpu;      // the process's CPU seconds per unit over the same batches
  std::string error;
  double cpu_median() const {
    Stats s;
    s.samples = cpu;
    return s.median();
  }
  double median() const {
    auto s = samples;
    std::sort(s.begin(), s.end());
    const std::size_t n = s.size();
    return n == 0 ? NAN : n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  }
  double min() const {
    return samples.empty() ? NAN : *std::min_element(samples.begin(), samples.end());
  }
  double max() const {
    return samples.empty() ? NAN : *std::max_element(samples.begin(), samples.end());
  }
};

// What a phase times. The first thread count (1 by default: the one the targets are judged on)
// gets everything; later ones get float64 W1-W4 unless --full (with two threads torch's OpenMP
// pool can make a W5 epoch take half a minute).
std::vector<Item> items_for(const Options& opt, bool first_phase) {
  std::vector<Item> items;
  auto want = [&](const std::string& g) { return opt.only.empty() || opt.only.count(g); };
  std::vector<std::string> dtypes{"f64"};
  if (opt.float32 && (first_phase || opt.full)) dtypes.push_back("f32");
  for (const auto& dt : dtypes) {
    const std::string d = ",dtype=" + dt;
    if (want("W1")) items.push_back(item("W1", "W1 xor", "w=W1" + d));
    if (want("W2")) items.push_back(item("W2", "W2 regression", "w=W2" + d));
    if (want("W3")) items.push_back(item("W3", "W3 digits", "w=W3" + d));
    if (want("W4")) items.push_back(item("W4", "W4 mlp sigmoid", "w=W4,act=sigmoid" + d));
    if (want("W4")) items.push_back(item("W4", "W4 mlp relu", "w=W4,act=relu" + d));
    if (want("W5") && !opt.quick && (first_phase || opt.full))
      items.push_back(item("W5", "W5 epoch", "w=W5" + d, true));
  }
  if (first_phase)
    for (auto& it : items) it.rounds = opt.judged_rounds;
  if (first_phase) {
    if (want("chain"))
      items.push_back(item("chain", "chain of 100 tiny ops", "w=chain,ops=100,dtype=f64"));
    if (want("sweep") && !opt.quick) {
      // The C++ implementations only unless --full (the sweep is about how cost grows).
      std::set<std::string> who;
      if (!opt.full) who = {"reference", "engine", "libtorch"};
      for (int b : {64, 128, 512, 1024})
        items.push_back(item("sweep", "batch " + std::to_string(b),
                             "w=mlp,batch=" + std::to_string(b) + ",width=512,dtype=f64", false,
                             who));
      for (int w : {64, 128, 256, 1024})
        items.push_back(item("sweep", "width " + std::to_string(w),
                             "w=mlp,batch=256,width=" + std::to_string(w) + ",dtype=f64", false,
                             who));
    }
  }
  return items;
}

// Whether every product of the workload is below OpenBLAS's threshold for a second thread.
bool small_products(const Item& it) {
  return it.group == "W1" || it.group == "W2";
}

std::string canonical(const std::string& spec) {
  return Spec::parse(spec).str();
}

struct Results {
  // [threads][canonical spec][impl]
  std::map<int, std::map<std::string, std::map<std::string, Stats>>> time;
  std::map<int, std::map<std::string, Stats>> gemm;  // [threads]["f64"/"f32"]: GFLOP/s samples
  std::map<std::string, std::map<std::string, double>> verify;      // [case][impl] f64
  std::map<std::string, std::map<std::string, double>> verify_f32;  // [case][impl]
  std::map<std::string, std::map<std::string, std::string>> verify_error;
  std::map<std::string, std::map<std::string, long>> memory;  // [spec][impl] KiB
  // [spec][impl] KiB: the part of `memory` that is file-backed pages (code) the steps touched
  std::map<std::string, std::map<std::string, long>> memory_code;
  std::map<std::string, std::map<std::string, std::string>> memory_error;
  std::map<std::string, std::map<std::string, std::string>> worker_info;  // [impl][key]
  std::map<std::string, std::string> unavailable;                         // impl -> why
  std::set<std::string> wrong;      // "impl|spec" that failed verification: not timed
  std::map<int, double> wall, cpu;  // [threads]: totals over all timed batches
};

std::string stats_msg(const std::string& reply) {
  return reply.size() > 6 ? reply.substr(6) : reply;
}

void progress(const std::string& s) {
  std::fprintf(stderr, "%s\n", s.c_str());
  std::fflush(stderr);
}

// Verification of every implementation against the reference, in workers.
void verify_all(std::map<std::string, std::unique_ptr<Worker>>& workers, Results& res,
                const fs::path& tmp) {
  for (const char* dtype : {"f64", "f32"}) {
    for (const auto& c : verify_cases(dtype)) {
      std::map<std::string, std::vector<double>> values;
      for (auto& [impl, w] : workers) {
        if (!w->ok()) continue;
        const std::string path = (tmp / (impl + ".bin")).string();
        const auto reply = w->request("verify " + c.spec + " " + path);
        if (reply.rfind("ok", 0) == 0)
          values[impl] = read_doubles(path);
        else
          res.verify_error[c.label][impl] = stats_msg(reply);
      }
      if (!values.count("reference")) continue;
      const auto blocks = blocks_of(Spec::parse(c.spec));
      for (auto& [impl, v] : values) {
        if (impl == "reference") continue;
        const double err = compare(v, values["reference"], blocks);
        (std::string(dtype) == "f64" ? res.verify : res.verify_f32)[c.label][impl] = err;
      }
    }
  }
}

// The spec a verification case covers, to skip timing an implementation whose gradients differ.
void mark_wrong(Results& res) {
  const std::map<std::string, std::string> cover = {{"W1", "W1"},
                                                    {"W2", "W2"},
                                                    {"W3", "W3"},
                                                    {"W4 sigmoid", "W4,act=sigmoid"},
                                                    {"W4 relu", "W4,act=relu"}};
  for (const auto& [label, per_impl] : res.verify)
    for (const auto& [impl, err] : per_impl)
      if (!(err <= 1e-10) && cover.count(label))
        for (const char* dt : {"f64", "f32"})
          res.wrong.insert(impl + "|" + canonical("w=" + cover.at(label) + ",dtype=" + dt));
}

// Times `items` in workers of their own, started for them.
void run_group(const Options& opt, int threads, const std::vector<Item>& items, bool verify,
               Results& res, const fs::path& tmp) {
  progress("== " + std::to_string(threads) + " thread(s): starting workers");
  std::map<std::string, std::unique_ptr<Worker>> workers;
  for (const auto& impl : opt.impls) {
    auto w = std::make_unique<Worker>(impl, threads, opt);
    if (!w->ok()) {
      res.unavailable[impl] = w->error();
      progress("   " + impl + ": " + w->error());
      continue;
    }
    for (const char* k : {"name", "corename", "threads", "blas_threads", "version"})
      res.worker_info[impl][std::string(k) + "@" + std::to_string(threads)] = w->info(k);
    workers[impl] = std::move(w);
  }
  if (verify) {
    progress("   verifying gradients against the hand-written reference");
    verify_all(workers, res, tmp);
    mark_wrong(res);
  }
  // Set up every workload in every worker first (data and weights are not timed).
  for (const auto& it : items)
    for (auto& [impl, w] : workers)
      if (w->ok() && (it.impls.empty() || it.impls.count(impl))) {
        const auto reply = w->request("setup " + it.spec);
        if (reply.rfind("ok", 0) != 0)
          res.time[threads][canonical(it.spec)][impl].error = stats_msg(reply);
      }
  std::vector<std::string> order;
  for (const auto& impl : opt.impls)
    if (workers.count(impl)) order.push_back(impl);
  auto rounds_of = [&](const Item& it) {
    return it.rounds ? it.rounds : it.epoch ? opt.epoch_rounds : opt.rounds;
  };
  int rounds = 0;
  for (const auto& it : items) rounds = std::max(rounds, rounds_of(it));
  const bool small_only = std::all_of(items.begin(), items.end(), small_products);
  for (int round = 0; round < rounds; ++round) {
    progress("   round " + std::to_string(round + 1) + "/" + std::to_string(rounds));
    // Raw GEMM throughput, once per round like everything else (not where only small products
    // run: it would start the BLAS threads).
    if (workers.count("reference") && !small_only)
      for (const char* dt : {"f64", "f32"}) {
        const auto reply = workers["reference"]->request(std::string("gemm ") + dt + " 1024 " +
                                                         fmt("%g", opt.min_time));
        if (reply.rfind("ok", 0) == 0)
          res.gemm[threads][dt].samples.push_back(std::stod(reply.substr(3)));
      }
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& it = items[i];
      if (round >= rounds_of(it)) continue;
      const std::string key = canonical(it.spec);
      // A rotated order per round and workload: no implementation always runs first.
      for (std::size_t k = 0; k < order.size(); ++k) {
        const std::string& impl = order[(k + round + i) % order.size()];
        if (!it.impls.empty() && !it.impls.count(impl)) continue;
        auto& st = res.time[threads][key][impl];
        if (!st.error.empty() || res.wrong.count(impl + "|" + key)) continue;
        auto& w = workers[impl];
        if (!w->ok()) {
          st.error = w->error();
          continue;
        }
        const auto reply = w->request("time " + it.spec + " " + fmt("%g", opt.min_time));
        const auto words = split_words(reply);
        if (words.size() == 4 && words[0] == "ok") {
          st.samples.push_back(std::stod(words[2]) / std::stod(words[1]));
          st.cpu.push_back(std::stod(words[3]) / std::stod(words[1]));
          res.wall[threads] += std::stod(words[2]);
          res.cpu[threads] += std::stod(words[3]);
        } else {
          st.error = stats_msg(reply);
        }
      }
    }
  }
}

// With more than one thread, the workloads whose products are all too small for OpenBLAS to split
// (W1, W2) run in workers of their own, which never split one. A process in which the BLAS has
// split a product keeps the threads it started for it, and from then on every reference count is
// a locked instruction: a program that trains only a tiny network never pays that, and its
// timing should not depend on which other workloads the worker ran before.
void run_phase(const Options& opt, int threads, bool first_phase, Results& res,
               const fs::path& tmp) {
  const auto items = items_for(opt, first_phase);
  if (threads == 1) return run_group(opt, threads, items, first_phase, res, tmp);
  std::vector<Item> small, large;
  for (const auto& it : items) (small_products(it) ? small : large).push_back(it);
  if (!small.empty()) run_group(opt, threads, small, first_phase, res, tmp);
  if (!large.empty()) run_group(opt, threads, large, first_phase && small.empty(), res, tmp);
}

void measure_memory(const Options& opt, Results& res) {
  std::vector<std::pair<std::string, std::string>> cases;  // spec, units
  auto want = [&](const std::string& g) { return opt.only.empty() || opt.only.count(g); };
  std::vector<std::string> dtypes{"f64"};
  if (opt.float32 && opt.full) dtypes.push_back("f32");
  for (const auto& dt : dtypes) {
    if (want("W4")) cases.push_back({"w=W4,act=sigmoid,dtype=" + dt, "5"});
    if (want("W5") && !opt.quick) cases.push_back({"w=W5,dtype=" + dt, "40"});
  }
  if (cases.empty()) return;
  progress("== peak memory (a fresh process per implementation and workload, 1 thread)");
  for (const auto& [spec, units] : cases)
    for (const auto& impl : opt.impls) {
      if (res.unavailable.count(impl)) continue;
      Worker w(impl, 1, opt);
      if (!w.ok()) {
        res.memory_error[canonical(spec)][impl] = w.error();
        continue;
      }
      const auto reply = w.request("memory " + spec + " " + units);
      const auto words = split_words(reply);
      // Less the implementation's own copy of the input matrix X, the same for all of them (for
      // W5 it is the whole data set, which would otherwise hide the training's own memory).
      const Spec s = Spec::parse(spec);
      Spec shape = s;
      if (s.get("w") == "W5") shape.kv["data"] = "synthetic", shape.kv["n"] = "60000";
      const Problem p = make_problem(shape);
      const long x_kib = long(p.n * p.sizes[0] * (s.f32() ? 4 : 8) / 1024);
      if ((words.size() == 3 || words.size() == 4) && words[0] == "ok") {
        res.memory[canonical(spec)][impl] = std::stol(words[1]) - x_kib;
        if (words.size() == 4) res.memory_code[canonical(spec)][impl] = std::stol(words[3]);
      } else
        res.memory_error[canonical(spec)][impl] = stats_msg(reply);
    }
}

// ---- report -----------------------------------------------------------------------------------

std::string shell_output(const std::string& cmd) {
  std::string out;
  if (std::FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string first_match(const std::string& path, const std::string& key) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) {
      auto v = line.substr(line.find(':') + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "?";
}

// A time in a unit chosen by the reference's magnitude (so that a row reads in one unit).
struct Unit {
  double scale;
  const char* name;
};
Unit unit_for(double seconds) {
  if (seconds < 1e-7) return {1e9, "ns"};
  if (seconds < 1e-3) return {1e6, "us"};
  if (seconds < 1) return {1e3, "ms"};
  return {1, "s"};
}
std::string show(double seconds, Unit u) {
  const double v = seconds * u.scale;
  return fmt(v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f", v) + " " + u.name;
}

struct Report {
  const Options& opt;
  Results& res;
  std::string command, started;
  double seconds = 0;

  std::vector<std::string> impls() const { return opt.impls; }

  double gemm_peak(int threads, const std::string& dt) const {
    const auto a = res.gemm.find(threads);
    if (a == res.gemm.end()) return NAN;
    const auto b = a->second.find(dt);
    return b == a->second.end() ? NAN : b->second.max();
  }

  // The line under every table: the kernel and the thread counts it was measured with.
  std::string caption(int threads) const {
    return "*OpenBLAS kernel " + info("reference", "corename", threads) + ", " +
           std::to_string(threads) + " thread" + (threads > 1 ? "s" : "") +
           " in every implementation (OpenBLAS and torch pools).*\n\n";
  }

  const Stats* stats(int threads, const std::string& spec, const std::string& impl) const {
    auto a = res.time.find(threads);
    if (a == res.time.end()) return nullptr;
    auto b = a->second.find(canonical(spec));
    if (b == a->second.end()) return nullptr;
    auto c = b->second.find(impl);
    return c == b->second.end() ? nullptr : &c->second;
  }

  double median(int threads, const std::string& spec, const std::string& impl) const {
    const Stats* s = stats(threads, spec, impl);
    return s ? s->median() : NAN;
  }

  double ratio(int threads, const std::string& spec, const std::string& impl) const {
    return median(threads, spec, impl) / median(threads, spec, "reference");
  }

  double cpu_median(int threads, const std::string& spec, const std::string& impl) const {
    const Stats* s = stats(threads, spec, impl);
    return s ? s->cpu_median() : NAN;
  }

  double cpu_ratio(int threads, const std::string& spec, const std::string& impl) const {
    return cpu_median(threads, spec, impl) / cpu_median(threads, spec, "reference");
  }

  std::string why_missing(int threads, const std::string& spec, const std::string& impl) const {
    if (res.unavailable.count(impl)) return "n/a";
    if (res.wrong.count(impl + "|" + canonical(spec))) return "**wrong gradients**";
    const Stats* s = stats(threads, spec, impl);
    if (s && !s->error.empty()) return "error";
    return "–";
  }

  std::string cell(int threads, const std::string& spec, const std::string& impl, Unit u) const {
    const double m = median(threads, spec, impl);
    if (std::isnan(m)) return why_missing(threads, spec, impl);
    std::string s = show(m, u);
    if (impl != "reference") {
      const double r = ratio(threads, spec, impl);
      if (!std::isnan(r)) s += fmt(r < 10 ? " (%.2fx)" : " (%.0fx)", r);
    }
    return s;
  }

  std::string header_row(const std::string& first) const {
    std::string h = "| " + first + " |", sep = "| --- |";
    for (const auto& i : impls()) {
      h += " " + kDisplay.at(i) + " |";
      sep += " ---: |";
    }
    return h + "\n" + sep + "\n";
  }

  std::string machine() const {
    struct utsname u {};
    uname(&u);
    const std::string cpu = first_match("/proc/cpuinfo", "model name");
    const double mem_gib = std::stod(first_match("/proc/meminfo", "MemTotal")) / 1048576.0;
    std::string flags = first_match("/proc/cpuinfo", "flags");
    const bool avx512 = flags.find("avx512f") != std::string::npos;
    return cpu + " (" + std::to_string(std::thread::hardware_concurrency()) + " cores" +
           (avx512 ? ", AVX-512" : "") + "), " + fmt("%.0f", mem_gib) + " GiB, Debian " +
           first_match("/etc/debian_version", "") + ", Linux " + u.release;
  }

  std::string info(const std::string& impl, const std::string& key, int threads) const {
    auto a = res.worker_info.find(impl);
    if (a == res.worker_info.end()) return "?";
    auto b = a->second.find(key + "@" + std::to_string(threads));
    return b == a->second.end() ? "?" : b->second;
  }

  std::string markdown() const {
    std::ostringstream md;
    const char* coretype = std::getenv("OPENBLAS_CORETYPE");
    md << "# tapegrad benchmarks: latest run\n\n";
    md << "- Measured " << started << " on " << machine() << ".\n";
    md << "- Command: `" << command << "` (" << fmt("%.0f", seconds)
       << " s for the measurements, build excluded).\n";
    const std::string commit =
        shell_output("git -C '" TAPEGRAD_BENCH_SOURCE_DIR "' rev-parse --short HEAD 2>/dev/null");
    const std::string dirty =
        shell_output("git -C '" TAPEGRAD_BENCH_SOURCE_DIR
                     "' status --porcelain -- .. ':!results' 2>/dev/null | head -1");
    md << "- Source: commit " << (commit.empty() ? "?" : commit)
       << (dirty.empty() ? "" : " with uncommitted changes") << "; compiler g++ " << __VERSION__
       << ", Release (-O3).\n";
    md << "- OpenBLAS: `OPENBLAS_CORETYPE=" << (coretype ? coretype : "(unset)") << "`; kernel";
    {
      std::map<std::string, std::vector<std::string>> by_core;
      for (const auto& impl : impls())
        for (int t : opt.threads) {
          const auto core = info(impl, "corename", t);
          if (core != "?") {
            auto& v = by_core[core];
            if (std::find(v.begin(), v.end(), kDisplay.at(impl)) == v.end())
              v.push_back(kDisplay.at(impl));
          }
        }
      if (by_core.size() == 1)
        md << " in every worker: **" << by_core.begin()->first << "**";
      else
        for (const auto& [core, who] : by_core)
          md << " **" << core << "** (" << join(who, ", ") << ")";
    }
    md << " (`openblas_get_corename()`/`openblas_get_parallel()`: the kernel and the build's "
          "threading).\n";
    md << "- Threads: ";
    std::vector<std::string> ts;
    for (int t : opt.threads) {
      std::vector<std::string> per;
      for (const auto& impl : impls())
        if (info(impl, "threads", t) != "?")
          per.push_back(kDisplay.at(impl) + " " + info(impl, "threads", t) + "/" +
                        info(impl, "blas_threads", t));
      ts.push_back(std::to_string(t) + " (" + join(per, ", ") + ")");
    }
    md << join(ts, "; ")
       << " — requested/OpenBLAS threads as each worker reports them; OPENBLAS_NUM_THREADS, "
          "OMP_NUM_THREADS, openblas_set_num_threads and torch.set_num_threads all set.\n";
    {
      std::vector<std::string> share;
      for (int t : opt.threads)
        if (res.wall.count(t) && res.wall.at(t) > 0)
          share.push_back(fmt("%.0f%%", 100 * res.cpu.at(t) / res.wall.at(t)) +
                          " of the wall time with " + std::to_string(t) + " thread" +
                          (t > 1 ? "s" : "") + " (at most " + std::to_string(100 * t) + "%)");
      if (!share.empty())
        md << "- Machine load: the workers' CPU time was " << join(share, ", ")
           << " over all timed batches; for the rest of the time other processes on this "
              "machine held the cores.\n";
    }
    std::vector<std::string> versions;
    for (const auto& impl : impls())
      if (impl != "engine" && impl != "replay" && impl != "reference" &&
          info(impl, "version", opt.threads[0]) != "?")
        versions.push_back(kDisplay.at(impl) + " " + info(impl, "version", opt.threads[0]));
    if (!versions.empty()) md << "- Versions: " << join(versions, ", ") << ".\n";
    for (const auto& [impl, why] : res.unavailable)
      md << "- " << kDisplay.at(impl) << ": not measured: " << why << ".\n";
    md << "- Method: every implementation in its own process; each measurement repeats the unit "
          "until it covers at least "
       << fmt("%g", opt.min_time) << " s after a warm-up; " << opt.rounds
       << (opt.rounds == 1 ? " round" : " rounds") << " (W5: " << opt.epoch_rounds << "; W1-W5 at "
       << opt.threads[0] << " thread" << (opt.threads[0] > 1 ? "s" : "")
       << ", the cells the targets are judged on: " << opt.judged_rounds
       << "), each round timing every implementation once per workload in a rotated order; "
          "cells show the median, and (in parentheses) the ratio to the hand-written reference "
          "in the same run. Min and max are in the details below and in latest.tsv."
       << (*std::max_element(opt.threads.begin(), opt.threads.end()) > 1
               ? " With more than one thread, W1 and W2 are timed in processes of their own, which "
                 "never split a product over threads (a process that did keeps the BLAS threads, "
                 "and then every reference count is a locked instruction)."
               : "")
       << (opt.full || opt.threads.size() < 2
               ? ""
               : " The second thread count times float64 W1-W4 only (`--full` adds float32 and "
                 "W5).")
       << "\n\n";

    md << "The hand-written reference is the same networks with manual backprop: every matmul "
          "one direct `cblas_?gemm` call with transpose flags on preallocated buffers, fused "
          "elementwise loops, nothing allocated per step. On this stack it is the practical "
          "limit for an engine: ratios are distances from it.\n\n";

    targets(md);
    verification(md);
    gemm_table(md);
    for (int t : opt.threads)
      for (const char* dt : {"f64", "f32"}) workload_table(md, t, dt);
    chain_table(md);
    sweep_table(md);
    memory_table(md);
    details(md);
    return md.str();
  }

  void targets(std::ostringstream& md) const {
    const int t = 1;
    if (std::find(opt.threads.begin(), opt.threads.end(), 1) == opt.threads.end()) return;
    md << "## Targets (the engine's performance goals: 1 thread, ratios to the hand-written "
          "reference)\n\n";
    md << "In float64 and float32: on the large workloads (W3, W4 with either activation, W5) the "
          "engine takes at most 1.05x the hand-written reference's time and less than libtorch "
          "C++'s; on the tiny ones, where the per-op overhead dominates, at most 3x (W1) and 2x "
          "(W2); its peak memory on W4 and W5 at most the reference's. A replayed tape "
          "(tg::record_step) takes at most 1.2x the reference's time on W1 and W2 and at most "
          "its time on W3, W4 and W5, with a peak memory no higher than eager mode's.\n\n";
    md << "A target is met when both the wall-clock medians and the CPU-time medians (each "
          "process's own CPU time, which leaves out the time other processes on the machine kept "
          "it waiting) meet it.\n\n";
    md << "| target | measured (wall) | by CPU time | verdict |\n| --- | --- | --- | --- |\n";
    auto r = [&](const std::string& spec, const std::string& impl) { return ratio(t, spec, impl); };
    auto c = [&](const std::string& spec, const std::string& impl) {
      return cpu_ratio(t, spec, impl);
    };
    auto x = [](double v, const char* f) { return std::isnan(v) ? std::string("–") : fmt(f, v); };
    auto within = [](double wall, double cpu, double limit) -> std::string {
      if (std::isnan(wall) || std::isnan(cpu)) return "not measured";
      return wall <= limit && cpu <= limit ? "met" : "**missed**";
    };
    for (const char* dt : {"f64", "f32"}) {
      const std::string d = std::string(",dtype=") + dt;
      const std::vector<std::pair<std::string, std::string>> big = {
          {"W3 digits", "w=W3" + d},
          {"W4 mlp sigmoid", "w=W4,act=sigmoid" + d},
          {"W4 mlp relu", "w=W4,act=relu" + d},
          {"W5 epoch", "w=W5" + d}};
      for (const auto& [label, spec] : big) {
        const double v = r(spec, "engine"), vc = c(spec, "engine");
        md << "| " << label << " " << dt << ": tapegrad within 1.05x | " << x(v, "%.3fx") << " | "
           << x(vc, "%.3fx") << " | " << within(v, vc, 1.05) << " |\n";
        const double lt = r(spec, "libtorch"), ltc = c(spec, "libtorch");
        std::string faster = std::isnan(v) || std::isnan(lt) || std::isnan(vc) || std::isnan(ltc)
                                 ? "not measured"
                             : v < lt && vc < ltc ? "met"
                                                  : "**missed**";
        md << "| " << label << " " << dt << ": tapegrad faster than libtorch C++ | "
           << x(v, "%.3fx") << " vs " << x(lt, "%.3fx") << " | " << x(vc, "%.3fx") << " vs "
           << x(ltc, "%.3fx") << " | " << faster << " |\n";
      }
      for (const auto& [label, spec, limit] :
           std::vector<std::tuple<std::string, std::string, double>>{
               {"W1 xor", "w=W1" + d, 3.0}, {"W2 regression", "w=W2" + d, 2.0}}) {
        const double v = r(spec, "engine"), vc = c(spec, "engine");
        md << "| " << label << " " << dt << ": tapegrad within " << fmt("%.0fx", limit) << " | "
           << x(v, "%.2fx") << " | " << x(vc, "%.2fx") << " | " << within(v, vc, limit) << " |\n";
      }
    }
    // Replayed tapes: W1 and W2 within 1.2x, W3, W4 and W5 at most the reference's time.
    for (const char* dt : {"f64", "f32"}) {
      const std::string d = std::string(",dtype=") + dt;
      for (const auto& [label, spec, limit] :
           std::vector<std::tuple<std::string, std::string, double>>{
               {"W1 xor", "w=W1" + d, 1.2},
               {"W2 regression", "w=W2" + d, 1.2},
               {"W3 digits", "w=W3" + d, 1.0},
               {"W4 mlp sigmoid", "w=W4,act=sigmoid" + d, 1.0},
               {"W4 mlp relu", "w=W4,act=relu" + d, 1.0},
               {"W5 epoch", "w=W5" + d, 1.0}}) {
        const double v = r(spec, "replay"), vc = c(spec, "replay");
        md << "| " << label << " " << dt << ": tapegrad replay within " << fmt("%.1fx", limit)
           << " | " << x(v, "%.3fx") << " | " << x(vc, "%.3fx") << " | " << within(v, vc, limit)
           << " |\n";
      }
    }
    for (const char* spec : {"w=W4,act=sigmoid,dtype=f64", "w=W5,dtype=f64"}) {
      const auto mem = res.memory.find(canonical(spec));
      if (mem == res.memory.end() || !mem->second.count("engine") ||
          !mem->second.count("reference"))
        continue;
      const double v = double(mem->second.at("engine")) / double(mem->second.at("reference"));
      const std::string w = std::string(spec).find("W5") != std::string::npos ? "W5" : "W4";
      // The ratio without the code pages, beside the one judged (see the memory table).
      const auto code = res.memory_code.find(canonical(spec));
      auto without_code = [&](const std::string& impl) -> std::string {
        if (code == res.memory_code.end() || !code->second.count(impl) ||
            !code->second.count("reference"))
          return "";
        const double data = double(mem->second.at(impl) - code->second.at(impl));
        const double ref = double(mem->second.at("reference") - code->second.at("reference"));
        return ref > 0 ? fmt("%.2fx", data / ref) : "";
      };
      const std::string engine_data = without_code("engine");
      md << "| " << w << " peak memory: tapegrad at most the reference's | " << fmt("%.2fx", v)
         << (engine_data.empty() ? "" : " (" + engine_data + " without code pages)") << " | | "
         << (v <= 1.0 ? "met" : "**missed**") << " |\n";
      if (!mem->second.count("replay")) continue;
      const double rv = double(mem->second.at("replay")) / double(mem->second.at("reference"));
      const std::string replay_data = without_code("replay");
      md << "| " << w << " peak memory: tapegrad replay at most eager's | " << fmt("%.2fx", rv)
         << " vs " << fmt("%.2fx", v)
         << (replay_data.empty() || engine_data.empty()
                 ? ""
                 : " (" + replay_data + " vs " + engine_data + " without code pages)")
         << " | | " << (rv <= v ? "met" : "**missed**") << " |\n";
    }
    md << "\n";
  }

  void verification(std::ostringstream& md) const {
    if (res.verify.empty()) return;
    md << "## Gradients, checked before timing\n\n";
    md << "Each implementation runs one unit from the same weights and data (bit-identical in "
          "every language); the loss, every gradient and the updated parameters are compared "
          "with the hand-written reference's: the worst normwise relative difference "
          "`max|a-r| / max|r|` over those blocks. float64 must agree to 1e-10 (an "
          "implementation that does not is not timed on that workload); float32 is shown for "
          "information.\n\n";
    std::vector<std::string> others;
    for (const auto& i : impls())
      if (i != "reference") others.push_back(i);
    md << "| case |";
    std::string sep = "| --- |";
    for (const auto& i : others) {
      md << " " << kDisplay.at(i) << " f64 | f32 |";
      sep += " ---: | ---: |";
    }
    md << "\n" << sep << "\n";
    for (const auto& c : verify_cases("f64")) {
      md << "| " << c.label << " |";
      for (const auto& i : others) {
        auto get = [&](const auto& table) -> std::string {
          auto a = table.find(c.label);
          if (a == table.end() || !a->second.count(i)) return "–";
          const double e = a->second.at(i);
          return fmt("%.1e", e);
        };
        const std::string f64 = get(res.verify);
        double e64 = NAN;
        if (res.verify.count(c.label) && res.verify.at(c.label).count(i))
          e64 = res.verify.at(c.label).at(i);
        md << " " << f64
           << (std::isnan(e64) ? ""
               : e64 <= 1e-10  ? " ✓"
                               : " **✗**")
           << " | " << get(res.verify_f32) << " |";
      }
      md << "\n";
    }
    md << "\n";
  }

  void gemm_table(std::ostringstream& md) const {
    if (res.gemm.empty()) return;
    md << "## Raw GEMM throughput (cblas_?gemm, 1024 x 1024 x 1024, measured in every round)\n\n";
    md << "| threads | dgemm GFLOP/s best [median, min] | sgemm GFLOP/s best [median, min] |\n"
          "| --- | ---: | ---: |\n";
    for (const auto& [t, g] : res.gemm) {
      md << "| " << t << " |";
      for (const char* dt : {"f64", "f32"}) {
        const auto it = g.find(dt);
        md << " "
           << (it == g.end() || it->second.samples.empty()
                   ? std::string("–")
                   : fmt("%.1f", it->second.max()) + fmt(" [%.1f, ", it->second.median()) +
                         fmt("%.1f]", it->second.min()))
           << " |";
      }
      md << "\n";
    }
    md << "\nA workload's GEMM work is forward 2·B·in·out FLOPs per layer and backward twice "
          "that; its GFLOP/s and their fraction of the best figure above (the peak: same thread "
          "count and precision) are in the details. A fraction near 100% means the time is all "
          "GEMM; a spread between best and median here is the machine's noise.\n\n";
  }

  std::vector<Item> main_items(const std::string& dt) const {
    std::vector<Item> out;
    for (const auto& it : items_for(opt, true))
      if (it.group.size() == 2 && it.group[0] == 'W' &&
          it.spec.find("dtype=" + dt) != std::string::npos)
        out.push_back(it);
    return out;
  }

  void workload_table(std::ostringstream& md, int t, const std::string& dt) const {
    const auto items = main_items(dt);
    bool any = false;
    for (const auto& it : items)
      if (stats(t, it.spec, "reference")) any = true;
    if (!any) return;
    md << "## " << t << " thread" << (t > 1 ? "s" : "") << ", "
       << (dt == "f64" ? "float64" : "float32") << "\n\n";
    md << caption(t) << header_row("workload (unit)");
    for (const auto& it : items) {
      if (!stats(t, it.spec, "reference")) continue;  // not timed with this thread count
      const Problem p = describe(it.spec);
      const Unit u = unit_for(median(t, it.spec, "reference"));
      md << "| " << it.label << " (" << p.unit() << ") |";
      for (const auto& impl : impls()) md << " " << cell(t, it.spec, impl, u) << " |";
      md << "\n";
    }
    md << "\n";
  }

  // The problem's settings (no W5 data is loaded for this).
  static Problem describe(const std::string& spec) {
    Spec s = Spec::parse(spec);
    if (s.get("w") == "W5") {
      s.kv["data"] = "synthetic";
      s.kv["n"] = "60000";
      Problem p = make_problem(s);
      return p.without_data();
    }
    return make_problem(s).without_data();
  }

  void chain_table(std::ostringstream& md) const {
    const std::string spec = "w=chain,ops=100,dtype=f64";
    const int t = 1;
    if (!stats(t, spec, "reference")) return;
    md << "## Per-op overhead (1 thread, float64)\n\n";
    md << "A chain of 100 multiplications of a one-element tensor by a constant, then backward "
          "(NumPy and the reference: the same forward and backward multiplications by hand; "
          "tapegrad replay: the chain and its backward recorded once, a run per unit). "
          "Time per op, forward and backward together.\n\n";
    md << caption(t) << header_row("chain");
    md << "| ns per op |";
    for (const auto& impl : impls()) {
      const double m = median(t, spec, impl);
      md << " " << (std::isnan(m) ? why_missing(t, spec, impl) : fmt("%.1f", m * 1e9 / 100.0))
         << " |";
    }
    md << "\n\n";
  }

  void sweep_table(std::ostringstream& md) const {
    const int t = 1;
    std::vector<std::pair<std::string, std::string>> rows;
    for (int b : {64, 128, 256, 512, 1024})
      rows.push_back({"batch " + std::to_string(b) + ", width 512",
                      b == 256 ? "w=W4,act=sigmoid,dtype=f64"
                               : "w=mlp,batch=" + std::to_string(b) + ",width=512,dtype=f64"});
    for (int w : {64, 128, 256, 512, 1024})
      rows.push_back({"batch 256, width " + std::to_string(w),
                      w == 512 ? "w=W4,act=sigmoid,dtype=f64"
                               : "w=mlp,batch=256,width=" + std::to_string(w) + ",dtype=f64"});
    int have = 0;
    for (const auto& r : rows)
      if (stats(t, r.second, "reference")) ++have;
    if (have < 3) return;
    md << "## Scaling: W4 (784-H-H-10, sigmoid, softmax CE, one SGD step), 1 thread, float64\n\n";
    md << "Step time as the batch and the width double; the last columns give the reference's "
          "and the engine's GEMM throughput and its fraction of raw dgemm."
       << (opt.full ? "" : " PyTorch and NumPy are timed here only with `--full`.") << "\n\n"
       << caption(t);
    std::string h = header_row("size");
    h.insert(h.find('\n'), " reference GFLOP/s | tapegrad GFLOP/s |");
    h.insert(h.size() - 1, " ---: | ---: |");
    md << h;
    const double peak = gemm_peak(t, "f64");
    for (const auto& [label, spec] : rows) {
      if (!stats(t, spec, "reference")) continue;
      const Unit u = unit_for(median(t, spec, "reference"));
      md << "| " << label << " |";
      for (const auto& impl : impls()) md << " " << cell(t, spec, impl, u) << " |";
      const double flops = describe(spec).flops();
      for (const char* impl : {"reference", "engine"}) {
        const double g = flops / median(t, spec, impl) / 1e9;
        md << " " << (std::isnan(g) ? "–" : fmt("%.1f", g) + fmt(" (%.0f%%)", 100 * g / peak))
           << " |";
      }
      md << "\n";
    }
    md << "\n";
  }

  void memory_table(std::ostringstream& md) const {
    if (res.memory.empty() && res.memory_error.empty()) return;
    md << "## Peak memory (1 thread)\n\n";
    md << "Measured in a fresh process per implementation and workload: the shared problem "
          "(data and initial weights, in float64) is built, the peak RSS is reset "
          "(`/proc/self/clear_refs`), then the implementation makes its own tensors (its copy of "
          "the data, weights, buffers, optimizer) and runs W4 for 5 steps, W5 for the first 40 "
          "minibatches of an epoch. The figure is the peak RSS (`VmHWM`) over the RSS before, "
          "less the size of the implementation's copy of the input matrix X (the same for all; "
          "for W5 it is the whole data set), in MiB, with the ratio to the reference. Below each "
          "workload, the part of that figure that is file-backed pages the process mapped "
          "meanwhile "
          "(`RssFile`, after less before): code, the implementation's own and its libraries', "
          "which the kernel maps 64 KiB around each page first run, shared with every other "
          "process that uses the same files and independent of the problem's size.\n\n";
    md << caption(1) << header_row("workload");
    for (const auto& [spec, label] : std::vector<std::pair<std::string, std::string>>{
             {"w=W4,act=sigmoid,dtype=f64", "W4 mlp sigmoid, float64"},
             {"w=W5,dtype=f64", "W5 epoch, float64"},
             {"w=W4,act=sigmoid,dtype=f32", "W4 mlp sigmoid, float32"},
             {"w=W5,dtype=f32", "W5 epoch, float32"}}) {
      const auto key = canonical(spec);
      if (!res.memory.count(key) && !res.memory_error.count(key)) continue;
      const auto& m = res.memory.count(key) ? res.memory.at(key) : std::map<std::string, long>{};
      md << "| " << label << " |";
      for (const auto& impl : impls()) {
        if (!m.count(impl)) {
          md << " " << (res.unavailable.count(impl) ? "n/a" : "error") << " |";
          continue;
        }
        md << " " << fmt("%.1f", double(m.at(impl)) / 1024.0);
        if (impl != "reference" && m.count("reference") && m.at("reference") > 0)
          md << fmt(" (%.2fx)", double(m.at(impl)) / double(m.at("reference")));
        md << " |";
      }
      md << "\n";
      const auto code = res.memory_code.find(key);
      if (code == res.memory_code.end()) continue;
      md << "| of which code pages |";
      for (const auto& impl : impls())
        md << " "
           << (code->second.count(impl) ? fmt("%.1f", double(code->second.at(impl)) / 1024.0) : "")
           << " |";
      md << "\n";
    }
    md << "\n";
  }

  void details(std::ostringstream& md) const {
    md << "## Details: median [min, max], GFLOP/s and fraction of raw GEMM\n\n";
    md << "CPU: the process's CPU time per unit (median) and its ratio to the reference's (with "
          "2 threads it adds up both threads, spinning included).\n\n";
    md << "| threads | dtype | workload | implementation | median | min | max | ratio | CPU | CPU "
          "ratio | GFLOP/s | of GEMM peak |\n| --- | --- | --- | --- | ---: | ---: | ---: | ---: | "
          "---: | ---: | ---: | ---: |\n";
    for (int t : opt.threads)
      for (const char* dt : {"f64", "f32"})
        for (const auto& it : items_for(opt, t == opt.threads[0])) {
          if (it.spec.find(std::string("dtype=") + dt) == std::string::npos) continue;
          if (!stats(t, it.spec, "reference")) continue;
          const Unit u = unit_for(median(t, it.spec, "reference"));
          const double flops = describe(it.spec).flops();
          const double peak = gemm_peak(t, dt);
          for (const auto& impl : impls()) {
            const Stats* s = stats(t, it.spec, impl);
            if (!s || s->samples.empty()) continue;
            const double g = flops / s->median() / 1e9;
            md << "| " << t << " | " << dt << " | " << it.label << " | " << kDisplay.at(impl)
               << " | " << show(s->median(), u) << " | " << show(s->min(), u) << " | "
               << show(s->max(), u) << " | " << fmt("%.3f", ratio(t, it.spec, impl)) << " | "
               << show(s->cpu_median(), u) << " | " << fmt("%.3f", cpu_ratio(t, it.spec, impl))
               << " | " << (flops > 0 ? fmt("%.2f", g) : "–") << " | "
               << (flops > 0 && !std::isnan(peak) ? fmt("%.1f%%", 100 * g / peak) : "–") << " |\n";
          }
        }
    md << "\n";
  }

  std::string tsv() const {
    std::ostringstream out;
    out << "threads\tdtype\tgroup\tworkload\tspec\timpl\tmedian_s\tmin_s\tmax_s\tsamples\t"
           "ratio\tcpu_median_s\tcpu_ratio\tgflops\n";
    for (int t : opt.threads)
      for (const auto& it : items_for(opt, t == opt.threads[0])) {
        const double flops = describe(it.spec).flops();
        for (const auto& impl : impls()) {
          const Stats* s = stats(t, it.spec, impl);
          if (!s || s->samples.empty()) continue;
          const auto spec = Spec::parse(it.spec);
          out << t << "\t" << spec.get("dtype") << "\t" << it.group << "\t" << it.label << "\t"
              << spec.str() << "\t" << impl << "\t" << fmt("%.6g", s->median()) << "\t"
              << fmt("%.6g", s->min()) << "\t" << fmt("%.6g", s->max()) << "\t" << s->samples.size()
              << "\t" << fmt("%.4f", ratio(t, it.spec, impl)) << "\t"
              << fmt("%.6g", s->cpu_median()) << "\t" << fmt("%.4f", cpu_ratio(t, it.spec, impl))
              << "\t" << (flops > 0 ? fmt("%.3f", flops / s->median() / 1e9) : "") << "\n";
        }
      }
    return out.str();
  }

  // gnuplot: ratios per workload (1 thread, both dtypes) and the scaling sweep.
  bool plot(const fs::path& png, const fs::path& tmp) const {
    const std::string gp = std::string(TAPEGRAD_BENCH_SOURCE_DIR) + "/plot.gp";
    if (shell_output("command -v gnuplot").empty() || !fs::exists(gp)) return false;
    const int t = 1;
    for (const char* dt : {"f64", "f32"}) {
      std::ofstream f(tmp / (std::string("ratios_") + dt + ".dat"));
      f << "workload";
      for (const auto& impl : impls()) f << "\t\"" << kDisplay.at(impl) << "\"";
      f << "\n";
      for (const auto& it : main_items(dt)) {
        f << "\"" << it.label << "\"";
        for (const auto& impl : impls()) {
          const double r = ratio(t, it.spec, impl);
          f << "\t" << (std::isnan(r) ? std::string("NaN") : fmt("%.5g", r));
        }
        f << "\n";
      }
    }
    // The sweep panels show the implementations that were swept (all five only with --full).
    std::vector<std::string> swept;
    for (const auto& impl : impls())
      if (stats(t, "w=mlp,batch=64,width=512,dtype=f64", impl)) swept.push_back(impl);
    for (const char* axis : {"batch", "width"}) {
      std::ofstream f(tmp / (std::string("sweep_") + axis + ".dat"));
      f << axis;
      for (const auto& impl : swept) f << "\t\"" << kDisplay.at(impl) << "\"";
      f << "\n";
      for (int v : {64, 128, 256, 512, 1024}) {
        const bool batch = std::string(axis) == "batch";
        const std::string spec = v == (batch ? 256 : 512) ? "w=W4,act=sigmoid,dtype=f64"
                                 : batch
                                     ? "w=mlp,batch=" + std::to_string(v) + ",width=512,dtype=f64"
                                     : "w=mlp,batch=256,width=" + std::to_string(v) + ",dtype=f64";
        f << v;
        for (const auto& impl : swept) {
          const double m = median(t, spec, impl);
          f << "\t" << (std::isnan(m) ? std::string("NaN") : fmt("%.6g", m * 1e3));
        }
        f << "\n";
      }
    }
    const std::string title = "tapegrad vs the hand-written cblas reference, " + started + ", " +
                              info("reference", "corename", t) + " kernel";
    const std::string cmd = "gnuplot -e \"datadir='" + tmp.string() + "'; outfile='" +
                            png.string() + "'; nimpl=" + std::to_string(impls().size()) +
                            "; nswept=" + std::to_string(std::max<std::size_t>(1, swept.size())) +
                            "; maintitle='" + title + "'\" '" + gp + "' 2>&1";
    const std::string out = shell_output(cmd);
    if (!out.empty()) progress("gnuplot: " + out);
    return fs::exists(png);
  }
};

// ---- main -------------------------------------------------------------------------------------

int usage(const char* argv0) {
  std::fprintf(
      stderr,
      "usage: %s [--threads 1,2] [--rounds N] [--epoch-rounds N] [--judged-rounds N]\n"
      "          [--min-time S]\n"
      "          [--only W1,W2,W3,W4,W5,chain,sweep] [--impls "
      "reference,engine,libtorch,pytorch,numpy]\n"
      "          [--no-f32] [--quick | --full] [--out DIR] [--fashion DIR] [--no-memory] "
      "[--no-plot]\n"
      "       %s --verify-only\n"
      "       %s --run engine|replay|reference SPEC SECONDS   (e.g. w=W4,act=sigmoid,dtype=f64)\n",
      argv0, argv0, argv0);
  return 2;
}

int run_in_process(const std::string& impl, const std::string& spec_text, double seconds) {
  const Spec spec = Spec::parse(spec_text);
  const Problem p = make_problem(spec);
  auto r = impl == "engine"   ? make_engine(p, spec.f32())
           : impl == "replay" ? make_replay(p, spec.f32())
                              : make_reference(p, spec.f32());
  r->warmup();
  const Timing t = time_runner(*r, seconds);
  std::printf("%s %s: %zu units in %.3f s, %.4g s per %s\n", impl.c_str(), spec.str().c_str(),
              t.iterations, t.seconds, t.per_unit(), p.unit().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  std::string worker;  // --worker engine|reference: serve the protocol on stdin/stdout
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= args.size()) throw std::runtime_error(a + " needs a value");
        return args[++i];
      };
      if (a == "--worker") {
        worker = next();
        continue;
      }
      if (a == "--verify-only") return verify_only();
      if (a == "--run") {
        const std::string impl = next(), spec = next();
        return run_in_process(impl, spec, std::stod(next()));
      }
      if (a == "--threads") {
        opt.threads.clear();
        for (const auto& t : split(next(), ',')) opt.threads.push_back(std::stoi(t));
      } else if (a == "--rounds") {
        opt.rounds = opt.epoch_rounds = opt.judged_rounds = std::stoi(next());
      } else if (a == "--epoch-rounds") {
        opt.epoch_rounds = std::stoi(next());
      } else if (a == "--judged-rounds") {
        opt.judged_rounds = std::stoi(next());
      } else if (a == "--min-time") {
        opt.min_time = std::stod(next());
      } else if (a == "--only") {
        for (const auto& g : split(next(), ',')) opt.only.insert(g);
      } else if (a == "--impls") {
        opt.impls = split(next(), ',');
        if (std::find(opt.impls.begin(), opt.impls.end(), "reference") == opt.impls.end())
          opt.impls.insert(opt.impls.begin(), "reference");
        for (const auto& i : opt.impls)
          if (!kDisplay.count(i)) throw std::runtime_error("unknown implementation " + i);
      } else if (a == "--full") {
        opt.full = true;
      } else if (a == "--quick") {
        opt.quick = true;
        opt.rounds = opt.epoch_rounds = opt.judged_rounds = 1;
        opt.min_time = 0.1;
        opt.threads = {1};
      } else if (a == "--no-f32") {
        opt.float32 = false;
      } else if (a == "--out") {
        opt.out = next();
      } else if (a == "--fashion") {
        opt.fashion = next();
      } else if (a == "--no-memory") {
        opt.memory = false;
      } else if (a == "--no-plot") {
        opt.plot = false;
      } else {
        return usage(argv[0]);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad_bench: %s\n", e.what());
    return usage(argv[0]);
  }
  if (opt.threads.empty()) return usage(argv[0]);
  if (!worker.empty()) {
    const int threads = opt.threads[0];
    set_blas_threads(threads);
    if (worker == "engine") return worker_main("tapegrad", "dev", make_engine, threads);
    if (worker == "replay") return worker_main("tapegrad replay", "dev", make_replay, threads);
    if (worker == "reference") {
      std::map<std::string, ExtraCommand> extra;
      extra["gemm"] = [](const std::vector<std::string>& w) -> std::string {
        if (w.size() != 4) return "error usage: gemm f64|f32 n seconds";
        return "ok " + fmt("%.3f", gemm_gflops(w[1] == "f32", std::stoul(w[2]), std::stod(w[3])));
      };
      return worker_main("hand-written", "cblas", make_reference, threads, extra);
    }
    return usage(argv[0]);
  }

  const double start = now_seconds();
  char started[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(started, sizeof started, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  const fs::path tmp = fs::temp_directory_path() / ("tapegrad_bench." + std::to_string(getpid()));
  fs::create_directories(tmp);

  Results res;
  for (std::size_t k = 0; k < opt.threads.size(); ++k)
    run_phase(opt, opt.threads[k], k == 0, res, tmp);
  if (opt.memory) measure_memory(opt, res);

  std::string command;
  if (const char* c = std::getenv("TAPEGRAD_BENCH_COMMAND"))
    command = c;
  else
    command = join(std::vector<std::string>(argv, argv + argc), " ");
  Report report{opt, res, command, started, now_seconds() - start};
  const std::string md = report.markdown();
  fs::create_directories(opt.out);
  const fs::path out(opt.out);
  std::ofstream(out / "latest.md") << md;
  std::ofstream(out / "latest.tsv") << report.tsv();
  // The terminal gets everything but the long details table (which is in latest.md).
  std::cout << md.substr(0, md.find("## Details"));
  if (opt.plot) {
    if (report.plot(out / "latest.png", tmp))
      std::cout << "wrote " << (out / "latest.md").string() << ", latest.tsv and latest.png\n";
    else
      std::cout << "wrote " << (out / "latest.md").string()
                << " and latest.tsv (no chart: gnuplot not found or failed)\n";
  }
  fs::remove_all(tmp);
  std::fprintf(stderr, "total %.0f s\n", now_seconds() - start);
  return 0;
}
