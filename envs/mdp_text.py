"""The text side of the tabular MDPs (``expobench.envs.mdp``): prompt designs, renderings and the action parser.

A design is a 4-letter code, one letter per factor (the bandit designs' factors that apply to states):

====  ==================  ===========================================================
pos   factor              letters
====  ==================  ===========================================================
1     framing             ``N`` neutral · ``S`` suggestive (explore/exploit, plan ahead)
2     history             ``R`` raw (the last transitions) · ``S`` summary (visit counts, empirical rewards,
                          known transitions, per state)
3     chain of thought    ``N`` none · ``C`` think step by step · ``R`` reinforced (reminder in the user turn)
4     output              ``0`` one action at temperature 0 · ``1`` one action at temperature 1
====  ==================  ===========================================================

e.g. ``SSN0``: suggestive, summarised history, no CoT, temperature 0. For meta-prompt optimisation the world and
framing form the task description D, the decision instructions the meta-instruction I, and the history the
exemplars E. Statistics are computed here, in code, so the model never has to count.

Summaries list at most ``max_states`` states (the most recently visited ones); :data:`SUMMARY_ORDERS` name the
orders the lines can be listed in (EXPO-ES chooses among them).

Parsers never raise: they return a :class:`ParsedAction` with an action index or an error string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from expobench.agents.llm.types import Constraint
from expobench.envs.mdp import TabularMDPEnv

DESIGN_PATTERN = re.compile(r"^[NS][RS][NCR][01]$")
#: orders of the summary's state lines: most recent first, most visited first, state index, best mean reward
SUMMARY_ORDERS = ("recent", "visits", "index", "reward")


@dataclass(frozen=True)
class MDPDesign:
    """A parsed design code (see the module docstring)."""

    code: str

    def __post_init__(self) -> None:
        if not DESIGN_PATTERN.match(self.code):
            raise ValueError(f"design {self.code!r} is not a valid MDP design: 4 letters from [N|S][R|S][N|C|R][0|1], "
                             "e.g. SSN0")

    suggestive = property(lambda self: self.code[0] == "S")
    summarised = property(lambda self: self.code[1] == "S")
    cot = property(lambda self: self.code[2] in "CR")
    reinforced = property(lambda self: self.code[2] == "R")

    @property
    def temperature(self) -> float:
        return 1.0 if self.code[3] == "1" else 0.0


def all_designs() -> list[str]:
    return [a + b + c + d for a in "NS" for b in "RS" for c in "NCR" for d in "01"]


@dataclass
class Transition:
    """One step as the agent saw it: episode (0-based), step h, state, action, reward, next state (``None`` when
    the episode ended on a terminal outcome), and whether the episode ended."""

    episode: int
    step: int
    state: int
    action: int
    reward: float
    next_state: int | None
    end: bool


@dataclass
class EpisodeLog:
    """Finished episodes' returns and goal flags."""

    returns: list[float] = field(default_factory=list)
    goals: list[bool] = field(default_factory=list)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.3g}"


def task_description(design: MDPDesign, env: TabularMDPEnv) -> str:
    """D: the world, what pays, and the framing."""
    who = "You are a reinforcement-learning agent." if design.suggestive else "You are playing a game."
    text = (f"{who} {env.task_text()} Each step you choose one action: {', '.join(env.action_names)}. Your goal "
            "is to collect as much total reward as possible over all the episodes you play.")
    if design.suggestive:
        text += (" To do well you must balance exploration (trying actions and states you know little about) "
                 "against exploitation (following what worked so far), and plan ahead: rewards may come only "
                 "after several steps.")
    return text


def meta_instruction(design: MDPDesign, env: TabularMDPEnv) -> str:
    """I: how to decide and what to output."""
    names = ", ".join(env.action_names)
    if design.cot:
        return (f"Before deciding, think step by step about what the history tells you and where each action may "
                f"lead. Then state your choice: exactly one action ({names}).")
    return f"Answer with exactly one action ({names}) and nothing else."


def render_history(design: MDPDesign, env: TabularMDPEnv, transitions: Sequence[Transition], episodes: EpisodeLog,
                   order: str = "recent", window: int = 20, max_states: int = 16) -> str:
    """E: the history so far -- raw (the last ``window`` transitions) or a summary per state (in ``order``, at
    most ``max_states`` states), both after a line on the finished episodes."""
    if not transitions:
        return "No steps have been played yet."
    names = env.action_names
    head = _episodes_line(episodes)
    if not design.summarised:
        shown = transitions[-window:]
        lines = [f"Episode {tr.episode + 1}, step {tr.step + 1}: at {env.state_label(tr.state)}, {names[tr.action]} "
                 f"-> {'episode over' if tr.next_state is None else env.state_label(tr.next_state)}, reward "
                 f"{_num(tr.reward)}{' (episode ended)' if tr.end and tr.next_state is not None else ''}"
                 for tr in shown]
        more = f" (the last {len(shown)} of {len(transitions)})" if len(shown) < len(transitions) else ""
        return f"{head}\nSteps so far{more}:\n" + "\n".join(lines)
    return f"{head}\n{render_summary(env, transitions, order, max_states)}"


def _episodes_line(episodes: EpisodeLog) -> str:
    n = len(episodes.returns)
    if not n:
        return "No episode has finished yet."
    rets = ", ".join(_num(r) for r in episodes.returns[-10:])
    last = f"last {min(n, 10)} returns" if n > 10 else "returns"
    return (f"Episodes finished: {n} ({last}: {rets}); goal reached in {sum(episodes.goals)} of them; mean return "
            f"{np.mean(episodes.returns):.3g}.")


def render_summary(env: TabularMDPEnv, transitions: Sequence[Transition], order: str = "recent",
                   max_states: int = 16) -> str:
    """Per visited state (at most ``max_states``, the most recently visited ones, listed in ``order``): each
    action tried, how often, its mean reward and where it led (next states with counts)."""
    if order not in SUMMARY_ORDERS:
        raise ValueError(f"order must be one of {', '.join(SUMMARY_ORDERS)}, got {order!r}")
    names = env.action_names
    last_seen: dict[int, int] = {}
    stats: dict[int, dict[int, list]] = {}
    for i, tr in enumerate(transitions):
        last_seen[tr.state] = i
        entry = stats.setdefault(tr.state, {}).setdefault(tr.action, [0, 0.0, {}])
        entry[0] += 1
        entry[1] += tr.reward
        key = -1 if tr.next_state is None else tr.next_state
        entry[2][key] = entry[2].get(key, 0) + 1
    kept = sorted(last_seen, key=lambda s: -last_seen[s])[:max_states]

    def visits(s: int) -> int:
        return sum(e[0] for e in stats[s].values())

    def best_mean(s: int) -> float:
        return max(e[1] / e[0] for e in stats[s].values())

    key = {"recent": lambda s: -last_seen[s], "visits": lambda s: (-visits(s), -last_seen[s]),
           "index": lambda s: s, "reward": lambda s: (-best_mean(s), -last_seen[s])}[order]
    lines = []
    for s in sorted(kept, key=key):
        parts = []
        for a in sorted(stats[s]):
            n, total, outs = stats[s][a]
            led = ", ".join(f"{'episode over' if k == -1 else env.state_label(k)} x{c}"
                            for k, c in sorted(outs.items(), key=lambda kv: (-kv[1], kv[0])))
            parts.append(f"{names[a]} tried {n}x, mean reward {total / n:.3g}, led to {led}")
        untried = [names[a] for a in range(env.n_actions) if a not in stats[s]]
        tail = f"; never tried: {', '.join(untried)}" if untried else ""
        lines.append(f"- {env.state_label(s)} (visited {visits(s)}x): " + "; ".join(parts) + tail)
    omitted = len(last_seen) - len(kept)
    more = f" ({omitted} less recently visited states not shown)" if omitted > 0 else ""
    return f"What you know from {len(transitions)} steps, per state{more}:\n" + "\n".join(lines)


def question(design: MDPDesign, env: TabularMDPEnv, state: int, episode: int, step: int) -> str:
    """The user turn's end: where the agent is and what it may do (episode and step are 0-based)."""
    q = (f"Episode {episode + 1}, step {step + 1} of at most {env.episode_length}.\n{env.render_state(state)}\n"
         f"Which action do you take ({', '.join(env.action_names)})?")
    if design.reinforced:
        q += " Remember to think step by step before you answer."
    return q


def final_answer_prompt(env: TabularMDPEnv) -> str:
    """Second turn of a chain-of-thought decision: ask for the constrained answer only."""
    return f"Now give only your final answer: one of {', '.join(env.action_names)}."


def answer_constraint(env: TabularMDPEnv) -> Constraint:
    return Constraint(choice=tuple(env.action_names))


@dataclass(frozen=True)
class ParsedAction:
    """A parse result: ``action`` (an index) or ``error``."""

    action: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.action is not None


def parse_action(text: object, names: Sequence[str]) -> ParsedAction:
    """One action name (case-insensitive): the whole stripped text, or the single distinct action name that
    appears as a word in it. Anything else (no name, several names, not text) is an error."""
    if not isinstance(text, str):
        return ParsedAction(error=f"expected text, got {type(text).__name__}")
    lookup = {n.lower(): i for i, n in enumerate(names)}
    cleaned = text.strip().strip(".\"'`*<>[]() \n").strip().lower()
    if cleaned in lookup:
        return ParsedAction(action=lookup[cleaned])
    found = {lookup[w.lower()] for w in re.findall(r"[A-Za-z]+", text) if w.lower() in lookup}
    if len(found) == 1:
        return ParsedAction(action=found.pop())
    if not found:
        return ParsedAction(error=f"no action name in {text[:80]!r}")
    return ParsedAction(error=f"several action names in {text[:80]!r}")
