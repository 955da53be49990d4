"""expobench: a benchmark suite for LLM agents making sequential decisions.

One import name. Importing it registers every ``expobench/...`` Gymnasium id, so both of these work::

    import gymnasium as gym
    env = gym.make("expobench:expobench/MAB-hard-v0")   # the module prefix imports expobench first

    import expobench
    env = gym.make("expobench/MAB-hard-v0")

Subpackages: ``expobench.envs`` (environments and their text renderings), ``expobench.agents`` (classical and
LLM agents, ``expobench.agents.llm``: LLM backends), ``expobench.metaopt`` (meta-prompt optimisers),
``expobench.experiments`` (configs, runner, store, metrics, plots, report, CLI). The Python API is
:func:`run` and :func:`load`, which return an :class:`Experiment` (docs/python.md).
"""

from expobench import envs as envs  # registers the ids
from expobench.experiments.api import Experiment, load, run

__all__ = ["Experiment", "load", "run"]
