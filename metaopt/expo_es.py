"""EXPO-ES (Kong et al. 2025, Algorithm 2): EXPO for (D, I) plus a separate exponential-weights learner that
chooses the exemplar sequence E each iteration.

The exemplar learner trains its own network ``M_ES`` on ``g(E)`` (the embedding of the rendered exemplar
sequence). Its candidate set changes every iteration (the history grows), so per-candidate running sums are not
available in general: every past network is kept -- as ONE stacked tensor -- and a candidate's cumulative
estimate is the sum of all stored networks' predictions, ``ŝ_j = Σ_θ M_ES(g(E_j); θ)``, evaluated in one
batched pass. When the task says the domain is fixed (``ctx.fixed_domain``, e.g. the K rotations of a bandit
summary), plain running sums per candidate index are used instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from expobench.agents.llm.metaprompt import MetaPrompt, ProposalContext
from expobench.metaopt.expo import EXPO, EXPOParams, entropy
from expobench.metaopt.scorenet import MLP, DistinctRows, FitJob, FitSettings, StackedMLPs, dedupe, fit_mlp


class EXPOESParams(EXPOParams):
    eta_es: float = Field(10.0, gt=0, description="Learning rate η_ES of the exemplar learner.")
    hidden_es: int = Field(512, ge=1, description="Hidden width of the exemplar network M_ES (paper: 512).")


class EXPOES(EXPO):
    kind = "expo_es"
    Params = EXPOESParams

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.es_rows: list[tuple[np.ndarray, float]] = []
        self.nets: StackedMLPs | None = None
        self.es_sums: np.ndarray | None = None  # fixed domains only
        self.es_choice = 0
        self.es_probs = np.ones(1)
        self._es_current: np.ndarray | None = None
        self._es_pending = False
        self._fixed = False

    def es_scores(self, g_cands: np.ndarray, fixed_domain: bool) -> np.ndarray:
        """Cumulative estimates ``ŝ_j`` of the candidates ``g_cands [k, e]``."""
        if fixed_domain and self.es_sums is not None and len(self.es_sums) == len(g_cands):
            return self.es_sums
        if self.nets is None:
            return np.zeros(len(g_cands))
        return self.nets.sum_predict(torch.from_numpy(g_cands).to(self.device)).cpu().numpy().astype(np.float64)

    def propose(self, ctx: ProposalContext) -> MetaPrompt:
        mp = super().propose(ctx)
        cands = ctx.exemplar_candidates
        if not cands:
            return mp
        g = self.embedder.embed(cands)
        self._fixed = ctx.fixed_domain
        self._g_cands = g
        if self.t == 0:
            j = ctx.heuristic
            self.es_probs = np.eye(len(cands))[j]
        else:
            z = self.params.eta_es * self.es_scores(g, ctx.fixed_domain)
            w = np.exp(z - z.max())
            self.es_probs = w / w.sum()
            j = int(self.rng.choice(len(cands), p=self.es_probs))
        self.es_choice = j
        self._es_current = g[j]
        return MetaPrompt(mp.description, mp.instruction, cands[j], {**mp.ids, "e": j})

    def record(self) -> dict[str, Any]:
        return {**super().record(), "e": self.es_choice, "es_entropy": round(entropy(self.es_probs), 6)}

    def begin_update(self, score: float, info: dict[str, Any]) -> list[FitJob]:
        """EXPO's network, then (when this iteration chose an exemplar sequence) the exemplar network M_ES."""
        jobs = super().begin_update(score, info)
        self._es_pending = self._es_current is not None
        if self._es_pending:
            self.es_rows.append((self._es_current, float(score)))
            jobs.append(self.es_fit_job())
        return jobs

    def finish_update(self, nets: list[MLP]) -> None:
        super().finish_update(nets[:1])
        if not self._es_pending:
            return
        net = nets[1]
        if self._fixed:
            pred = net.predict(torch.from_numpy(self._g_cands).to(self.device)).cpu().numpy().astype(np.float64)
            self.es_sums = pred if self.es_sums is None or len(self.es_sums) != len(pred) else self.es_sums + pred
        else:
            self.nets = (self.nets or StackedMLPs.empty(self.params.hidden_es, net.w1.shape[1], self.device)).append(net)

    def es_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The exemplar network's rows: ``g(E) [t, e]`` and scores ``[t]``."""
        x = torch.from_numpy(np.stack([r[0] for r in self.es_rows])).to(self.device)
        return x, torch.tensor([r[1] for r in self.es_rows], dtype=torch.float32)

    def es_settings(self) -> FitSettings:
        p = self.params
        return FitSettings(p.hidden_es, p.net_seed, p.steps, p.lr, p.weight_decay)

    def es_fit_job(self) -> FitJob:
        """M_ES's fit on the distinct g(E) rows (a fixed domain repeats its few candidates)."""
        x, y = self.es_inputs()
        unique, which = dedupe(x)
        return FitJob(DistinctRows.from_rows([unique], which.cpu()[:, None], y), self.es_settings())

    def fit_es_reference(self) -> MLP:
        """M_ES by the reference fit on the raw rows (tests and benchmarks only)."""
        x, y = self.es_inputs()
        st = self.es_settings()
        return fit_mlp(x, y.to(device=x.device, dtype=x.dtype), st.hidden, seed=st.seed, steps=st.steps, lr=st.lr,
                       weight_decay=st.weight_decay)

    def state_dict(self) -> dict[str, Any]:
        nets = None if self.nets is None else {k: getattr(self.nets, k).tolist() for k in
                                               ("w1", "b1", "w2", "b2", "y_mean", "y_std")}
        return {**super().state_dict(), "es_rows": [[r[0].tolist(), r[1]] for r in self.es_rows], "nets": nets,
                "es_sums": None if self.es_sums is None else self.es_sums.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.es_rows = [(np.asarray(g, dtype=np.float32), float(s)) for g, s in state["es_rows"]]
        n = state["nets"]
        self.nets = None if n is None else StackedMLPs(*(torch.tensor(n[k], device=self.device) for k in
                                                         ("w1", "b1", "w2", "b2", "y_mean", "y_std")))
        self.es_sums = None if state["es_sums"] is None else np.asarray(state["es_sums"])
