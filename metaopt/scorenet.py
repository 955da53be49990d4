"""The score network ``M(x; θ)`` of EXPO / EXPO-ES (METHODS §2 step 3) and its factorised evaluation.

One hidden layer, ReLU, scalar output, MSE loss. Each fit starts from the same seed (so the network is a
function of the data alone), standardises the targets, and runs full-batch Adam. Predictions are mapped back
to the score's units, so the exponential-weights temperature η keeps the paper's meaning.

Factorised product-pool scoring: for arms ``(a, b)`` with inputs ``g(D_a) ⊕ g(I_b)``, the first layer splits as
``W1 [g(D_a) ⊕ g(I_b)] = W1_D g(D_a) + W1_I g(I_b)``; all ``n_D × n_I`` predictions need ``n_D + n_I``
projections and a broadcast add, never the ``n_D · n_I`` full input rows.

The fit factorises the same way (:func:`fit_mlps`): EXPO samples the same (D, I) many times, and the MSE over
rows equals a count-weighted MSE over the distinct inputs with their mean targets (plus a constant), so it has
the same gradients; each Adam step projects the distinct D's and I's once and gathers one projection per block
for each distinct input. :func:`fit_mlp` is the reference fit on raw rows; the two agree to float64 rounding
(tests). Fits of runs stepping together run as one batched computation on stacked weights.
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.optim.adam import adam as adam_step

from expobench.settings import one_torch_thread

#: Hidden activations per pass of :meth:`MLP.predict_product` (CPU: 768 KiB, 64 arms at hidden 3,072, which stays in
#: a core's L2 cache with the rows it reads; measured fastest of 32-512 arms per pass; CUDA: ~1 GiB).
_SCORE_BLOCK_CPU = 3 << 16
_SCORE_BLOCK_CUDA = 1 << 28


def check_device(name: str) -> str:
    """A device setting for the score networks: ``cpu``, ``cuda`` or ``cuda:N``; CUDA only where torch sees a GPU
    (raises ValueError saying what is allowed)."""
    if name == "cpu":
        return name
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise ValueError(f"allowed: 'cpu', 'cuda' or 'cuda:N'; got {name[:80]!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"{name!r} needs a GPU visible to torch, and torch.cuda.is_available() is false here "
                         f"(torch {torch.__version__}); use 'cpu'")
    if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
        raise ValueError(f"{name!r}: torch sees {torch.cuda.device_count()} GPU(s), numbered from 0")
    return name


@dataclass
class MLP:
    """Weights: ``w1 [H, d]``, ``b1 [H]``, ``w2 [H]``, ``b2 []``; targets were standardised with (mean, std)."""

    w1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor
    y_mean: float
    y_std: float

    @one_torch_thread
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``x [n, d] -> [n]`` in score units."""
        h = torch.relu(x @ self.w1.T + self.b1)
        return (h @ self.w2 + self.b2) * self.y_std + self.y_mean

    @one_torch_thread
    def predict_product(self, blocks: list[torch.Tensor]) -> torch.Tensor:
        """Factorised prediction over the product of row sets.

        ``blocks = [G_1 [n_1, d_1], G_2 [n_2, d_2]]`` or with a third block of one row (a shared extra input,
        e.g. g(E)): the input of arm (i, j) is ``G_1[i] ⊕ G_2[j] (⊕ G_3[0])``. Returns ``[n_1, n_2]``.
        """
        g1, g2 = blocks[0], blocks[1]
        d1, d2 = g1.shape[1], g2.shape[1]
        h1 = g1 @ self.w1[:, :d1].T  # [n1, H]
        h2 = g2 @ self.w1[:, d1:d1 + d2].T + self.b1  # [n2, H]
        if len(blocks) > 2:
            h2 = h2 + blocks[2][0] @ self.w1[:, d1 + d2:].T
        n1, n2, hidden = h1.shape[0], h2.shape[0], h2.shape[1]
        out = h1.new_empty(n1, n2)
        if h1.is_cuda:  # large blocks of arm rows: few kernel launches
            c = max(1, min(n1, _SCORE_BLOCK_CUDA // max(1, n2 * hidden)))
            buf = h1.new_empty(c, n2, hidden)
            for a in range(0, n1, c):
                k = min(c, n1 - a)
                torch.add(h2[None], h1[a:a + k, None], out=buf[:k])
                buf[:k].clamp_(min=0)
                torch.matmul(buf[:k], self.w2, out=out[a:a + k])
        else:  # one row of the shorter side at a time, over cache-sized runs of the other side's rows: 2-D adds
            # vectorise better than a broadcast over a middle axis (1.3-1.45x at 101 x 101 and 101 x 400, one core)
            outer, inner = (h1, h2) if n1 <= n2 else (h2, h1)  # relu(h1[i] + h2[j]) is symmetric in the two
            res = out if n1 <= n2 else h1.new_empty(n2, n1)
            r = max(1, min(len(inner), _SCORE_BLOCK_CPU // max(1, hidden)))
            buf = h1.new_empty(r, hidden)
            for i in range(len(outer)):
                for b in range(0, len(inner), r):
                    k = min(r, len(inner) - b)
                    torch.add(inner[b:b + k], outer[i], out=buf[:k])
                    torch.relu_(buf[:k])
                    torch.mv(buf[:k], self.w2, out=res[i, b:b + k])
            if res is not out:
                out.copy_(res.T)
        return (out + self.b2) * self.y_std + self.y_mean


@one_torch_thread
def fit_mlp(x: torch.Tensor, y: torch.Tensor, hidden: int, *, seed: int = 0, steps: int = 50, lr: float = 1e-3,
            weight_decay: float = 1e-4) -> MLP:
    """Train on ``x [n, d]``, ``y [n]`` from a fresh initialisation seeded by ``seed`` (nn.Linear's init).

    The reference fit: full-batch Adam on every raw row (``n·d·H`` multiply-adds per step for the first layer
    alone). The optimisers use :func:`fit_mlps` on distinct inputs, which equals it up to float rounding."""
    n, d = x.shape
    w1, b1, w2, b2 = (p.to(x.dtype).requires_grad_() for p in init_weights(FitSettings(hidden, seed), d, x.device))
    mean = float(y.mean())
    std = float(y.std()) if n > 1 else 1.0
    std = std if std > 1e-8 else 1.0
    target = (y - mean) / std
    opt = torch.optim.Adam([w1, b1, w2, b2], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        pred = torch.relu(x @ w1.T + b1) @ w2 + b2
        loss = torch.mean((pred - target) ** 2)
        loss.backward()
        opt.step()
    return MLP(w1.detach(), b1.detach(), w2.detach(), b2.detach(), mean, std)


@dataclass
class StackedMLPs:
    """Every past network of EXPO-ES kept as one stack: ``w1 [m, H, d]``, ``b1 [m, H]``, ``w2 [m, H]``,
    ``b2 [m]``, ``y_mean [m]``, ``y_std [m]``; grows by one network per iteration."""

    w1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor
    y_mean: torch.Tensor
    y_std: torch.Tensor

    @classmethod
    def empty(cls, hidden: int, dim: int, device: torch.device | str = "cpu") -> StackedMLPs:
        def z(*shape: int) -> torch.Tensor:
            return torch.zeros(*shape, device=device)

        return cls(z(0, hidden, dim), z(0, hidden), z(0, hidden), z(0), z(0), z(0))

    def __len__(self) -> int:
        return self.w1.shape[0]

    def append(self, net: MLP) -> StackedMLPs:
        cat, dev = torch.cat, self.w1.device
        return StackedMLPs(cat([self.w1, net.w1[None]]), cat([self.b1, net.b1[None]]), cat([self.w2, net.w2[None]]),
                           cat([self.b2, net.b2.reshape(1)]), cat([self.y_mean, torch.tensor([net.y_mean], device=dev)]),
                           cat([self.y_std, torch.tensor([net.y_std], device=dev)]))

    @one_torch_thread
    def sum_predict(self, x: torch.Tensor) -> torch.Tensor:
        """``Σ_m M(x; θ_m)`` for ``x [k, d]`` in one batched pass → ``[k]``."""
        if len(self) == 0:
            return torch.zeros(x.shape[0], device=x.device)
        h = torch.relu(torch.einsum("kd,mhd->mkh", x, self.w1) + self.b1[:, None, :])  # [m, k, H]
        out = torch.einsum("mkh,mh->mk", h, self.w2) + self.b2[:, None]  # [m, k]
        return (out * self.y_std[:, None] + self.y_mean[:, None]).sum(0)


# -- the fit on distinct inputs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitSettings:
    """What determines a fit besides its data (hashable: fits with equal settings and input widths are batched)."""

    hidden: int
    seed: int = 0
    steps: int = 50
    lr: float = 1e-3
    weight_decay: float = 1e-4


@dataclass
class DistinctRows:
    """Training rows as distinct inputs with counts, the input split into blocks.

    Row ``r``'s input is ``blocks[0][index[k, 0]] ⊕ blocks[1][index[k, 1]] ⊕ ...`` for its key ``k``:

    - ``blocks``: per block, the distinct vectors that occur, ``[u_b, e_b]`` (float32, on the fit's device);
    - ``index [K, B]`` (long): per distinct input, its row in each block;
    - ``count [K]``: how many rows have that input; ``target [K]``: the mean of their standardised targets;
    - ``n``, ``y_mean``, ``y_std``: number of rows and the standardisation, computed over all rows exactly as
      :func:`fit_mlp` does.

    The MSE over rows equals ``(1/n) Σ_k count_k (pred_k − target_k)²`` plus a constant, so it has the same
    gradients: a fit on these rows is the reference fit on the raw rows, up to float rounding.
    """

    blocks: list[torch.Tensor]
    index: torch.Tensor
    count: torch.Tensor
    target: torch.Tensor
    n: int
    y_mean: float
    y_std: float

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(int(b.shape[1]) for b in self.blocks)

    @property
    def padded_shape(self) -> tuple[int, ...]:
        """The shape this problem is computed at: distinct inputs and each block's vectors rounded up to a size
        bucket (:func:`bucket`). :func:`fit_jobs` batches problems of equal padded shape only, so a fit depends on
        its own problem alone, never on the problems batched with it: batched fits equal separate ones bit for
        bit (BLAS orders float sums by shape), and results do not depend on how many runs step together."""
        return tuple(bucket(n) for n in (self.index.shape[0], *(b.shape[0] for b in self.blocks)))

    @classmethod
    @one_torch_thread
    def from_rows(cls, blocks: list[torch.Tensor], index: torch.Tensor, y: torch.Tensor) -> DistinctRows:
        """``blocks[b] [m_b, e_b]`` candidate vectors, ``index [n, B]`` row ``r``'s vector in each block,
        ``y [n]`` raw targets. Equal indices mean equal inputs; pass vectors deduplicated (:func:`dedupe`)
        where equal vectors may sit at different indices, else they are merely kept apart (still exact)."""
        n = int(y.shape[0])
        y = y.to(blocks[0].dtype)
        mean = float(y.mean())
        std = float(y.std()) if n > 1 else 1.0
        std = std if std > 1e-8 else 1.0
        target = ((y - mean) / std).to(blocks[0].device)
        keys, inverse = torch.unique(index.to(blocks[0].device), dim=0, return_inverse=True)
        count = torch.bincount(inverse, minlength=keys.shape[0]).to(target.dtype)
        mean_target = torch.zeros_like(count).index_add_(0, inverse, target) / count
        used_blocks, columns = [], []
        for b, block in enumerate(blocks):
            used, column = torch.unique(keys[:, b], return_inverse=True)
            used_blocks.append(block[used])
            columns.append(column)
        return cls(used_blocks, torch.stack(columns, dim=1), count, mean_target, n, mean, std)


def dedupe(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct rows of ``x [n, e]`` and each row's position among them: ``(u [m, e], inverse [n])``."""
    unique, inverse = torch.unique(x, dim=0, return_inverse=True)
    return unique, inverse


def init_weights(settings: FitSettings, dim: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """The seeded initialisation of :func:`fit_mlp` (nn.Linear's): ``[w1 [H, d], b1 [H], w2 [H], b2 []]``
    (new tensors; the draw itself is cached: every fit of a run starts from the same weights)."""
    return [p.to(device, copy=True) for p in _init_cpu(settings.hidden, settings.seed, dim)]


@functools.lru_cache(maxsize=8)
def _init_cpu(hidden: int, seed: int, dim: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    b1_bound, b2_bound = 1 / np.sqrt(dim), 1 / np.sqrt(hidden)
    w1 = (torch.rand(hidden, dim, generator=gen) * 2 - 1) * b1_bound
    b1 = (torch.rand(hidden, generator=gen) * 2 - 1) * b1_bound
    w2 = (torch.rand(hidden, generator=gen) * 2 - 1) * b2_bound
    b2 = (torch.rand((), generator=gen) * 2 - 1) * b2_bound
    return w1, b1, w2, b2


def bucket(n: int) -> int:
    """The padded size of ``n`` inputs: 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, ... (``m·2^j``, m in 4..7),
    the least ≥ n: at most 25 % padding, and runs of similar size share a bucket (so they can be batched)."""
    if n <= 8:
        return max(1, n)
    size = 8
    while size < n:
        step = 1 << (size.bit_length() - 3)  # a quarter of the power of two below size
        size += step
    return size


def _stacked(problems: list[DistinctRows]) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor],
                                                    torch.Tensor, torch.Tensor]:
    """Stack R problems, zero-padded: per block, the distinct vectors ``[R, U_b, e_b]``, each key's row in the
    flattened projections ``[R·K]`` (long) and the transposed selection ``S_bᵀ [R·U_b, R·K]`` (sparse CSR, one 1
    per key: ``S_bᵀ @ dpre`` sums each vector's gradient over its keys); the loss weights ``count/n [R, K]``
    (0 on padding, so padding contributes exactly nothing) and targets ``[R, K]``. Every problem is padded to
    the largest :attr:`DistinctRows.padded_shape` (:func:`fit_jobs` batches equal ones only)."""
    r, dev, dtype = len(problems), problems[0].blocks[0].device, problems[0].blocks[0].dtype
    shape = [max(sizes) for sizes in zip(*(p.padded_shape for p in problems))]
    k_max = shape[0]
    keys = torch.arange(r * k_max, device=dev)
    blocks, flat, select_t = [], [], []
    for b in range(len(problems[0].blocks)):
        u_max = shape[1 + b]
        g = torch.zeros(r, u_max, problems[0].blocks[b].shape[1], device=dev, dtype=dtype)
        idx = torch.zeros(r, k_max, dtype=torch.long, device=dev)
        for j, p in enumerate(problems):
            g[j, :p.blocks[b].shape[0]] = p.blocks[b]
            idx[j, :p.index.shape[0]] = p.index[:, b]
        rows = (idx + torch.arange(r, device=dev)[:, None] * u_max).reshape(-1)
        with warnings.catch_warnings():  # sparse CSR is marked beta; its matmul is what makes the scatter cheap
            warnings.simplefilter("ignore", UserWarning)
            sel = torch.sparse_coo_tensor(torch.stack([rows, keys]), torch.ones(r * k_max, device=dev, dtype=dtype),
                                          (r * u_max, r * k_max), check_invariants=True).coalesce().to_sparse_csr()
        blocks.append(g)
        flat.append(rows)
        select_t.append(sel)
    weight = torch.zeros(r, k_max, device=dev, dtype=dtype)
    target = torch.zeros(r, k_max, device=dev, dtype=dtype)
    for j, p in enumerate(problems):
        weight[j, :p.count.shape[0]] = p.count / p.n
        target[j, :p.target.shape[0]] = p.target
    return blocks, flat, select_t, weight, target


#: Hidden units per tile of a fit step on a CPU (:func:`_run_steps`); one tile on other devices. A tile's weights,
#: gradient and Adam moments (4 × 1,024 × 384 floats, 6 MiB at MiniLM's width) stay in cache from its gradient to
#: its update to its next projection, instead of each of those passes streaming all 2.4 M first-layer weights.
#: Measured 1.19-1.27× on the fit of EXPO's own rows at 101 × 101, none with all rows distinct
#: (docs/benchmarks.md); the networks are the untiled fit's.
FIT_TILE_CPU = 1024


@dataclass
class _Adam:
    """The reference's Adam (``torch.optim.Adam``: L2 weight decay added to the gradient), one state per tensor,
    applied in place to whichever tensors a step is given; torch's fused kernel where the device has one (one pass
    over a tensor and its moments instead of ~10). Adam is elementwise, so updating a tensor in pieces, in any
    order, gives exactly the update of the whole."""

    settings: FitSettings
    fused: bool | None = True

    def __post_init__(self) -> None:
        self.moments: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def step(self, params: list[torch.Tensor], grads: list[torch.Tensor], taken: int) -> None:
        """Update ``params`` in place from ``grads``; ``taken``: the steps each of them has had before this one."""
        m, v = (list(x) for x in zip(*(self.moments.setdefault(id(p), (torch.zeros_like(p), torch.zeros_like(p)))
                                       for p in params)))
        kwargs = dict(amsgrad=False, beta1=0.9, beta2=0.999, lr=self.settings.lr,
                      weight_decay=self.settings.weight_decay, eps=1e-8, maximize=False)
        if self.fused:
            # the functional Adam adds 1 to each count; fused kernels want it as float32 on the parameter's device
            counts = [torch.tensor(float(taken), device=p.device) for p in params]
            try:
                adam_step(params, grads, m, v, [], counts, fused=True, **kwargs)
                return
            except RuntimeError:  # no fused kernel for this device: the reference's own path from now on
                self.fused = None
        adam_step(params, grads, m, v, [], [torch.tensor(float(taken)) for _ in params], **kwargs)


@one_torch_thread
def fit_mlps(problems: list[DistinctRows], settings: FitSettings) -> list[MLP]:
    """Fit one network per problem as ONE batched computation (stacked weights ``[R, ...]``); each result equals
    :func:`fit_mlp` on that problem's raw rows with the same settings, up to float rounding.

    Every problem must have the same block widths, device and dtype (the fit runs in the blocks' dtype and on
    their device); ``settings.hidden`` is the hidden width. Each step projects each block's distinct vectors
    once (``P_b = G_b W1_bᵀ``: ``Σ_b u_b·e_b·H`` multiply-adds instead of the reference's ``n·d·H``), gathers
    and adds one projection per block for each distinct input, and back-propagates by hand (the gradient of
    the gather is a sparse ``S_bᵀ @ dpre``). Adam is elementwise and the stacked loss is the sum of the
    problems' losses, so the stacked fit is R independent fits."""
    if not problems:
        return []
    dims = problems[0].dims
    if any(p.dims != dims for p in problems):
        raise ValueError(f"fit_mlps: every problem needs block widths {dims}")
    dev, dtype = problems[0].blocks[0].device, problems[0].blocks[0].dtype
    r = len(problems)
    blocks, flat, select_t, weight, target = _stacked(problems)
    w1, b1, w2, b2 = (p.to(dtype).expand(r, *p.shape).clone() for p in init_weights(settings, sum(dims), dev))
    tile = FIT_TILE_CPU if dev.type == "cpu" else settings.hidden
    offsets = np.cumsum((0,) + dims)
    w1_tiles = [[w1[:, s:s + tile, offsets[b]:offsets[b + 1]].contiguous() for s in range(0, settings.hidden, tile)]
                for b in range(len(dims))]  # per block, per tile of hidden units: [R, tile, e_b]
    _run_steps(settings, blocks, flat, select_t, weight, target, w1_tiles, b1, w2, b2)
    w1 = torch.cat([torch.cat(tiles, dim=1) for tiles in w1_tiles], dim=2)
    return [MLP(w1[j], b1[j].clone(), w2[j].clone(), b2[j].clone(), p.y_mean, p.y_std)
            for j, p in enumerate(problems)]


def _run_steps(settings: FitSettings, blocks: list[torch.Tensor], flat: list[torch.Tensor],
               select_t: list[torch.Tensor], weight: torch.Tensor, target: torch.Tensor,
               w1_tiles: list[list[torch.Tensor]], b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor) -> None:
    """The Adam steps of :func:`fit_mlps` on the stacked problem (gradients by hand).

    The first layer is held in tiles of hidden units (``w1_tiles[b][j] [R, tile, e_b]``). The projections
    ``P_b [R, U_b, H]`` of the next step are computed tile by tile right after the tile's update, and a tile's
    gradient right before it, so each step makes one pass over the first layer's weights and moments; the
    arithmetic is the untiled step's, piece by piece."""
    r, k = weight.shape
    hidden = b1.shape[1]
    adam = _Adam(settings)

    def project(g: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # [R, U_b, e_b] x [R, tile, e_b] -> [R, U_b, tile]
        return torch.bmm(g, w.transpose(1, 2))

    proj = [torch.cat([project(g, w) for w in tiles], dim=2) for g, tiles in zip(blocks, w1_tiles)]
    for step in range(settings.steps):
        # forward: pre [R, K, H], pred [R, K]
        pre = b1[:, None, :].expand(r, k, hidden).clone()
        for p, rows in zip(proj, flat):
            pre += p.reshape(-1, hidden).index_select(0, rows).reshape(r, k, hidden)
        h = torch.relu_(pre)
        # w2 as the row operand: a run's row is then computed alike for any R (bmm with a vector operand is
        # not), so a run's fit does not depend on the runs batched with it
        pred = torch.bmm(w2[:, None, :], h.transpose(1, 2))[:, 0] + b2[:, None]
        # backward of Σ_r Σ_k weight (pred − target)²
        dpred = 2 * weight * (pred - target)  # [R, K]
        grads = [dpred.sum(1), torch.bmm(dpred[:, None, :], h)[:, 0]]  # b2, w2 [R, H]
        dpre = h.gt_(0).mul_(dpred[..., None] * w2[:, None, :])  # [R, K, H]; h is not needed any more
        adam.step([b2, w2, b1], [grads[0], grads[1], dpre.sum(1)], step)
        dpre = dpre.reshape(-1, hidden)
        last = step == settings.steps - 1
        for g, tiles, sel, p in zip(blocks, w1_tiles, select_t, proj):
            dproj_t = (sel @ dpre).reshape(r, -1, hidden).transpose(1, 2).contiguous()  # [R, H, U_b]
            start = 0
            for w in tiles:
                stop = start + w.shape[1]
                adam.step([w], [torch.bmm(dproj_t[:, start:stop], g)], step)  # gradient [R, tile, e_b]
                if not last:
                    p[:, :, start:stop] = project(g, w)
                start = stop


@dataclass
class FitJob:
    """One network to fit: its rows and settings (``settings.hidden`` already resolved)."""

    rows: DistinctRows
    settings: FitSettings


def fit_jobs(jobs: list[FitJob]) -> list[MLP]:
    """Fit every job, batching those with equal settings, block widths, padded shape, device and dtype
    (:func:`fit_mlps`: each network is then bit for bit the one a fit of its job alone gives) on a GPU, and on
    a CPU where :data:`BATCH_ON_CPU` says so; the networks come back in the jobs' order."""
    groups: dict[tuple, list[int]] = {}
    for j, job in enumerate(jobs):
        block = job.rows.blocks[0]
        key = (job.settings, job.rows.dims, job.rows.padded_shape, str(block.device), block.dtype)
        groups.setdefault(key, []).append(j)
    out: list[MLP | None] = [None] * len(jobs)
    for (settings, _, _, device, _), members in groups.items():
        stacks = [members] if device != "cpu" or BATCH_ON_CPU else [[j] for j in members]
        for stack in stacks:
            for j, net in zip(stack, fit_mlps([jobs[j].rows for j in stack], settings)):
                out[j] = net
    return out  # type: ignore[return-value]


#: Whether :func:`fit_jobs` stacks CPU fits too. Off: on a CPU the stacked fit does the same arithmetic as the
#: separate ones and measured slower (0.6× for 8 runs at 101 × 101, docs/benchmarks.md); the results are the same
#: bit for bit either way. Tests turn it on to check that.
BATCH_ON_CPU = False
