// libFuzzer target for nn's file readers: the first input byte chooses a reader and its options,
// the rest is the file it reads. The contract checked, from the readers' header comments:
//
//  - a reader returns, or throws the tg::Error subclass its header documents (DataError for the
//    IDX and CSV readers, SerializeError for .npy/.npz, checkpoints and training states, and
//    ShapeError for a shape no buffer could hold), whose message names the function and the
//    file; never another exception (std::bad_alloc from a size taken on trust, std::out_of_range,
//    std::length_error, ...), never a crash or a sanitizer report;
//  - a result is self-consistent: a tensor holds exactly its shape's element count, an IdxArray
//    exactly size() * element size bytes, and idx_images / idx_labels convert every element;
//  - a round trip gives the same bits: what was loaded, saved with the library's own writer (IDX
//    and CSV written here, as the library has no writer for them), loads again bit for bit;
//  - load_parameters and load_training_state are all or nothing: a failure leaves every parameter,
//    buffer, the optimizer's state and the schedule's bit-identical to before (snapshots compared);
//    a success puts the file's arrays into the model, and a model, optimizer and schedule loaded
//    from the saved round trip take the same training step to the same bits, after which the
//    state still saves and loads;
//  - through scripts/fuzz.sh, no single allocation passes 12 MiB (-malloc_limit_mb): a 4 KiB
//    input needs about 4 MiB at most, so more means a size taken from a header on trust.
//
// Byte 0 (decode order): bits 0-2 the reader (0 read_idx with idx_images/idx_labels, 1 read_csv,
// 2 load_npy, 3 load_npz, 4 load_parameters, 5 load_training_state; 6 and 7 as 2 and 3); bit 3
// the element type (0 float, 1 double); for read_csv bit 4 has_header and bits 5-6 the delimiter
// (',', ';', ' ', '\t'); for the model readers bit 4 Adam (else SGD with momentum), bit 5 a
// schedule (byte 1 says which), bit 6 a BatchNorm1d layer (buffers), bit 7 one training step before
// the load (so the optimizer has moments and step counts to lose). For the readers of .npz archives
// (3, 4, 5, 7) byte 1 is a fix-up byte: bit 0 set makes the harness rewrite the CRC-32 of every
// stored member (in the central directory and the local header) to match its bytes, so that a
// mutation inside a member reaches the .npy parser and the loaders' checks instead of stopping at
// the CRC check; with bit 5 of byte 0, its bits 1-2 choose the schedule: 1 SequentialLR(LinearLR,
// StepLR), 2 ReduceLROnPlateau, else StepLR. The rest is the file. fuzz/make_files_corpus.py writes
// seeds in this format; FILES_FUZZER_TRACE=1 prints what each input did.
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "tapegrad/nn/checkpoint.hpp"
#include "tapegrad/nn/data.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/nn/schedule.hpp"
#include "tapegrad/nn/serialize.hpp"
#include "tapegrad/nn/training_state.hpp"
#include "tapegrad/tapegrad.hpp"

namespace nn = tg::nn;

namespace {

bool tracing() {
  static const bool on = std::getenv("FILES_FUZZER_TRACE") != nullptr;
  return on;
}

__attribute__((format(printf, 1, 2))) void trace(const char* fmt, ...) {
  if (!tracing()) return;
  std::va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
}

[[noreturn]] void violation(const std::string& what) {
  std::fprintf(stderr, "files_fuzzer: INVARIANT VIOLATED: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// A file of this process's own in TMPDIR, removed when the input is done (also when a check
// throws out of it: nothing may be left behind by a long run).
class TempFile {
 public:
  TempFile() {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/files_fuzzer-XXXXXX";
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) violation("cannot create a temporary file from " + tmpl);
    ::close(fd);
    path_ = tmpl;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }
  void write(const void* data, std::size_t n) const {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f || (n && std::fwrite(data, 1, n, f) != n) || std::fclose(f) != 0)
      violation("cannot write " + path_);
  }

 private:
  std::string path_;
};

// Whether `msg` names one of the '|'-separated function names in `fns`.
bool names_one_of(const std::string& msg, const std::string& fns) {
  for (std::size_t start = 0;;) {
    const std::size_t bar = fns.find('|', start);
    if (msg.find(fns.substr(start, bar - start)) != std::string::npos) return true;
    if (bar == std::string::npos) return false;
    start = bar + 1;
  }
}

// Runs `call`; true when it returned. A documented error (one of Allowed..., naming `fn`, or one
// of its alternatives "a|b" for a function that documents another's errors as its own, and, when
// `path` is given, the file) gives false; anything else is a violation.
template <class... Allowed, class F>
bool returns_or_documented(const char* fn, const std::string& path, F&& call) {
  try {
    call();
    return true;
  } catch (const tg::Error& e) {
    const bool allowed = (... || (dynamic_cast<const Allowed*>(&e) != nullptr));
    const std::string msg = e.what();
    if (sizeof...(Allowed) == 0)
      violation(std::string(fn) + " failed where it must succeed: " + typeid(e).name() + ": " +
                msg);
    if (!allowed)
      violation(std::string(fn) + " threw an undocumented " + typeid(e).name() + ": " + msg);
    if (!names_one_of(msg, fn)) violation(std::string(fn) + "'s error does not name it: " + msg);
    if (!path.empty() && msg.find(path) == std::string::npos)
      violation(std::string(fn) + "'s error does not name the file " + path + ": " + msg);
    trace("  %s: %s: %s\n", fn, typeid(e).name(), msg.c_str());
    return false;
  } catch (const std::exception& e) {
    violation(std::string(fn) + " threw " + typeid(e).name() + ": " + e.what());
  } catch (...) {
    violation(std::string(fn) + " threw something that is not a std::exception");
  }
}

template <class T> bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T> void check_consistent(const tg::Tensor<T>& t, const std::string& what) {
  if (!t.defined()) violation(what + ": an undefined tensor");
  if (t.size() != t.shape().numel())
    violation(what + ": " + std::to_string(t.size()) + " elements for shape " + t.shape().str());
}

template <class T>
void check_same(const tg::Tensor<T>& a, const tg::Tensor<T>& b, const std::string& what) {
  if (a.shape() != b.shape())
    violation(what + ": shape " + b.shape().str() + " instead of " + a.shape().str());
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_bits(a.data()[i], b.data()[i]))
      violation(what + ": element " + std::to_string(i) + " differs");
}

// ---- IDX -----------------------------------------------------------------------------------

// Writes `a` back as a plain IDX file (big-endian elements, as the format stores them).
void write_idx(const nn::IdxArray& a, const TempFile& out) {
  std::vector<std::uint8_t> bytes = {0, 0, static_cast<std::uint8_t>(a.type),
                                     static_cast<std::uint8_t>(a.shape.size())};
  for (std::size_t d : a.shape)
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<std::uint8_t>(d >> s));
  const std::size_t es = nn::idx_element_size(a.type);
  for (std::size_t i = 0; i < a.bytes.size(); i += es)
    for (std::size_t b = es; b-- > 0;) bytes.push_back(a.bytes[i + b]);
  out.write(bytes.data(), bytes.size());
}

template <class T> void fuzz_idx(const TempFile& in, const TempFile& out) {
  nn::IdxArray a;
  if (!returns_or_documented<nn::DataError, tg::ShapeError>("read_idx", in.path(),
                                                            [&] { a = nn::read_idx(in.path()); }))
    return;
  const std::size_t es = nn::idx_element_size(a.type);
  const std::size_t n = a.size();
  if (a.bytes.size() != n * es)
    violation("read_idx: " + std::to_string(a.bytes.size()) + " bytes for " + a.shape_str() + " " +
              nn::idx_type_name(a.type));
  if (a.path != in.path()) violation("read_idx: the array names " + a.path);
  trace("  read_idx: %s %s\n", a.shape_str().c_str(), nn::idx_type_name(a.type));

  tg::Tensor<T> images;
  if (returns_or_documented<tg::ShapeError, nn::DataError>(
          "idx_images", in.path(), [&] { images = nn::idx_images<T>(a); })) {
    check_consistent(images, "idx_images");
    if (a.shape.size() < 2 || images.shape().rank() != 2 || images.dim(0) != a.shape[0] ||
        images.size() != n)
      violation("idx_images: " + images.shape().str() + " from " + a.shape_str());
    for (std::size_t i = 0; i < n; ++i)
      if (!same_bits(images.data()[i], static_cast<T>(a.value(i))))
        violation("idx_images: element " + std::to_string(i) + " is not the file's");
  }
  tg::Labels labels;
  if (returns_or_documented<tg::ShapeError, nn::DataError>("idx_labels", in.path(),
                                                           [&] { labels = nn::idx_labels(a); })) {
    if (a.shape.size() != 1 || labels.size() != n)
      violation("idx_labels: " + std::to_string(labels.size()) + " labels from " + a.shape_str());
    for (std::size_t i = 0; i < n; ++i)
      if (labels[i] != static_cast<std::int64_t>(a.value(i)))
        violation("idx_labels: label " + std::to_string(i) + " is not the file's");
  }

  write_idx(a, out);
  nn::IdxArray b;
  if (!returns_or_documented<>("read_idx", out.path(), [&] { b = nn::read_idx(out.path()); }))
    violation("read_idx: the round trip failed");
  if (b.type != a.type || b.shape != a.shape || b.bytes != a.bytes)
    violation("read_idx: the round trip changed the array");
}

// ---- CSV -----------------------------------------------------------------------------------

template <class T> void fuzz_csv(const TempFile& in, const TempFile& out, std::uint8_t mode) {
  const bool header = mode & 0x10;
  const char delimiter = ",; \t"[(mode >> 5) & 3];
  trace("  read_csv: header %d, delimiter '%c'\n", int(header), delimiter);
  tg::Tensor<T> t;
  if (!returns_or_documented<nn::DataError, tg::ShapeError>(
          "read_csv", in.path(), [&] { t = nn::read_csv<T>(in.path(), header, delimiter); }))
    return;
  check_consistent(t, "read_csv");
  if (t.shape().rank() != 2 || t.dim(0) == 0 || t.dim(1) == 0)
    violation("read_csv: shape " + t.shape().str());

  // Each value as the shortest text of its double, which reads back as exactly that double and
  // so as the same T.
  std::string text = header ? "a header line\n" : "";
  const std::size_t cols = t.dim(1);
  for (std::size_t i = 0; i < t.size(); ++i) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<double>(t.data()[i]));
    text.append(buf, r.ptr);
    text += (i + 1) % cols ? delimiter : '\n';
  }
  out.write(text.data(), text.size());
  tg::Tensor<T> u;
  if (!returns_or_documented<>("read_csv", out.path(),
                               [&] { u = nn::read_csv<T>(out.path(), header, delimiter); }))
    violation("read_csv: the round trip failed");
  if (u.shape() != t.shape()) violation("read_csv: the round trip changed the shape");
  for (std::size_t i = 0; i < t.size(); ++i) {
    const T a = t.data()[i], b = u.data()[i];
    if (!(std::isnan(a) ? std::isnan(b) : same_bits(a, b)))
      violation("read_csv: the round trip changed element " + std::to_string(i));
  }
}

// ---- .npy / .npz ---------------------------------------------------------------------------

template <class T> void fuzz_npy(const TempFile& in, const TempFile& out) {
  tg::Tensor<T> t;
  if (!returns_or_documented<nn::SerializeError, tg::ShapeError>(
          "load_npy", in.path(), [&] { t = nn::load_npy<T>(in.path()); }))
    return;
  check_consistent(t, "load_npy");
  if (t.requires_grad()) violation("load_npy: the tensor requires a gradient");
  trace("  load_npy: %s\n", t.shape().str().c_str());
  if (!returns_or_documented<>("save_npy", out.path(), [&] { nn::save_npy(out.path(), t); }))
    violation("save_npy: cannot save what load_npy loaded");
  tg::Tensor<T> u;
  if (!returns_or_documented<>("load_npy", out.path(), [&] { u = nn::load_npy<T>(out.path()); }))
    violation("load_npy: the round trip failed");
  check_same(t, u, "load_npy round trip");
}

template <class T> void fuzz_npz(const TempFile& in, const TempFile& out) {
  std::vector<std::pair<std::string, tg::Tensor<T>>> arrays;
  if (!returns_or_documented<nn::SerializeError, tg::ShapeError>(
          "load_npz", in.path(), [&] { arrays = nn::load_npz<T>(in.path()); }))
    return;
  for (const auto& [name, t] : arrays) {
    check_consistent(t, "load_npz member " + name);
    trace("  load_npz: '%s' %s\n", name.c_str(), t.shape().str().c_str());
  }
  // Names the writer refuses (empty, repeated, with a NUL byte) may come from another writer;
  // save_npz must then refuse them with its documented error.
  if (!returns_or_documented<nn::SerializeError>("save_npz", out.path(),
                                                 [&] { nn::save_npz(out.path(), arrays); }))
    return;
  std::vector<std::pair<std::string, tg::Tensor<T>>> again;
  if (!returns_or_documented<>("load_npz", out.path(),
                               [&] { again = nn::load_npz<T>(out.path()); }))
    violation("load_npz: the round trip failed");
  if (again.size() != arrays.size()) violation("load_npz: the round trip changed the count");
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    if (again[i].first != arrays[i].first) violation("load_npz: the round trip changed a name");
    check_same(arrays[i].second, again[i].second, "load_npz round trip, " + arrays[i].first);
  }
}

// ---- models --------------------------------------------------------------------------------

// A small model with an optimizer and maybe a schedule, built the same way from the same mode
// byte (different weights from a different seed).
template <class T> struct Rig {
  std::mt19937_64 rng;
  nn::Sequential<T> model;
  std::unique_ptr<nn::Optimizer<T>> optimizer;
  std::unique_ptr<nn::Stateful> schedule;
  std::function<void()> schedule_step;

  Rig(std::uint8_t mode, std::uint8_t extra, std::uint64_t seed, bool step) : rng(seed) {
    model.template emplace<nn::Linear<T>>(2, 3, nn::Init::xavier_uniform(), rng);
    if (mode & 0x40) model.template emplace<nn::BatchNorm1d<T>>(3);
    model.template emplace<nn::ActivationLayer<T>>(nn::Activation::tanh);
    model.template emplace<nn::Linear<T>>(3, 2, nn::Init::xavier_uniform(), rng);
    if (mode & 0x10)
      optimizer = std::make_unique<nn::Adam<T>>(model.parameters(), nn::AdamOptions{.lr = 0.01});
    else
      optimizer = std::make_unique<nn::SGD<T>>(model.parameters(),
                                               nn::SgdOptions{.lr = 0.1, .momentum = 0.9});
    if (mode & 0x20) make_schedule((extra >> 1) & 3);
    if (step) train_step();
  }

  void make_schedule(int kind) {
    if (kind == 1) {  // a warmup, then steps: the composite's children under "schedulers.<i>."
      std::vector<std::unique_ptr<nn::LRScheduler>> children;
      children.push_back(std::make_unique<nn::LinearLR>(*optimizer, 0.5, 1.0, 2));
      children.push_back(std::make_unique<nn::StepLR>(*optimizer, 2, 0.5));
      auto s = std::make_unique<nn::SequentialLR>(*optimizer, std::move(children),
                                                  std::vector<std::size_t>{2});
      schedule_step = [p = s.get()] { p->step(); };
      schedule = std::move(s);
    } else if (kind == 2) {  // a constant metric: every epoch is a bad one
      auto s =
          std::make_unique<nn::ReduceLROnPlateau>(*optimizer, nn::PlateauOptions{.patience = 1});
      schedule_step = [p = s.get()] { p->step(1.0); };
      schedule = std::move(s);
    } else {
      auto s = std::make_unique<nn::StepLR>(*optimizer, 2, 0.5);
      schedule_step = [p = s.get()] { p->step(); };
      schedule = std::move(s);
    }
  }

  void train_step() {
    const auto x = tg::Tensor<T>::uniform(tg::Shape{4, 2}, T(-1), T(1), rng);
    optimizer->zero_grad();
    tg::sum(model.forward(x)).backward();
    optimizer->step();
    // A loaded rate near the largest double may grow past it (LinearLR's warmup multiplies it);
    // the optimizer then refuses the rate and the schedule stays where it was, as documented.
    if (schedule_step) {
      try {
        schedule_step();
      } catch (const tg::DomainError& e) {
        if (std::string(e.what()).find("learning rate") == std::string::npos)
          violation(std::string("a schedule's step after a load: ") + e.what());
      }
    }
  }
};

// Everything a load may change, as bits: parameters, buffers, the optimizer's and the schedule's
// state (the optimizer's rate included).
template <class T> struct Snapshot {
  std::vector<std::pair<std::string, std::vector<T>>> model;
  nn::StateDict optimizer, schedule;
  double lr = 0;

  explicit Snapshot(const Rig<T>& rig) {
    for (const auto& p : rig.model.named_parameters())
      model.emplace_back(p.name,
                         std::vector<T>(p.tensor.data(), p.tensor.data() + p.tensor.size()));
    for (const auto& b : rig.model.named_buffers())
      model.emplace_back(b.name,
                         std::vector<T>(b.tensor.data(), b.tensor.data() + b.tensor.size()));
    optimizer = copy(rig.optimizer->state_dict());
    if (rig.schedule) schedule = copy(rig.schedule->state_dict());
    lr = rig.optimizer->learning_rate();
  }

  static nn::StateDict copy(const nn::StateDict& state) {
    nn::StateDict out;
    for (const auto& [name, t] : state) out.emplace_back(name, t.clone());
    return out;
  }

  static bool same(const nn::StateDict& a, const nn::StateDict& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i].first != b[i].first || a[i].second.shape() != b[i].second.shape()) return false;
      for (std::size_t j = 0; j < a[i].second.size(); ++j)
        if (!same_bits(a[i].second.data()[j], b[i].second.data()[j])) return false;
    }
    return true;
  }

  // The first difference from `other`, or "" when every bit is the same.
  std::string difference(const Snapshot& other) const {
    if (model.size() != other.model.size()) return "the model's array count";
    for (std::size_t i = 0; i < model.size(); ++i) {
      const auto& a = model[i].second;
      const auto& b = other.model[i].second;
      if (a.size() != b.size()) return "model array " + model[i].first + "'s size";
      for (std::size_t j = 0; j < a.size(); ++j)
        if (!same_bits(a[j], b[j])) return "model array " + model[i].first;
    }
    if (!same(optimizer, other.optimizer)) return "the optimizer's state";
    if (!same(schedule, other.schedule)) return "the schedule's state";
    if (!same_bits(lr, other.lr)) return "the optimizer's learning rate";
    return "";
  }
};

template <class T>
void fuzz_parameters(const TempFile& in, const TempFile& out, std::uint8_t mode,
                     std::uint8_t extra) {
  Rig<T> rig(mode, extra, 1, mode & 0x80);
  const Snapshot<T> before(rig);
  // The archive's own errors name load_npz, which load_parameters reads it with.
  if (!returns_or_documented<nn::SerializeError, tg::ShapeError>(
          "load_parameters|load_npz", in.path(),
          [&] { nn::load_parameters(rig.model, in.path()); })) {
    const std::string changed = before.difference(Snapshot<T>(rig));
    if (!changed.empty()) violation("load_parameters failed but changed " + changed);
    return;
  }
  trace("  load_parameters: loaded\n");
  // The model now holds the file's arrays, by name.
  const auto arrays = nn::load_npz<T>(in.path());
  auto check = [&](const std::string& name, const tg::Tensor<T>& t) {
    for (const auto& [n, a] : arrays)
      if (n == name) return check_same(a, t, "load_parameters: " + name);
    violation("load_parameters: loaded without a member " + name);
  };
  for (const auto& p : rig.model.named_parameters()) check(p.name, p.tensor);
  for (const auto& b : rig.model.named_buffers()) check(b.name, b.tensor);

  if (!returns_or_documented<>("save_parameters", out.path(),
                               [&] { nn::save_parameters(rig.model, out.path()); }))
    violation("save_parameters: cannot save a loaded model");
  Rig<T> other(mode, extra, 2, false);
  if (!returns_or_documented<>("load_parameters", out.path(),
                               [&] { nn::load_parameters(other.model, out.path()); }))
    violation("load_parameters: the round trip failed");
  const std::string changed = Snapshot<T>(rig).difference(Snapshot<T>(other));
  if (changed.find("model") != std::string::npos)
    violation("load_parameters: the round trip changed " + changed);
}

template <class T>
void fuzz_training_state(const TempFile& in, const TempFile& out, std::uint8_t mode,
                         std::uint8_t extra) {
  Rig<T> rig(mode, extra, 1, mode & 0x80);
  const Snapshot<T> before(rig);
  // Documented as its own: the archive's errors and the optimizer's and the schedule's
  // load_state_dict errors, which name their entry, not the file.
  if (!returns_or_documented<nn::SerializeError, tg::ShapeError>(
          "load_training_state|load_npz|load_state_dict", "", [&] {
            nn::load_training_state(in.path(), rig.model, *rig.optimizer, rig.schedule.get());
          })) {
    const std::string changed = before.difference(Snapshot<T>(rig));
    if (!changed.empty()) violation("load_training_state failed but changed " + changed);
    return;
  }
  trace("  load_training_state: loaded\n");
  const auto arrays = nn::load_npz<double>(in.path());
  auto check = [&](const std::string& name, const tg::Tensor<T>& t) {
    for (const auto& [n, a] : arrays)
      if (n == "model." + name) {
        if (a.shape() != t.shape()) violation("load_training_state: shape of " + name);
        for (std::size_t i = 0; i < t.size(); ++i)
          if (!same_bits(t.data()[i], static_cast<T>(a.data()[i])))
            violation("load_training_state: " + name + " is not the file's");
        return;
      }
    violation("load_training_state: loaded without a member model." + name);
  };
  for (const auto& p : rig.model.named_parameters()) check(p.name, p.tensor);
  for (const auto& b : rig.model.named_buffers()) check(b.name, b.tensor);

  const auto save = [&](Rig<T>& r) {
    if (!returns_or_documented<>("save_training_state", out.path(), [&] {
          nn::save_training_state(out.path(), r.model, *r.optimizer, r.schedule.get());
        }))
      violation("save_training_state: cannot save a loaded state");
  };
  save(rig);
  Rig<T> other(mode, extra, 2, false);
  if (!returns_or_documented<>("load_training_state", "", [&] {
        nn::load_training_state(out.path(), other.model, *other.optimizer, other.schedule.get());
      }))
    violation("load_training_state: the round trip failed");
  const std::string changed = Snapshot<T>(rig).difference(Snapshot<T>(other));
  if (!changed.empty()) violation("load_training_state: the round trip changed " + changed);
  // Both continue alike: a loaded state is one training can go on from, the same way.
  other.rng = rig.rng;
  rig.train_step();
  other.train_step();
  const std::string stepped = Snapshot<T>(rig).difference(Snapshot<T>(other));
  if (!stepped.empty())
    violation("load_training_state: a step after the round trip changed " + stepped);
  // What a step made of a loaded state still saves and loads.
  save(rig);
  if (!returns_or_documented<>("load_training_state", "", [&] {
        nn::load_training_state(out.path(), other.model, *other.optimizer, other.schedule.get());
      }))
    violation("load_training_state: cannot load what a step after a load saved");
  const std::string resaved = Snapshot<T>(rig).difference(Snapshot<T>(other));
  if (!resaved.empty())
    violation("load_training_state: the state saved after a step changed " + resaved);
}

// ---- CRC fix-up ----------------------------------------------------------------------------

std::uint32_t crc32_of(const std::uint8_t* p, std::size_t n) {
  static const auto table = [] {
    std::vector<std::uint32_t> t(256);
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Rewrites the CRC-32 of every stored member of a plain (not ZIP64) archive to match its data,
// leaving anything it cannot follow as it is: the reader is to judge that.
void fix_stored_crcs(std::vector<std::uint8_t>& z) {
  const std::size_t n = z.size();
  auto rd16 = [&](std::size_t at) { return std::size_t(z[at]) | std::size_t(z[at + 1]) << 8; };
  auto rd32 = [&](std::size_t at) { return rd16(at) | rd16(at + 2) << 16; };
  auto wr32 = [&](std::size_t at, std::uint32_t v) {
    for (int b = 0; b < 4; ++b) z[at + b] = static_cast<std::uint8_t>(v >> (8 * b));
  };
  if (n < 22) return;
  const std::size_t lowest = n - 22 > 65535 ? n - 22 - 65535 : 0;
  std::size_t end = n - 22;
  while (!(rd32(end) == 0x06054b50 && end + 22 + rd16(end + 20) == n)) {
    if (end == lowest) return;
    --end;
  }
  std::size_t pos = rd32(end + 16);
  for (std::size_t i = 0, count = rd16(end + 10); i < count; ++i) {
    if (pos > n || n - pos < 46 || rd32(pos) != 0x02014b50) return;
    const std::size_t csize = rd32(pos + 20), offset = rd32(pos + 42);
    if (rd16(pos + 10) == 0 && offset <= n && n - offset >= 30 && rd32(offset) == 0x04034b50) {
      const std::size_t data = offset + 30 + rd16(offset + 26) + rd16(offset + 28);
      if (data <= n && csize <= n - data) {
        const std::uint32_t crc = crc32_of(z.data() + data, csize);
        wr32(pos + 16, crc);
        wr32(offset + 14, crc);
      }
    }
    pos += 46 + rd16(pos + 28) + rd16(pos + 30) + rd16(pos + 32);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const bool archive = (mode & 7) == 3 || (mode & 7) == 4 || (mode & 7) == 5 || (mode & 7) == 7;
  std::vector<std::uint8_t> file;
  const std::uint8_t extra = archive && size >= 2 ? data[1] : 0;
  if (archive && size >= 2) {
    file.assign(data + 2, data + size);
    if (data[1] & 1) fix_stored_crcs(file);
  } else {
    file.assign(data + 1, data + size);
  }
  TempFile in, out;
  in.write(file.data(), file.size());
  const bool dbl = mode & 0x08;
  trace("input: reader %d, %s, mode 0x%02x, %zu bytes\n", mode & 7, dbl ? "double" : "float",
        unsigned(mode), file.size());
  switch (mode & 7) {
    case 0:
      dbl ? fuzz_idx<double>(in, out) : fuzz_idx<float>(in, out);
      break;
    case 1:
      dbl ? fuzz_csv<double>(in, out, mode) : fuzz_csv<float>(in, out, mode);
      break;
    case 2:
    case 6:
      dbl ? fuzz_npy<double>(in, out) : fuzz_npy<float>(in, out);
      break;
    case 3:
    case 7:
      dbl ? fuzz_npz<double>(in, out) : fuzz_npz<float>(in, out);
      break;
    case 4:
      dbl ? fuzz_parameters<double>(in, out, mode, extra)
          : fuzz_parameters<float>(in, out, mode, extra);
      break;
    case 5:
      dbl ? fuzz_training_state<double>(in, out, mode, extra)
          : fuzz_training_state<float>(in, out, mode, extra);
      break;
  }
  return 0;
}
