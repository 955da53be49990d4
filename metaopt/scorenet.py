"""The score network ``M(x; θ)`` of EXPO / EXPO-ES (METHODS §2 step 3) and its factorised evaluation.

One hidden layer, ReLU, scalar output, MSE loss. Each fit starts from the same seed (so the network is a
function of the data alone), standardises the targets, and runs full-batch Adam. Predictions are mapped back
to the score's units, so the exponential-weights temperature η keeps the paper's meaning.

Factorised product-pool scoring: for arms ``(a, b)`` with inputs ``g(D_a) ⊕ g(I_b)``, the first layer splits as
``W1 [g(D_a) ⊕ g(I_b)] = W1_D g(D_a) + W1_I g(I_b)``; all ``n_D × n_I`` predictions need ``n_D + n_I``
projections and a broadcast add, never the ``n_D · n_I`` full input rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class MLP:
    """Weights: ``w1 [H, d]``, ``b1 [H]``, ``w2 [H]``, ``b2 []``; targets were standardised with (mean, std)."""

    w1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor
    y_mean: float
    y_std: float

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``x [n, d] -> [n]`` in score units."""
        h = torch.relu(x @ self.w1.T + self.b1)
        return (h @ self.w2 + self.b2) * self.y_std + self.y_mean

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
        out = torch.empty(h1.shape[0], h2.shape[0])
        buf = torch.empty_like(h2)  # one [n2, H] block, reused: stays in cache, no n1·n2·H tensor
        for a in range(h1.shape[0]):
            torch.add(h2, h1[a], out=buf)
            buf.clamp_(min=0)
            torch.mv(buf, self.w2, out=out[a])
        return (out + self.b2) * self.y_std + self.y_mean


def fit_mlp(x: torch.Tensor, y: torch.Tensor, hidden: int, *, seed: int = 0, steps: int = 50, lr: float = 1e-3,
            weight_decay: float = 1e-4) -> MLP:
    """Train on ``x [n, d]``, ``y [n]`` from a fresh initialisation seeded by ``seed`` (nn.Linear's init)."""
    n, d = x.shape
    gen = torch.Generator().manual_seed(seed)
    b1_bound, b2_bound = 1 / np.sqrt(d), 1 / np.sqrt(hidden)
    w1 = ((torch.rand(hidden, d, generator=gen) * 2 - 1) * b1_bound).requires_grad_()
    b1 = ((torch.rand(hidden, generator=gen) * 2 - 1) * b1_bound).requires_grad_()
    w2 = ((torch.rand(hidden, generator=gen) * 2 - 1) * b2_bound).requires_grad_()
    b2 = ((torch.rand((), generator=gen) * 2 - 1) * b2_bound).requires_grad_()
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
    def empty(cls, hidden: int, dim: int) -> StackedMLPs:
        z = torch.zeros
        return cls(z(0, hidden, dim), z(0, hidden), z(0, hidden), z(0), z(0), z(0))

    def __len__(self) -> int:
        return self.w1.shape[0]

    def append(self, net: MLP) -> StackedMLPs:
        cat = torch.cat
        return StackedMLPs(cat([self.w1, net.w1[None]]), cat([self.b1, net.b1[None]]), cat([self.w2, net.w2[None]]),
                           cat([self.b2, net.b2.reshape(1)]), cat([self.y_mean, torch.tensor([net.y_mean])]),
                           cat([self.y_std, torch.tensor([net.y_std])]))

    def sum_predict(self, x: torch.Tensor) -> torch.Tensor:
        """``Σ_m M(x; θ_m)`` for ``x [k, d]`` in one batched pass → ``[k]``."""
        if len(self) == 0:
            return torch.zeros(x.shape[0])
        h = torch.relu(torch.einsum("kd,mhd->mkh", x, self.w1) + self.b1[:, None, :])  # [m, k, H]
        out = torch.einsum("mkh,mh->mk", h, self.w2) + self.b2[:, None]  # [m, k]
        return (out * self.y_std[:, None] + self.y_mean[:, None]).sum(0)
