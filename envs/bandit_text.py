"""The text side of the bandit task: Krishnamurthy et al.'s prompt design space (METHODS §4.1).

A design is a 5-letter code, one letter per factor:

====  ==================  ===========================================================
pos   factor              letters
====  ==================  ===========================================================
1     scenario            ``B`` buttons (colour names) · ``A`` advertisements (letters)
2     framing             ``N`` neutral · ``S`` suggestive (bandit algorithm, explore/exploit)
3     history             ``R`` raw (one line per round) · ``S`` summarised (per-arm counts and means)
4     chain of thought    ``N`` none · ``C`` think step by step · ``R`` reinforced (reminder in the user turn)
5     output              ``0`` one arm at temperature 0 · ``1`` one arm at temperature 1 · ``D`` a distribution
====  ==================  ===========================================================

e.g. ``BSSND``: buttons, suggestive, summarised history, no CoT, distribution output. For meta-prompt
optimisation the scenario and framing form the task description D, the decision instructions form the
meta-instruction I, and the history forms the exemplars E.

Parsers never raise: they return a :class:`Parsed` with either an arm / a distribution or an error string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from expobench.agents.llm.types import Constraint

BUTTON_NAMES = ("blue", "green", "red", "yellow", "purple", "orange", "pink", "brown", "gray", "cyan")
AD_NAMES = tuple("ABCDEFGHIJ")
DESIGN_PATTERN = re.compile(r"^[BA][NS][RS][NCR][01D]$")


@dataclass(frozen=True)
class Design:
    """A parsed design code (see the module docstring). ``labels``: the arms' names by arm index when they are
    permuted (the agent's ``labels: permuted``), else None for the natural order (arm 0 = blue / A, ...); every
    text lists and reads arms by index under these names."""

    code: str
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not DESIGN_PATTERN.match(self.code):
            raise ValueError(
                f"design {self.code!r} is not a valid code: 5 letters from [B|A][N|S][R|S][N|C|R][0|1|D], e.g. BSSND"
            )

    scenario = property(lambda self: self.code[0])
    suggestive = property(lambda self: self.code[1] == "S")
    summarised = property(lambda self: self.code[2] == "S")
    cot = property(lambda self: self.code[3] in "CR")
    reinforced = property(lambda self: self.code[3] == "R")
    distribution = property(lambda self: self.code[4] == "D")

    @property
    def temperature(self) -> float:
        return 1.0 if self.code[4] == "1" else 0.0


    def names(self, n_arms: int) -> list[str]:
        """The arms' names by arm index."""
        if self.labels is None:
            return arm_names(self.scenario, n_arms)
        if len(self.labels) != n_arms:
            raise ValueError(f"{len(self.labels)} labels for {n_arms} arms")
        return list(self.labels)


def all_designs() -> list[str]:
    return [a + b + c + d + e for a in "BA" for b in "NS" for c in "RS" for d in "NCR" for e in "01D"]


def arm_names(scenario: str, n_arms: int) -> list[str]:
    names = BUTTON_NAMES if scenario == "B" else AD_NAMES
    if n_arms > len(names):
        raise ValueError(f"at most {len(names)} arms can be named, got {n_arms}")
    return list(names[:n_arms])


def _noun(design: Design, plural: bool = False) -> str:
    base = "button" if design.scenario == "B" else "advertisement"
    return base + ("s" if plural else "")


def task_description(design: Design, n_arms: int, horizon: int, stationary: bool = True) -> str:
    """D: scenario and framing. ``stationary=False`` (the env's ``expobench.stationary``) says that the rewards'
    probabilities can change over time instead of calling them fixed."""
    names = ", ".join(design.names(n_arms))
    fixed = "fixed " if stationary else ""
    changing = "" if stationary else " and can change over time"  # follows "may differ between buttons"
    rate_changing = "" if stationary else " and which can change over time"  # follows "which you do not know"
    if design.scenario == "B":
        who = "You are a bandit algorithm in a room" if design.suggestive else "You are in a room"
        text = (
            f"{who} with {n_arms} buttons labeled {names}. Pressing a button pays a reward of 0 or 1, drawn from "
            f"that button's own {fixed}probability, which you do not know; the probabilities may differ between "
            f"buttons{changing}. You have {horizon} rounds; in each round you press one button and receive its "
            f"reward. Your goal is to collect as much total reward as possible over the {horizon} rounds."
        )
    else:
        who = "You are a bandit algorithm acting as a" if design.suggestive else "You are a"
        text = (
            f"{who} recommendation engine that picks which advertisement to show to each visitor of a web page. "
            f"There are {n_arms} advertisements, named {names}. After you show one, you see whether the visitor "
            f"clicked it (reward 1) or not (reward 0); each advertisement has its own {fixed}click rate, which you "
            f"do not know{rate_changing}. You will serve {horizon} visitors, and "
            f"your goal is to get as many clicks as possible."
        )
    if design.suggestive:
        text += (
            " To do well you must balance exploration (trying options to learn how good they are) against "
            "exploitation (choosing the option that looks best so far)."
        )
    return text


def meta_instruction(design: Design, n_arms: int) -> str:
    """I: how to decide and what to output."""
    noun = _noun(design)
    names = ", ".join(design.names(n_arms))
    parts = []
    if design.cot:
        parts.append("Before deciding, think step by step about what the history so far tells you.")
    if design.distribution:
        example = ",".join(f"{n}:{p}" for n, p in zip(design.names(n_arms), _example_probs(n_arms)))
        parts.append(
            f"Answer with a probability distribution over the {_noun(design, True)} in the form {example}, with "
            f"probabilities that sum to 1; the {noun} used this round is drawn from your distribution."
        )
    elif design.cot:
        parts.append(f"Then state your choice: the name of exactly one {noun} ({names}).")
    else:
        parts.append(f"Answer with the name of exactly one {noun} ({names}) and nothing else.")
    return " ".join(parts)


def _example_probs(n: int) -> list[str]:
    p = np.full(n, round(1.0 / n, 2))
    p[-1] = round(1.0 - p[:-1].sum(), 2)
    return [f"{x:.2f}" for x in p]


def render_history(design: Design, n_arms: int, actions: list[int], rewards: list[float],
                   order: list[int] | None = None) -> str:
    """E: the history so far, raw (one line per round) or summarised (per arm, in ``order``).

    Reward statistics are computed here, in code, so the model never has to count.
    """
    names = design.names(n_arms)
    noun = _noun(design)
    if not actions:
        return "No rounds have been played yet."
    if not design.summarised:
        verb = "pressed" if design.scenario == "B" else "showed"
        lines = [f"Round {t + 1}: {verb} {names[a]}, reward {int(r) if float(r).is_integer() else round(r, 3)}"
                 for t, (a, r) in enumerate(zip(actions, rewards))]
        return "History:\n" + "\n".join(lines)
    counts = np.bincount(actions, minlength=n_arms)
    sums = np.bincount(actions, weights=rewards, minlength=n_arms)
    verb = "pressed" if design.scenario == "B" else "shown"
    lines = []
    for a in order if order is not None else range(n_arms):
        if counts[a]:
            lines.append(f"{names[a]} {noun}: {verb} {counts[a]} times, average reward {sums[a] / counts[a]:.2f}")
        else:
            lines.append(f"{names[a]} {noun}: {verb} 0 times, no reward observed yet")
    return f"Summary of the {len(actions)} rounds played so far:\n" + "\n".join(lines)


def question(design: Design, n_arms: int, t: int, horizon: int) -> str:
    """The short fixed user-turn question after the history (round ``t`` is 0-based)."""
    noun = _noun(design)
    verb = "press" if design.scenario == "B" else "show"
    q = f"Round {t + 1} of {horizon}: which {noun} do you {verb}?"
    if design.distribution:
        q = f"Round {t + 1} of {horizon}: give your probability distribution over the {_noun(design, True)}."
    if design.reinforced:
        q += " Remember to think step by step before you answer."
    return q


def final_answer_prompt(design: Design, n_arms: int) -> str:
    """Second turn of a chain-of-thought decision: ask for the constrained answer only."""
    names = ", ".join(design.names(n_arms))
    if design.distribution:
        return "Now give only your final distribution, in the required form."
    return f"Now give only your final answer: one of {names}."


def answer_constraint(design: Design, n_arms: int) -> Constraint:
    """Choice over arm names, or a regex for ``name:p,name:p,...`` in arm order."""
    names = design.names(n_arms)
    if not design.distribution:
        return Constraint(choice=tuple(names))
    prob = r"(0\.[0-9][0-9]?|1\.00?|0|1)"
    return Constraint(regex=",".join(f"{n}:{prob}" for n in names))


@dataclass(frozen=True)
class Parsed:
    """A parse result: ``probs`` (length K, sums to 1; one-hot for a single arm) or ``error``."""

    probs: tuple[float, ...] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.probs is not None


def parse_arm(text: object, design: Design, n_arms: int) -> Parsed:
    """One arm name: the whole (stripped, case-insensitive for colours) text, or the single distinct arm name
    that appears as a word in it. Anything else is an error."""
    if not isinstance(text, str):
        return Parsed(error=f"expected text, got {type(text).__name__}")
    names = design.names(n_arms)
    fold = design.scenario == "B"
    cleaned = text.strip().strip(".\"'`*<>[]() \n").strip()
    key = cleaned.lower() if fold else cleaned
    lookup = {(n.lower() if fold else n): i for i, n in enumerate(names)}
    if key in lookup:
        return _one_hot(lookup[key], n_arms)
    words = re.findall(r"[A-Za-z]+", text)
    found = {lookup[w.lower() if fold else w] for w in words if (w.lower() if fold else w) in lookup}
    if len(found) == 1:
        return _one_hot(found.pop(), n_arms)
    if not found:
        return Parsed(error=f"no arm name in {text[:80]!r}")
    return Parsed(error=f"several arm names in {text[:80]!r}")


def parse_distribution(text: object, design: Design, n_arms: int) -> Parsed:
    """``name:p`` pairs (any separators); missing arms get 0; renormalised. Errors: no pair, a repeated arm, a
    negative or non-finite number, or all zero."""
    if not isinstance(text, str):
        return Parsed(error=f"expected text, got {type(text).__name__}")
    names = design.names(n_arms)
    fold = design.scenario == "B"
    lookup = {(n.lower() if fold else n): i for i, n in enumerate(names)}
    probs = np.zeros(n_arms)
    seen: set[int] = set()
    for name, value in re.findall(r"([A-Za-z]+)\s*[:=]\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)", text):
        key = name.lower() if fold else name
        if key not in lookup:
            continue
        i = lookup[key]
        if i in seen:
            return Parsed(error=f"arm {names[i]} listed twice")
        seen.add(i)
        try:
            p = float(value)
        except ValueError:  # pragma: no cover  (the regex only admits numbers)
            return Parsed(error=f"bad number {value!r}")
        if not np.isfinite(p) or p < 0:
            return Parsed(error=f"bad probability {value!r} for {names[i]}")
        probs[i] = p
    if not seen:
        return Parsed(error=f"no name:probability pair in {text[:80]!r}")
    total = probs.sum()
    if not np.isfinite(total) or total <= 0:
        return Parsed(error="probabilities sum to 0")
    return Parsed(probs=tuple(float(x) for x in probs / total))


def _one_hot(i: int, n: int) -> Parsed:
    p = [0.0] * n
    p[i] = 1.0
    return Parsed(probs=tuple(p))


def parse_answer(text: object, design: Design, n_arms: int) -> Parsed:
    return (parse_distribution if design.distribution else parse_arm)(text, design, n_arms)
