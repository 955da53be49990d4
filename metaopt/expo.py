"""EXPO (Kong et al. 2025, Algorithm 1) and the NeuralUCB baseline over a product pool of (D, I) candidates.

EXPO is an adversarial bandit over the pool: after each iteration a score network is retrained on every observed
(embedding, prompt score) row, its prediction for *every* arm is added to that arm's running sum ``ŝ``, and the
next (D, I) is sampled from ``P ∝ exp(η ŝ)`` (optionally mixed with the uniform distribution, weight γ).
Sampling rather than argmax is what copes with the non-stationary scores of a sequential task.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext
from expobench.metaopt.base import MetaPromptOptimizer, OptimizerParams
from expobench.metaopt.embeddings import Embedder
from expobench.metaopt.pools import CandidatePool
from expobench.metaopt.scorenet import (
    MLP,
    DistinctRows,
    FitJob,
    FitSettings,
    check_device,
    dedupe,
    fit_jobs,
    fit_mlp,
)


class NetParams(OptimizerParams):
    hidden: int | None = Field(None, ge=1, description="Hidden width of the score network (default 4 × input dim).")
    steps: int = Field(50, ge=1, description="Full-batch Adam steps per retraining.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    weight_decay: float = Field(1e-4, ge=0, description="Adam weight decay.")
    net_seed: int = Field(0, description="Seed of the network initialisation (the same every iteration).")
    device: str = Field(
        "cpu", description="Where the score networks, their fits, the pool's embedding vectors and the scoring of "
        "every arm run: `cpu`, or `cuda` / `cuda:N` (a CUDA build of torch with a visible GPU; refused otherwise). "
        "Results agree across devices up to float rounding.")

    @field_validator("device")
    @classmethod
    def _device_is_available(cls, value: str) -> str:
        return check_device(value)


class EXPOParams(NetParams):
    eta: float = Field(10.0, gt=0, description="Exponential-weights learning rate η (paper: 10 MAB, 100 LR/TSP).")
    gamma: float = Field(0.0, ge=0, le=1, description="Uniform mixing weight γ (0 = the paper).")
    optimize: Literal["both", "description", "instruction"] = Field(
        "both", description="Which components are optimised; the other stays the original."
    )
    use_exemplar_embedding: bool = Field(
        False, description="Ablation: add g(E) of the iteration's exemplars to the network input."
    )


class PoolOptimizer(MetaPromptOptimizer):
    """Shared machinery of optimisers over a (D, I) product pool: arm indexing and pool embeddings."""

    needs_pool: ClassVar[bool] = True
    needs_embedder: ClassVar[bool] = True
    optimize: str = "both"

    def __init__(self, base: MetaPrompt, params: OptimizerParams | None = None, *,
                 pool: CandidatePool | None = None, embedder: Embedder | None = None) -> None:
        super().__init__(base, params)
        if pool is None:
            raise ValueError(f"optimizer {self.kind!r} needs a candidate pool")
        if pool.descriptions[0] != base.description or pool.instructions[0] != base.instruction:
            raise ValueError("the pool's first description/instruction must be the task's original D0/I0")
        self.pool = pool
        self.embedder = embedder
        self.optimize = getattr(self.params, "optimize", "both")
        self.n_d = len(pool.descriptions) if self.optimize in ("both", "description") else 1
        self.n_i = len(pool.instructions) if self.optimize in ("both", "instruction") else 1
        self._gd: torch.Tensor | None = None
        self.device = torch.device(getattr(self.params, "device", "cpu"))

    @property
    def n_arms(self) -> int:
        return self.n_d * self.n_i

    def arm(self, flat: int) -> tuple[int, int]:
        return divmod(int(flat), self.n_i)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``g(D) [n_d, e]`` and ``g(I) [n_i, e]`` of the arms' candidates on the optimiser's device (encoded
        once, cached on disk)."""
        if self._gd is None:
            if self.embedder is None:
                raise ValueError(f"optimizer {self.kind!r} needs an embedder")
            self._gd = self.embedder.tensor(self.pool.descriptions[:self.n_d], self.device)
            self._gi = self.embedder.tensor(self.pool.instructions[:self.n_i], self.device)
        return self._gd, self._gi

    def meta_prompt(self, d: int, i: int, ctx: ProposalContext, e: int | None = None) -> MetaPrompt:
        e = ctx.heuristic if e is None else e
        ex = ctx.exemplar_candidates[e] if ctx.exemplar_candidates else None
        return MetaPrompt(self.pool.descriptions[d], self.pool.instructions[i], ex, {"d": d, "i": i, "e": e})

    def add_candidates(self, descriptions: list[str] = (), instructions: list[str] = ()) -> None:
        """Grow the pool (GPO as a candidate generator, EXPO-GPO). Kinds that keep per-arm state extend it here;
        the others cannot take new candidates."""
        raise NotImplementedError(f"optimizer {self.kind!r} cannot add candidates to its pool (EXPO can)")


def entropy(p: np.ndarray) -> float:
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())


def top_k(p: np.ndarray, arm_of: Any, k: int = 5) -> list[list[Any]]:
    idx = np.argsort(-p, kind="stable")[:k]
    return [[list(arm_of(j)), round(float(p[j]), 6)] for j in idx]


class EXPO(PoolOptimizer):
    kind = "expo"
    Params = EXPOParams

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.sums = np.zeros(self.n_arms)
        self.rows: list[tuple[int, int, float]] = []
        self.row_e: list[np.ndarray] = []
        self.probs = np.full(self.n_arms, 1.0 / self.n_arms)
        self.choice: tuple[int, int] = (0, 0)
        self.last_e: np.ndarray | None = None
        self.t = 0

    # -- exponential weights ---------------------------------------------------------------------------------
    def distribution(self) -> np.ndarray:
        """``P ∝ exp(η ŝ − max η ŝ)``, mixed with uniform by γ."""
        z = self.params.eta * self.sums
        w = np.exp(z - z.max())
        p = w / w.sum()
        return (1 - self.params.gamma) * p + self.params.gamma / self.n_arms

    def propose(self, ctx: ProposalContext) -> MetaPrompt:
        if self.t == 0:
            self.choice = (0, 0)
        else:
            flat = int(self.rng.choice(self.n_arms, p=self.probs))
            self.choice = self.arm(flat)
        mp = self.meta_prompt(*self.choice, ctx)
        if self.params.use_exemplar_embedding:
            self.last_e = self.embedder.embed([mp.exemplars or ""])[0]
        return mp

    def record(self) -> dict[str, Any]:
        return {"d": self.choice[0], "i": self.choice[1], "entropy": round(entropy(self.probs), 6),
                "top5": top_k(self.probs, self.arm)}

    def update(self, score: float, info: dict[str, Any]) -> None:
        self.finish_update(fit_jobs(self.begin_update(score, info)))

    # -- the update in two halves, so that runs stepping together fit their networks as one batch -----------
    def begin_update(self, score: float, info: dict[str, Any]) -> list[FitJob]:
        """Record the score's row; returns the networks this update needs fitted (:func:`update_together`)."""
        self.rows.append((*self.choice, float(score)))
        if self.params.use_exemplar_embedding:
            self.row_e.append(self.last_e)
        return [self.fit_job()]

    def finish_update(self, nets: list[MLP]) -> None:
        """Complete the update with the networks fitted for :meth:`begin_update`'s jobs, in their order."""
        self.sums += self.predict_all(nets[0]).reshape(-1).cpu().numpy().astype(np.float64)
        self.probs = self.distribution()
        self.t += 1

    # -- the score network -----------------------------------------------------------------------------------
    def settings(self, dim: int) -> FitSettings:
        p = self.params
        return FitSettings(p.hidden or 4 * dim, p.net_seed, p.steps, p.lr, p.weight_decay)

    def fit_job(self) -> FitJob:
        """The score network's fit on the distinct (d, i[, e]) inputs of the rows so far: blocks ``g(D)``,
        ``g(I)`` (and the distinct ``g(E)`` rows with the exemplar embedding)."""
        gd, gi = self.embeddings()
        index = torch.tensor([r[:2] for r in self.rows], dtype=torch.long).reshape(-1, 2)
        blocks = [gd, gi]
        if self.params.use_exemplar_embedding:
            unique_e, which = dedupe(torch.from_numpy(np.stack(self.row_e)).to(self.device))
            blocks.append(unique_e)
            index = torch.cat([index, which.cpu()[:, None]], dim=1)
        y = torch.tensor([r[2] for r in self.rows], dtype=torch.float32)
        return FitJob(DistinctRows.from_rows(blocks, index, y), self.settings(sum(b.shape[1] for b in blocks)))

    def fit(self) -> MLP:
        """The score network on every row so far (the fit on distinct inputs)."""
        return fit_jobs([self.fit_job()])[0]

    def fit_reference(self) -> MLP:
        """The same network by the reference fit on the raw rows, ``[t, d]`` (tests and benchmarks only)."""
        x, y = self.inputs()
        return fit_mlp(x, y.to(device=x.device, dtype=x.dtype), self.settings(x.shape[1]).hidden, seed=self.params.net_seed,
                       steps=self.params.steps, lr=self.params.lr, weight_decay=self.params.weight_decay)

    def inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every row's full input ``[t, d]`` and score ``[t]`` (the reference fit's data)."""
        gd, gi = self.embeddings()
        d = torch.tensor([r[0] for r in self.rows])
        i = torch.tensor([r[1] for r in self.rows])
        parts = [gd[d], gi[i]]
        if self.params.use_exemplar_embedding:
            parts.append(torch.from_numpy(np.stack(self.row_e)).to(self.device))
        return torch.cat(parts, dim=1), torch.tensor([r[2] for r in self.rows], dtype=torch.float32)

    def predict_all(self, net) -> torch.Tensor:
        """Predictions for every arm, factorised: ``[n_d, n_i]``."""
        gd, gi = self.embeddings()
        blocks = [gd, gi]
        if self.params.use_exemplar_embedding:
            blocks.append(torch.from_numpy(self.row_e[-1][None]).to(self.device))
        return net.predict_product(blocks)

    def predict_all_dense(self, net) -> torch.Tensor:
        """Reference computation that materialises every arm's full input row (tests and benchmarks only)."""
        gd, gi = self.embeddings()
        x = torch.cat([gd.repeat_interleave(gi.shape[0], 0), gi.repeat(gd.shape[0], 1)], dim=1)
        if self.params.use_exemplar_embedding:
            x = torch.cat([x, torch.from_numpy(self.row_e[-1][None]).to(self.device).expand(x.shape[0], -1)], dim=1)
        return net.predict(x).reshape(gd.shape[0], gi.shape[0])

    # -- pool growth (GPO as generator) ----------------------------------------------------------------------
    def add_candidates(self, descriptions: list[str] = (), instructions: list[str] = ()) -> None:
        """New arms start at the mean running sum of the existing arms, so they are neither favoured nor
        starved, and then accumulate predictions like every other arm."""
        descriptions = [d for d in descriptions if d not in self.pool.descriptions]
        instructions = [i for i in instructions if i not in self.pool.instructions]
        if self.optimize == "instruction":
            descriptions = []
        if self.optimize == "description":
            instructions = []
        if not descriptions and not instructions:
            return
        old = self.sums.reshape(self.n_d, self.n_i)
        fill = float(old.mean())
        self.pool.descriptions += descriptions
        self.pool.instructions += instructions
        n_d, n_i = self.n_d + len(descriptions), self.n_i + len(instructions)
        new = np.full((n_d, n_i), fill)
        new[:self.n_d, :self.n_i] = old
        self.n_d, self.n_i = n_d, n_i
        self._gd = None
        self.sums = new.reshape(-1)
        self.probs = self.distribution()

    # -- checkpoints -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"sums": self.sums.tolist(), "rows": [list(r) for r in self.rows],
                "row_e": [e.tolist() for e in self.row_e], "t": self.t, "choice": list(self.choice),
                "rng": self.rng.bit_generator.state, "pool": [self.pool.descriptions, self.pool.instructions],
                "shape": [self.n_d, self.n_i]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pool.descriptions, self.pool.instructions = (list(x) for x in state["pool"])
        self.n_d, self.n_i = state["shape"]
        self._gd = None
        self.sums = np.asarray(state["sums"], dtype=np.float64)
        self.rows = [(int(a), int(b), float(s)) for a, b, s in state["rows"]]
        self.row_e = [np.asarray(e, dtype=np.float32) for e in state["row_e"]]
        self.t = state["t"]
        self.choice = tuple(state["choice"])
        self.rng.bit_generator.state = state["rng"]
        self.probs = self.distribution()


class NeuralUCBParams(NetParams):
    nu: float = Field(1.0, ge=0, description="Exploration weight ν of the UCB bonus.")
    lam: float = Field(1.0, gt=0, description="Ridge λ of the feature covariance.")
    optimize: Literal["both", "description", "instruction"] = Field("both", description="Components optimised.")
    use_exemplar_embedding: bool = Field(False, description="Not supported by NeuralUCB; must stay false.")


class NeuralUCB(EXPO):
    """Stochastic-bandit baseline (INSTINCT-style): the same network, argmax of prediction + UCB bonus.

    The bonus uses the network's last hidden layer as features φ (neural-linear UCB):
    ``ν sqrt(φᵀ Z⁻¹ φ)``, ``Z = λI + Σ φ_j φ_jᵀ`` over observed rows, via the Woodbury identity so that only a
    ``t × t`` system is solved.
    """

    kind = "neural_ucb"
    Params = NeuralUCBParams

    def reset(self, rng: np.random.Generator) -> None:
        if self.params.use_exemplar_embedding:
            raise ValueError("neural_ucb does not support use_exemplar_embedding")
        self.ucb = np.zeros(self.n_arms)
        super().reset(rng)

    def distribution(self) -> np.ndarray:
        p = np.zeros(self.n_arms)
        best = np.flatnonzero(self.ucb == self.ucb.max())
        p[best] = 1.0 / len(best)
        return p

    def propose(self, ctx: ProposalContext) -> MetaPrompt:
        if self.t == 0:
            self.choice = (0, 0)
        else:
            best = np.flatnonzero(self.ucb == self.ucb.max())
            self.choice = self.arm(int(self.rng.choice(best)))
        return self.meta_prompt(*self.choice, ctx)

    def finish_update(self, nets: list[MLP]) -> None:
        net = nets[0]
        mean = self.predict_all(net).reshape(-1)
        gd, gi = self.embeddings()
        h_d = gd @ net.w1[:, :gd.shape[1]].T
        h_i = gi @ net.w1[:, gd.shape[1]:].T + net.b1
        rows = torch.relu(h_d[[r[0] for r in self.rows]] + h_i[[r[1] for r in self.rows]])  # [t, H]
        lam = self.params.lam
        a_inv = torch.linalg.inv(lam * torch.eye(len(self.rows), device=rows.device) + rows @ rows.T)
        bonus = rows.new_empty(self.n_d, self.n_i)
        for a in range(self.n_d):
            phi = torch.relu(h_d[a][None, :] + h_i)  # [n_i, H]
            proj = phi @ rows.T  # [n_i, t]
            quad = (phi * phi).sum(1) - ((proj @ a_inv) * proj).sum(1)
            bonus[a] = torch.sqrt(torch.clamp(quad, min=0) / lam)
        self.ucb = (mean + self.params.nu * net.y_std * bonus.reshape(-1)).cpu().numpy().astype(np.float64)
        self.probs = self.distribution()
        self.t += 1

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "ucb": self.ucb.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ucb = np.asarray(state["ucb"], dtype=np.float64)
        super().load_state_dict(state)



def can_update_together(optimizer: Any) -> bool:
    """Whether ``optimizer``'s update is EXPO's two halves (:meth:`EXPO.begin_update`, :meth:`EXPO.finish_update`)
    and nothing more, so that :func:`update_together` may run it: EXPO, EXPO-ES, NeuralUCB; a subclass that
    overrides ``update`` is updated on its own."""
    return isinstance(optimizer, EXPO) and type(optimizer).update is EXPO.update


def update_together(optimizers: list[EXPO], scores: list[float], infos: list[dict[str, Any]]) -> None:
    """``optimizers[k].update(scores[k], infos[k])`` for every k, with all their networks fitted as one batched
    computation per (settings, input widths, device) (:func:`fit_jobs`): runs stepping together in lockstep
    update at the cost of about one fit. Each optimiser ends in the state its own ``update`` would give."""
    jobs = [opt.begin_update(score, info) for opt, score, info in zip(optimizers, scores, infos)]
    nets = fit_jobs([job for own in jobs for job in own])
    start = 0
    for opt, own in zip(optimizers, jobs):
        opt.finish_update(nets[start:start + len(own)])
        start += len(own)
