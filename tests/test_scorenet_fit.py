"""The score network's fit on distinct inputs equals the reference fit on raw rows; batched fits equal separate
ones; the device setting; the runner's updates (lockstep, resume) go through the new fit.

Equality is tested in float64, where both fits agree to ~1e-15: the two compute the same gradients in a
different order. In float32 they agree only to ~1e-4 of the predictions' scale, and so does the reference with
itself when its rows are merely permuted (Adam divides each gradient by its own running magnitude, so weights
whose gradient is a rounding-level sum move by ±lr whichever way the rounding goes);
``test_float32_difference_is_the_reference_s_own_rounding_spread`` measures both.
"""

import numpy as np
import pytest
import torch

from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext
from expobench.metaopt import scorenet
from expobench.metaopt.embeddings import HashEmbedder
from expobench.metaopt.expo import EXPO, EXPOParams, NeuralUCB, NeuralUCBParams, update_together
from expobench.metaopt.expo_es import EXPOES, EXPOESParams
from expobench.metaopt.pools import CandidatePool
from expobench.metaopt.scorenet import DistinctRows, FitSettings, dedupe, fit_mlp, fit_mlps

BASE = MetaPrompt("task description zero", "instruction zero")


def pool(n_d=6, n_i=5):
    return CandidatePool([BASE.description] + [f"task description {k}" for k in range(1, n_d)],
                         [BASE.instruction] + [f"instruction {k}" for k in range(1, n_i)])


def ctx(t, k=3, fixed=True):
    cands = [f"history rotation {j}" if fixed else f"history {t} set {j}" for j in range(k)]
    return ProposalContext(t=t, exemplar_candidates=cands, fixed_domain=fixed, horizon=40)


def played(kind, params, t=20, seed=0, fixed=True, float64=False):
    """An optimiser after ``t`` iterations on a small pool (6 × 5 arms, so (d, i) rows repeat)."""
    opt = kind(BASE, params, pool=pool(), embedder=HashEmbedder(16))
    opt.reset(np.random.default_rng(seed))
    score_rng = np.random.default_rng(100 + seed)
    for s in range(t):
        mp = opt.propose(ctx(s, fixed=fixed))
        opt.update(0.1 * mp.ids["d"] - 0.05 * mp.ids["i"] + float(score_rng.normal(0, 0.1)), {})
    if float64:
        as_float64(opt)
    return opt


def as_float64(opt):
    """Run the optimiser's networks in float64 (embedding vectors cast; its rows follow)."""
    gd, gi = opt.embeddings()
    opt._gd, opt._gi = gd.double(), gi.double()
    opt.row_e = [e.astype(np.float64) for e in opt.row_e]
    if hasattr(opt, "es_rows"):
        opt.es_rows = [(g.astype(np.float64), s) for g, s in opt.es_rows]


def rel_diff(a, b):
    return float((a - b).abs().max() / b.abs().max())


def test_distinct_rows_merge_repeats_with_counts_and_mean_targets():
    g = torch.eye(3)
    index = torch.tensor([[0, 1], [2, 1], [0, 1], [0, 1], [2, 0]])
    y = torch.tensor([1.0, 2.0, 3.0, 5.0, 4.0])
    rows = DistinctRows.from_rows([g, g], index, y)
    assert rows.n == 5 and rows.index.shape == (3, 2)
    std = float(y.std())
    inputs = {tuple(int(x) for x in torch.cat([rows.blocks[0][a], rows.blocks[1][b]]).nonzero()[:, 0]):
              (float(c), float(m)) for (a, b), c, m in zip(rows.index.tolist(), rows.count, rows.target)}
    # input (D0, I1) = one-hot positions (0, 3+1): three rows with scores 1, 3, 5
    assert inputs[(0, 4)] == pytest.approx((3.0, (3.0 - 3.0) / std))
    assert inputs[(2, 4)] == pytest.approx((1.0, (2.0 - 3.0) / std))
    assert inputs[(2, 3)] == pytest.approx((1.0, (4.0 - 3.0) / std))
    unique, which = dedupe(torch.tensor([[1.0, 2.0], [0.0, 1.0], [1.0, 2.0]]))
    assert unique.shape == (2, 2) and which[0] == which[2] != which[1]


@pytest.mark.parametrize("tile", [None, 5])
@pytest.mark.parametrize("n_blocks", [1, 2, 3])
def test_fit_on_distinct_inputs_equals_reference_fit(n_blocks, tile, monkeypatch):
    """Same seed, same 50 steps: the networks' predictions agree to float64 rounding, with the hidden units in
    one tile and in tiles of 5 (the last one 3 wide)."""
    if tile is not None:
        monkeypatch.setattr(scorenet, "FIT_TILE_CPU", tile)
    gen = torch.Generator().manual_seed(n_blocks)
    blocks = [torch.randn(m, e, generator=gen, dtype=torch.float64) for m, e in [(7, 12), (5, 8), (4, 6)][:n_blocks]]
    n = 60
    index = torch.stack([torch.randint(b.shape[0], (n,), generator=gen) for b in blocks], dim=1)
    y = torch.randn(n, generator=gen, dtype=torch.float64)
    x = torch.cat([b[index[:, j]] for j, b in enumerate(blocks)], dim=1)
    rows = DistinctRows.from_rows(blocks, index, y)
    assert rows.index.shape[0] < n  # repeats were merged
    new, = fit_mlps([rows], FitSettings(hidden=48, seed=3, steps=50))
    ref = fit_mlp(x, y, 48, seed=3, steps=50)
    probe = torch.randn(30, x.shape[1], generator=gen, dtype=torch.float64)
    assert rel_diff(new.predict(probe), ref.predict(probe)) < 1e-10
    assert rel_diff(new.predict(x), ref.predict(x)) < 1e-10
    assert (new.y_mean, new.y_std) == pytest.approx((ref.y_mean, ref.y_std), rel=1e-12)


@pytest.mark.parametrize("case", ["expo", "expo_exemplar", "neural_ucb", "expo_es_fixed", "expo_es_varying"])
def test_optimizers_fit_equals_reference_fit(case):
    """EXPO (with and without g(E) in the input), NeuralUCB and EXPO-ES's exemplar network M_ES, after 20
    iterations with repeated rows: the fit the optimiser uses equals the reference fit on its raw rows."""
    kind, params, fixed = {
        "expo": (EXPO, EXPOParams(steps=50), True),
        "expo_exemplar": (EXPO, EXPOParams(steps=50, use_exemplar_embedding=True), True),
        "neural_ucb": (NeuralUCB, NeuralUCBParams(steps=50), True),
        "expo_es_fixed": (EXPOES, EXPOESParams(steps=50, hidden_es=32), True),
        "expo_es_varying": (EXPOES, EXPOESParams(steps=50, hidden_es=32), False),
    }[case]
    opt = played(kind, params, fixed=fixed, float64=True)
    job = opt.fit_job()
    assert job.rows.index.shape[0] < len(opt.rows)  # the (d, i) rows repeat
    assert job.rows.blocks[0].dtype == torch.float64
    new, ref = opt.fit(), opt.fit_reference()
    assert rel_diff(opt.predict_all(new), opt.predict_all(ref)) < 1e-10
    if kind is EXPOES:
        es_job = opt.es_fit_job()
        assert es_job.rows.blocks[0].shape[0] <= (3 if fixed else len(opt.es_rows))
        es_new, = fit_mlps([es_job.rows], es_job.settings)
        es_ref = opt.fit_es_reference()
        x, _ = opt.es_inputs()
        assert rel_diff(es_new.predict(x), es_ref.predict(x)) < 1e-10


def test_float32_difference_is_the_reference_s_own_rounding_spread():
    """In float32 (what runs use) the new fit is as close to the reference as the reference is to itself on the
    same rows in another order."""
    opt = played(EXPO, EXPOParams(steps=50), t=30)
    x, y = opt.inputs()
    perm = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    hidden = 4 * x.shape[1]
    ref = opt.predict_all(fit_mlp(x, y, hidden))
    spread = rel_diff(opt.predict_all(fit_mlp(x[perm], y[perm], hidden)), ref)
    diff = rel_diff(opt.predict_all(opt.fit()), ref)
    assert diff < 1e-3 and spread < 1e-3
    assert diff < max(10 * spread, 1e-5), (diff, spread)


@pytest.mark.parametrize("tile", [None, 12])
def test_batched_fits_equal_separate_fits(tile, monkeypatch):
    """Problems of different sizes fitted as one stack (padded to the largest) give each problem's own fit; the
    jobs of equal padded shape that fit_jobs batches give it bit for bit (hidden units in one tile, and in tiles
    of 12, 12 and 8). Bit for bit needs each tile's weight count (rows × block width) to be a multiple of the
    CPU's vector width: torch's fused Adam rounds the scalar tail of a tensor differently from its vector body,
    so a tile of 7 × 10 weights differs in the last bits alone and stacked; the fit's shapes (1,024 × 384,
    3,072 × 384) are such multiples."""
    if tile is not None:
        monkeypatch.setattr(scorenet, "FIT_TILE_CPU", tile)
    gen = torch.Generator().manual_seed(0)
    gd, gi = torch.randn(9, 10, generator=gen), torch.randn(8, 6, generator=gen)
    problems = []
    for n in (30, 4, 17, 1, 30):
        index = torch.stack([torch.randint(9, (n,), generator=gen), torch.randint(8, (n,), generator=gen)], 1)
        problems.append(DistinctRows.from_rows([gd, gi], index, torch.randn(n, generator=gen)))
    problems[4] = DistinctRows(*(getattr(problems[0], f) for f in ("blocks", "index", "count")),
                               problems[0].target.flip(0), 30, 0.0, 1.0)  # same shapes as problem 0
    settings = FitSettings(hidden=32, steps=40)
    together = fit_mlps(problems, settings)
    alone = [fit_mlps([p], settings)[0] for p in problems]
    for a, b in zip(together, alone):
        torch.testing.assert_close(a.predict_product([gd, gi]), b.predict_product([gd, gi]), rtol=1e-5, atol=1e-6)
        assert (a.y_mean, a.y_std) == (b.y_mean, b.y_std)
    assert not torch.allclose(together[0].w1, together[4].w1, atol=1e-3)  # the stack kept the problems apart
    stacks = []
    monkeypatch.setattr(scorenet, "fit_mlps", lambda ps, st: stacks.append(len(ps)) or fit_mlps(ps, st))
    monkeypatch.setattr(scorenet, "BATCH_ON_CPU", True)
    jobs = [scorenet.FitJob(p, settings) for p in problems]
    batched = scorenet.fit_jobs(jobs)
    assert max(stacks) >= 2  # problems 0 and 4 share their shape
    assert len(stacks) == len({p.padded_shape for p in problems})
    for a, b in zip(batched, alone):
        assert torch.equal(a.w1, b.w1) and torch.equal(a.w2, b.w2) and torch.equal(a.b1, b.b1)
    with pytest.raises(ValueError, match="block widths"):
        fit_mlps([problems[0], DistinctRows.from_rows([gd], torch.zeros(2, 1, dtype=torch.long), torch.ones(2))],
                 settings)


def test_cpu_fits_run_one_at_a_time_unless_asked(monkeypatch):
    stacks = []
    real = scorenet.fit_mlps
    monkeypatch.setattr(scorenet, "fit_mlps", lambda ps, st: stacks.append(len(ps)) or real(ps, st))
    g = torch.eye(4)
    rows = DistinctRows.from_rows([g, g], torch.tensor([[0, 1], [2, 3]]), torch.tensor([0.0, 1.0]))
    jobs = [scorenet.FitJob(rows, FitSettings(hidden=8, steps=2))] * 3
    scorenet.fit_jobs(jobs)
    assert stacks == [1, 1, 1]
    monkeypatch.setattr(scorenet, "BATCH_ON_CPU", True)
    scorenet.fit_jobs(jobs)
    assert stacks[3:] == [3]


@pytest.mark.parametrize("kind", [EXPO, EXPOES, NeuralUCB])
def test_optimizers_updated_together_equal_separate_updates(kind, monkeypatch):
    """Three runs of one optimiser kind fed different scores: updated together (one batched fit per step, as the
    runner does for runs in lockstep) they make the same choices and hold the same sums as updated one by one."""
    params = {EXPO: EXPOParams, EXPOES: EXPOESParams, NeuralUCB: NeuralUCBParams}[kind](steps=15)
    sizes = []
    monkeypatch.setattr(scorenet, "BATCH_ON_CPU", True)
    real = scorenet.fit_mlps
    monkeypatch.setattr(scorenet, "fit_mlps", lambda problems, settings: sizes.append(len(problems)) or
                        real(problems, settings))

    def make(seed):
        opt = kind(BASE, params, pool=pool(), embedder=HashEmbedder(16))
        opt.reset(np.random.default_rng(seed))
        return opt

    apart, joint = [make(s) for s in range(3)], [make(s) for s in range(3)]
    for t in range(12):
        scores = [float(np.sin(t + 3 * k)) for k in range(3)]
        ids_apart = [o.propose(ctx(t, fixed=False)).ids for o in apart]
        ids_joint = [o.propose(ctx(t, fixed=False)).ids for o in joint]
        assert ids_apart == ids_joint
        for o, s in zip(apart, scores):
            o.update(s, {})
        update_together(joint, scores, [{}] * 3)
    for a, b in zip(apart, joint):  # bit for bit: results do not depend on how many runs step together
        assert np.array_equal(b.probs, a.probs)
        assert np.array_equal(b.ucb, a.ucb) if kind is NeuralUCB else np.array_equal(b.sums, a.sums)
        if kind is EXPOES:
            assert torch.equal(b.nets.w1, a.nets.w1)
    assert 3 in sizes  # the joint updates fitted the three runs' networks in one stack


def test_device_setting_is_checked_before_any_work():
    assert EXPOParams().device == "cpu"
    with pytest.raises(ValueError, match="allowed: 'cpu', 'cuda' or 'cuda:N'"):
        EXPOParams(device="gpu")
    if not torch.cuda.is_available():
        for kind in (EXPOParams, EXPOESParams, NeuralUCBParams):
            with pytest.raises(ValueError, match="torch.cuda.is_available"):
                kind(device="cuda")


def test_config_names_the_device_field():
    from expobench.experiments.config import parse_config

    cfg = {"name": "dev", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": 3, "seeds": [0],
           "agents": [{"name": "e", "kind": "llm_bandit",
                       "optimizer": {"kind": "expo", "params": {"device": "tpu"}}}],
           "llm": {"backend": "scripted", "policy": "bandit_best_mean"}}
    with pytest.raises(Exception, match=r"params\.device") as err:
        parse_config(cfg)
    assert "cuda" in str(err.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_optimizer_matches_cpu():
    cpu = played(EXPOES, EXPOESParams(steps=30, hidden_es=32), t=12, fixed=False)
    gpu = played(EXPOES, EXPOESParams(steps=30, hidden_es=32, device="cuda"), t=12, fixed=False)
    assert gpu.embeddings()[0].is_cuda and gpu.nets.w1.is_cuda
    assert [r[:2] for r in gpu.rows] == [r[:2] for r in cpu.rows]
    np.testing.assert_allclose(gpu.sums, cpu.sums, rtol=1e-3, atol=1e-4)
    net = gpu.fit()
    torch.testing.assert_close(gpu.predict_all(net), gpu.predict_all_dense(net), rtol=1e-4, atol=1e-5)


def test_runner_fits_runs_together_and_resume_replays_with_the_distinct_fit(tmp_path, monkeypatch):
    """Two EXPO runs in lockstep: every update goes through the distinct-input fit (the reference fit never runs),
    the two runs' networks fitted as one stack; a resumed run replays its updates through the same fit."""
    from expobench.experiments.config import parse_config
    from expobench.experiments.runner import run_experiment
    from expobench.metaopt import expo as expo_module

    def refuse(*args, **kwargs):
        raise AssertionError("the reference fit ran")

    monkeypatch.setattr(scorenet, "fit_mlp", refuse)
    monkeypatch.setattr(expo_module, "fit_mlp", refuse)
    stacks = []
    real = scorenet.fit_mlps
    monkeypatch.setattr(scorenet, "fit_mlps", lambda ps, st: stacks.append(len(ps)) or real(ps, st))
    monkeypatch.setattr(scorenet, "BATCH_ON_CPU", True)
    horizon = 6
    cfg = parse_config({
        "name": "fits", "env": {"id": "expobench/MAB-hard-v0"}, "horizon": horizon, "seeds": [0, 1],
        "agents": [{"name": "e", "kind": "llm_bandit", "params": {"design": "BSSND"},
                    "optimizer": {"kind": "expo", "params": {"hidden": 16, "steps": 3}}}],
        "llm": {"backend": "scripted", "policy": "bandit_best_mean"}, "cache": {"enabled": False},
        "batch_width": 2, "out": str(tmp_path / "out")})

    class Stop(Exception):
        pass

    def stop_at(run_id, t):
        if t == 3:
            raise Stop

    with pytest.raises(Stop):
        run_experiment(cfg, progress=False, on_step=stop_at)
    assert 2 in stacks  # the two runs' fits of one step in one stack
    stacks.clear()
    run_experiment(cfg, progress=False).close()
    assert sum(stacks) == 2 * horizon  # every update of both runs, the replayed ones included


def test_fits_and_scores_do_not_depend_on_torch_threads():
    """EXPO's network and its score of every arm are bit for bit the same whatever torch's thread count, so a
    Ray worker with one CPU and a local run on all cores make the same choices (paper-sized network: 384-d
    embeddings of D and I, hidden 3,072, where a matrix product's float sums depend on how many threads split
    it; they did before the score networks were pinned to one thread)."""
    opt = EXPO(BASE, EXPOParams(), pool=pool(13, 13), embedder=HashEmbedder(384))
    opt.reset(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    pairs = [(int(rng.integers(13)), int(rng.integers(13))) for _ in range(8)]  # repeated, as EXPO samples
    opt.rows = [(*pairs[int(rng.integers(8))], float(rng.normal())) for _ in range(25)]
    before, out = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            net = opt.fit()
            out.append((net.w1, opt.predict_all(net)))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])


def test_fit_without_a_fused_adam_kernel_equals_the_fused_fit(monkeypatch):
    """Where torch has no fused Adam for the device (the kernel raises), the fit falls back to torch's own Adam
    from that call on and gives the same network."""
    gen = torch.Generator().manual_seed(7)
    blocks = [torch.randn(5, 8, generator=gen, dtype=torch.float64), torch.randn(4, 6, generator=gen,
                                                                              dtype=torch.float64)]
    index = torch.stack([torch.randint(5, (20,), generator=gen), torch.randint(4, (20,), generator=gen)], 1)
    rows = DistinctRows.from_rows(blocks, index, torch.randn(20, generator=gen, dtype=torch.float64))
    settings = FitSettings(hidden=16, steps=30)
    fused, = fit_mlps([rows], settings)
    calls = []
    real = scorenet.adam_step

    def no_fused_kernel(*args, fused=None, **kwargs):
        calls.append(fused)
        if fused:
            raise RuntimeError("no fused Adam kernel for this device")
        return real(*args, fused=fused, **kwargs)

    monkeypatch.setattr(scorenet, "adam_step", no_fused_kernel)
    fallback, = fit_mlps([rows], settings)
    assert calls[0] is True and calls.count(True) == 1 and len(calls) > 30  # asked once, then the plain path
    torch.testing.assert_close(fallback.w1, fused.w1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fallback.w2, fused.w2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n1, n2, extra", [(3, 17, False), (17, 3, False), (4, 4, True), (1, 9, True)])
def test_factorised_scoring_equals_the_network_on_every_full_row(monkeypatch, n1, n2, extra):
    """``predict_product`` on a CPU walks the shorter side row by row over runs of the other side's rows; with
    runs of 5 rows the runs are uneven (17 = 5 + 5 + 5 + 2), the side taken row by row is either block, and a
    third block (g(E)) is added to every arm: each arm's score is the network's on its whole input row."""
    monkeypatch.setattr(scorenet, "_SCORE_BLOCK_CPU", 5 * 32)
    gen = torch.Generator().manual_seed(n1 * 100 + n2)
    blocks = [torch.randn(n1, 6, generator=gen), torch.randn(n2, 4, generator=gen)]
    if extra:
        blocks.append(torch.randn(1, 3, generator=gen))
    dim = sum(b.shape[1] for b in blocks)
    x = torch.randn(40, dim, generator=gen)
    net = fit_mlp(x, x[:, 0] - x[:, -1] ** 2, hidden=32, steps=5)
    rows = [torch.cat([blocks[0][i], blocks[1][j], *(b[0] for b in blocks[2:])]) for i in range(n1) for j in range(n2)]
    want = net.predict(torch.stack(rows)).reshape(n1, n2)
    got = net.predict_product(blocks)
    assert got.shape == (n1, n2)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
