#!/usr/bin/env python3
"""Writes the ops fuzzer's seed corpus (fuzz/corpus/seed_*), one hand-made program per file.

The byte format is the one ops_fuzzer.cpp decodes, in the same order:
  dtype byte (bit 0: float), leaf count (1 + b % 4), each leaf: rank (b % 4), extents (index into
  {1,2,3,4,1,2,3,0,5,8,16,32,64,100,128,7}, b % 16; a leaf above 16384 elements is halved), one
  value byte per element up to 64 elements, else a pattern seed byte and a mode byte (mode % 4 == 3
  puts one special value in), requires_grad byte (bit 0); then ops, each as a
  byte < 0xF0 followed by the op code (b % 20) and its operands (a free-form target shape of
  reshape/broadcast_to/sum_to: rank, then per extent a byte, 15 meaning 2^62, else an extent
  index; a binary-op byte >= 0xE0 is bce_backward with three operands; a write in place whose
  first byte is >= 128 picks any pool entry, byte % pool size); a byte >= 0xF0 ends the ops, its low 4 bits choosing the value checks (1: gradcheck,
  2: hessian/hvp, 4: the plain tg::grad releases the graph, 8: no value checks); then the number
  of backward passes (1 + b % 2) and, for each, the root, a mode byte and upstream values.
Run it from anywhere: python3 fuzz/make_corpus.py (rewrites the seed_* files only; inputs found by
the fuzzer and committed as regressions are named crash_* or found_* and kept).
"""
import math
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-30, 1000.0, -1000.0, 30.0, -30.0, 800.0, -800.0,
            math.inf, -math.inf, math.nan, 1e300, -1e300, 5e-324, 1e-300, 0.999999, 1e-7, 88.0,
            -88.0, 710.0]
EXTENT = {1: 0, 2: 1, 3: 2, 4: 3, 0: 7, 5: 8, 8: 9, 16: 10, 32: 11, 64: 12, 100: 13, 128: 14, 7: 15}
FACTORIES = ["zeros", "ones", "full", "scalar", "from_vector", "vector", "matrix", "uniform",
             "normal"]
OPS = {"matmul": 0, "add_bias": 1, "binary": 2, "unary": 4, "pow": 6, "sum": 7, "mean": 8,
       "transpose": 9, "reshape": 10, "softmax": 11, "loss": 12, "softmax_ce": 13,
       "softmax_ce_onehot": 14, "broadcast_to": 15, "sum_to": 16, "number": 17, "api": 18,
       "leaf": 19}
BINARY = ["add", "sub", "mul", "div", "xdivy", "sigmoid_backward", "tanh_backward", "relu_backward"]
UNARY = ["neg", "exp", "log", "sigmoid", "tanh", "relu"]
LOSS = ["mse", "bce", "bce_with_logits"]
EXPONENTS = [2, 3, -1, 0.5, 1.5, 0, 1, -2, -0.5, 0.25, 10, -3.5]


def value(v):
    """The byte decoding to v: a special value, or (b - 100) / 25 for b < 200."""
    for i, s in enumerate(SPECIALS):
        if (math.isnan(v) and math.isnan(s)) or (v == s and math.copysign(1, v) == math.copysign(1, s)):
            return 200 + i
    b = round(v * 25 + 100)
    assert 0 <= b < 200, v
    return b


class Seed:
    def __init__(self, dtype="double"):
        self.head = [1 if dtype == "float" else 0]
        self.leaves = []
        self.ops = []
        self.tail = []
        self.check_mode = 0

    def leaf(self, shape, values=None, grad=True):
        n = math.prod(shape)
        assert n <= 16384
        if n > 64:  # a pattern: values = (seed, mode)
            seed, mode = values if values is not None else (1, 0)
            return [len(shape)] + [EXTENT[d] for d in shape] + [seed, mode, int(grad)]
        values = values if values is not None else [0.1 * (i + 1) * (-1) ** i for i in range(n)]
        assert len(values) == n
        return [len(shape)] + [EXTENT[d] for d in shape] + [value(v) for v in values] + [int(grad)]

    def checks(self, gradcheck=False, hessian=False, release=False, none=False):
        """The value checks run after the ops (the byte that ends the op list)."""
        self.check_mode = (1 if gradcheck else 0) | (2 if hessian else 0) | (4 if release else 0)
        self.check_mode |= 8 if none else 0
        return self

    def factory(self, name, shape=(), c=1.0, seed=0, grad=False, x=0):
        """A new leaf from a factory (tensor API case 5); shape extents of None mean 2^62."""
        dims = []
        for d in shape:
            dims += [15] if d is None else [0, EXTENT[d]]
        return self.op("api", 5, x, FACTORIES.index(name) | (16 if grad else 0), len(shape),
                       *dims, value(c), seed)

    def write(self, leaf, at, v, x=0):
        """Writes value v at flat index `at` of leaves[leaf] in place (tensor API case 7)."""
        return self.op("api", 7, x, leaf, at, value(v))

    def write_pool(self, entry, at, v, pool_size, x=0):
        """Writes value v at flat index `at` of pool entry t<entry> (any tensor, op outputs too),
        when the pool holds pool_size tensors: a first byte of 128 and up picks from the pool."""
        b = next(b for b in range(128, 256) if b % pool_size == entry)
        return self.op("api", 7, x, b, at, value(v))

    def bce_backward(self, g, p, y):
        """bce_backward(G, p, y): a binary-op byte of 0xE0 and up, then three operands."""
        return self.op("binary", 0xE0, g, p, y)

    def start(self, *leaves):
        """Initial leaves: (shape, values, grad) tuples; they become t0, t1, ..."""
        assert 1 <= len(leaves) <= 4
        self.leaves = [len(leaves) - 1]
        for spec in leaves:
            self.leaves += self.leaf(*spec)
        return self

    def op(self, name, *operands):
        self.ops += [0, OPS[name], *operands]
        return self

    def binary(self, name, a, b):
        return self.op("binary", BINARY.index(name), a, b)

    def unary(self, name, x):
        return self.op("unary", UNARY.index(name), x)

    def loss(self, name, a, b):
        return self.op("loss", LOSS.index(name), a, b)

    def backward(self, root, retain=False, create=False, second_order=False, again=False,
                 seeded=False, wrong_upstream=None, no_upstream_first=False, upstream=()):
        mode = (2 if retain else 0) | (12 if create else 0) | (32 if second_order else 0)
        mode |= (64 if again else 0) | (1 if seeded else 0) | (128 if no_upstream_first else 0)
        tail = [root]
        if wrong_upstream is not None:
            mode |= 16 | 1
            tail_extra = [len(wrong_upstream)] + [EXTENT[d] for d in wrong_upstream]
        else:
            tail_extra = []
        tail += [mode] + tail_extra + [value(v) for v in upstream]
        self.tail.append(tail)
        return self

    def bytes(self):
        passes = self.tail or [[0, 0]]
        assert len(passes) <= 2
        out = self.head + self.leaves + self.ops + [0xF0 | self.check_mode, len(passes) - 1]
        for p in passes:
            out += p
        return bytes(out)


def seeds():
    s = {}
    # A two-layer network: matmul -> add_bias -> sigmoid -> matmul -> mse.
    s["mlp_mse"] = (Seed().start(([4, 3], None, False), ([3, 2],), ([2],), ([4, 2], None, False))
                    .op("matmul", 0, 1, 0).op("add_bias", 4, 2).unary("sigmoid", 5)
                    .loss("mse", 6, 3).backward(7))
    s["mlp_float"] = (Seed("float").start(([4, 3], None, False), ([3, 2],), ([2],))
                      .op("matmul", 0, 1, 0).op("add_bias", 3, 2).unary("tanh", 4)
                      .op("sum", 0, 5).backward(6))
    for flags in range(4):
        s[f"matmul_flags{flags}"] = (Seed().start(([3, 2],), ([3, 2],))
                                     .op("matmul", 0, 1, flags).backward(2, upstream=[0.5] * 9))
    s["matmul_inner_mismatch"] = Seed().start(([2, 3],), ([2, 3],)).op("matmul", 0, 1, 0)
    s["matmul_1d"] = Seed().start(([3],), ([3, 2],)).op("matmul", 0, 1, 0)
    s["matmul_empty_inner"] = (Seed().start(([2, 0],), ([0, 3],)).op("matmul", 0, 1, 0)
                               .op("sum", 0, 2).backward(3))
    s["add_bias_wrong"] = Seed().start(([4, 3],), ([4],)).op("add_bias", 0, 1)
    for name in BINARY:
        s[f"{name}_broadcast"] = (Seed().start(([3, 1], [0.2, 0.4, 0.6]), ([1, 4], [0.1, -0.5, 0.3, 0.9]))
                                  .binary(name, 0, 1).op("sum", 0, 2).backward(3))
    s["add_incompatible"] = Seed().start(([2, 3],), ([3, 2],)).binary("add", 0, 1)
    s["div_by_zero"] = (Seed().start(([2], [1.0, 1.0]), ([2], [0.0, 2.0]))
                        .binary("div", 0, 1).op("sum", 0, 2).backward(3))
    s["xdivy_zero_zero"] = (Seed().start(([2], [0.0, 1.0]), ([2], [0.0, 2.0]))
                            .binary("xdivy", 0, 1).op("sum", 0, 2).backward(3))
    for name in UNARY:
        s[f"{name}_extremes"] = (Seed().start(([2, 3], [-1000.0, -30.0, 0.0, 1e-7, 30.0, 1000.0]))
                                 .unary(name, 0).op("mean", 0, 1).backward(2))
    s["log_domain"] = (Seed().start(([3], [-1.0, 0.0, 0.5])).unary("log", 0).op("sum", 0, 1)
                       .backward(2))
    for i, p in enumerate(EXPONENTS):
        if p in (0.5, 0, -1, 1.5):
            s[f"pow_{i}"] = (Seed().start(([4], [-4.0, 0.0, 0.25, 2.0])).op("pow", 0, i)
                             .backward(1, upstream=[1.0, 1.0, 1.0, 1.0]))
    s["sum_axes"] = (Seed().start(([2, 3, 4],)).op("sum", 1, 0, 1).op("sum", 1, 1, 0)
                     .op("sum", 0, 2).backward(3))
    s["sum_bad_axis"] = Seed().start(([2, 3],)).op("sum", 1, 0, 2)
    s["mean_empty"] = Seed().start(([0, 3],)).op("mean", 0, 0).op("mean", 1, 0, 0).op("mean", 1, 0, 1)
    s["mean_axis"] = (Seed().start(([3, 2],)).op("mean", 1, 0, 1).op("mean", 0, 1).backward(2))
    s["transpose_reshape"] = (Seed().start(([2, 3],)).op("transpose", 0).op("reshape", 1, 3)
                              .op("reshape", 2, 5, 2, 0, EXTENT[3], 0, EXTENT[3])
                              .op("softmax", 0, 2).op("sum", 0, 3).backward(4))
    s["transpose_1d"] = Seed().start(([3],)).op("transpose", 0)
    s["softmax_scalar"] = Seed().start(([],)).op("softmax", 1, 0).op("softmax", 0, 0)
    s["log_softmax_1000"] = (Seed().start(([2, 3], [1000.0, -1000.0, 0.0, 800.0, 800.0, -800.0]))
                             .op("softmax", 1, 0).op("softmax", 0, 0).binary("add", 1, 2)
                             .op("sum", 0, 3).backward(4))
    s["mse_broadcast_rejected"] = Seed().start(([4, 1],), ([4],)).loss("mse", 0, 1)
    s["bce_edges"] = (Seed().start(([4], [0.0, 1.0, 0.0, 1.0]), ([4], [0.0, 1.0, 1.0, 0.0]))
                      .loss("bce", 0, 1).backward(2))
    s["bce_finite_edges"] = (Seed().start(([2], [0.0, 1.0]), ([2], [0.0, 1.0]))
                             .loss("bce", 0, 1).backward(2))
    s["bce_out_of_domain"] = Seed().start(([2], [1.5, 0.5]), ([2], [1.0, 0.0])).loss("bce", 0, 1)
    s["bce_saturated_sigmoid"] = (Seed().start(([1], [30.0]), ([1], [0.0], False))
                                  .unary("sigmoid", 0).loss("bce", 2, 1).backward(3))
    s["bce_logits_1000"] = (Seed().start(([4], [1000.0, -1000.0, 1000.0, -1000.0]), ([4], [0.0, 1.0, 1.0, 0.0]))
                            .loss("bce_with_logits", 0, 1).backward(2))
    s["softmax_ce_labels"] = (Seed().start(([3, 4], [1000.0, 0.0, -1000.0, 0.5, 1.0, 2.0, 3.0, 3.5, -1.0, -2.0, -3.0, 800.0]))
                              .op("softmax_ce", 0, 0, 4, 1, 3).backward(1))
    # mode bit 0: an explicit label count; label bytes b % 8 == 0 pick b/8 % (C+4) - 2.
    s["softmax_ce_bad_labels"] = (Seed().start(([3, 3],)).op("softmax_ce", 0, 1, 3, 4, 1, 5 * 8)
                                  .op("softmax_ce", 0, 1, 3, 4, 1, 1 * 8).op("softmax_ce", 0, 1, 2, 4, 1))
    s["softmax_ce_onehot"] = (Seed().start(([2, 3],), ([2, 3], [1.0, 0.0, 0.0, 0.2, 0.3, 0.5], False))
                              .op("softmax_ce_onehot", 0, 1).backward(2))
    s["softmax_ce_onehot_mismatch"] = Seed().start(([4, 3],), ([4, 2],)).op("softmax_ce_onehot", 0, 1)
    s["softmax_ce_zero_classes"] = (Seed().start(([2, 0],), ([2, 0],)).op("softmax_ce_onehot", 0, 1)
                                    .op("softmax_ce", 0, 0, 1, 1))
    s["broadcast_sum_to"] = (Seed().start(([3, 1],)).op("broadcast_to", 0, 1, 1, EXTENT[2], 1, EXTENT[4])
                             .op("sum_to", 1, 0, 1, 1, 0).op("sum", 0, 2).backward(3))
    s["broadcast_invalid"] = (Seed().start(([2, 3],)).op("broadcast_to", 0, 3, 2, 0, EXTENT[3], 0, EXTENT[2])
                              .op("sum_to", 0, 3, 2, 0, EXTENT[4], 0, EXTENT[3]))
    # Target shapes whose element count overflows size_t ([2^62, 4]: a byte 15 picks 2^62).
    s["overflow_targets"] = (Seed().start(([1, 4],)).op("reshape", 0, 5, 2, 15, 0, EXTENT[4])
                             .op("broadcast_to", 0, 3, 2, 15, 0, EXTENT[4])
                             .op("sum_to", 0, 3, 1, 15).op("sum", 0, 0).backward(1))
    s["numbers"] = (Seed().start(([2, 2],)).op("number", 0, 0, value(2.0)).op("number", 5, 1, value(1.0))
                    .op("number", 6, 2, value(0.0)).op("number", 3, 3, value(0.5))
                    .op("sum", 0, 4).backward(5))
    s["tensor_api"] = (Seed().start(([2, 2],), ([],)).unary("exp", 0).op("api", 0, 2).op("api", 1, 2)
                       .op("api", 2, 2, 3, 2).op("api", 3, 2).op("api", 4, 0).op("api", 4, 1)
                       .binary("mul", 2, 4).op("sum", 0, 6).backward(7))
    s["retain_twice"] = (Seed().start(([2, 3],), ([3],)).binary("mul", 0, 1).unary("tanh", 2)
                         .binary("add", 3, 2).op("sum", 0, 4).backward(5, retain=True, again=True))
    s["released_twice"] = (Seed().start(([2, 2],)).unary("sigmoid", 0).op("sum", 0, 1)
                           .backward(2, again=True).backward(1, upstream=[1.0] * 4))
    s["create_graph_second_order"] = (Seed().start(([3, 2],), ([2, 2],)).op("matmul", 0, 1, 0)
                                      .unary("sigmoid", 2).unary("tanh", 3).loss("mse", 3, 4)
                                      .backward(5, create=True, second_order=True))
    s["create_graph_twice"] = (Seed("float").start(([3],)).unary("exp", 0).binary("mul", 1, 0)
                               .op("softmax", 1, 2).op("sum", 0, 3)
                               .backward(4, create=True, again=True))
    s["upstream_errors"] = (Seed().start(([2, 3],)).unary("relu", 0)
                            .backward(1, wrong_upstream=[3, 2], no_upstream_first=True,
                                      upstream=[1.0] * 6))
    s["leaf_root"] = Seed().start(([2],)).backward(0, retain=True, again=True, upstream=[1.0, 2.0])
    s["no_grad_root"] = Seed().start(([2],), ([2], None, False)).binary("add", 1, 1).backward(2)
    s["empty_tensors"] = (Seed().start(([0, 3],), ([3],)).op("add_bias", 0, 1).unary("sigmoid", 2)
                          .op("softmax", 0, 3).op("sum", 1, 4, 0).op("sum", 0, 5)
                          .backward(6))
    # Large tensors: the BLAS path of matmul (m*n*k above 512) and buffers of 64 KiB and up, which
    # the engine's buffer cache keeps for reuse.
    s["big_matmul_blas"] = (Seed().start(([128, 64], (3, 0), False), ([64, 32], (5, 0)),
                                         ([32],), ([128, 32], (9, 0), False))
                            .op("matmul", 0, 1, 0).op("add_bias", 4, 2).unary("tanh", 5)
                            .loss("mse", 6, 3).op("matmul", 0, 6, 1).op("sum", 0, 8)
                            .binary("add", 7, 9).backward(10))
    s["big_float_cache"] = (Seed("float").start(([128, 128], (7, 3)), ([128], (11, 0)))
                            .unary("relu", 0).op("add_bias", 2, 1).op("softmax", 1, 3)
                            .op("matmul", 4, 2, 2).op("mean", 0, 5).backward(6, retain=True, again=True))
    # The value checks on small smooth programs: gradcheck, the Hessian and hvp.
    s["gradcheck_hessian"] = (Seed().start(([2, 2], [0.4, -0.8, 1.2, 0.6]), ([2], [0.3, -0.5]),
                                           ([2, 2], [1.5, 2.0, 0.5, 1.0], False))
                              .binary("mul", 0, 0).op("add_bias", 3, 1).unary("tanh", 4)
                              .binary("div", 5, 2).op("pow", 1, 0).binary("add", 6, 7)
                              .op("softmax", 1, 8).op("sum", 0, 9)
                              .checks(gradcheck=True, hessian=True).backward(10))
    s["gradcheck_losses"] = (Seed().start(([3], [0.3, 0.5, 0.6]), ([3], [0.2, 1.0, 0.0]),
                                          ([2, 3], [0.5, -1.0, 2.0, 0.1, 0.2, -0.3]))
                             .loss("bce", 0, 1).loss("bce_with_logits", 0, 1)
                             .op("softmax_ce", 2, 0, 1, 9).binary("add", 3, 4).binary("mul", 6, 5)
                             .checks(gradcheck=True, hessian=True).backward(7))
    s["float_vs_double"] = (Seed("float").start(([3, 4],), ([4, 2],), ([2],))
                            .op("matmul", 0, 1, 0).op("add_bias", 3, 2).unary("sigmoid", 4)
                            .op("softmax", 1, 5).unary("exp", 6).op("mean", 1, 7, 1)
                            .checks(hessian=True).backward(8, upstream=[0.5, -1.0, 2.0]))
    s["grad_releases_graph"] = (Seed().start(([2],)).unary("exp", 0).op("sum", 0, 1)
                                .checks(release=True).backward(2))
    # Factories: each kind, valid and not (a shape of 2^62 elements, a ragged matrix, a value
    # count that does not match), used in ops.
    s["factories"] = (Seed().start(([2, 3],))
                      .factory("zeros", [2, 3], grad=True).factory("ones", [3]).factory("full", [2, 3], c=-0.5)
                      .factory("scalar", [], c=2.0, grad=True).factory("from_vector", [2, 3], seed=1, grad=True)
                      .factory("from_vector", [2, 3], seed=7).factory("vector", [], c=0.5)
                      .factory("matrix", [], seed=0).factory("matrix", [], seed=1)
                      .factory("uniform", [2, 3], seed=3, grad=True).factory("normal", [3], seed=4)
                      .factory("zeros", [None, 4]).factory("full", [None, 0]).factory("from_vector", [None])
                      .binary("mul", 0, 1).binary("add", 10, 5).binary("mul", 11, 4)
                      .op("sum", 0, 12).backward(13))
    s["grad_misuse"] = (Seed().start(([2],), ([2], None, False)).unary("exp", 0).op("sum", 0, 2)
                        .op("api", 6, 0, 3, 2).op("api", 6, 0, 3, 1).backward(3))
    # Writes in place into recorded leaves: one mul saved (backward must raise once the engine
    # checks versions), one no op reads (backward must run, its gradient unaffected).
    s["inplace_saved_mul"] = (Seed().start(([3], [0.5, -1.0, 2.0]), ([3], [1.5, 0.25, -2.0]))
                              .binary("mul", 0, 1).op("sum", 0, 2).write(0, 1, 3.0).backward(3))
    s["inplace_saved_matmul"] = (Seed().start(([2, 2],), ([2, 2], None, False))
                                 .op("matmul", 1, 0, 0).op("sum", 0, 2).write(1, 2, 1.0)
                                 .backward(3, retain=True, again=True))
    s["inplace_unread"] = (Seed().start(([3],), ([3],), ([2],))
                           .binary("add", 0, 1).op("sum", 0, 3).write(2, 0, 1.0)
                           .backward(4, retain=True, again=True))
    # Writes in place into op outputs and other saved tensors: exp's saved output (must raise),
    # bce_backward's saved y and relu_backward's saved mask (must raise), and a write before the
    # op records the leaf (must run: the op saves the new values).
    s["inplace_saved_output"] = (Seed().start(([3], [0.5, -1.0, 2.0]))
                                 .unary("exp", 0).op("sum", 0, 1).write_pool(1, 2, 3.0, 3)
                                 .backward(2))
    s["inplace_saved_bce_backward"] = (Seed().start(([], [1.5]), ([3], [0.2, 0.5, 0.9]),
                                                    ([3], [0.0, 1.0, 0.3], False))
                                       .bce_backward(0, 1, 2).op("sum", 0, 3).write(2, 1, 0.5)
                                       .backward(4))
    s["inplace_saved_relu_mask"] = (Seed().start(([3], [0.5, -1.0, 2.0]), ([3], [1.0, 2.0, -1.0], False))
                                    .binary("relu_backward", 0, 1).op("sum", 0, 2).write(1, 0, -1.0)
                                    .backward(3))
    s["inplace_before_record"] = (Seed().start(([3], [0.5, -1.0, 2.0]), ([3], [1.5, 0.25, -2.0]))
                                  .write(0, 1, 3.0).binary("mul", 0, 1).op("sum", 0, 2)
                                  .backward(3, retain=True, again=True))
    # bce_backward: smooth inside (0, 1) (gradcheck, Hessian), the edges p = 0 and 1 with hard
    # targets (terms with a zero numerator are 0), and its shape errors (p and y differ; G does
    # not broadcast to p).
    s["bce_backward_fused"] = (Seed().start(([], [1.5]), ([3], [0.3, 0.5, 0.7]), ([3], [0.0, 1.0, 0.3]))
                               .bce_backward(0, 1, 2).op("sum", 0, 3)
                               .checks(gradcheck=True, hessian=True).backward(4))
    s["bce_backward_edges"] = (Seed().start(([], [1.0]), ([4], [0.0, 1.0, 0.0, 1.0]),
                                            ([4], [0.0, 1.0, 1.0, 0.0]))
                               .bce_backward(0, 1, 2).op("sum", 0, 3).backward(4))
    s["bce_backward_shapes"] = (Seed().start(([2],), ([3], [0.2, 0.5, 0.9]), ([2], [0.0, 1.0]))
                                .bce_backward(0, 1, 2).bce_backward(0, 1, 1).bce_backward(1, 1, 1)
                                .op("sum", 0, 3).backward(4))
    # gradcheck with an input that has no elements next to one that has: nothing to check in it,
    # and the report must not divide by its zero extent.
    s["gradcheck_empty_input"] = (Seed().start(([3], [0.3, -0.5, 0.7]), ([0, 3], []))
                                  .op("sum", 0, 1).binary("add", 0, 2).unary("tanh", 3)
                                  .checks(gradcheck=True).backward(4, upstream=[0.5, -1.0, 2.0]))
    return s


def main():
    os.makedirs(CORPUS, exist_ok=True)
    for name in os.listdir(CORPUS):
        if name.startswith("seed_"):
            os.remove(os.path.join(CORPUS, name))
    all_seeds = seeds()
    for name, seed in sorted(all_seeds.items()):
        with open(os.path.join(CORPUS, "seed_" + name), "wb") as f:
            f.write(seed.bytes())
    print(f"wrote {len(all_seeds)} seeds to {CORPUS}")


if __name__ == "__main__":
    main()
