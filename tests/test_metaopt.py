"""Meta-prompt optimisers without an LLM: EXPO, EXPO-ES, GPO, baselines, pools."""

import numpy as np
import pytest
import torch

from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext
from expobench.metaopt.embeddings import HashEmbedder
from expobench.metaopt.expo import EXPO, EXPOParams
from expobench.metaopt.expo_es import EXPOES, EXPOESParams
from expobench.metaopt.gpo import GPO, GPOParams, edit_budget, retrieve
from expobench.metaopt.pools import CandidatePool, clean_rephrasing, generate_pool, load_or_generate_pool
from expobench.metaopt.registry import make_optimizer
from expobench.metaopt.scorenet import StackedMLPs, fit_mlp

BASE = MetaPrompt("task description zero", "instruction zero")


def pool(n_d=6, n_i=5):
    return CandidatePool([BASE.description] + [f"task description {k}" for k in range(1, n_d)],
                         [BASE.instruction] + [f"instruction {k}" for k in range(1, n_i)])


def ctx(t, k=3):
    return ProposalContext(t=t, exemplar_candidates=[f"history {t} rotation {j}" for j in range(k)],
                           fixed_domain=True, horizon=40)


def expo(kind=EXPO, params=None, **kw):
    params = params or (EXPOESParams if kind is EXPOES else EXPOParams)(steps=20, **kw)
    opt = kind(BASE, params, pool=pool(), embedder=HashEmbedder(16))
    opt.reset(np.random.default_rng(0))
    return opt


def test_factorised_scores_equal_dense_computation():
    opt = expo()
    for t in range(4):
        opt.propose(ctx(t))
        opt.update(0.1 * t, {})
    net = opt.fit()
    torch.testing.assert_close(opt.predict_all(net), opt.predict_all_dense(net), atol=1e-5, rtol=1e-5)


def test_factorised_scores_equal_dense_with_exemplar_embedding():
    opt = expo(use_exemplar_embedding=True)
    for t in range(3):
        opt.propose(ctx(t))
        opt.update(0.5 - 0.1 * t, {})
    net = opt.fit()
    torch.testing.assert_close(opt.predict_all(net), opt.predict_all_dense(net), atol=1e-5, rtol=1e-5)


def test_distribution_is_softmax_of_eta_times_running_sums():
    opt = expo(eta=7.0, gamma=0.0)
    for t in range(5):
        opt.propose(ctx(t))
        opt.update(float(t % 3), {})
    z = 7.0 * opt.sums
    brute = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(opt.probs, brute, rtol=1e-9, atol=1e-12)
    mixed = expo(eta=7.0, gamma=0.2)
    mixed.sums = opt.sums.copy()
    np.testing.assert_allclose(mixed.distribution(), 0.8 * brute + 0.2 / opt.n_arms)


def test_running_sums_add_every_arms_prediction_each_iteration():
    opt = expo()
    opt.propose(ctx(0))
    opt.update(0.3, {})
    first = opt.sums.copy()
    opt.propose(ctx(1))
    opt.update(0.6, {})
    net = opt.fit()
    np.testing.assert_allclose(opt.sums, first + opt.predict_all(net).reshape(-1).numpy(), rtol=1e-5, atol=1e-6)


def test_first_iteration_uses_originals_and_same_seed_same_choices():
    def choices(seed):
        opt = expo()
        opt.reset(np.random.default_rng(seed))
        out = []
        for t in range(8):
            mp = opt.propose(ctx(t))
            out.append((mp.ids["d"], mp.ids["i"]))
            opt.update(np.sin(t), {})
        return out

    a = choices(3)
    assert a[0] == (0, 0)
    assert a == choices(3)
    assert a != choices(4)


def test_optimize_description_only_keeps_original_instruction():
    opt = expo(optimize="description")
    assert opt.n_i == 1
    for t in range(6):
        mp = opt.propose(ctx(t))
        assert mp.instruction == BASE.instruction
        opt.update(0.1, {})


def drifting_prompt_bandit(kind, seed, T=60):
    """36 arms whose mean score is a[d] + b[i] (so similar prompts share information, as with real
    embeddings); at T/2 the components are redrawn and the best arm moves. Scores carry N(0, 0.05) noise."""
    rng = np.random.default_rng(100 + seed)
    mu1 = rng.uniform(0, 0.5, size=(6, 1)) + rng.uniform(0, 0.5, size=(1, 6))
    mu2 = rng.uniform(0, 0.5, size=(6, 1)) + rng.uniform(0, 0.5, size=(1, 6))
    p = CandidatePool([BASE.description] + [f"d{k}" for k in range(1, 6)],
                      [BASE.instruction] + [f"i{k}" for k in range(1, 6)])
    opt = make_optimizer(kind, BASE, {"steps": 20, "eta": 10.0} if kind == "expo" else {}, pool=p,
                         embedder=HashEmbedder(16))
    opt.reset(np.random.default_rng(seed))
    regret = 0.0
    for t in range(T):
        mu = mu1 if t < T // 2 else mu2
        mp = opt.propose(ctx(t))
        d, i = mp.ids["d"], mp.ids["i"]
        regret += mu.max() - mu[d, i]
        opt.update(float(mu[d, i] + rng.normal(0, 0.05)), {})
    return regret


@pytest.mark.slow
def test_expo_beats_uniform_random_on_a_drifting_prompt_bandit():
    seeds = range(20)
    expo_regret = np.mean([drifting_prompt_bandit("expo", s) for s in seeds])
    random_regret = np.mean([drifting_prompt_bandit("random", s) for s in seeds])
    assert expo_regret < 0.8 * random_regret, (expo_regret, random_regret)


def test_stacked_networks_equal_sum_of_separate_networks():
    torch.manual_seed(0)
    nets = [fit_mlp(torch.randn(6, 8), torch.randn(6), 12, seed=s, steps=5) for s in range(4)]
    stack = StackedMLPs.empty(12, 8)
    for n in nets:
        stack = stack.append(n)
    x = torch.randn(7, 8)
    torch.testing.assert_close(stack.sum_predict(x), sum(n.predict(x) for n in nets), atol=1e-5, rtol=1e-5)


def test_expo_es_chooses_among_candidates_and_fixed_domain_uses_running_sums():
    opt = expo(EXPOES)
    for t in range(5):
        c = ctx(t)
        mp = opt.propose(c)
        assert mp.exemplars in c.exemplar_candidates
        opt.update(1.0 if mp.ids["e"] == 1 else 0.0, {})
    assert opt.es_sums is not None and opt.nets is None
    varying = expo(EXPOES)
    for t in range(4):
        c = ProposalContext(t=t, exemplar_candidates=[f"set {t}-{j}" for j in range(4)], fixed_domain=False)
        varying.propose(c)
        varying.update(0.5, {})
    assert len(varying.nets) == 4


@pytest.mark.parametrize("kind", ["expo", "expo_es", "neural_ucb", "random", "sw_ucb_pool"])
def test_state_dict_round_trip_resumes_identically(kind):
    def make():
        opt = make_optimizer(kind, BASE, {"steps": 10} if kind in ("expo", "expo_es", "neural_ucb") else {},
                             pool=pool(), embedder=HashEmbedder(16))
        opt.reset(np.random.default_rng(5))
        return opt

    def play(opt, ts):
        out = []
        for t in ts:
            mp = opt.propose(ctx(t))
            out.append(mp.ids)
            opt.update(float(np.cos(t)), {})
        return out

    straight = play(make(), range(20))
    first = make()
    head = play(first, range(10))
    state = first.state_dict()
    import json

    state = json.loads(json.dumps(state))  # must survive JSON
    second = make()
    second.load_state_dict(state)
    assert head + play(second, range(10, 20)) == straight


def test_edit_budget_schedule():
    assert edit_budget(0, 10) == 50
    assert edit_budget(10, 10) == 10
    assert edit_budget(5, 10) == 30
    assert edit_budget(3, 10, decay="none") == edit_budget(3, 10, decay="fixed") == 50
    assert edit_budget(5, 10, decay="linear") == 30
    # warm-up share 0.2 of 10 steps: the budget rises over steps 0-1, then the cosine decay runs over steps 2-10
    assert [edit_budget(s, 10, warmup=0.2) for s in (0, 1, 2, 10)] == [17, 33, 50, 10]
    assert [edit_budget(s, 10, decay="none", warmup=0.2) for s in (0, 2, 9)] == [17, 50, 50]
    with pytest.raises(ValueError, match="decay"):
        edit_budget(0, 10, decay="warmup")
    values = [edit_budget(s, 20) for s in range(21)]
    assert values == sorted(values, reverse=True)


def drive(gen, llm):
    """Run a proposal generator to its meta-prompt, answering its requests with the backend ``llm``."""
    try:
        reqs = next(gen)
        while True:
            reqs = gen.send(llm.generate(reqs))
    except StopIteration as stop:
        return stop.value


def test_retrieval_returns_most_similar_last():
    emb = HashEmbedder(32)
    traj = [("alpha beta", 0.1), ("gamma", 0.2), ("delta", 0.3), ("alpha beta gamma", 0.4)]
    # HashEmbedder: identical texts are identical vectors, so the current prompt's twin is the most similar
    current = "gamma"
    got = retrieve(current, traj + [("gamma twin", 0.5)], k=3, mode="relevance", embedder=emb)
    assert len(got) == 2 and all(p != current for p, _ in got)
    g = emb.embed([current] + [p for p, _ in got])
    sims = g[1:] @ g[0]
    assert sims[0] <= sims[1]
    assert retrieve(current, traj, 3, "recency", emb) == [("delta", 0.3), ("alpha beta gamma", 0.4)]
    assert retrieve(current, traj, 3, "importance", emb) == [("delta", 0.3), ("alpha beta gamma", 0.4)]
    assert retrieve(current, traj, 3, "none", emb) == []


def test_gpo_writes_marked_candidates_and_selects_the_best(scripted_llm):
    llm = scripted_llm(["<START>better instruction A<END>", "no markers here", "<START>better instruction B<END>"])
    opt = GPO(BASE, GPOParams(scoring="segment", n_candidates=3, segment=2, horizon=20), embedder=HashEmbedder(16))
    opt.reset(np.random.default_rng(0))
    used = []
    for t in range(7):  # base (2 iterations), candidate A (2), candidate B (2), then selection at t = 6
        mp = drive(opt.propose_steps(ctx(t)), llm)
        used.append(mp.instruction)
        opt.update(1.0 if mp.instruction.endswith("B") else 0.2, {})
    assert used[:6] == [BASE.instruction] * 2 + ["better instruction A"] * 2 + ["better instruction B"] * 2
    assert opt.core.failures >= 1  # the reply without markers
    seen = [r.messages[-1].content for r in llm.requests]
    assert "<START>" in seen[0] and "at most 50 words" in seen[0]
    assert opt.current["instruction"] == "better instruction B"
    assert opt.trajectory["instruction"][-1] == ("better instruction B", 1.0)
    # the second step's prompt shows the trajectory with scores and a smaller edit budget
    assert "(score 1.000)" in seen[-1] and "at most 50 words" not in seen[-1]


def test_pool_generation_drops_empty_and_duplicates_and_caches(tmp_path, monkeypatch, scripted_llm):
    monkeypatch.setenv("EXPOBENCH_CACHE", str(tmp_path))
    texts = ['"Rephrased one"', "", "Rephrased one", "Rewritten text: two", BASE.description]
    p = generate_pool(scripted_llm(texts), BASE.description, BASE.instruction, n_desc=5, n_instr=5)
    assert p.descriptions == [BASE.description, "Rephrased one", "two"]
    first = load_or_generate_pool(scripted_llm(texts), BASE.description, BASE.instruction, n_desc=5, n_instr=5)
    llm = scripted_llm(texts)
    again = load_or_generate_pool(llm, BASE.description, BASE.instruction, n_desc=5, n_instr=5)
    assert llm.requests == [] and again.descriptions == first.descriptions  # served from the pool cache


@pytest.mark.parametrize("raw, want", [
    ('Rewritten text: "Press a button."', "Press a button."),
    ("```\nPress a button.\n```", "Press a button."),
    ('Press a button each round. """  This rephrased text maintains the core meaning.', "Press a button each round."),
    ('"""Press a button."""\nI kept the meaning.', "Press a button."),
    ("Press a button each round.\n\nNote: the meaning is unchanged.", "Press a button each round."),
    ("Press a button. This revised version is shorter.", "Press a button."),
    ("The buttons pay 0 or 1. The reward of each is unknown.", "The buttons pay 0 or 1. The reward of each is unknown."),
])
def test_clean_rephrasing_drops_labels_quotes_and_commentary(raw, want):
    assert clean_rephrasing(raw) == want


def test_expo_add_candidates_extends_pool_and_sums():
    opt = expo()
    for t in range(3):
        opt.propose(ctx(t))
        opt.update(0.2, {})
    mean = opt.sums.mean()
    opt.add_candidates(instructions=["brand new instruction"])
    assert opt.n_i == 6 and opt.sums.shape == (36,)
    assert opt.sums.reshape(6, 6)[:, -1] == pytest.approx([mean] * 6)
    assert opt.probs.sum() == pytest.approx(1.0)


def test_real_minilm_embeddings_are_384d_and_cached(tmp_path):
    from expobench.metaopt.embeddings import Embedder

    e = Embedder(cache_path=tmp_path / "emb.sqlite")
    v = e.embed(["press the blue button", "press the blue button", "sort the cities"])
    assert v.shape == (3, 384)
    np.testing.assert_allclose(v[0], v[1])
    assert float(v[0] @ v[2]) < 0.9
    again = Embedder(cache_path=tmp_path / "emb.sqlite").embed(["sort the cities"])
    np.testing.assert_allclose(again[0], v[2], rtol=1e-6)
