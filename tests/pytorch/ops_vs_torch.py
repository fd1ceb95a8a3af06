"""The op vocabulary against PyTorch (float64): computes what ops_vs_torch.cpp prints, with
torch, and compares each value and gradient to 1e-9 relative to max(1, |torch's|). Usage:
ops_vs_torch.py OUTPUT_OF_OPS_VS_TORCH; exits 1 on any mismatch."""
import torch, math, sys
import torch.nn.functional as F
torch.set_default_dtype(torch.float64)
x0 = torch.tensor([[-1.5, -0.5, 0.0, 0.5], [1.0, 2.0, -2.0, 0.25], [3.0, -3.0, 0.75, -0.75]])
xp0 = torch.tensor([[0.5, 1.5, 2.0, 0.1], [1.0, 3.0, 0.7, 0.25], [2.5, 0.3, 0.75, 1.25]])
y0 = torch.tensor([[-1.0, -0.5, 0.5, 0.5], [1.0, 1.0, -2.0, 1.25], [2.0, -3.5, 0.75, 0.0]])
out = {}
def emit(name, ins, f, ngrad=None):
    ins = [t.clone().requires_grad_(ngrad is None or i < ngrad) for i, t in enumerate(ins)]
    o = f(*ins)
    w = (torch.arange(o.numel(), dtype=torch.float64) + 1).reshape(o.shape) * 0.1
    gi = [t for t in ins if t.requires_grad]
    gs = torch.autograd.grad((o * w).sum(), gi, allow_unused=True)
    vals = o.detach().flatten().tolist()
    g = [(gg if gg is not None else torch.zeros_like(t)).flatten().tolist() for gg, t in zip(gs, gi)]
    out[name] = (vals, g)
u = lambda n, f: emit(n, [x0], f)
u("abs", torch.abs); emit("sqrt", [xp0], torch.sqrt); u("square", torch.square); u("sin", torch.sin); u("cos", torch.cos)
emit("log1p", [xp0], torch.log1p); u("expm1", torch.expm1)
u("softplus", lambda a: F.softplus(a, beta=2.0, threshold=3.0)); u("leaky_relu", lambda a: F.leaky_relu(a, 0.1))
u("elu", lambda a: F.elu(a, 1.5)); u("gelu", F.gelu); u("gelu_tanh", lambda a: F.gelu(a, approximate='tanh'))
u("clamp", lambda a: torch.clamp(a, -0.5, 0.75)); u("sign", torch.sign)
b = lambda n, f: emit(n, [x0, y0], f)
b("maximum", torch.maximum); b("minimum", torch.minimum); emit("pow_tensor", [xp0, y0], torch.pow)
b("where", lambda a, c: torch.where(a > c, a, c))
u("sum_ax0k", lambda a: a.sum(0, keepdim=True)); u("mean_ax-1", lambda a: a.mean(-1))
u("max_all", lambda a: a.amax()); u("max_ax1", lambda a: a.amax(1)); u("min_ax0", lambda a: a.amin(0))
u("logsumexp_ax1", lambda a: torch.logsumexp(a, 1)); u("var_ax1", lambda a: a.var(1)); u("var_all_c0", lambda a: a.var(unbiased=False))
u("std_ax0k", lambda a: a.std(0, keepdim=True)); u("prod_ax1", lambda a: a.prod(1))
u("norm1", lambda a: torch.linalg.vector_norm(a, 1)); u("norm2", lambda a: torch.linalg.vector_norm(a)); u("norminf", lambda a: torch.linalg.vector_norm(a, math.inf))
u("slice", lambda a: a[:, -3:10:2]); u("index_select", lambda a: torch.index_select(a, 1, torch.tensor([3, 0, 3])))
u("gather", lambda a: torch.gather(a, 1, torch.tensor([[0, 3], [1, 1], [2, 0]])))
b("concat", lambda a, c: torch.cat([a, c], 1)); b("stack", lambda a, c: torch.stack([a, c], 0))
u("permute", lambda a: a.reshape(3, 2, 2).permute(2, 0, 1))
b("bmm", lambda a, c: torch.matmul(a.reshape(3, 2, 2), c.reshape(3, 2, 2)))
b("bmm_bcast", lambda a, c: torch.matmul(a.reshape(3, 1, 4), c.t()))
b("outer", lambda a, c: torch.outer(a.reshape(12), c.reshape(12)[0:3]))
b("l1_mean", F.l1_loss); b("l1_none", lambda a, c: F.l1_loss(a, c, reduction='none'))
b("huber", lambda a, c: F.huber_loss(a, c, delta=0.8)); b("smooth_l1", lambda a, c: F.smooth_l1_loss(a, c, beta=0.8, reduction='sum'))
b("mse_none", lambda a, c: F.mse_loss(a, c, reduction='none'))
b("cos_sim", lambda a, c: F.cosine_similarity(a, c, 1)); b("cos_sim0", lambda a, c: F.cosine_similarity(a, c, 0))
u("ce", lambda a: F.cross_entropy(a, torch.tensor([1, 3, 0])))
u("ce_ignore_smooth", lambda a: F.cross_entropy(a, torch.tensor([1, -100, 0]), label_smoothing=0.2))
u("ce_sum", lambda a: F.cross_entropy(a, torch.tensor([2, 3, 0]), label_smoothing=0.1, reduction='sum'))
u("nll", lambda a: F.nll_loss(F.log_softmax(a, 1), torch.tensor([1, 3, 0])))
emit("bcel_pw", [x0, torch.tensor([[0, 1, 1, 0], [1, 0, 0.5, 1], [0, 0, 1, 1.]]), torch.tensor([0.5, 2.0, 1.0, 3.0])], lambda a, t, pw: F.binary_cross_entropy_with_logits(a, t, pos_weight=pw), ngrad=2)
emit("bce_sum", [torch.tensor([[0.1, 0.9], [0.4, 0.7]]), torch.tensor([[0, 1], [1, 0.]])], lambda p, t: F.binary_cross_entropy(p, t, reduction='sum'))
bad = 0
for line in open(sys.argv[1]):
    parts = line.split()
    name = parts[0]
    if parts[1] == 'ERROR': print("ERROR", line.strip()); bad += 1; continue
    vals, grads, cur = [], [], None
    for p in parts[2:]:
        if p.startswith('G') and not p[1:2] in ('', '-') and p[1:].isdigit(): grads.append([]); cur = grads[-1]; continue
        (cur if cur is not None else vals).append(float(p))
    tv, tg = out[name]
    def close(a, b): return all(abs(p - q) <= 1e-9 * max(1, abs(q)) or (math.isnan(p) and math.isnan(q)) for p, q in zip(a, b)) and len(a) == len(b)
    grads = grads[:len(tg)]
    ok = close(vals, tv) and all(close(g, t) for g, t in zip(grads, tg))
    if not ok:
        bad += 1; print("MISMATCH", name); print("  ours  ", vals, grads); print("  torch ", tv, tg)
print("compared", len(out), "cases with PyTorch", torch.__version__ + ":", bad, "bad")
sys.exit(1 if bad else 0)
