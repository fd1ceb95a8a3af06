#include "reference.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

namespace bench {

namespace {

// Row-major C[m,n] = alpha op(A) op(B) + beta C; lda/ldb are the stored row lengths.
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta,
          double* c) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
              int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(n));
}
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
              int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(n));
}

template <class T> T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <class T> class ReferenceMlp final : public Runner {
 public:
  explicit ReferenceMlp(const Problem& p)
      : p_(p.without_data()),
        L_(p.layers()),
        X_(convert<T>(p.X)),
        Y_(convert<T>(p.Y)),
        labels_(p.labels) {
    for (std::size_t l = 0; l < L_; ++l) {
      W_.push_back(convert<T>(p.W[l]));
      b_.push_back(convert<T>(p.b[l]));
      dW_.emplace_back(W_.back().size());
      db_.emplace_back(b_.back().size());
    }
    const std::size_t rows = p.batch;
    // A[0] is the input batch (gathered for an epoch, else X itself); A[l] the activations of
    // layer l; D[l] the gradient with respect to layer l's pre-activations.
    A_.resize(L_ + 1);
    D_.resize(L_ + 1);
    for (std::size_t l = 0; l <= L_; ++l) {
      A_[l].resize(rows * p.sizes[l]);
      D_[l].resize(rows * p.sizes[l]);
    }
    if (p.mode == Mode::epoch) {
      order_.resize(p.n);
      std::iota(order_.begin(), order_.end(), std::size_t(0));
      batch_labels_.resize(rows);
    }
  }

  void run() override {
    switch (p_.mode) {
      case Mode::step:
        loss_ = gradient(X_.data(), p_.batch, Y_.data(), labels_.data());
        update();
        break;
      case Mode::grad:
        loss_ = gradient(X_.data(), p_.batch, Y_.data(), labels_.data());
        break;
      case Mode::epoch:
        epoch(p_.n);
        break;
      case Mode::chain:
        break;
    }
  }

  void warmup() override {
    if (p_.mode == Mode::epoch)
      epoch(std::min(p_.n, 10 * p_.batch));
    else
      Runner::warmup();
  }

  void run_partial(std::size_t units) override {
    if (p_.mode == Mode::epoch)
      epoch(std::min(p_.n, units * p_.batch));
    else
      Runner::run_partial(units);
  }

  std::vector<double> dump() override {
    run();
    std::vector<double> out{double(loss_)};
    for (std::size_t l = 0; l < L_; ++l) {
      out.insert(out.end(), dW_[l].begin(), dW_[l].end());
      out.insert(out.end(), db_[l].begin(), db_[l].end());
    }
    for (std::size_t l = 0; l < L_; ++l) {
      out.insert(out.end(), W_[l].begin(), W_[l].end());
      out.insert(out.end(), b_[l].begin(), b_[l].end());
    }
    return out;
  }

 private:
  // Minibatch SGD over the first `count` samples of a (reshuffled) order.
  void epoch(std::size_t count) {
    if (p_.shuffle) std::shuffle(order_.begin(), order_.end(), rng_);
    const std::size_t in = p_.sizes[0];
    for (std::size_t start = 0; start < count; start += p_.batch) {
      const std::size_t m = std::min(p_.batch, count - start);
      T* xb = A_[0].data();
      for (std::size_t i = 0; i < m; ++i) {
        const std::size_t r = order_[start + i];
        std::memcpy(xb + i * in, X_.data() + r * in, in * sizeof(T));
        batch_labels_[i] = labels_[r];
      }
      loss_ = gradient(xb, m, nullptr, batch_labels_.data());
      update();
    }
  }

  // z[i,j] = act(z[i,j] + bias[j]) in place, one loop per activation.
  static void bias_act(Act a, T* z, const T* bias, std::size_t m, std::size_t n) {
    switch (a) {
      case Act::sigmoid:
        for (std::size_t i = 0; i < m; ++i, z += n)
          for (std::size_t j = 0; j < n; ++j) z[j] = sigmoid(z[j] + bias[j]);
        break;
      case Act::relu:
        for (std::size_t i = 0; i < m; ++i, z += n)
          for (std::size_t j = 0; j < n; ++j) z[j] = std::max(z[j] + bias[j], T(0));
        break;
      case Act::identity:
        for (std::size_t i = 0; i < m; ++i, z += n)
          for (std::size_t j = 0; j < n; ++j) z[j] += bias[j];
        break;
    }
  }

  // Forward and backward on m rows x (targets y or labels); fills dW_, db_; returns the loss.
  T gradient(const T* x, std::size_t m, const T* y, const std::int64_t* labels) {
    const auto& s = p_.sizes;
    // ---- forward: A[l] = act(A[l-1] W[l] + b[l]), the GEMM then one fused loop.
    const T* in = x;
    for (std::size_t l = 0; l < L_; ++l) {
      const std::size_t k = s[l], n = s[l + 1];
      T* z = A_[l + 1].data();
      gemm(false, false, m, n, k, T(1), in, k, W_[l].data(), n, T(0), z);
      bias_act(l + 1 == L_ ? p_.output : p_.hidden, z, b_[l].data(), m, n);
      in = z;
    }
    // ---- loss and its gradient with respect to the output pre-activations.
    const std::size_t K = s[L_];
    const T* h = A_[L_].data();
    T* d = D_[L_].data();
    double loss = 0;
    switch (p_.loss) {
      case Loss::mse:
      case Loss::half_mse: {
        const double N = double(m * K);
        const T scale = T((p_.loss == Loss::mse ? 2.0 : 1.0) / N);
        for (std::size_t i = 0; i < m * K; ++i) {
          const T e = h[i] - y[i];
          loss += double(e) * double(e);
          T g = scale * e;
          if (p_.output == Act::sigmoid) g *= h[i] * (T(1) - h[i]);
          d[i] = g;
        }
        loss /= N;
        if (p_.loss == Loss::half_mse) loss *= 0.5;
        break;
      }
      case Loss::regularized_ce: {  // h = sigmoid(z): dJ/dz = (h - y) / m
        const T inv_m = T(1.0 / double(m));
        for (std::size_t i = 0; i < m * K; ++i) {
          loss -= y[i] != T(0) ? double(y[i]) * std::log(double(h[i])) : 0.0;
          loss -= y[i] != T(1) ? (1.0 - double(y[i])) * std::log(1.0 - double(h[i])) : 0.0;
          d[i] = (h[i] - y[i]) * inv_m;
        }
        loss /= double(m);
        double sq = 0;
        for (const auto& w : W_)
          for (T v : w) sq += double(v) * double(v);
        loss += p_.lambda / (2.0 * double(m)) * sq;
        break;
      }
      case Loss::softmax_ce: {  // dJ/dz = (softmax(z) - onehot) / m
        const T inv_m = T(1.0 / double(m));
        for (std::size_t i = 0; i < m; ++i) {
          const T* z = h + i * K;
          T* g = d + i * K;
          const T mx = *std::max_element(z, z + K);
          T sum = 0;
          for (std::size_t j = 0; j < K; ++j) sum += (g[j] = std::exp(z[j] - mx));
          const T inv = T(1) / sum;
          const std::size_t label = std::size_t(labels[i]);
          loss += double(mx) + std::log(double(sum)) - double(z[label]);
          for (std::size_t j = 0; j < K; ++j) g[j] *= inv * inv_m;
          g[label] -= inv_m;
        }
        loss /= double(m);
        break;
      }
    }
    // ---- backward: dW = A^T D (regularized_ce: + lambda/m W through beta = 1), db = column sums
    // of D, D[l-1] = (D W^T) * act'(A[l-1]).
    for (std::size_t l = L_; l-- > 0;) {
      const std::size_t k = s[l], n = s[l + 1];
      const T* a_prev = l == 0 ? x : A_[l].data();
      const T* dl = D_[l + 1].data();
      T beta = T(0);
      if (p_.loss == Loss::regularized_ce && p_.lambda != 0) {
        const T c = T(p_.lambda / double(m));
        const T* w = W_[l].data();
        T* dw = dW_[l].data();
        for (std::size_t i = 0; i < k * n; ++i) dw[i] = c * w[i];
        beta = T(1);
      }
      gemm(true, false, k, n, m, T(1), a_prev, k, dl, n, beta, dW_[l].data());
      T* db = db_[l].data();
      std::fill(db, db + n, T(0));
      for (std::size_t i = 0; i < m; ++i) {
        const T* row = dl + i * n;
        for (std::size_t j = 0; j < n; ++j) db[j] += row[j];
      }
      if (l == 0) break;
      T* dprev = D_[l].data();
      gemm(false, true, m, k, n, T(1), dl, n, W_[l].data(), n, T(0), dprev);
      const T* a = A_[l].data();
      if (p_.hidden == Act::sigmoid) {
        for (std::size_t i = 0; i < m * k; ++i) dprev[i] *= a[i] * (T(1) - a[i]);
      } else if (p_.hidden == Act::relu) {
        for (std::size_t i = 0; i < m * k; ++i) dprev[i] = a[i] > T(0) ? dprev[i] : T(0);
      }
    }
    return T(loss);
  }

  void update() {
    const T lr = T(p_.lr);
    for (std::size_t l = 0; l < L_; ++l) {
      T* w = W_[l].data();
      const T* g = dW_[l].data();
      for (std::size_t i = 0, n = W_[l].size(); i < n; ++i) w[i] -= lr * g[i];
      T* b = b_[l].data();
      const T* gb = db_[l].data();
      for (std::size_t i = 0, n = b_[l].size(); i < n; ++i) b[i] -= lr * gb[i];
    }
  }

  const Problem p_;  // sizes and settings; the data are converted below
  std::size_t L_;
  std::vector<T> X_, Y_;
  std::vector<std::int64_t> labels_, batch_labels_;
  std::vector<std::vector<T>> W_, b_, dW_, db_, A_, D_;
  std::vector<std::size_t> order_;
  std::mt19937_64 rng_{5};
  T loss_ = 0;
};

// The per-op floor: the same chain of multiplications and its backward as two plain loops.
template <class T> class ReferenceChain final : public Runner {
 public:
  explicit ReferenceChain(const Problem& p) : ops_(p.ops), ys_(p.ops + 1) {}
  void run() override {
    ys_[0] = x_;
    for (std::size_t i = 0; i < ops_; ++i) ys_[i + 1] = ys_[i] * c_;
    T g = T(1);
    for (std::size_t i = ops_; i-- > 0;) g = g * c_;
    dx_ = g;
    asm volatile("" : : "g"(&ys_[0]), "g"(&dx_) : "memory");  // keep the work
  }
  std::vector<double> dump() override {
    run();
    return {double(ys_[ops_]), double(dx_)};
  }

 private:
  std::size_t ops_;
  std::vector<T> ys_;
  T x_ = T(0.5), c_ = T(0.99), dx_ = 0;
};

template <class T> std::unique_ptr<Runner> make(const Problem& p) {
  if (p.mode == Mode::chain) return std::make_unique<ReferenceChain<T>>(p);
  return std::make_unique<ReferenceMlp<T>>(p);
}

}  // namespace

std::unique_ptr<Runner> make_reference(const Problem& problem, bool f32) {
  return f32 ? make<float>(problem) : make<double>(problem);
}

double gemm_gflops(bool f32, std::size_t n, double min_seconds) {
  auto measure = [&](auto zero) {
    using T = decltype(zero);
    const auto a = convert<T>(uniform(7, n * n, -1, 1)), b = convert<T>(uniform(8, n * n, -1, 1));
    std::vector<T> c(n * n);
    gemm(false, false, n, n, n, T(1), a.data(), n, b.data(), n, T(0), c.data());  // warm-up
    std::size_t calls = 0;
    const double start = now_seconds();
    double elapsed = 0;
    while (elapsed < min_seconds) {
      gemm(false, false, n, n, n, T(1), a.data(), n, b.data(), n, T(0), c.data());
      ++calls;
      elapsed = now_seconds() - start;
    }
    return 2.0 * double(n) * double(n) * double(n) * double(calls) / elapsed / 1e9;
  };
  return f32 ? measure(0.0f) : measure(0.0);
}

}  // namespace bench
