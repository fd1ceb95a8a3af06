#!/usr/bin/python3
"""PyTorch and NumPy implementations of the benchmark workloads: a worker process of
tapegrad_bench, speaking the line protocol of bench_common.hpp on stdin/stdout.

    /usr/bin/python3 benchmarks/bench_py.py --impl torch|numpy --threads N

The coordinator sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS before starting
this process (OpenBLAS reads them when it loads); torch.set_num_threads sets torch's own pool.

The problems (data, weights, seeds) are built exactly as make_problem() in bench_common.cpp,
with the same splitmix64 stream, so that both languages start from bit-identical numbers and
the gradients can be compared to 1e-10.

PyTorch is written the way a PyTorch user writes it (addmm, fused losses, torch.optim.SGD).
NumPy is written the way the backprop tutorials in docs/tutorials.md do it: parameter matrices
Theta[out, in+1] with the bias in column 0, np.hstack of a ones column onto every layer's input,
np.matmul with Theta.T, sigmoid_prime(z) = sigmoid(z) * (1 - sigmoid(z)), deltas propagated by
hand.
"""
import gzip
import math
import os
import re
import sys
import time

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
SEED_X, SEED_LABELS, SEED_W, SEED_B = 1, 2, 100, 200


# ---- the generator shared with bench_common.cpp ------------------------------------------------

def mix(seed, count):
    with np.errstate(over="ignore"):
        z = (np.uint64(seed) << np.uint64(32)) + np.arange(count, dtype=np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform(seed, count, low, high):
    u = (mix(seed, count) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return low + (high - low) * u


def random_labels(n, classes):
    return (mix(SEED_LABELS, n) % np.uint64(classes)).astype(np.int64)


# ---- problems (as make_problem) ----------------------------------------------------------------

class Problem:
    pass


def parse_spec(text):
    return dict(item.split("=", 1) for item in text.split(",") if item)


def canonical(spec):
    return ",".join(f"{k}={spec[k]}" for k in sorted(spec))


def init_weights(p, w, bias):
    p.W, p.b = [], []
    for l in range(len(p.sizes) - 1):
        n_in, n_out = p.sizes[l], p.sizes[l + 1]
        a = w if w > 0 else math.sqrt(6.0 / (n_in + n_out))
        p.W.append(uniform(SEED_W + l, n_in * n_out, -a, a).reshape(n_in, n_out))
        p.b.append(uniform(SEED_B + l, n_out, -bias, bias))


def classification_data(p, n):
    p.n = n
    p.X = uniform(SEED_X, n * p.sizes[0], 0.0, 1.0).reshape(n, p.sizes[0])
    p.labels = random_labels(n, p.sizes[-1])


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def make_problem(spec):
    p = Problem()
    w = spec["w"]
    p.name, p.hidden, p.output, p.mode = w, "sigmoid", "identity", "step"
    p.lr, p.lam, p.shuffle, p.Y, p.labels = 0.1, 0.0, False, None, None
    if w == "W1":
        p.sizes, p.output, p.loss = [2, 2, 2, 1], "sigmoid", "mse"
        p.n = p.batch = 4
        p.X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
        p.Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
        init_weights(p, 1.0, 1.0)
    elif w == "W2":
        p.sizes, p.loss = [2, 5, 1], "half_mse"
        p.n = p.batch = 20
        p.X = uniform(SEED_X, 40, -1.0, 1.0).reshape(20, 2)
        p.Y = (p.X[:, 0] * p.X[:, 0] + p.X[:, 1] * p.X[:, 1]).reshape(20, 1)
        init_weights(p, 1.0, 1.0)
    elif w == "W3":
        p.sizes, p.output, p.loss, p.mode, p.lam = [400, 25, 10], "sigmoid", "regularized_ce", "grad", 1.0
        classification_data(p, 5000)
        p.batch = p.n
        p.Y = np.zeros((p.n, 10))
        p.Y[np.arange(p.n), p.labels] = 1.0
        init_weights(p, 0.12, 0.12)
    elif w in ("W4", "mlp"):
        width = 512 if w == "W4" else int(spec.get("width", 512))
        batch = 256 if w == "W4" else int(spec.get("batch", 256))
        p.sizes, p.loss, p.lr = [784, width, width, 10], "softmax_ce", 0.01
        p.hidden = spec.get("act", "sigmoid")
        classification_data(p, batch)
        p.batch = batch
        init_weights(p, 0, 0.1)
    elif w == "W5":
        p.sizes, p.loss, p.mode, p.batch = [784, 256, 128, 10], "softmax_ce", "epoch", 128
        if spec.get("data", "fashion") == "synthetic":
            classification_data(p, int(spec.get("n", 300)))
        else:
            images = read_idx(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz"))
            labels = read_idx(os.path.join(FASHION_DIR, "train-labels-idx1-ubyte.gz"))
            p.n = labels.shape[0]
            p.X = images.reshape(p.n, 784).astype(np.float64) / 255.0
            p.labels = labels.astype(np.int64)
            p.shuffle = True
        init_weights(p, 0, 0.1)
    elif w == "chain":
        p.mode, p.ops = "chain", int(spec.get("ops", 100))
    else:
        raise ValueError(f"unknown workload '{w}'")
    return p


# ---- PyTorch ----------------------------------------------------------------------------------

class TorchMlp:
    def __init__(self, p, f32):
        import torch
        self.torch, self.p = torch, p
        dt = torch.float32 if f32 else torch.float64
        self.W = [torch.tensor(w, dtype=dt).requires_grad_() for w in p.W]
        self.b = [torch.tensor(b, dtype=dt).requires_grad_() for b in p.b]
        self.params = [t for pair in zip(self.W, self.b) for t in pair]
        self.X = torch.tensor(p.X, dtype=dt)
        self.Y = torch.tensor(p.Y, dtype=dt) if p.Y is not None else None
        self.labels = torch.tensor(p.labels) if p.labels is not None else None
        self.opt = torch.optim.SGD(self.params, lr=p.lr)
        self.gen = torch.Generator().manual_seed(5)
        self.capture, self.last_loss = False, 0.0

    def forward(self, x):
        torch, p = self.torch, self.p
        h, L = x, len(self.W)
        for l in range(L):
            h = torch.addmm(self.b[l], h, self.W[l])
            a = p.output if l + 1 == L else p.hidden
            if a == "sigmoid":
                h = torch.sigmoid(h)
            elif a == "relu":
                h = torch.relu(h)
        return h

    def loss(self, h, y, labels):
        F, p = self.torch.nn.functional, self.p
        if p.loss == "mse":
            return F.mse_loss(h, y)
        if p.loss == "half_mse":
            return 0.5 * F.mse_loss(h, y)
        if p.loss == "regularized_ce":
            penalty = sum((w * w).sum() for w in self.W)
            return F.binary_cross_entropy(h, y) * h.shape[1] + p.lam / (2 * h.shape[0]) * penalty
        return F.cross_entropy(h, labels)

    def step(self, x, y, labels):
        self.opt.zero_grad()
        J = self.loss(self.forward(x), y, labels)
        J.backward()
        self.opt.step()
        if self.capture:
            self.last_loss = J.item()

    def epoch(self, count):
        torch, p = self.torch, self.p
        order = torch.randperm(p.n, generator=self.gen) if p.shuffle else torch.arange(p.n)
        for start in range(0, count, p.batch):
            idx = order[start:min(start + p.batch, count)]
            self.step(self.X.index_select(0, idx), None, self.labels.index_select(0, idx))

    def run(self):
        p = self.p
        if p.mode == "step":
            self.step(self.X, self.Y, self.labels)
        elif p.mode == "grad":
            self.opt.zero_grad()
            J = self.loss(self.forward(self.X), self.Y, self.labels)
            J.backward()
            if self.capture:
                self.last_loss = J.item()
        else:
            self.epoch(p.n)

    def warmup(self):
        if self.p.mode == "epoch":
            self.epoch(min(self.p.n, 10 * self.p.batch))
        else:
            self.run()
            self.run()

    def run_partial(self, units):
        if self.p.mode == "epoch":
            self.epoch(min(self.p.n, units * self.p.batch))
        else:
            for _ in range(units):
                self.run()

    def dump(self):
        self.capture = True
        self.run()
        self.capture = False
        out = [np.array([self.last_loss])]
        out += [t.grad.detach().double().numpy().ravel() for t in self.params]
        out += [t.detach().double().numpy().ravel() for t in self.params]
        return np.concatenate(out)


class TorchChain:
    def __init__(self, p, f32):
        import torch
        dt = torch.float32 if f32 else torch.float64
        self.ops = p.ops
        self.x = torch.full((1,), 0.5, dtype=dt, requires_grad=True)
        self.c = torch.full((1,), 0.99, dtype=dt)
        self.y = None

    def run(self):
        self.x.grad = None
        y = self.x
        c = self.c
        for _ in range(self.ops):
            y = y * c
        y.backward()
        self.y = y

    def warmup(self):
        self.run()
        self.run()

    def run_partial(self, units):
        for _ in range(units):
            self.run()

    def dump(self):
        self.run()
        return np.array([self.y.item(), self.x.grad.item()])


# ---- NumPy, the tutorials' way (docs/tutorials.md) ----------------------------------------------

def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_prime(x):
    return sigmoid(x) * (1 - sigmoid(x))


def relu(x):
    return np.maximum(x, 0)


def relu_prime(x):
    return (x > 0).astype(x.dtype)


class NumpyMlp:
    def __init__(self, p, f32):
        self.p = p
        dt = np.float32 if f32 else np.float64
        self.dt = dt
        # THETA[l] is [out, in+1], bias in column 0, as in the digit-classifier course notes.
        self.THETA = [np.hstack((b.reshape(-1, 1), w.T)).astype(dt) for w, b in zip(p.W, p.b)]
        self.X = p.X.astype(dt)
        self.Y = p.Y.astype(dt) if p.Y is not None else None
        self.labels = p.labels
        self.rng = np.random.default_rng(5)
        self.grads = None
        self.last_loss = 0.0

    def act(self, name, z):
        if name == "sigmoid":
            return sigmoid(z)
        if name == "relu":
            return relu(z)
        return z

    def act_prime(self, name, z):
        return sigmoid_prime(z) if name == "sigmoid" else relu_prime(z)

    def forward_propagation(self, X):
        p = self.p
        A = [np.hstack((np.ones((X.shape[0], 1), dtype=self.dt), X))]
        Z = []
        for idx, theta in enumerate(self.THETA):
            Z.append(np.matmul(A[-1], theta.T))
            if idx + 1 == len(self.THETA):
                A.append(self.act(p.output, Z[-1]))
            else:
                A.append(np.hstack((np.ones((Z[-1].shape[0], 1), dtype=self.dt),
                                    self.act(p.hidden, Z[-1]))))
        return A, Z, A[-1]

    def back_propagation(self, X, y, labels):
        p = self.p
        m = X.shape[0]
        A, Z, y_hat = self.forward_propagation(X)
        # delta at the output: dJ/dz of the last layer
        if p.loss in ("mse", "half_mse"):
            N = y_hat.size
            self.last_loss = np.mean((y_hat - y) ** 2) * (1.0 if p.loss == "mse" else 0.5)
            delta = (y_hat - y) * ((2.0 if p.loss == "mse" else 1.0) / N)
            if p.output == "sigmoid":
                delta = delta * sigmoid_prime(Z[-1])
        elif p.loss == "regularized_ce":
            self.last_loss = (-np.sum(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)) / m
                              + p.lam / (2 * m) * sum(np.sum(t[:, 1:] ** 2) for t in self.THETA))
            delta = (y_hat - y) / m
        else:
            z = y_hat - np.max(y_hat, axis=1, keepdims=True)
            e = np.exp(z)
            s = np.sum(e, axis=1, keepdims=True)
            self.last_loss = np.mean(np.log(s[:, 0]) - z[np.arange(m), labels])
            delta = e / s
            delta[np.arange(m), labels] -= 1
            delta = delta / m
        del_ = [delta]
        for idx in reversed(range(1, len(self.THETA))):
            temp = np.matmul(del_[0], self.THETA[idx])[:, 1:] * self.act_prime(p.hidden, Z[idx - 1])
            del_ = [temp] + del_
        grads = []
        for idx in range(len(del_)):
            g = np.matmul(del_[idx].T, A[idx])
            if p.loss == "regularized_ce":
                reg = self.THETA[idx].copy()
                reg[:, 0] = 0
                g = g + p.lam / m * reg
            grads.append(g)
        return grads

    def step(self, X, y, labels):
        grads = self.back_propagation(X, y, labels)
        for idx in range(len(self.THETA)):
            self.THETA[idx] = self.THETA[idx] - self.p.lr * grads[idx]
        self.grads = grads

    def epoch(self, count):
        p = self.p
        order = self.rng.permutation(p.n) if p.shuffle else np.arange(p.n)
        for start in range(0, count, p.batch):
            idx = order[start:min(start + p.batch, count)]
            self.step(self.X[idx], None, self.labels[idx])

    def run(self):
        p = self.p
        if p.mode == "step":
            self.step(self.X, self.Y, self.labels)
        elif p.mode == "grad":
            self.grads = self.back_propagation(self.X, self.Y, self.labels)
        else:
            self.epoch(p.n)

    def warmup(self):
        if self.p.mode == "epoch":
            self.epoch(min(self.p.n, 10 * self.p.batch))
        else:
            self.run()
            self.run()

    def run_partial(self, units):
        if self.p.mode == "epoch":
            self.epoch(min(self.p.n, units * self.p.batch))
        else:
            for _ in range(units):
                self.run()

    def dump(self):
        self.run()
        out = [np.array([float(self.last_loss)])]
        for g in self.grads:  # [db, dW^T] -> dW, db
            out += [g[:, 1:].T.astype(np.float64).ravel(), g[:, 0].astype(np.float64).ravel()]
        for t in self.THETA:
            out += [t[:, 1:].T.astype(np.float64).ravel(), t[:, 0].astype(np.float64).ravel()]
        return np.concatenate(out)


class NumpyChain:
    """The chain by hand in NumPy: forward multiplications, then the backward ones."""

    def __init__(self, p, f32):
        dt = np.float32 if f32 else np.float64
        self.ops = p.ops
        self.x = np.full((1,), 0.5, dtype=dt)
        self.c = np.full((1,), 0.99, dtype=dt)

    def run(self):
        ys = [self.x]
        c = self.c
        for _ in range(self.ops):
            ys.append(ys[-1] * c)
        g = np.ones_like(self.x)
        for _ in range(self.ops):
            g = g * c
        self.y, self.dx = ys[-1], g

    def warmup(self):
        self.run()
        self.run()

    def run_partial(self, units):
        for _ in range(units):
            self.run()

    def dump(self):
        self.run()
        return np.array([float(self.y[0]), float(self.dx[0])])


# ---- worker -----------------------------------------------------------------------------------

def status_kib(field):
    with open("/proc/self/status") as f:
        m = re.search(field + r":\s+(\d+)", f.read())
    return int(m.group(1)) if m else -1


def blas_info():
    """(corename/threading, threads) of the OpenBLAS this process has loaded (numpy and torch
    share it)."""
    import ctypes
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line and "/" in line})
        for path in paths:
            lib = ctypes.CDLL(path)
            if hasattr(lib, "openblas_get_corename"):
                lib.openblas_get_corename.restype = ctypes.c_char_p
                core = lib.openblas_get_corename().decode()
                if hasattr(lib, "openblas_get_parallel"):
                    threading = {0: "sequential", 1: "pthreads", 2: "OpenMP"}
                    core += "/" + threading.get(lib.openblas_get_parallel(), "?")
                return core, lib.openblas_get_num_threads()
    except OSError:
        pass
    return "not-OpenBLAS", 0


def main():
    args = sys.argv[1:]
    impl = args[args.index("--impl") + 1]
    threads = int(args[args.index("--threads") + 1]) if "--threads" in args else 1
    if impl == "torch":
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(5)
        version = torch.__version__
        classes = (TorchMlp, TorchChain)
        name = "PyTorch"
    else:
        version = np.__version__
        classes = (NumpyMlp, NumpyChain)
        name = "NumPy"

    def make_runner(p, spec):
        f32 = spec.get("dtype", "f64") == "f32"
        return (classes[1] if p.mode == "chain" else classes[0])(p, f32)

    def factory(spec_text):
        spec = parse_spec(spec_text)
        return make_runner(make_problem(spec), spec)

    runners, warmed = {}, set()

    def runner_for(spec_text):
        key = canonical(parse_spec(spec_text))
        if key not in runners:
            runners[key] = factory(spec_text)
        return key, runners[key]

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            cmd = words[0]
            if cmd == "quit":
                break
            if cmd == "hello":
                core, blas_threads = blas_info()
                reply = (f"ok name={name} corename={core} threads={threads} "
                         f"blas_threads={blas_threads} version={version}")
            elif cmd == "setup":
                runner_for(words[1])
                reply = "ok"
            elif cmd == "time":
                key, r = runner_for(words[1])
                if key not in warmed:
                    r.warmup()
                    warmed.add(key)
                min_seconds = float(words[2])
                iterations, seconds, cpu, batch = 0, 0.0, 0.0, 1
                while seconds < min_seconds:
                    start, cpu_start = time.perf_counter(), time.process_time()
                    for _ in range(batch):
                        r.run()
                    cpu += time.process_time() - cpu_start
                    seconds += time.perf_counter() - start
                    iterations += batch
                    per = seconds / iterations
                    left = min_seconds - seconds
                    batch = max(1, min(int(left / per) + 1 if left > 0 else 1, 2 * batch))
                reply = f"ok {iterations} {seconds:.9g} {cpu:.9g}"
            elif cmd == "verify":
                values = factory(words[1]).dump().astype("<f8")
                values.tofile(words[2])
                reply = f"ok {values.size}"
            elif cmd == "memory":
                spec = parse_spec(words[1])
                p = make_problem(spec)
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
                base, file_base = status_kib("VmRSS"), status_kib("RssFile")
                r = make_runner(p, spec)
                r.run_partial(int(words[2]))
                code = status_kib("RssFile") - file_base
                reply = f"ok {status_kib('VmHWM') - base} {base} {code}"
            else:
                reply = "error unknown command: " + line.strip()
        except Exception as e:  # reported to the coordinator, which carries on without it
            reply = "error " + (f"{type(e).__name__}: {e}").replace("\n", " ")
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
