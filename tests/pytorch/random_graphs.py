"""Random graphs against PyTorch (float64): builds random small graphs of the op vocabulary with
torch, writes each as a program that random_graphs.cpp runs with the engine, and compares every
node's value, the gradient of a weighted sum of all nodes with respect to every leaf, and the
gradient of the squared gradients' sum (double backward), to 1e-9 (1e-7 for the second order)
relative to max(1, |torch's|).

Graphs mix broadcasting, reductions, products, shape ops and losses, reuse nodes (so gradients
accumulate), and feed a node to itself (maximum(x, x), x - x: ties and zeros where the
conventions are PyTorch's). Inputs keep clear of the domain edges where the engine documents a
convention other than PyTorch's (bce's p at exactly 0 or 1, whose log torch clamps at -100).

With --specials, one graph in four also draws leaf values among 0, -0, +-inf, NaN, +-800 and
1e-300, and keeps results that are not finite; those graphs compare values and first-order
gradients (the second order there goes through products of 0 and inf whose outcome depends on
how each framework arranges its formulas), and skip the cases documented_difference lists. This
mode explores, and is not part of compare-pytorch.sh's verdict: PyTorch's own results there are
not always consistent (elu's gradient at a NaN depends on the tensor's length), and about one
graph in 2,000 still differs, in cases not classified yet (ties against a cosine similarity
that the two round to either side of 1, infinite gradients meeting in a cross-entropy).

With --float the engine runs the graphs in float (its float kernels: SIMD paths, float BLAS),
from inputs and weights rounded to float, against the same double reference, to 1e-3 (1e-2 for
the second order) of each tensor's largest element.

Usage: random_graphs.py PROGRAM [GRAPHS] [SEED] [--specials | --float]; exits 1 on any
mismatch, printing the graph."""
import math, random, subprocess, sys
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

RED = ['mean', 'sum', 'none']


def xlogy(x, y):
    return torch.special.xlogy(x, y)


def bce_ref(p, y, red):
    # The engine's bce: no clamping of the log (PyTorch clamps it at -100).
    t = -(xlogy(y, p) + xlogy(1 - y, 1 - p))
    return t.mean() if red == 'mean' else t.sum() if red == 'sum' else t


class Node:
    def __init__(self, t, positive=False, prob=False, loss=False):
        self.t, self.positive, self.prob, self.loss = t, positive, prob, loss


# Values whose results IEEE-754 and the ops' conventions decide (a graph with specials has a few).
SPECIALS = [0.0, -0.0, math.inf, -math.inf, math.nan, 800.0, -800.0, 1e-300]


class Graph:
    def __init__(self, rng, specials):
        self.rng, self.specials, self.nodes, self.lines, self.leaves = rng, specials, [], [], []

    def leaf(self, shape, lo, hi, requires_grad, **flags):
        def value():
            if self.specials and not flags.get('prob') and self.rng.random() < 0.25:
                return self.rng.choice(SPECIALS)
            return self.rng.uniform(lo, hi)
        vals = [value() for _ in range(math.prod(shape))]
        if IN_FLOAT:  # the engine reads them as floats: the reference starts from the same values
            vals = torch.tensor(vals, dtype=torch.float32).double().tolist()
        t = torch.tensor(vals).reshape(shape).requires_grad_(requires_grad)
        self.lines.append('leaf %d %d %d %s %s' % (len(self.nodes), int(requires_grad), len(shape),
                          ' '.join(map(str, shape)), ' '.join(repr(v) for v in vals)))
        self.nodes.append(Node(t, **flags))
        if requires_grad:
            self.leaves.append(t)

    def pick(self, cond=lambda n: True):
        # With specials a loss is not an input of later ops: an infinite upstream gradient into a
        # cross-entropy gives inf - inf (NaN) in torch's two-step backward where the engine's
        # fused one gives +-inf.
        cands = [i for i, n in enumerate(self.nodes) if cond(n) and not (self.specials and n.loss)]
        return self.rng.choice(cands) if cands else None


def dims(n):
    return list(n.t.shape)


def rank(n):
    return n.t.dim()


def random_axis(rng, r):
    a = rng.randrange(r)
    return a - r if rng.random() < 0.3 else a


# Each op: name -> (choose(graph) -> (inputs, attrs) or None, torch function(inputs, attrs),
# flags of the output). Attributes are numbers; the C++ side reads them in the same order.
def unary(cond=lambda n: True):
    def choose(g):
        i = g.pick(cond)
        return None if i is None else ([i], [])
    return choose


def moderate(n):
    return n.t.detach().abs().max().item() < 20 if n.t.numel() else True


def positive(n):
    return n.positive


def with_attrs(cond, attrs):
    def choose(g):
        i = g.pick(cond)
        return None if i is None else ([i], attrs(g.rng, g.nodes[i]))
    return choose


def binary_broadcast(cond_b=lambda n: True):
    def choose(g):
        a = g.pick()
        for _ in range(20):
            # Sometimes a node with itself: ties for maximum, zeros for sub.
            b = a if g.rng.random() < 0.15 and cond_b(g.nodes[a]) else g.pick(cond_b)
            if b is None:
                return None
            try:
                torch.broadcast_shapes(g.nodes[a].t.shape, g.nodes[b].t.shape)
            except RuntimeError:
                continue
            return [a, b], []
        return None
    return choose


def same_shape_pair(cond_a=lambda n: True, cond_b=lambda n: True, attrs=lambda rng: []):
    def choose(g):
        a = g.pick(cond_a)
        if a is None:
            return None
        b = g.pick(lambda n: cond_b(n) and n.t.shape == g.nodes[a].t.shape)
        return None if b is None else ([a, b], attrs(g.rng))
    return choose


def matmul_choose(g):
    a = g.pick(lambda n: rank(n) == 2)
    if a is None:
        return None
    ta, tb = g.rng.random() < 0.3, g.rng.random() < 0.3
    k = dims(g.nodes[a])[0 if ta else 1]
    b = g.pick(lambda n: rank(n) == 2 and dims(n)[1 if tb else 0] == k)
    return None if b is None else ([a, b], [int(ta), int(tb)])


def matmul_fn(x, at):
    a, b = x
    return (a.t() if at[0] else a) @ (b.t() if at[1] else b)


def add_bias_choose(g):
    x = g.pick(lambda n: rank(n) == 2)
    if x is None:
        return None
    b = g.pick(lambda n: rank(n) == 1 and dims(n)[0] == dims(g.nodes[x])[1])
    return None if b is None else ([x, b], [])


def linear_choose(g):
    x = g.pick(lambda n: rank(n) == 2)
    if x is None:
        return None
    w = g.pick(lambda n: rank(n) == 2 and dims(n)[0] == dims(g.nodes[x])[1])
    if w is None:
        return None
    b = g.pick(lambda n: rank(n) == 1 and dims(n)[0] == dims(g.nodes[w])[1])
    return None if b is None else ([x, w, b], [])


def reduction_attrs(rng, n):
    # [mode, axis, keepdim]: mode 0 all elements, 1 one axis.
    if rank(n) == 0 or rng.random() < 0.3:
        return [0, 0, 0]
    return [1, random_axis(rng, rank(n)), int(rng.random() < 0.4)]


def reduce_fn(fn_all, fn_axis):
    def f(x, at):
        return fn_all(x[0]) if at[0] == 0 else fn_axis(x[0], at[1], bool(at[2]))
    return f


def nonempty(n):
    return n.t.numel() > 0


def reshape_attrs(rng, n):
    total, shape = n.t.numel(), []
    while total > 1 and len(shape) < 3:
        d = rng.choice([f for f in range(1, total + 1) if total % f == 0])
        shape.append(d)
        total //= d
    if total > 1:
        shape.append(total)
    rng.shuffle(shape)
    return [len(shape)] + shape


def slice_attrs(rng, n):
    ax = random_axis(rng, rank(n))
    ext = dims(n)[ax]
    return [ax, rng.randint(-ext - 1, ext), rng.randint(-ext, ext + 2), rng.randint(1, 3)]


def slice_fn(x, at):
    ax, start, stop, step = at
    idx = [slice(None)] * x[0].dim()
    idx[ax] = slice(start, stop, step)
    return x[0][tuple(idx)]


def index_select_attrs(rng, n):
    ax = random_axis(rng, rank(n))
    count = rng.randint(1, 4)
    return [ax, count] + [rng.randrange(dims(n)[ax]) for _ in range(count)]


def permute_attrs(rng, n):
    p = list(range(rank(n)))
    rng.shuffle(p)
    return p


def concat_choose(g):
    a = g.pick(lambda n: rank(n) >= 1)
    if a is None:
        return None
    ax = random_axis(g.rng, rank(g.nodes[a]))
    sa = dims(g.nodes[a])

    def fits(n):
        s = dims(n)
        return len(s) == len(sa) and all(s[i] == sa[i] for i in range(len(s)) if i != ax % len(s))
    b = g.pick(fits)
    return [a, b], [ax]


def labels_attrs(rng, n):
    rows, classes = dims(n)
    return [RED.index(rng.choice(RED)), rows] + [rng.randrange(classes) for _ in range(rows)]


def ce_fn(x, at):
    return F.cross_entropy(x[0], torch.tensor(at[2:], dtype=torch.long), reduction=RED[at[0]])


def nll_fn(x, at):
    return F.nll_loss(F.log_softmax(x[0], -1), torch.tensor(at[2:], dtype=torch.long),
                      reduction=RED[at[0]])


def red_attr(rng):
    return [RED.index(rng.choice(RED))]


def is_prob_target(n):
    return not n.t.requires_grad and n.prob


OPS = {
    'neg': (unary(), lambda x, at: -x[0], {}),
    'exp': (unary(moderate), lambda x, at: torch.exp(x[0]), {'positive': True}),
    'log': (unary(positive), lambda x, at: torch.log(x[0]), {}),
    'sigmoid': (unary(), lambda x, at: torch.sigmoid(x[0]), {'positive': True, 'prob': True}),
    'tanh': (unary(), lambda x, at: torch.tanh(x[0]), {}),
    'relu': (unary(), lambda x, at: torch.relu(x[0]), {}),
    'abs': (unary(), lambda x, at: torch.abs(x[0]), {}),
    'sqrt': (unary(positive), lambda x, at: torch.sqrt(x[0]), {'positive': True}),
    'square': (unary(), lambda x, at: torch.square(x[0]), {}),
    'sin': (unary(), lambda x, at: torch.sin(x[0]), {}),
    'cos': (unary(), lambda x, at: torch.cos(x[0]), {}),
    'log1p': (unary(positive), lambda x, at: torch.log1p(x[0]), {'positive': True}),
    'expm1': (unary(moderate), lambda x, at: torch.expm1(x[0]), {}),
    'gelu': (unary(), lambda x, at: F.gelu(x[0]), {}),
    'gelu_tanh': (unary(), lambda x, at: F.gelu(x[0], approximate='tanh'), {}),
    'sign': (unary(), lambda x, at: torch.sign(x[0]), {}),
    'softplus': (with_attrs(lambda n: True, lambda rng, n: [rng.choice([1.0, 2.0]), rng.choice([1.5, 20.0])]),
                 lambda x, at: F.softplus(x[0], at[0], at[1]), {'positive': True}),
    'leaky_relu': (with_attrs(lambda n: True, lambda rng, n: [rng.choice([0.01, 0.2])]),
                   lambda x, at: F.leaky_relu(x[0], at[0]), {}),
    'elu': (with_attrs(lambda n: True, lambda rng, n: [rng.choice([1.0, 0.5])]),
            lambda x, at: F.elu(x[0], at[0]), {}),
    'clamp': (with_attrs(lambda n: True, lambda rng, n: [-0.5, rng.choice([0.5, 1.0])]),
              lambda x, at: torch.clamp(x[0], at[0], at[1]), {}),
    'scale': (with_attrs(lambda n: True, lambda rng, n: [rng.choice([-1.5, 0.5, 3.0])]),
              lambda x, at: x[0] * at[0], {}),
    'pow': (with_attrs(lambda n: True, lambda rng, n: [rng.choice([2.0, 3.0])]),
            lambda x, at: torch.pow(x[0], at[0]), {}),
    'pow_frac': (with_attrs(positive, lambda rng, n: [rng.choice([0.5, 1.5, -0.5])]),
                 lambda x, at: torch.pow(x[0], at[0]), {'positive': True}),
    'add': (binary_broadcast(), lambda x, at: x[0] + x[1], {}),
    'sub': (binary_broadcast(), lambda x, at: x[0] - x[1], {}),
    'mul': (binary_broadcast(), lambda x, at: x[0] * x[1], {}),
    'div': (binary_broadcast(positive), lambda x, at: x[0] / x[1], {}),
    'maximum': (binary_broadcast(), lambda x, at: torch.maximum(x[0], x[1]), {}),
    'minimum': (binary_broadcast(), lambda x, at: torch.minimum(x[0], x[1]), {}),
    'where_gt': (binary_broadcast(), lambda x, at: torch.where(x[0] > x[1], x[0], x[1]), {}),
    'pow_tensor': (binary_broadcast(positive), lambda x, at: torch.pow(x[1], x[0]), {}),
    'matmul': (matmul_choose, matmul_fn, {}),
    'add_bias': (add_bias_choose, lambda x, at: x[0] + x[1], {}),
    'linear': (linear_choose, lambda x, at: x[0] @ x[1] + x[2], {}),
    'transpose': (unary(lambda n: rank(n) == 2), lambda x, at: x[0].t(), {}),
    'sum': (with_attrs(lambda n: True, reduction_attrs),
            reduce_fn(torch.sum, lambda t, a, k: t.sum(a, keepdim=k)), {}),
    'mean': (with_attrs(nonempty, reduction_attrs),
             reduce_fn(torch.mean, lambda t, a, k: t.mean(a, keepdim=k)), {}),
    'max': (with_attrs(nonempty, reduction_attrs),
            reduce_fn(torch.amax, lambda t, a, k: t.amax(a, keepdim=k)), {}),
    'min': (with_attrs(nonempty, reduction_attrs),
            reduce_fn(torch.amin, lambda t, a, k: t.amin(a, keepdim=k)), {}),
    'logsumexp': (with_attrs(lambda n: rank(n) >= 1 and nonempty(n), reduction_attrs),
                  reduce_fn(lambda t: torch.logsumexp(t.flatten(), 0),
                            lambda t, a, k: torch.logsumexp(t, a, keepdim=k)), {}),
    'var': (with_attrs(lambda n: n.t.numel() > 1, reduction_attrs),
            reduce_fn(torch.var, lambda t, a, k: t.var(a, keepdim=k)), {}),
    'std': (with_attrs(lambda n: n.t.numel() > 1, reduction_attrs),
            reduce_fn(torch.std, lambda t, a, k: t.std(a, keepdim=k)), {}),
    'prod': (with_attrs(nonempty, reduction_attrs),
             reduce_fn(torch.prod, lambda t, a, k: t.prod(a, keepdim=k)), {}),
    'norm': (with_attrs(nonempty, reduction_attrs),
             reduce_fn(lambda t: torch.linalg.vector_norm(t),
                       lambda t, a, k: torch.linalg.vector_norm(t, 2, a, keepdim=k)), {}),
    'softmax': (unary(lambda n: rank(n) >= 1), lambda x, at: torch.softmax(x[0], -1),
                {'positive': True, 'prob': True}),
    'log_softmax': (unary(lambda n: rank(n) >= 1), lambda x, at: torch.log_softmax(x[0], -1), {}),
    'reshape': (with_attrs(lambda n: True, reshape_attrs), lambda x, at: x[0].reshape(at[1:]), {}),
    'flatten': (unary(), lambda x, at: x[0].flatten(), {}),
    'unsqueeze': (with_attrs(lambda n: rank(n) < 3, lambda rng, n: [rng.randint(-rank(n) - 1, rank(n))]),
                  lambda x, at: x[0].unsqueeze(at[0]), {}),
    'squeeze': (with_attrs(lambda n: rank(n) >= 1, lambda rng, n: [random_axis(rng, rank(n))]),
                lambda x, at: x[0].squeeze(at[0]), {}),
    'permute': (with_attrs(lambda n: rank(n) >= 2, permute_attrs), lambda x, at: x[0].permute(at), {}),
    'slice': (with_attrs(lambda n: rank(n) >= 1, slice_attrs), slice_fn, {}),
    'index_select': (with_attrs(lambda n: rank(n) >= 1 and nonempty(n), index_select_attrs),
                     lambda x, at: torch.index_select(x[0], at[0], torch.tensor(at[2:])), {}),
    'concat': (concat_choose, lambda x, at: torch.cat([x[0], x[1]], at[0]), {}),
    'mse': (same_shape_pair(attrs=red_attr), lambda x, at: F.mse_loss(x[0], x[1], reduction=RED[at[0]]), {}),
    'l1_loss': (same_shape_pair(attrs=red_attr), lambda x, at: F.l1_loss(x[0], x[1], reduction=RED[at[0]]), {}),
    'huber_loss': (same_shape_pair(attrs=lambda rng: red_attr(rng) + [rng.choice([0.5, 1.0])]),
                   lambda x, at: F.huber_loss(x[0], x[1], reduction=RED[at[0]], delta=at[1]), {}),
    'smooth_l1_loss': (same_shape_pair(attrs=lambda rng: red_attr(rng) + [rng.choice([0.5, 1.0])]),
                       lambda x, at: F.smooth_l1_loss(x[0], x[1], reduction=RED[at[0]], beta=at[1]), {}),
    'bce': (same_shape_pair(lambda n: n.prob, is_prob_target, red_attr),
            lambda x, at: bce_ref(x[0], x[1], RED[at[0]]), {}),
    'bce_with_logits': (same_shape_pair(cond_b=is_prob_target, attrs=red_attr),
                        lambda x, at: F.binary_cross_entropy_with_logits(x[0], x[1], reduction=RED[at[0]]), {}),
    'softmax_ce': (with_attrs(lambda n: rank(n) == 2 and nonempty(n), labels_attrs), ce_fn, {'loss': True}),
    'nll_loss': (with_attrs(lambda n: rank(n) == 2 and nonempty(n), labels_attrs), nll_fn, {'loss': True}),
    'softmax_ce_targets': (same_shape_pair(lambda n: rank(n) == 2, lambda n: n.prob, red_attr),
                           lambda x, at: F.cross_entropy(x[0], x[1], reduction=RED[at[0]]), {'loss': True}),
    'cosine_similarity': (same_shape_pair(lambda n: rank(n) >= 1,
                                          attrs=lambda rng: [rng.choice([0, -1])]),
                          lambda x, at: F.cosine_similarity(x[0], x[1], at[0]), {}),
}

def documented_difference(name, inputs, attrs):
    """Whether an op's special inputs are a case the comparison cannot judge: the engine documents
    other values than PyTorch 1.13's there, or either result hangs on rounding."""
    x = inputs[0].detach()
    finite = all(bool(torch.isfinite(t.detach()).all()) for t in inputs)
    if name in ('sign', 'abs'):
        # sign(NaN) is NaN (NumPy's; torch gives 0), and so is abs's gradient at a NaN.
        return bool(x.isnan().any())
    if name in ('l1_loss', 'smooth_l1_loss', 'huber_loss'):
        # Their gradient at a NaN difference is NaN (torch's sign(NaN) gives 0 there).
        return bool((x - inputs[1].detach()).isnan().any())
    if name in ('softmax', 'log_softmax', 'softmax_ce', 'nll_loss'):
        # A row with +inf: the engine evaluates exp(x - logsumexp(x)) with logsumexp = +inf
        # (torch's value too): NaN at the +inf entries, 0 (or -inf) at the others, where torch
        # makes the whole row NaN.
        return bool((x == math.inf).any())
    if name == 'softmax_ce_targets':
        # As above for +inf; at -inf a target of 0 (a masked class) adds 0 * log 0 = 0 in the
        # engine (xlogy's rule), NaN in torch (other targets at -inf: not classified yet).
        return bool(x.isinf().any())
    if name == 'pow_frac':
        # C's pow at -inf and -0 (pow(-inf, 0.5) = inf, pow(-0, 0.5) = +0); torch computes sqrt
        # and rsqrt for the exponents 0.5 and -0.5.
        return bool(((x == -math.inf) | ((x == 0) & x.signbit())).any())
    if name in ('div', 'pow_tensor'):
        # pow_tensor's base (its second input) at -inf or -0: as pow_frac. A divisor or base
        # below 1e-100 scales the last bits of its upstream gradient by 1e100 and more, and the
        # two sum that upstream in different orders.
        b = inputs[1].detach()
        edge = (b == -math.inf) | ((b == 0) & b.signbit()) if name == 'pow_tensor' else False
        return bool((edge | ((b.abs() < 1e-100) & (b != 0))).any())
    if name == 'elu':
        # The gradient at a NaN: the engine's is G (torch's elu_backward, x <= 0 false); torch's
        # own is G or NaN depending on the tensor's length (its vectorized loop tests x > 0).
        return bool(x.isnan().any())
    if name in ('matmul', 'linear', 'prod'):
        # Products with inf or NaN: whether a 0 * inf (NaN) or an inf - inf enters a sum depends
        # on the order the BLAS kernels add in; prod's gradient in torch is r/x (NaN at an inf)
        # unless some element of the whole tensor is 0, then the product of the others.
        return not finite
    if name == 'bce_with_logits':
        # At an infinite logit the engine gives the loss's limit (inf where y > 0 at z = -inf);
        # torch's log(exp(-m) + exp(-z - m)) with m = inf is NaN.
        return bool(x.isinf().any())
    if name == 'norm':
        # Below 1e-154 torch's sum of squares underflows to 0 (norm 0, gradient 0); the engine
        # scales by the largest |x| first. Infinite entries: inf/inf in torch's x/norm.
        return bool(((x.abs() < 1e-150) & (x != 0)).any() or x.isinf().any())
    if name == 'cosine_similarity':
        # Infinite entries: the two arrange x/||x|| and the product differently (NaN or inf).
        return not finite
    if name in ('sin', 'cos'):
        # Beyond 1e6 one ulp of x (which the two may round differently upstream) moves the result.
        return bool((x.abs() > 1e6).any())
    return False


def random_shape(rng):
    r = rng.choice([0, 1, 1, 2, 2, 2, 3])
    return [rng.randint(1, 4) for _ in range(r)]


def build(rng, specials):
    g = Graph(rng, specials)
    g.leaf([rng.randint(1, 4), rng.randint(1, 4)], -2, 2, True)
    for _ in range(rng.randint(1, 4)):
        shape = random_shape(rng)
        kind = rng.random()
        if kind < 0.2:
            g.leaf(shape, 0.2, 2, True, positive=True)
        elif kind < 0.35:
            g.leaf(shape, 0.05, 0.95, False, positive=True, prob=True)  # targets
        else:
            g.leaf(shape, -2, 2, True)
    names = sorted(OPS)
    for _ in range(rng.randint(3, 10)):
        for _attempt in range(50):
            name = rng.choice(names)
            choose, fn, flags = OPS[name]
            picked = choose(g)
            if picked is None:
                continue
            ins, attrs = picked
            try:
                out = fn([g.nodes[i].t for i in ins], attrs)
            except (RuntimeError, IndexError, ValueError):
                continue  # torch refuses it: not a graph to compare
            if out.numel() == 0:
                continue
            if not specials and (not torch.isfinite(out).all() or out.detach().abs().max() > 1e6):
                continue
            if name == 'bce' and not torch.isfinite(g.nodes[ins[0]].t).all():
                continue  # a NaN probability is outside [0, 1]: the engine raises DomainError
            if documented_difference(name, [g.nodes[i].t for i in ins], attrs):
                continue
            if name in ('norm', 'std') and (out.detach().abs() <= (3e-3 if IN_FLOAT else 1e-8) *
                                            g.nodes[ins[0]].t.detach().abs().max()).any():
                # A 2-norm or std of (nearly) equal values: at 0 the second derivative does not
                # exist (torch's double backward gives NaN, 0 * inf inside its formula; the
                # engine's 0, the derivative of its zero subgradient), and near 0 the gradient
                # (x - mean) / std is a ratio of rounding errors (in float, already where the
                # values agree to 3e-3: their differences keep few of float's 24 bits).
                continue
            if name == 'cosine_similarity' and (g.nodes[ins[0]].t.shape[attrs[0]] == 1 or any(
                    (torch.linalg.vector_norm(t, 2, attrs[0]) < 1e-6).any() for t in
                    (g.nodes[i].t for i in ins))):
                # Along an axis of extent 1 the result is the constant sign(a)*sign(b): its
                # gradient, 0, is rounding noise over |a| and |b|. For a (near) zero vector the
                # gradient is of size 1/eps = 1e8, and where it cancels (x - x) the sums keep
                # rounding of that size.
                continue
            g.lines.append('op %d %s %d %s %d %s' % (len(g.nodes), name, len(ins),
                           ' '.join(map(str, ins)), len(attrs), ' '.join(repr(a) for a in attrs)))
            g.nodes.append(Node(out, **flags))
            break
    return g


def reference(g):
    """Every node's value, dL/dleaf for L = sum over nodes of sum(node * W), and dR/dleaf for R the
    sum of those gradients squared."""
    leaves = g.leaves
    weights, total = [], 0
    for i, n in enumerate(g.nodes):
        w = torch.tensor([g.rng.uniform(-1, 1) for _ in range(n.t.numel())]).reshape(n.t.shape)
        if IN_FLOAT:
            w = w.float().double()
        weights.append(w)
        total = total + (n.t * w).sum()
    g.lines.append('weights ' + ' '.join(repr(v) for w in weights for v in w.flatten().tolist()))
    grads = torch.autograd.grad(total, leaves, create_graph=True, allow_unused=True)
    grads = [gg if gg is not None else torch.zeros_like(t) for gg, t in zip(grads, leaves)]
    r = sum((gg * gg).sum() for gg in grads)
    if r.requires_grad:
        grads2 = torch.autograd.grad(r, leaves, allow_unused=True)
        grads2 = [gg if gg is not None else torch.zeros_like(t) for gg, t in zip(grads2, leaves)]
    else:
        grads2 = [torch.zeros_like(t) for t in leaves]
    expect = {}
    for i, n in enumerate(g.nodes):
        expect['node %d' % i] = n.t.detach().clone().contiguous().flatten().tolist()
    for k, (g1, g2) in enumerate(zip(grads, grads2)):
        expect['grad %d' % k] = g1.detach().clone().contiguous().flatten().tolist()
        expect['grad2 %d' % k] = g2.detach().clone().contiguous().flatten().tolist()
    return expect


def close(ours, theirs, tol, scale=0.0):
    if len(ours) != len(theirs):
        return False
    for p, q in zip(ours, theirs):
        if math.isnan(q) or math.isinf(q):
            if not (math.isnan(p) and math.isnan(q)) and p != q:
                return False
        elif not abs(p - q) <= tol * max(1.0, abs(q), scale):
            return False
    return True


IN_FLOAT = False


def main():
    global IN_FLOAT
    args = [a for a in sys.argv[1:] if a not in ('--specials', '--float')]
    with_specials = '--specials' in sys.argv[1:]
    IN_FLOAT = '--float' in sys.argv[1:]
    program = args[0]
    count = int(args[1]) if len(args) > 1 else 400
    seed = int(args[2]) if len(args) > 2 else 1
    rng = random.Random(seed)
    graphs, expects = [], []
    for k in range(count):
        # Specials in double only: float overflows (exp beyond 88) where the reference does not.
        g = build(rng, specials=with_specials and not IN_FLOAT and k % 4 == 3)
        expects.append(reference(g))
        graphs.append(g)
    spec = ''.join('graph %d\n%s\nend\n' % (k, '\n'.join(g.lines)) for k, g in enumerate(graphs))
    run = subprocess.run([program] + (['--float'] if IN_FLOAT else []), input=spec,
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stderr)
        sys.exit('random_graphs: %s exited with %d' % (program, run.returncode))
    results, current = {}, None
    for line in run.stdout.splitlines():
        parts = line.split()
        if parts[0] == 'graph':
            current = results.setdefault(int(parts[1]), {})
        elif len(parts) >= 3 and parts[2] == 'ERROR':
            current[parts[0] + ' ' + parts[1]] = line
        else:
            current[parts[0] + ' ' + parts[1]] = [float(v) for v in parts[2:]]
    bad = 0
    ops_seen = set()
    for k, (g, expect) in enumerate(zip(graphs, expects)):
        ops_seen.update(line.split()[2] for line in g.lines if line.startswith('op '))
        ours = results.get(k, {})
        wrong = []
        for key, theirs in expect.items():
            if g.specials and key.startswith('grad2'):
                continue
            got = ours.get(key)
            # Values and first-order gradients to 1e-9; second order sums more terms. In float,
            # against the double reference and relative to the tensor's largest element: float's
            # rounding (6e-8) through up to ten ops and their adjoints stays below 1e-4 in all
            # but about one graph in 2,000 (second order, 1.3e-3), a wrong formula does not.
            tol = 1e-7 if key.startswith('grad2') else 1e-9
            scale = 0.0
            if IN_FLOAT:
                tol = 1e-2 if key.startswith('grad2') else 1e-3
                scale = max([abs(v) for v in theirs if math.isfinite(v)], default=0.0)
            if not isinstance(got, list) or not close(got, theirs, tol, scale):
                wrong.append((key, got, theirs, tol, scale))
        if wrong:
            bad += 1
            print('MISMATCH in graph %d:' % k)
            print('\n'.join('  ' + line[:200] for line in g.lines if not line.startswith('weights')))
            for key, got, theirs, tol, scale in wrong[:4]:
                if not isinstance(got, list) or len(got) != len(theirs):
                    print('  %s\n    ours  %s\n    torch %s' % (key, str(got)[:300], theirs[:8]))
                    continue
                differ = [i for i, (p, q) in enumerate(zip(got, theirs))
                          if not close([p], [q], tol, scale)]
                print('  %s, elements %s of %d:' % (key, differ[:6], len(got)))
                print('    ours  %s\n    torch %s' % ([got[i] for i in differ[:6]],
                                                     [theirs[i] for i in differ[:6]]))
    print('compared %d random graphs (%d ops of %d%s) with PyTorch %s: %d bad'
          % (count, len(ops_seen), len(OPS), ', engine in float' if IN_FLOAT else '',
             torch.__version__, bad))
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
