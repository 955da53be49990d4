"""Seeds: everything in a run derives from its one master seed (numpy SeedSequence)."""

from __future__ import annotations

import numpy as np


def seed_streams(seed: int) -> tuple[int, np.random.Generator]:
    """(env seed, agent rng) from a run's master seed. The env seed depends on the seed only, never on the agent:
    common random numbers across agents."""
    env_ss, agent_ss = np.random.SeedSequence(seed).spawn(2)
    return int(env_ss.generate_state(1)[0]), np.random.default_rng(agent_ss)
